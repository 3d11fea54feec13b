"""The console for supervising leaders (issue 13): 督办件, 批示, the assessment overview.

A leader reads the cases supervised by them (intake's `supervised` view answers a leader with
the cases whose supervisor they are, nobody else's), writes the 批示 on the shared case page
(console/cases/<id>, whose template includes console/leader/_case_actions.html), and reads
the assessment of every unit as the API gives it to a leader.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from gateway import schemas
from gateway.pages import web
from gateway.server import http
from services.common.analysis_inputs import AssessmentQuerySchema
from services.common.vocabulary import INSTRUCTION

LEADER = ("leader",)
SUPERVISED_LIMIT = 200
# The list's tabs: the ones still waiting for the 批示 first, then every supervised case.
FILTERS = {"waiting": ("待批示", "supervised"), "all": ("全部督办件", None)}


def _case_page(complaint_id: str) -> str:
    return f"/console/cases/{quote(complaint_id, safe='')}"


def instruction_errors(text: str) -> str | None:
    """The 批示 checked with the API's schema; the reason in Chinese, or None when fine."""
    errors = schemas.InstructSchema().validate({"text": text})
    if not errors:
        return None
    message = (errors.get("text") or ["内容无效"])[0]
    if "Length" in message or "Missing" in message:
        low, high = INSTRUCTION
        return f"批示内容须为 {low}–{high} 字。"
    return f"批示内容无效:{message}"


class LeaderPages:
    @http("GET", "/console/leader/")
    @web.page(web.CONSOLE, roles=LEADER)
    def console_leader_home(self, request, session):
        principal = web.principal_of(session)
        shown = request.args.get("show", "waiting")
        if shown not in FILTERS:
            shown = "waiting"
        query = {"view": "supervised", "sort": "due", "limit": SUPERVISED_LIMIT}
        if FILTERS[shown][1]:
            query["state"] = FILTERS[shown][1]
        cases = self.intake.list_cases(principal.as_rpc(), query)
        return self._render("console/leader/index.html", session, cases=cases, shown=shown,
                            filters=FILTERS, limit=SUPERVISED_LIMIT)

    @http("POST", "/console/leader/cases/<string:complaint_id>/instruct")
    @web.page(web.CONSOLE, roles=LEADER)
    def console_leader_instruct(self, request, session, complaint_id):
        text = (request.form.get("text") or "").strip()
        problem = instruction_errors(text)
        if problem:
            web.flash(session, problem, "error")
            return web.redirect(_case_page(complaint_id))
        principal = web.principal_of(session)
        try:
            self.intake.act(complaint_id, "instruct", principal.as_rpc(), {"text": text})
        except Exception as exc:   # the service's refusal, shown as its reason
            status, message = web.refusal(exc, "console_leader_instruct")
            if status == 404:
                raise
            web.flash(session, f"批示未提交:{message}", "error")
            return web.redirect(_case_page(complaint_id))
        web.flash(session, "批示已提交,案件已交回承办单位办理。", "success")
        return web.redirect(_case_page(complaint_id))

    @http("GET", "/console/leader/assessment")
    @web.page(web.CONSOLE, roles=LEADER)
    def console_leader_assessment(self, request, session):
        principal = web.principal_of(session)
        values = {"period": request.args.get("period") or
                  datetime.now(web.SHANGHAI).strftime("%Y-%m"),
                  "basis": request.args.get("basis") or "assessment"}
        errors = AssessmentQuerySchema().validate(values)
        if errors:
            message = "；".join(str(m) for listed in errors.values() for m in listed)
            return self._render("console/leader/assessment.html", session, status=400,
                                values=values, error=message, figures=None)
        figures = self.rating.get_assessment(values["period"], values["basis"], "unit",
                                             principal.as_rpc())
        return self._render("console/leader/assessment.html", session, values=values,
                            error=None, figures=figures)
