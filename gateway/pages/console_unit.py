"""The console for units (issue 13): the handler's inbox and the case page every staff role
opens, the proactive report form, and the head's live unit view, extension decisions and
三率.

Each page asks the services the same RPCs as the staff API (gateway/service.py) on behalf of
the signed-in person, and each form's body is checked with the API's schema
(gateway/schemas.py) once the form's strings are the JSON types the API takes. A refusal is
the service's own reason: a form the schema refuses is shown again with the reasons beside
its fields (400); an action the case's state refuses is a flash on the case page (after the
redirect); a case the viewer may not read is the 404 page, as the API answers.
"""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime


from gateway import schemas
from gateway.http import HttpError, attachment_response
from gateway.pages import cas, web
from gateway.pages.case_actions import allowed_actions, may_decide, pending_extensions
from gateway.server import http
from services.common.analysis_inputs import AssessmentQuerySchema
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.vocabulary import COMMUNICATION_KINDS, MILESTONE_UPDATES, OUTCOMES

STAFF = ("handler", "head", "office", "leader")
UNIT = ("handler", "head")
SLA_LABELS = {"normal": "正常", "warning": "预警", "overdue": "超期"}
VIEW_LABELS = {"inbox": "待办(未办结)", "all": "全部", "returned": "已退回", "disputed": "争议件",
               "redo": "重办件", "supervised": "督办件", "proactive": "主动上报"}
MILESTONE_UPDATE_LABELS = {"feedback": "已阶段性反馈", "done": "已完成"}
# The unit's cases that are being handled (a handler's load; replied ones await the rating).
HANDLING = ("assigned", "signed", "in_progress")
TIMETABLE_ROWS = 3
LIST_MAX = 500
# How many of the unit's open cases the extensions page asks sla about, one RPC each.
EXTENSION_SCAN = 200

# action -> the success flash; the forms' URL is /console/cases/<id>/<action>.
DONE = {"sign_for": "已签收", "start": "已开始办理", "communicate": "已记录沟通",
        "reply": "已答复", "return_case": "已退回", "request_extension": "已提交延期申请",
        "set_timetable": "已制定阶段计划", "update_milestone": "已更新阶段计划"}
FORM_SCHEMAS = {"sign_for": schemas.NoParamsSchema, "start": schemas.NoParamsSchema,
                "communicate": schemas.CommunicationSchema, "reply": schemas.ReplySchema,
                "return_case": schemas.ReturnCaseSchema,
                "request_extension": schemas.ExtensionRequestSchema,
                "set_timetable": schemas.TimetableSchema,
                "update_milestone": schemas.MilestoneUpdateSchema}
# marshmallow's own messages, as a Chinese-speaking clerk reads them.
MESSAGES = {"Missing data for required field.": "必填", "Not a valid datetime.": "日期时间格式不正确",
            "Field may not be null.": "必填", "Not a valid string.": "格式不正确",
            "Not a valid boolean.": "格式不正确", "Unknown field.": "未知字段"}


# ------------------------------------------------------------------------ form strings
def local_moment(value: str | None) -> str | None:
    """A datetime-local field (Beijing time, no offset) as the API's ISO time with +08:00;
    '' is None; anything else is left for the schema to refuse."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) == 16:          # YYYY-MM-DDTHH:MM
        value += ":00"
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return value
    return value + "+08:00"


def _text(form, name: str) -> str | None:
    value = form.get(name)
    return value if value is None or value.strip() else None


def form_body(action: str, form) -> dict:
    """The form's fields of `action` as the API's JSON body (other fields left out)."""
    if action in ("sign_for", "start"):
        return {}
    if action == "communicate":
        return {"kind": form.get("kind"), "at": local_moment(form.get("at")),
                "with_whom": form.get("with_whom"), "summary": form.get("summary")}
    if action == "reply":
        return {"outcome": form.get("outcome"), "text": form.get("text")}
    if action == "return_case":
        return {"reason": form.get("reason")}
    if action == "request_extension":
        return {"reason": form.get("reason"), "new_due_at": local_moment(form.get("new_due_at"))}
    if action == "update_milestone":
        return {"update": form.get("update"), "note": form.get("note")}
    if action == "set_timetable":
        steps = []
        for index in range(TIMETABLE_ROWS):
            title = form.get(f"milestones.{index}.title", "")
            due = form.get(f"milestones.{index}.due_at", "")
            feedback = form.get(f"milestones.{index}.feedback_due_at", "")
            if title.strip() or due.strip() or feedback.strip():
                steps.append({"title": title, "due_at": local_moment(due),
                              "feedback_due_at": local_moment(feedback)})
        return {"milestones": steps}
    raise HttpError(404, "not_found", "未找到")


def flat_errors(errors, path: str = "") -> dict[str, str]:
    """marshmallow's nested errors as {dotted field name: first message}, in Chinese where
    marshmallow speaks English; the form's fields carry the same dotted names."""
    flat: dict[str, str] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = path if key == "_schema" else f"{path}.{key}" if path else str(key)
            for field, message in flat_errors(value, name).items():
                flat.setdefault(field, message)
    elif isinstance(errors, (list, tuple)):
        for item in errors:
            for field, message in flat_errors(item, path).items():
                flat.setdefault(field, message)
    elif errors is not None:
        flat[path or "_form"] = MESSAGES.get(str(errors), str(errors))
    return flat


