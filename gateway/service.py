"""The gateway: the only HTTP face of jiesu. Channels and the staff API turn into RPC calls
on the services; nothing here owns data."""
from __future__ import annotations

import functools
import hmac
import logging
import time
import uuid

import eventlet
from werkzeug.wrappers import Response

from gateway import hotline, open311, pledges, rating_page, schemas, wechat
from gateway.office_analysis import AnalysisRoutes
from gateway.office_figures import FiguresRoutes
from gateway.office_summaries import SummaryRoutes
from gateway.pages.base import PageBase
from gateway.pages.console_leader import LeaderPages
from gateway.pages.console_office import OfficePages
from gateway.pages.console_unit import UnitPages
from gateway.pages.h5 import H5Pages
from gateway.pages.signin import SignInPages
from gateway.attachments import AttachmentRejected, AttachmentStore
from gateway.auth import principal_for, public_key_from
from gateway.http import (EVERY_METHOD, FORBIDDEN_TEXT, HttpError, api, attachment_response,
                          error_for, filing_key, json_response, read_json, route_error)
from gateway.limits import FilingLimits, RateLimited
from gateway.open311 import Open311Error, open311_api
from gateway.openapi import openapi_document
from gateway.server import http
from gateway.sessions import PENDING, redis_client
from services.common.access import open311_app_identity, wechat_identity
from services.common import rating_link
from services.common.bus import RpcTimeout, rpc_proxy
from services.common.contracts import CATEGORIES, GRADES
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.health import alive
from services.common.logs import LogContext
from services.common.metrics import EntrypointMetrics
from services.common.providers import Built
from services.common.settings import SettingsProvider, case_link_base

log = logging.getLogger("jiesu.gateway")

STAFF_ACTIONS = ("sign_for", "start", "return_case", "reply", "screen_out", "dispatch",
                 "instruct", "link", "merge", "classify")


def attachment_store(settings) -> AttachmentStore:
    return AttachmentStore(settings.resolve_path(settings.attachments_dir),
                           max_photo_bytes=settings.max_photo_bytes,
                           max_voice_bytes=settings.max_voice_bytes,
                           max_files=settings.max_attachments)


def filing_limits(settings) -> FilingLimits:
    """The abuse limits, counted in Redis shared by the replicas when `gateway_state_url` is
    set, else in this process."""
    url = settings.gateway_state_url
    return FilingLimits(settings.rate_limit_identity_per_minute,
                        settings.rate_limit_ip_per_minute,
                        redis_client=redis_client(url) if url else None)


WECHAT_RESEND_WAITS = 20   # x 0.2 s: within WeChat's 5 s for the resend itself
HOTLINE_CODES = {400: "invalid_event", 401: "bad_signature", 409: "duplicate_event",
                 413: "too_large"}
REJECTION_STATUS = {"empty": 400, "too_large": 413, "unsupported_type": 415, "too_many": 409}


def _valid(schema, body: dict) -> dict:
    """The body as the client sent it, once its public schema finds nothing wrong (else the
    400 the service would answer, before any service is asked). The service loads it again:
    the gateway checks what the public may send, the service what its command needs."""
    errors = schema().validate(body)
    if errors:
        raise InvalidInput(errors)
    return body


def _as_page(handler):
    """The SMS 回访 page's routes answer with pages, their failures too: a phone's browser
    shows a page, not JSON. A token with a character no link holds is a bad link (the API's
    path check, gateway/http.py, would answer JSON, and refuses ids longer than a token may
    be); anything else that fails is the status the API would answer (error_for logs the
    unexpected), as a page."""
    @functools.wraps(handler)
    def wrapper(self, request, token):
        if FORBIDDEN_TEXT.search(token):
            return rating_page.notice(*rating_page.INVALID)
        try:
            return handler(self, request, token)
        except Exception as exc:
            status = error_for(exc, handler.__name__).status_code
            if status == 503:
                return rating_page.notice(*rating_page.BUSY)
            return rating_page.notice(status, "无法处理", "暂时无法处理您的请求,请稍后再试。")
    return wrapper


