"""The gateway: the only HTTP face of jiesu. Channels and the staff API turn into RPC calls
on the services; nothing here owns data."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from gateway.auth import principal_from
from gateway.openapi import openapi_document
from gateway.http import HttpError, api, filing_key, json_response, read_json
from services.common.bus import rpc_proxy
from services.common.contracts import CATEGORIES, GRADES
from services.common.logs import LogContext
from services.common.metrics import EntrypointMetrics
from services.common.settings import Settings, SettingsProvider
from services.intake.attachments import AttachmentNotFound, AttachmentRejected, AttachmentStore

STAFF_ACTIONS = ("sign_for", "start", "return_case", "reply", "screen_out", "dispatch",
                 "instruct", "link", "merge")


class AttachmentStoreProvider(DependencyProvider):
    def setup(self):
        settings = Settings.from_container_config(self.container.config)
        self.store = AttachmentStore(settings.resolve_path(settings.attachments_dir),
                                     max_photo_bytes=settings.max_photo_bytes,
                                     max_voice_bytes=settings.max_voice_bytes,
                                     max_files=settings.max_attachments)

    def get_dependency(self, worker_ctx):
        return self.store


REJECTION_STATUS = {"empty": 400, "too_large": 413, "unsupported_type": 415, "too_many": 409}


class GatewayService:
    name = "gateway"

    intake = rpc_proxy("intake")
    rating = rpc_proxy("rating")
    sla = rpc_proxy("sla")
    settings = SettingsProvider()
    log_context = LogContext()
    attachments = AttachmentStoreProvider()
    metrics = EntrypointMetrics()

    def _principal(self, request):
        return principal_from(request.headers.get("Authorization"), self.settings.jwt_secret,
                              self.settings.jwt_leeway_seconds)

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
        filed = self.intake.file_complaint(read_json(request), principal.as_complainant(),
                                           "app", filing_key(request))
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
        rated = self.rating.rate(complaint_id, principal.as_rpc(), read_json(request))
        return json_response(rated, 201)

    @http("POST", "/api/v1/complaints/<string:complaint_id>/attachments")
    @api
    def upload_attachment(self, request, complaint_id):
        """X4: a photo or voice message as the raw body. Its type is read from its bytes, not
        from the name or the Content-Type the client claims."""
        principal = self._principal(request)
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
        try:
            data = self.attachments.open(found["sha256"])
        except (AttachmentNotFound, ValueError):
            raise HttpError(404, "not_found", "附件不存在 (attachment not found)") from None
        return Response(data, mimetype=found["media_type"],
                        headers={"Cache-Control": "private, max-age=86400",
                                 "X-Content-Type-Options": "nosniff"})

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
        query = {key: value for key, value in request.args.items()}
        return json_response(self.intake.list_cases(principal.as_rpc(), query))

    @http("GET", "/api/v1/staff/cases/<string:complaint_id>")
    @api
    def staff_case(self, request, complaint_id):
        principal = self._staff(request)
        return json_response(self.intake.get_complaint(complaint_id, principal.as_rpc()))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/communications")
    @api
    def staff_communication(self, request, complaint_id):
        principal = self._staff(request)
        return json_response(self.intake.act(complaint_id, "communicate", principal.as_rpc(),
                                             read_json(request)), 201)

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/<string:action>")
    @api
    def staff_action(self, request, complaint_id, action):
        principal = self._staff(request)
        if action not in STAFF_ACTIONS:
            raise HttpError(404, "not_found", f"没有操作 {action} (no such action)")
        body = read_json(request) if request.content_length else {}
        return json_response(self.intake.act(complaint_id, action, principal.as_rpc(), body))

    @http("GET", "/api/v1/staff/cases/<string:complaint_id>/deadlines")
    @api
    def staff_deadlines(self, request, complaint_id):
        """Every target of the case (签收 and 办结 per round), its state and its extensions."""
        principal = self._staff(request)
        self.intake.get_complaint(complaint_id, principal.as_rpc())  # 404 if not theirs
        return json_response(self.sla.get_deadlines(complaint_id))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/extensions")
    @api
    def request_extension(self, request, complaint_id):
        principal = self._staff(request)
        return json_response(self.sla.request_extension(complaint_id, principal.as_rpc(),
                                                        read_json(request)), 201)

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/extensions/<string:extension_id>"
                  "/decision")
    @api
    def decide_extension(self, request, complaint_id, extension_id):
        principal = self._staff(request)
        return json_response(self.sla.decide_extension(complaint_id, extension_id,
                                                       principal.as_rpc(), read_json(request)))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/timetable")
    @api
    def set_timetable(self, request, complaint_id):
        """R7: milestones and staged-feedback dates for a matter that takes long."""
        principal = self._staff(request)
        return json_response(self.sla.set_timetable(complaint_id, principal.as_rpc(),
                                                    read_json(request)), 201)

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/timetable/<string:milestone_id>")
    @api
    def update_milestone(self, request, complaint_id, milestone_id):
        principal = self._staff(request)
        return json_response(self.sla.update_milestone(complaint_id, milestone_id,
                                                       principal.as_rpc(), read_json(request)))

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
        filed = self.intake.file_complaint(read_json(request), principal.as_rpc(), "staff",
                                           filing_key(request))
        return json_response(filed, 201)

    @http("GET", "/api/v1/openapi.json")
    @api
    def openapi(self, request):
        return json_response(openapi_document())

    @http("GET", "/healthz")
    def healthz(self, request):
        return json_response({"status": "ok"})