def _case_url(complaint_id: str) -> str:
    return f"/console/cases/{web.quote(complaint_id, safe='')}"


def _today_start() -> datetime:
    return datetime.now(web.SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)


def _received_today(case: dict, start: datetime) -> bool:
    try:
        return datetime.fromisoformat(case["received_at"]) >= start
    except (KeyError, TypeError, ValueError):
        return False


def _sla(case: dict) -> str:
    state = case.get("sla_state") or "normal"
    return state if state in SLA_LABELS else "normal"


# ---------------------------------------------------------------------------- the pages
class UnitPages:
    # ------------------------------------------------------------------ home and inbox
    @http("GET", "/console/")
    @web.page(web.CONSOLE, roles=STAFF)
    def console_home(self, request, session):
        roles = set(session["principal"].get("roles") or ())
        if not roles & set(UNIT):
            if "office" in roles:
                return web.redirect("/console/office/")
            return web.redirect("/console/leader/")
        principal = web.principal_of(session)
        wanted = {key: value for key, value in request.args.items()
                  if key in ("view", "state", "category", "sort") and value}
        errors = flat_errors(schemas.CaseListQuerySchema().validate(wanted))
        cases = [] if errors else self.intake.list_cases(principal.as_rpc(), wanted)
        return self._render("console/inbox.html", session, 400 if errors else 200,
                            cases=cases, query=wanted, errors=errors, sla_of=_sla,
                            SLA_LABELS=SLA_LABELS, VIEW_LABELS=VIEW_LABELS)

    # ------------------------------------------------------------------ the case page
    def _console_deadlines(self, complaint_id: str, viewer: dict) -> list[dict] | None:
        """sla's targets of the case; None while sla has not heard of the case yet."""
        try:
            return self.sla.get_deadlines(complaint_id, viewer)
        except NotFound:
            return None

    def _console_case_page(self, session, complaint_id: str, status: int = 200,
                   errors: dict | None = None, values: dict | None = None):
        principal = web.principal_of(session)
        viewer = principal.as_rpc()
        case = self.intake.get_complaint(complaint_id, viewer)   # 404 for whom may not see it
        deadlines = self._console_deadlines(complaint_id, viewer)
        allowed = allowed_actions(case, session["principal"], deadlines or ())
        waiting = [dict(e, decidable=may_decide(e, case, session["principal"]))
                   for e in pending_extensions(deadlines)]
        return self._render(
            "console/case.html", session, status, case=case, deadlines=deadlines,
            allowed=allowed, pending=waiting, errors=errors or {}, values=values or {},
            sla_of=_sla, SLA_LABELS=SLA_LABELS, OUTCOMES=OUTCOMES,
            COMMUNICATION_KINDS=COMMUNICATION_KINDS, MILESTONE_UPDATES=MILESTONE_UPDATES,
            MILESTONE_UPDATE_LABELS=MILESTONE_UPDATE_LABELS, TIMETABLE_ROWS=TIMETABLE_ROWS,
            now_local=datetime.now(web.SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S"),
            case_url=_case_url(case["id"]),
            # the office's dispatch form lists the units without a script (office partial)
            units=cas.unit_names(self.org) if "office" in principal.roles else None)

    @http("GET", "/console/cases/<string:complaint_id>")
    @web.page(web.CONSOLE, roles=STAFF)
    def console_case(self, request, session, complaint_id):
        return self._console_case_page(session, complaint_id)

    @http("GET", "/console/cases/<string:complaint_id>/attachments/<string:sha256>")
    @web.page(web.CONSOLE, roles=STAFF)
    def console_attachment(self, request, session, complaint_id, sha256):
        principal = web.principal_of(session)
        found = self.intake.get_attachment(complaint_id, sha256, principal.as_rpc())
        return attachment_response(self.attachments, found)

    @http("POST", "/console/cases/<string:complaint_id>/"
                  f"<any({', '.join(DONE)}):action>")
    @web.page(web.CONSOLE, roles=UNIT)
    def console_case_action(self, request, session, complaint_id, action):
        body = form_body(action, request.form)
        errors = FORM_SCHEMAS[action]().validate(body)
        typed = {action: {name: request.form.get(name) for name in request.form
                          if name != web.CSRF_FIELD}}
        if errors:
            return self._console_case_page(session, complaint_id, 400,
                                   {action: flat_errors(errors)}, typed)
        viewer = web.principal_of(session).as_rpc()
        try:
            if action == "request_extension":
                self.sla.request_extension(complaint_id, viewer, body)
            elif action == "set_timetable":
                self.sla.set_timetable(complaint_id, viewer, body)
            elif action == "update_milestone":
                milestone = request.form.get("milestone_id") or ""
                if not milestone or len(milestone) > 64:
                    raise NotFound("milestone not found")
                self.sla.update_milestone(complaint_id, milestone, viewer, body)
            else:
                self.intake.act(complaint_id, action, viewer, body)
        except InvalidInput as refused:
            fields = flat_errors(refused.fields) if refused.fields else \
                {"_form": refused.message}
            return self._console_case_page(session, complaint_id, 400, {action: fields}, typed)
        except Conflict as refused:
            web.flash(session, web.refusal(refused, action)[1], "error")
            return web.redirect(_case_url(complaint_id))
        web.flash(session, DONE[action], "success")
        return web.redirect(_case_url(complaint_id))

    @http("POST", "/console/cases/<string:complaint_id>/extensions/<string:extension_id>"
                  "/decision")
    @web.page(web.CONSOLE, roles=("head", "office"))
    def console_extension_decision(self, request, session, complaint_id, extension_id):
        """Approve or refuse (the button pressed: approve=1 or 0); back to where it was
        decided (the case page, or the unit's list of extensions)."""
        back = request.form.get("next") or ""
        back = back if back in ("/console/extensions",) else _case_url(complaint_id)
        body = {"approve": {"1": True, "0": False}.get(request.form.get("approve", ""),
                                                       request.form.get("approve")),
                "note": _text(request.form, "note")}
        errors = schemas.ExtensionDecisionSchema().validate(body)
        try:
            if errors:
                raise InvalidInput(errors)
            self.sla.decide_extension(complaint_id, extension_id,
                                      web.principal_of(session).as_rpc(), body)
        except (InvalidInput, Conflict) as refused:
            web.flash(session, web.refusal(refused, "decide_extension")[1], "error")
            return web.redirect(back)
        web.flash(session, "已批准延期" if body["approve"] else "已驳回延期申请", "success")
        return web.redirect(back)

    # ------------------------------------------------------------------ R10 proactive report
    @http("GET", "/console/reports/new")
    @web.page(web.CONSOLE, roles=UNIT)
    def console_report_form(self, request, session):
        return self._render("console/report.html", session, values={}, errors={},
                            filing_key=str(uuid.uuid4()))

    @http("POST", "/console/reports")
    @web.page(web.CONSOLE, roles=UNIT)
    def console_report(self, request, session):
        form = request.form
        body = {"category": form.get("category") or None, "content": form.get("content"),
                "title": _text(form, "title"), "location": _text(form, "location"),
                "contact_phone": _text(form, "contact_phone"),
                "anonymous": form.get("anonymous") == "on",
                "urgent": form.get("urgent") == "on"}
        key = form.get("filing_key") or ""
        typed = {name: form.get(name) for name in form if name != web.CSRF_FIELD}
        errors = schemas.FileComplaintSchema().validate(body)
        principal = web.principal_of(session)
        try:
            if errors:
                raise InvalidInput(errors)
            # The form's own key: a second press of the button files nothing new.
            filing = f"page-{key}" if 8 <= len(key) <= 80 and key.isprintable() \
                else f"req-{uuid.uuid4()}"
            self.limits.check(principal.id, request.remote_addr)
            filed = self.intake.file_complaint(body, principal.as_rpc(), "staff", filing)
        except InvalidInput as refused:
            fields = flat_errors(refused.fields) if refused.fields else \
                {"_form": refused.message}
            return self._render("console/report.html", session, 400, values=typed,
                                errors=fields, filing_key=key or str(uuid.uuid4()))
        web.flash(session, f"已上报,编号 {filed['number']}", "success")
        return web.redirect(_case_url(filed["id"]))

    # ------------------------------------------------------------------ the head
    def _head_unit_view(self, session) -> dict:
        """R13: what the head watches: counts by state, the 预警 and 超期 cases, each
        handler's load, what came in and what was closed today."""
        principal = web.principal_of(session)
        viewer, unit = principal.as_rpc(), principal.unit
        figures = self.intake.unit_figures(unit, viewer)
        open_cases = [c for c in self.intake.list_cases(viewer, {
            "view": "inbox", "sort": "due", "limit": LIST_MAX}) if c.get("unit_id") == unit]
        handling = [c for c in open_cases if c["status"] in HANDLING]
        start = _today_start()
        received = figures.get("received_today")
        if received is None:
            latest = self.intake.list_cases(viewer, {"view": "all", "sort": "received",
                                                     "limit": LIST_MAX})
            received = sum(1 for c in latest if c.get("unit_id") == unit
                           and _received_today(c, start))
        load = Counter(c.get("handler_name") or "未指定" for c in handling)
        return {"figures": figures, "by_state": figures.get("by_state") or {},
                "warning": [c for c in handling if _sla(c) == "warning"],
                "overdue": [c for c in handling if _sla(c) == "overdue"],
                "load": sorted(load.items(), key=lambda item: (-item[1], item[0])),
                "received_today": received, "closed_today": figures.get("closed_today"),
                "unit_name": session["principal"].get("unit_name") or unit,
                "STATUS_ORDER": ("assigned", "signed", "in_progress", "replied", "returned",
                                 "redo", "supervised", "closed")}

    @http("GET", "/console/unit")
    @web.page(web.CONSOLE, roles=("head",))
    def console_unit(self, request, session):
        return self._render("console/unit/index.html", session, **self._head_unit_view(session))

    @http("GET", "/console/unit/live")
    @web.page(web.CONSOLE, roles=("head",))
    def console_unit_live(self, request, session):
        """The live part alone (no layout), for htmx to swap in every few seconds."""
        return web.render("console/unit/_live.html", **web.context(
            None, **self._head_unit_view(session)))

    @http("GET", "/console/extensions")
    @web.page(web.CONSOLE, roles=("head",))
    def console_extensions(self, request, session):
        """The extension requests waiting in the unit. sla has no list of them: each open
        case being handled is asked for its deadlines (at most EXTENSION_SCAN cases)."""
        principal = web.principal_of(session)
        viewer = principal.as_rpc()
        cases = [c for c in self.intake.list_cases(viewer, {
            "view": "inbox", "sort": "due", "limit": LIST_MAX})
            if c.get("unit_id") == principal.unit and c["status"] in HANDLING]
        waiting = []
        for case in cases[:EXTENSION_SCAN]:
            for extension in pending_extensions(self._console_deadlines(case["id"], viewer)):
                held = {"assigned_unit": {"id": case.get("unit_id")}}
                waiting.append({"case": case, "extension": extension,
                                "decidable": may_decide(extension, held,
                                                        session["principal"])})
        return self._render("console/extensions.html", session, waiting=waiting,
                            scanned=min(len(cases), EXTENSION_SCAN), total=len(cases))

    @http("GET", "/console/unit/figures")
    @web.page(web.CONSOLE, roles=UNIT)
    def console_unit_figures(self, request, session):
        """The unit's 三率 and rank for a month (rating.get_assessment, as the API's
        GET /api/v1/staff/assessment: a head reads their unit's row and rank)."""
        principal = web.principal_of(session)
        this_month = datetime.now(web.SHANGHAI).strftime("%Y-%m")
        query = {"period": request.args.get("period") or this_month,
                 "basis": request.args.get("basis") or "assessment", "by": "unit"}
        errors = flat_errors(AssessmentQuerySchema().validate(query))
        answer = None if errors else self.rating.get_assessment(
            query["period"], query["basis"], "unit", principal.as_rpc())
        rows = []
        for group, found in ((answer or {}).get("groups") or {}).items():
            for row in found:
                if row.get("unit_id") == principal.unit:
                    rows.append(dict(row, group=group,
                                     red=row["unit_id"] in (answer.get("red") or {}).get(group, ()),
                                     black=row["unit_id"] in (answer.get("black") or {})
                                     .get(group, ())))
        now = datetime.now(web.SHANGHAI)
        months = [f"{(now.year * 12 + now.month - 1 - n) // 12}-"
                  f"{(now.month - 1 - n) % 12 + 1:02d}" for n in range(6)]
        return self._render("console/unit/figures.html", session, 400 if errors else 200,
                            answer=answer, rows=rows, query=query, errors=errors,
                            months=months)