class GatewayService(FiguresRoutes, SummaryRoutes, AnalysisRoutes, PageBase, SignInPages,
                     H5Pages, UnitPages, OfficePages, LeaderPages):
    name = "gateway"

    intake = rpc_proxy("intake")
    rating = rpc_proxy("rating")
    sla = rpc_proxy("sla")
    settings = SettingsProvider()
    log_context = LogContext()
    metrics = EntrypointMetrics()
    # Values built once per process from the settings; none needs a start or stop of its own
    # (redis-py's pooled connections go with the process), so none is a provider class.
    attachments = Built(attachment_store)
    limits = Built(filing_limits)
    public_key = Built(lambda settings: public_key_from(settings.jwt_public_key))
    wechat = Built(wechat.Channel.from_settings)
    hotline = Built(hotline.Webhook.from_settings)

    def _principal(self, request):
        return principal_for(request.headers.get("Authorization"), self.settings,
                             self.public_key)

    def _json(self, request) -> dict:
        return read_json(request, self.settings.max_body_bytes)

    def _too_large(self, request) -> bool:
        return (request.content_length or 0) > self.settings.max_body_bytes

    def _staff(self, request):
        principal = self._principal(request)
        if not principal.is_staff:
            # Not 403: a complainant does not learn that the staff API exists.
            raise HttpError(404, "not_found", "未找到 (not found)")
        return principal

    # ------------------------------------------------------------ complainants (app)
    @http("POST", "/api/v1/complaints")
    @api
    def file_complaint(self, request):
        principal = self._principal(request)
        self.limits.check(principal.id, request.remote_addr)
        body = self._json(request)
        # R3: the form's pledge, ticked (anything but true is no pledge; intake refuses it).
        pledged = body.pop("pledge", None) is True
        _valid(schemas.FileComplaintSchema, body)
        filed = self.intake.file_complaint(body, principal.as_complainant(), "app",
                                           filing_key(request), pledges.APP if pledged else None)
        return json_response(filed, 201,
                             headers={"Location": f"/api/v1/complaints/{filed['id']}"})

    @http("GET", "/api/v1/complaints")
    @api
    def list_my_complaints(self, request):
        principal = self._principal(request)
        return json_response(self.intake.list_cases(principal.as_complainant(),
                                                    {"view": "all", "sort": "received"}))

    @http("GET", "/api/v1/complaints/<string:complaint_id>")
    @api
    def get_complaint(self, request, complaint_id):
        principal = self._principal(request)
        return json_response(self.intake.get_complaint(complaint_id, principal.as_rpc()))

    @http("POST", "/api/v1/complaints/<string:complaint_id>/rating")
    @api
    def rate(self, request, complaint_id):
        principal = self._principal(request)
        rated = self.rating.rate(complaint_id, principal.as_rpc(),
                                 _valid(schemas.RateSchema, self._json(request)))
        return json_response(rated, 201)

    @http("POST", "/api/v1/complaints/<string:complaint_id>/attachments")
    @api
    def upload_attachment(self, request, complaint_id):
        """X4: a photo or voice message as the raw body. Its type is read from its bytes, not
        from the name or the Content-Type the client claims."""
        principal = self._principal(request)
        self.limits.check(principal.id, request.remote_addr)
        case = self.intake.get_complaint(complaint_id, principal.as_rpc())  # 404 if not theirs
        limit = max(self.settings.max_photo_bytes, self.settings.max_voice_bytes)
        if request.content_length is None:
            raise HttpError(411, "length_required", "须提供 Content-Length")
        if request.content_length > limit:
            raise HttpError(413, "too_large", f"附件超过 {limit} 字节 (attachment too large)")
        try:
            stored = self.attachments.put(request.get_data(cache=False),
                                          request.headers.get("X-Filename"),
                                          existing_count=len(case["attachments"]))
        except AttachmentRejected as rejected:
            raise HttpError(REJECTION_STATUS.get(rejected.reason_code, 400),
                            rejected.reason_code, str(rejected))
        recorded = self.intake.add_attachment(complaint_id, principal.as_rpc(), {
            "sha256": stored.sha256, "media_type": stored.media_type, "kind": stored.kind,
            "size": stored.size})
        url = f"/api/v1/complaints/{complaint_id}/attachments/{stored.sha256}"
        return json_response(dict(recorded, url=url), 201, headers={"Location": url})

    @http("GET", "/api/v1/complaints/<string:complaint_id>/attachments/<string:sha256>")
    @api
    def download_attachment(self, request, complaint_id, sha256):
        principal = self._principal(request)
        found = self.intake.get_attachment(complaint_id, sha256, principal.as_rpc())
        return attachment_response(self.attachments, found)

    @http("GET", "/api/v1/categories")
    @api
    def list_categories(self, request):
        return json_response([{"code": code, "label": label} for code, label in CATEGORIES.items()])

    @http("GET", "/api/v1/grades")
    @api
    def list_grades(self, request):
        return json_response([{"code": code, "label": label} for code, label in GRADES.items()])

    # ------------------------------------------------------------------ staff API
    @http("GET", "/api/v1/staff/cases")
    @api
    def staff_list(self, request):
        principal = self._staff(request)
        query = _valid(schemas.CaseListQuerySchema, dict(request.args.items()))
        return json_response(self.intake.list_cases(principal.as_rpc(), query))

    @http("GET", "/api/v1/staff/cases/<string:complaint_id>")
    @api
    def staff_case(self, request, complaint_id):
        principal = self._staff(request)
        # X5/R15: the one place the office reads the contact phone whole (to call back);
        # intake audits each such read. Everyone else, everywhere else: masked.
        return json_response(self.intake.get_complaint(complaint_id, principal.as_rpc(),
                                                       reveal_contact=True))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/communications")
    @api
    def staff_communication(self, request, complaint_id):
        principal = self._staff(request)
        body = _valid(schemas.CommunicationSchema, self._json(request))
        return json_response(self.intake.act(complaint_id, "communicate", principal.as_rpc(),
                                             body), 201)

    # Only the actions match: POST on …/deadlines or …/audit is then a 405 for those paths,
    # and any other word the catch-all's 404.
    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/"
                  f"<any({', '.join(STAFF_ACTIONS)}):action>")
    @api
    def staff_action(self, request, complaint_id, action):
        principal = self._staff(request)
        body = _valid(schemas.ACTION_SCHEMAS[action],
                      self._json(request) if request.content_length else {})
        return json_response(self.intake.act(complaint_id, action, principal.as_rpc(), body))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/callback")
    @api
    def staff_callback(self, request, complaint_id):
        """The office's phone 回访 for a complainant who did not rate: their answers, recorded
        by who called (rating answers 404 to anyone but the office, 409 unless the case
        awaits its rating)."""
        principal = self._staff(request)
        body = _valid(schemas.CallbackSchema, self._json(request))
        return json_response(self.rating.record_callback(complaint_id, principal.as_rpc(),
                                                         body), 201)

    @http("GET", "/api/v1/staff/cases/<string:complaint_id>/deadlines")
    @api
    def staff_deadlines(self, request, complaint_id):
        """Every target of the case (签收 and 办结 per round), its state and its extensions;
        sla answers NotFound (404) to whoever may not read the case."""
        principal = self._staff(request)
        return json_response(self.sla.get_deadlines(complaint_id, principal.as_rpc()))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/extensions")
    @api
    def request_extension(self, request, complaint_id):
        principal = self._staff(request)
        body = _valid(schemas.ExtensionRequestSchema, self._json(request))
        return json_response(self.sla.request_extension(complaint_id, principal.as_rpc(), body),
                             201)

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/extensions/<string:extension_id>"
                  "/decision")
    @api
    def decide_extension(self, request, complaint_id, extension_id):
        principal = self._staff(request)
        body = _valid(schemas.ExtensionDecisionSchema, self._json(request))
        return json_response(self.sla.decide_extension(complaint_id, extension_id,
                                                       principal.as_rpc(), body))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/timetable")
    @api
    def set_timetable(self, request, complaint_id):
        """R7: milestones and staged-feedback dates for a matter that takes long."""
        principal = self._staff(request)
        body = _valid(schemas.TimetableSchema, self._json(request))
        return json_response(self.sla.set_timetable(complaint_id, principal.as_rpc(), body), 201)

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/timetable/<string:milestone_id>")
    @api
    def update_milestone(self, request, complaint_id, milestone_id):
        principal = self._staff(request)
        body = _valid(schemas.MilestoneUpdateSchema, self._json(request))
        return json_response(self.sla.update_milestone(complaint_id, milestone_id,
                                                       principal.as_rpc(), body))

    @http("GET", "/api/v1/staff/cases/<string:complaint_id>/audit")
    @api
    def staff_audit(self, request, complaint_id):
        principal = self._staff(request)
        return json_response(self.intake.audit_log(complaint_id, principal.as_rpc()))

    @http("GET", "/api/v1/staff/units/<string:unit_id>/figures")
    @api
    def unit_figures(self, request, unit_id):
        principal = self._staff(request)
        return json_response(self.intake.unit_figures(unit_id, principal.as_rpc()))

    @http("POST", "/api/v1/staff/reports")
    @api
    def proactive_report(self, request):
        """R10: unit staff (party branches, counsellors, class officers) file what they found."""
        principal = self._staff(request)
        self.limits.check(principal.id, request.remote_addr)
        body = _valid(schemas.FileComplaintSchema, self._json(request))
        filed = self.intake.file_complaint(body, principal.as_rpc(), "staff", filing_key(request))
        return json_response(filed, 201)

    # ------------------------------------------------------------ the hotline (R2)
    @http("POST", "/hotline/calls/events")
    @api
    def hotline_call_event(self, request):
        """One call event from the call centre (CTI), HMAC-signed; intake keeps the call and
        files a voicemail. 409 for an event already received: the CTI counts it delivered."""
        if not self.hotline.secrets:
            raise HttpError(404, "not_found", "热线未接入 (the hotline webhook is off)")
        if self._too_large(request):
            raise HttpError(413, "too_large", "事件过大 (event too large)")
        try:
            event = hotline.verify_event(request.headers, request.get_data(cache=False),
                                         self.hotline.secrets, self.hotline.guard, time.time(),
                                         self.settings.max_body_bytes)
        except hotline.HotlineRejected as rejected:
            log.warning("hotline event refused: %s %s", rejected.status, rejected.reason)
            raise HttpError(rejected.status, HOTLINE_CODES[rejected.status],
                            rejected.reason) from None
        try:
            answer = self.intake.record_call_event(event.as_payload())
        except Exception:
            self.hotline.guard.release(event.event_id)  # so the CTI's retry is taken
            raise
        if answer["outcome"] == "duplicate":
            raise HttpError(409, "duplicate_event", f"event {event.event_id} already received")
        return json_response(answer)

    @http("GET", "/api/v1/staff/hotline/calls")
    @api
    def hotline_calls(self, request):
        """The office's hotline calls, newest first; `unfiled=true` for the answered calls
        nobody has filed for yet."""
        principal = self._staff(request)
        query = _valid(schemas.CallListQuerySchema, dict(request.args))
        return json_response(self.intake.list_calls(principal.as_rpc(), query))

    @http("GET", "/api/v1/staff/hotline/calls/<string:call_id>")
    @api
    def hotline_call(self, request, call_id):
        """The operator's screen for a call: the masked caller, the pledge to read, and the
        cases filed from it (the office)."""
        principal = self._staff(request)
        return json_response(self.intake.get_call(call_id, principal.as_rpc()))

    @http("POST", "/api/v1/staff/hotline/calls/<string:call_id>/complaints")
    @api
    def file_for_caller(self, request, call_id):
        """An operator files for the caller of an answered call, having read the pledge."""
        principal = self._staff(request)
        body = self._json(request)
        pledge_read = body.pop("pledge_read", None) is True
        _valid(schemas.FileComplaintSchema, body)
        filed = self.intake.file_for_caller(call_id, body, principal.as_rpc(), pledge_read,
                                            filing_key(request))
        return json_response(filed, 201, headers={
            "Location": f"/api/v1/staff/cases/{filed['id']}"})

    @http("GET", "/api/v1/openapi.json")
    @api
    def openapi(self, request):
        return json_response(openapi_document())

    # ------------------------------------------------------------ WeChat official account
    @http("GET", "/wechat")
    def wechat_verify(self, request):
        """The 公众号 server URL check: answer echostr when the signature is WeChat's."""
        if self.wechat.crypto is None:
            return Response("not found", status=404)
        args = request.args
        try:
            echo = self.wechat.crypto.verify_url(args.get("signature"), args.get("timestamp"),
                                                 args.get("nonce"), args.get("echostr", ""),
                                                 time.time())
        except wechat.WeChatRejected as rejected:
            log.warning("wechat verification refused: %s", rejected.reason)
            return Response("forbidden", status=403)
        return Response(echo, mimetype="text/plain")

    @http("POST", "/wechat")
    def wechat_message(self, request):
        """A message from a WeChat user, in plain or safe mode; the passive reply answers it.
        A bad signature, a stale timestamp or a malformed, oversized or entity-laden body is
        refused and files nothing."""
        crypto = self.wechat.crypto
        if crypto is None:
            return Response("not found", status=404)
        args, now = request.args, time.time()
        safe = args.get("encrypt_type") == "aes"
        try:
            if self._too_large(request):
                raise wechat.WeChatRejected("body too large")
            body = request.get_data(cache=False)
            if len(body) > self.settings.max_body_bytes:
                raise wechat.WeChatRejected("body too large")
            if safe:
                inner = crypto.decrypt(body, args.get("msg_signature"), args.get("timestamp"),
                                       args.get("nonce"), now)
            else:
                crypto.check_signature(args.get("signature"), args.get("timestamp"),
                                       args.get("nonce"), now)
                inner = body
            message = wechat.parse_message(inner, self.settings.max_body_bytes)
        except wechat.WeChatRejected as rejected:
            log.warning("wechat message refused: %s", rejected.reason)
            signed = "signature" in rejected.reason or "timestamp" in rejected.reason
            return Response("forbidden" if signed else "bad request", status=403 if signed
                            else 400)
        key = wechat.dedup_key(message)
        reply_xml = self._wechat_remembered(key)
        if reply_xml is None:
            failed = False
            try:
                text = self._wechat_answer(message, key, request)
            except RateLimited:
                text = "提交过于频繁,请稍后再试。"
            except Exception:  # WeChat shows nothing for a 500: tell the user instead
                log.exception("wechat message could not be handled")
                text, failed = "系统繁忙,请稍后再试。", True
            reply_xml = "" if text is None else wechat.text_reply(
                message["from_user"], message["to_user"], text, now)
            try:
                # A failure is not remembered: WeChat's resend gets another try.
                if failed:
                    self.wechat.sessions.forget(key)
                else:
                    self.wechat.sessions.remember(key, reply_xml)
            except Exception:
                log.exception("wechat sessions store unavailable")
        if not reply_xml:
            return Response("success", mimetype="text/plain")
        if safe:
            reply_xml = crypto.encrypt(reply_xml, args.get("nonce"), int(now))
        return Response(reply_xml, mimetype="text/xml")

    def _wechat_remembered(self, key) -> str | None:
        """The reply already given to this message, if WeChat is resending it. A resend of a
        message still being handled (filing took over 5 s) waits a little for that answer;
        if none comes it is handled again, which changes nothing: the dialogue moves on only
        after its step is done, and the filing key is the message's."""
        sessions = self.wechat.sessions
        try:
            if sessions.claim(key):
                return None
            for _ in range(WECHAT_RESEND_WAITS):
                reply_xml = sessions.remembered(key)
                if reply_xml != PENDING:
                    return reply_xml
                eventlet.sleep(0.2)
        except Exception:  # the store is down: answer anyway (filing stays idempotent)
            log.exception("wechat sessions store unavailable")
        return None

    def _wechat_answer(self, message, key, request) -> str | None:
        openid = message["from_user"]
        sessions = self.wechat.sessions
        state, action = self.wechat.dialogue.handle(sessions.state(openid), message)
        try:
            if action["type"] == "rate_start":
                state, text = self._wechat_rate_start(action["number"], openid,
                                                      message["create_time"])
            else:
                text = self._wechat_act(action, openid, key, request)
        except InvalidInput as refused:
            # Intake will not take this text as it is: say why and start over at the
            # description (a resend of the same text would be refused again).
            state, text = None, f"{wechat.NOT_ACCEPTED}{refused.message}\n{wechat.START}"
        # Only once its step is done: a failure (or a crash) leaves the user where they were.
        sessions.keep_state(openid, state)
        return text

    def _wechat_act(self, action, openid, key, request) -> str | None:
        if action["type"] == "reply":
            return action["text"]
        if action["type"] == "file":
            self.limits.check(wechat_identity(openid), request.remote_addr)
            filed = self.intake.file_complaint(
                {"category": action["category"], "content": action["content"]},
                {"id": wechat_identity(openid)[:64], "name": None, "roles": ["complainant"]},
                "wechat", key, pledges.WECHAT)
            return (f"您的诉求已受理,编号 {filed['number']}。我们将直派责任单位限时办理;"
                    f"查询进度请回复「查询 {filed['number']}」。" + self._wechat_link(filed))
        if action["type"] == "query":
            found = self.intake.list_filed_by(wechat_identity(openid), {
                "number": action["number"], "start_date": "2000-01-01T00:00:00+00:00"})
            if not found:
                return f"没有找到您反映的编号为 {action['number']} 的诉求。"
            case = found[0]
            unit = f",承办单位:{case['unit_name']}" if case.get("unit_name") else ""
            return f"诉求 {case['number']}:{case['status_label']}{unit}。" + \
                self._wechat_link(case)
        if action["type"] == "rate":
            return self._wechat_rate(action, openid)
        return None

    def _wechat_rate_start(self, number, openid, now) -> tuple[dict | None, str]:
        """The 回访 begins for the user's case awaiting its rating (the one named, or the
        only one); rating has the last word when the answers come."""
        query = {"start_date": "2000-01-01T00:00:00+00:00"}
        query.update({"number": number} if number else {"statuses": ["open"]})
        waiting = [case for case in self.intake.list_filed_by(wechat_identity(openid), query)
                   if case["status"] == "replied"]
        if len(waiting) == 1:
            return wechat.rating_started(waiting[0], now)
        if number:
            return None, f"没有找到您反映的编号为 {number} 的待评价诉求。"
        if not waiting:
            return None, "您目前没有待评价的诉求(承办单位答复后即可评价)。"
        numbers = "、".join(case["number"] for case in waiting[:10])
        return None, f"您有多条待评价的诉求:{numbers}。\n{wechat.RATE_HELP}"

    def _wechat_rate(self, action, openid) -> str:
        rater = {"id": wechat_identity(openid)[:64], "name": None, "roles": ["complainant"]}
        try:
            rated = self.rating.rate(action["complaint_id"], rater, action["rating"])
        except (Conflict, NotFound):
            return f"诉求 {action['number']} 当前不在待评价状态(可能已评价或已办结)。"
        except InvalidInput as refused:
            return f"评价未能提交:{refused.message}\n请重新发送「评价 {action['number']}」。"
        return (f"感谢您的评价!诉求 {action['number']}:{rated['level_label']}。"
                + wechat.RATED_NEXT.get(rated["decision"], ""))

    def _wechat_link(self, case) -> str:
        """The H5 page where the case is followed (case_link_base), as a tappable link."""
        base = case_link_base(self.settings)
        return f'\n<a href="{base}/{case["id"]}">查看办理进度</a>' if base else ""

    # ------------------------------------------------------------ the SMS 回访 page
    @http("GET", "/r/<string:token>")
    @_as_page
    def rating_page(self, request, token):
        """The page a reply's SMS links to: the three questions for the case the token names
        (services/common/rating_link.py), or why there is nothing to rate."""
        found = self._rating_case(token)
        if not isinstance(found, tuple):
            return found
        case, _ = found
        return rating_page.form(case)

    @http("POST", "/r/<string:token>")
    @_as_page
    def rating_page_post(self, request, token):
        found = self._rating_case(token)
        if not isinstance(found, tuple):
            return found
        case, rater = found
        if request.content_length and request.mimetype != "application/x-www-form-urlencoded":
            return rating_page.notice(*rating_page.NOT_A_FORM)
        fields = {name: request.form[name] for name in request.form}
        answers, error = rating_page.rating_of(fields)
        if answers is None:
            return rating_page.form(case, error, fields, status=400)
        try:
            rated = self.rating.rate(case["id"], rater, answers)
        except (Conflict, NotFound):
            return rating_page.notice(*rating_page.NOT_OPEN)
        except InvalidInput as refused:
            return rating_page.form(case, refused.message, fields, status=400)
        except RpcTimeout:
            return rating_page.notice(*rating_page.BUSY)
        return rating_page.thanks(rated, case["number"])

    def _rating_case(self, token):
        """(the case as its complainant reads it, them as a caller), or the page that says
        why not: no such link (404), expired (410), not awaiting a rating (409)."""
        secret = self.settings.rating_link_secret
        try:
            complaint_id, complainant_id = rating_link.verify(secret, token, time.time())
        except rating_link.BadToken as bad:
            return rating_page.notice(*(rating_page.EXPIRED if bad.reason == "expired"
                                        else rating_page.INVALID))
        rater = {"id": complainant_id, "name": None, "roles": ["complainant"]}
        try:
            case = self.intake.get_complaint(complaint_id, rater)
        except NotFound:
            return rating_page.notice(*rating_page.NOT_FOUND)
        except RpcTimeout:
            return rating_page.notice(*rating_page.BUSY)
        if case["status"] != "replied":
            return rating_page.notice(*rating_page.NOT_OPEN)
        return case, rater

    # ------------------------------------------------------------ Open311 GeoReport v2
    def _open311_app(self, request) -> str:
        key = request.values.get("api_key", "")
        for entry in self.settings.open311_api_keys:
            app, _, secret = str(entry).partition(":")
            # bytes: compare_digest refuses a str that is not ASCII (a 500 for `api_key=Õ`)
            if key and secret and hmac.compare_digest(key.encode(), secret.encode()):
                return app
        raise Open311Error(403, "api_key is missing or not valid")

    @http("GET", "/open311/v2/services.<string:fmt>")
    @open311_api
    def open311_services(self, request, fmt):
        return open311.render(fmt, open311.services(), "services", "service")

    @http("GET", "/open311/v2/services/<string:code>.<string:fmt>")
    @open311_api
    def open311_service(self, request, code, fmt):
        return open311.render(fmt, open311.service_definition(code), "service_definition", None)

    @http("POST", "/open311/v2/requests.<string:fmt>")
    @open311_api
    def open311_post(self, request, fmt):
        if self._too_large(request):  # before the form is parsed (api_key is in it)
            raise Open311Error(413, f"request larger than {self.settings.max_body_bytes} bytes")
        app = self._open311_app(request)
        self.limits.check(open311_app_identity(app), request.remote_addr)
        form = request.form
        location = form.get("address_string") or None
        lat, long = form.get("lat") or None, form.get("long") or None
        if not form.get("service_code"):
            raise Open311Error(400, "service_code is required")
        if not (location or (lat and long)):
            raise Open311Error(400, "a location is required: lat and long, or address_string")
        if form.get(f"attribute[{open311.PLEDGE_ATTRIBUTE}]") != open311.PLEDGE_YES:
            raise Open311Error(400, f"attribute[{open311.PLEDGE_ATTRIBUTE}]="
                                    f"{open311.PLEDGE_YES} is required: the requester pledges "
                                    f"that the report is true")
        person = form.get("account_id") or form.get("email") or form.get("device_id") \
            or f"anonymous-{uuid.uuid4()}"
        name = " ".join(filter(None, (form.get("first_name"), form.get("last_name")))) or None
        filed = self.intake.file_complaint(
            {"category": form["service_code"], "content": form.get("description", ""),
             "location": location[:200] if location else None, "lat": lat, "long": long,
             "contact_phone": form.get("phone") or None},
            {"id": (open311_app_identity(app) + person)[:64], "name": name,
             "roles": ["complainant"]},
            "open311", None, pledges.open311(app))
        return open311.render(fmt, [{"service_request_id": filed["id"],
                                     "service_notice": f"已受理,编号 {filed['number']}",
                                     "account_id": form.get("account_id")}],
                              "service_requests", "request", status=201)

    @http("GET", "/open311/v2/requests.<string:fmt>")
    @open311_api
    def open311_requests(self, request, fmt):
        app = self._open311_app(request)
        args = request.args
        query = {"ids": [i for i in args.get("service_request_id", "").split(",") if i],
                 "service_code": args.get("service_code") or None,
                 "start_date": args.get("start_date") or None,
                 "end_date": args.get("end_date") or None,
                 "statuses": [s for s in args.get("status", "").split(",") if s]}
        cases = self.intake.list_filed_by(open311_app_identity(app), query)
        return open311.render(fmt, [open311.request_view(c) for c in cases],
                              "service_requests", "request")

    @http("GET", "/open311/v2/requests/<string:request_id>.<string:fmt>")
    @open311_api
    def open311_request(self, request, request_id, fmt):
        app = self._open311_app(request)
        cases = self.intake.list_filed_by(open311_app_identity(app), {
            "ids": [request_id], "start_date": "2000-01-01T00:00:00+00:00"})
        if not cases:
            raise Open311Error(404, f"service_request_id {request_id} not found")
        return open311.render(fmt, [open311.request_view(cases[0])], "service_requests",
                              "request")

    @http(EVERY_METHOD, "/")
    @http(EVERY_METHOD, "/<path:unknown_path>")
    @api
    def no_such_route(self, request, unknown_path=""):
        """What no route matches: 405 with Allow when the path is served with other methods,
        else 404; in the one error shape (Open311's own under /open311/), never werkzeug's
        HTML page. Every other rule is more specific, so this one only catches what they
        miss."""
        refused = route_error(type(self), request, f"/{unknown_path}")
        if unknown_path.startswith("open311/"):
            answer = open311.error("json", refused.status, refused.message)
            answer.headers.update(refused.headers)
            return answer
        raise refused

    @http("GET", "/healthz")
    def healthz(self, request):
        """Answered by gateway/server.py itself, without a worker, so that it answers however
        busy the workers are; the route is declared here so that it is one of the service's
        routes (the catch-all's 405 for other methods)."""
        return json_response(alive())
