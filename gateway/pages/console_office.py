"""The console for the 接诉即办 office (issue 13): the dispatch boards and the office's actions
on a case, the hotline operator's screen, 剔除 decisions, the assessment and its workbook,
the summaries, the analysis and the 专项治理 campaigns.

Every page asks the same RPCs as the staff API (gateway/service.py, office_figures.py,
office_summaries.py, office_analysis.py) and checks a form with the API's own schema once its
strings are turned into the JSON types; the files (xlsx, PNG) come from the functions the API
routes use. The services decide who may do what: the office role here only keeps the others
from pages they would find empty.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta

from gateway import schemas
from gateway.office_analysis import seasonal_png_response
from gateway.office_summaries import GenerateSummarySchema, summary_chart_response, \
    summary_xlsx_response
from gateway.pages import cas, web
from gateway.pledges import PROMISE
from gateway.server import http
from services.common.analysis_inputs import (AssessmentQuerySchema, AttachSchema,
                                             CampaignCreateSchema, CampaignMilestoneSchema,
                                             CloseSchema, DetachSchema,
                                             ExclusionDecisionSchema, HotTopicsQuerySchema,
                                             PeriodSchema, PublishSchema, SeasonalQuerySchema)
from services.common.errors import InvalidInput, JiesuError

OFFICE = ("office",)
BOARDS = {"returned": "退回", "redo": "重办", "disputed": "争议", "unclassified": "未分类语音留言",
          "screened_out": "不予受理", "supervised": "督办"}
CASE_ACTIONS = ("dispatch", "screen_out", "classify", "link", "merge", "callback")
DONE = {"dispatch": "已派单", "screen_out": "已不予受理", "classify": "已分类",
        "link": "已关联", "merge": "已合并", "callback": "电话回访已记录"}
WHERE = {"dispatch": "派单", "screen_out": "不予受理", "classify": "分类", "link": "关联",
         "merge": "合并", "callback": "电话回访"}
# The fields' names in Chinese, for the errors shown beside a form.
FIELD_LABELS = {
    "unit_id": "承办单位", "rule": "不予受理依据", "category": "类别", "title": "标题",
    "urgent": "紧急", "other_id": "关联案件", "into": "合并到", "level": "满意度",
    "comment": "备注", "contacted": "是否联系", "solved": "是否解决", "called_at": "回访时间",
    "content": "诉求内容", "contact_phone": "联系电话", "location": "地点",
    "anonymous": "匿名", "pledge_read": "如实反映承诺", "decision": "审核结果", "note": "说明",
    "period": "周期", "basis": "口径", "by": "维度", "reason": "原因", "kind": "类型",
    "from": "开始日期", "to": "结束日期", "name": "名称", "lead_unit": "牵头单位",
    "target_date": "目标日期", "scope": "范围", "complaint_ids": "案件", "due_date": "截止日期",
    "done": "已完成", "conclusion": "结论", "end": "截止月份", "months": "月数",
}
CASE_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
PERIODS = ("assessment", "full")
SUMMARY_KINDS = {"weekly": "周汇总", "monthly": "月总结"}


# ------------------------------------------------------------------ form helpers
def _form(request) -> dict[str, str]:
    return {key: request.form.get(key, "").strip() for key in request.form if key != web.CSRF_FIELD}


def _or_none(value: str | None):
    return value if value else None


def _yes_no(value: str | None):
    """A 是/否 radio as JSON's true/false; anything else stays as sent, for the schema to
    refuse (Answer takes a boolean only)."""
    return {"1": True, "0": False}.get(value or "", value or None)


def _local_moment(value: str | None) -> str | None:
    """A datetime-local field (Beijing time, no offset) as an aware ISO moment."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=web.SHANGHAI)
    return moment.isoformat()


def field_errors(errors) -> dict[str, str]:
    """marshmallow's errors as {field: one Chinese line}."""
    flat = {}
    for name, problems in (errors or {}).items():
        if isinstance(problems, dict):
            text = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                             for k, v in problems.items())
        elif isinstance(problems, list):
            text = " ".join(str(p) for p in problems)
        else:
            text = str(problems)
        flat[name] = text
    return flat


def errors_text(errors: dict[str, str]) -> str:
    return ";".join(f"{FIELD_LABELS.get(name, name)}:{text}" for name, text in errors.items())


def checked(schema, body: dict) -> dict[str, str]:
    """The schema's errors for `body` as {field: text}; empty when it may be sent."""
    return field_errors(schema().validate(body))


def case_action_body(action: str, form: dict) -> dict:
    """A case action's form as the API's JSON body."""
    if action == "dispatch":
        return {"unit_id": _or_none(form.get("unit_id"))}
    if action == "screen_out":
        return {"rule": form.get("rule", "")}
    if action == "classify":
        return {"category": form.get("category", ""), "title": _or_none(form.get("title")),
                "urgent": form.get("urgent") == "1"}
    if action == "link":
        return {"other_id": form.get("other_id", "")}
    if action == "merge":
        return {"into": form.get("into", "")}
    return {"level": form.get("level", ""), "comment": _or_none(form.get("comment")),
            "contacted": _yes_no(form.get("contacted")), "solved": _yes_no(form.get("solved")),
            "called_at": _local_moment(form.get("called_at"))}


def filing_body(form: dict) -> dict:
    """The operator's filing form as the API's body (without the pledge)."""
    return {"category": form.get("category", ""), "content": form.get("content", ""),
            "title": _or_none(form.get("title")),
            "contact_phone": _or_none(form.get("contact_phone")),
            "location": _or_none(form.get("location")),
            "anonymous": form.get("anonymous") == "1", "urgent": form.get("urgent") == "1"}


def _lines(value: str | None) -> list[str]:
    return [part.strip() for part in re.split(r"[,,、\s]+", value or "") if part.strip()]


def campaign_body(form: dict, categories: list[str], units: list[str]) -> dict:
    scope = {"categories": categories, "keywords": _lines(form.get("keywords")),
             "units": units}
    if form.get("from"):
        scope["from"] = form["from"]
    if form.get("to"):
        scope["to"] = form["to"]
    return {"name": form.get("name", ""), "lead_unit": form.get("lead_unit", ""),
            "target_date": form.get("target_date", ""), "scope": scope}


def this_month() -> str:
    return datetime.now(web.SHANGHAI).strftime("%Y-%m")


def _back_to_case(complaint_id: str):
    return web.redirect(f"/console/cases/{complaint_id}")


class OfficePages:
    # ------------------------------------------------------------ dispatch boards
    @http("GET", "/console/office/")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_boards(self, request, session):
        view = request.args.get("view") or "returned"
        if view not in BOARDS:
            view = "returned"
        query = {"view": view, "sort": "received"}
        if request.args.get("category"):
            query["category"] = request.args["category"]
        errors = checked(schemas.CaseListQuerySchema, query)
        cases = [] if errors else self.intake.list_cases(
            web.principal_of(session).as_rpc(), query)
        return self._render("console/office/boards.html", session, boards=BOARDS, view=view,
                            cases=cases, category=query.get("category"),
                            errors=errors_text(errors))

    # ------------------------------------------------------------ the office's case actions
    @http("POST", "/console/office/cases/<string:complaint_id>/"
                  f"<any({', '.join(CASE_ACTIONS)}):action>")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_case_action(self, request, session, complaint_id, action):
        body = case_action_body(action, _form(request))
        schema = schemas.CallbackSchema if action == "callback" \
            else schemas.ACTION_SCHEMAS[action]
        errors = checked(schema, body)
        if errors:
            web.flash(session, f"{WHERE[action]}未提交:{errors_text(errors)}", "error")
            return _back_to_case(complaint_id)
        caller = web.principal_of(session).as_rpc()
        try:
            if action == "callback":
                self.rating.record_callback(complaint_id, caller, body)
            else:
                self.intake.act(complaint_id, action, caller, body)
        except JiesuError as exc:
            _status, message = web.refusal(exc, f"office_{action}")
            web.flash(session, f"{WHERE[action]}未成功:{message}", "error")
            return _back_to_case(complaint_id)
        web.flash(session, DONE[action], "success")
        if action == "merge":   # the merged case is read on the case it went into
            return _back_to_case(body["into"])
        return _back_to_case(complaint_id)

    @http("GET", "/console/office/cases/<string:complaint_id>/exclusions")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_case_exclusions(self, request, session, complaint_id):
        """The case's 剔除 requests with the decision form, a fragment the case page's
        office partial loads (htmx) into itself."""
        found = self.rating.list_exclusions(web.principal_of(session).as_rpc(),
                                            {"complaint_id": complaint_id})
        return web.render("console/office/_case_exclusions.html", exclusions=found,
                          complaint_id=complaint_id, csrf_token=session["csrf"])

    @http("GET", "/console/office/units")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_unit_options(self, request, session):
        """The dispatch form's units (org.yaml), options the case page's select loads."""
        return web.render("console/office/_units.html", units=cas.unit_names(self.org))

    # ------------------------------------------------------------ exclusions
    @http("GET", "/console/office/exclusions")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_exclusions(self, request, session):
        status = request.args.get("status", "requested")
        query = {"status": status} if status in ("requested", "approved", "refused") else {}
        found = self.rating.list_exclusions(web.principal_of(session).as_rpc(), query)
        return self._render("console/office/exclusions.html", session, exclusions=found,
                            status_filter=status, units=cas.unit_names(self.org))

    @http("POST", "/console/office/exclusions/<string:exclusion_id>/decision")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_exclusion_decision(self, request, session, exclusion_id):
        form = _form(request)
        back = form.get("case", "")
        target = f"/console/cases/{back}" if CASE_ID.fullmatch(back) \
            else "/console/office/exclusions"
        body = {"decision": form.get("decision", ""), "note": _or_none(form.get("note"))}
        errors = checked(ExclusionDecisionSchema, body)
        if errors:
            web.flash(session, f"剔除审核未提交:{errors_text(errors)}", "error")
            return web.redirect(target)
        try:
            self.rating.decide_exclusion(exclusion_id, web.principal_of(session).as_rpc(), body)
        except JiesuError as exc:
            web.flash(session, f"剔除审核未成功:{web.refusal(exc, 'exclusion')[1]}", "error")
            return web.redirect(target)
        web.flash(session, "已同意剔除" if body["decision"] == "approve" else "已驳回剔除申请",
                  "success")
        return web.redirect(target)

    # ------------------------------------------------------------ the hotline operator
    @http("GET", "/console/office/hotline")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_hotline(self, request, session):
        return self._hotline_page(request, session)

    def _hotline_page(self, request, session, status=200, errors=None, typed=None,
                      call_id=None):
        caller = web.principal_of(session).as_rpc()
        unfiled = request.args.get("unfiled", "1") == "1"
        calls = self.intake.list_calls(caller, {"unfiled": unfiled, "limit": 50})
        call_id = call_id or request.args.get("call")
        call = self.intake.get_call(call_id, caller) if call_id else None
        return self._render("console/office/hotline.html", session, status, calls=calls,
                            call=call, unfiled=unfiled, promise=PROMISE, errors=errors or {},
                            typed=typed or {}, filing_key=uuid.uuid4().hex)

    @http("POST", "/console/office/hotline/calls/<string:call_id>/complaints")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_file_for_caller(self, request, session, call_id):
        form = _form(request)
        body = filing_body(form)
        errors = checked(schemas.FileComplaintSchema, body)
        pledge_read = form.get("pledge_read") == "1"
        if not pledge_read:
            errors["pledge_read"] = "须向来电人宣读如实反映承诺并经其同意"
        if errors:
            return self._hotline_page(request, session, 400, errors, form, call_id)
        # The form's own key: a second click of the same form files once.
        key = form.get("filing_key", "")
        key = f"page-{key}" if re.fullmatch(r"[0-9a-f]{32}", key) else f"req-{uuid.uuid4()}"
        try:
            filed = self.intake.file_for_caller(call_id, body,
                                                web.principal_of(session).as_rpc(),
                                                pledge_read, key)
        except InvalidInput as exc:
            return self._hotline_page(request, session, 400,
                                      {"form": web.refusal(exc, "file_for_caller")[1]},
                                      form, call_id)
        except JiesuError as exc:
            web.flash(session, f"登记未成功:{web.refusal(exc, 'file_for_caller')[1]}", "error")
            return web.redirect(f"/console/office/hotline?call={call_id}")
        web.flash(session, f"已为来电人登记诉求,编号 {filed['number']}", "success")
        return _back_to_case(filed["id"])

    # ------------------------------------------------------------ assessment
    @http("GET", "/console/office/assessment")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_assessment(self, request, session):
        query = {"period": request.args.get("period") or this_month(),
                 "basis": request.args.get("basis") or "assessment",
                 "by": request.args.get("by") or "unit"}
        errors = checked(AssessmentQuerySchema, query)
        figures = None if errors else self.rating.get_assessment(
            query["period"], query["basis"], query["by"], web.principal_of(session).as_rpc())
        return self._render("console/office/assessment.html", session,
                            400 if errors else 200, query=query, figures=figures,
                            errors=errors)

    @http("GET", "/console/office/assessment.xlsx")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_assessment_xlsx(self, request, session):
        query = {"period": request.args.get("period") or this_month(),
                 "basis": request.args.get("basis") or "assessment"}
        if query["basis"] not in PERIODS or checked(PeriodSchema, {"period": query["period"]}):
            raise InvalidInput({"period": ["周期或口径无效"]})
        return self._assessment_workbook(query["period"], query["basis"],
                                         web.principal_of(session).as_rpc())

    @http("POST", "/console/office/assessment/<string:period>/publish")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_publish(self, request, session, period):
        form = _form(request)
        body = {"reason": _or_none(form.get("reason"))}
        back = f"/console/office/assessment?period={period}"
        errors = {**checked(PeriodSchema, {"period": period}), **checked(PublishSchema, body)}
        if errors:
            web.flash(session, f"发布未提交:{errors_text(errors)}", "error")
            return web.redirect(back)
        try:
            done = self.rating.publish_assessment(period, web.principal_of(session).as_rpc(),
                                                  body)
        except JiesuError as exc:
            web.flash(session, f"发布未成功:{web.refusal(exc, 'publish')[1]}", "error")
            return web.redirect(back)
        versions = ",".join(f"{'考核口径' if basis == 'assessment' else '全口径'} 第"
                            f"{v.get('version')}版" for basis, v in
                            (done.get("versions") or {}).items())
        web.flash(session, f"{period} 考核结果已发布({versions})", "success")
        return web.redirect(back)

    # ------------------------------------------------------------ summaries
    @http("GET", "/console/office/summaries")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_summaries(self, request, session):
        kind = request.args.get("kind")
        query = {"kind": kind if kind in SUMMARY_KINDS else None, "limit": 100}
        found = self.rating.list_summaries(web.principal_of(session).as_rpc(), query)
        return self._summaries_page(session, found, query["kind"])

    def _summaries_page(self, session, found, kind, status=200, errors=None, typed=None):
        today = datetime.now(web.SHANGHAI).date()
        last_week = (today - timedelta(days=7)).isocalendar()
        last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        return self._render("console/office/summaries.html", session, status,
                            summaries=found, kind=kind, kinds=SUMMARY_KINDS,
                            errors=errors or {}, typed=typed or {},
                            last_week=f"{last_week[0]}-W{last_week[1]:02d}",
                            last_month=last_month)

    @http("POST", "/console/office/summaries")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_generate_summary(self, request, session):
        form = _form(request)
        body = {"kind": form.get("kind", ""), "period": form.get("period", "")}
        errors = checked(GenerateSummarySchema, body)
        caller = web.principal_of(session).as_rpc()
        if not errors:
            try:
                made = self.rating.generate_summary(caller, body)
            except JiesuError as exc:
                errors = {"form": web.refusal(exc, "generate_summary")[1]}
            else:
                web.flash(session, "已生成并推送到工作群" if made.get("created")
                          else "该期汇总已存在(未重复推送)", "success")
                return web.redirect(f"/console/office/summaries/{made['id']}")
        found = self.rating.list_summaries(caller, {"kind": None, "limit": 100})
        return self._summaries_page(session, found, None, 400, errors, form)

    @http("GET", "/console/office/summaries/<string:summary_id>")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_summary(self, request, session, summary_id):
        summary = self.rating.get_summary(web.principal_of(session).as_rpc(), summary_id)
        return self._render("console/office/summary.html", session, summary=summary,
                            content=summary.get("content") or {}, kinds=SUMMARY_KINDS)

    @http("GET", "/console/office/summaries/<string:summary_id>.xlsx")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_summary_xlsx(self, request, session, summary_id):
        return summary_xlsx_response(self.rating.get_summary(
            web.principal_of(session).as_rpc(), summary_id))

    @http("GET", "/console/office/summaries/<string:summary_id>/charts/<string:chart>.png")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_summary_chart(self, request, session, summary_id, chart):
        return summary_chart_response(self.rating.get_summary_chart(
            web.principal_of(session).as_rpc(), summary_id, chart))

    # ------------------------------------------------------------ analysis
    @http("GET", "/console/office/analysis")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_analysis(self, request, session):
        today = datetime.now(web.SHANGHAI).date()
        hot = {"from": request.args.get("from") or (today - timedelta(days=29)).isoformat(),
               "to": request.args.get("to") or today.isoformat()}
        seasonal = {}
        if request.args.get("category"):
            hot["category"] = seasonal["category"] = request.args["category"]
        errors = {**checked(HotTopicsQuerySchema, hot), **checked(SeasonalQuerySchema,
                                                                   seasonal)}
        caller = web.principal_of(session).as_rpc()
        topics = None if errors else self.rating.analysis_hot_topics(caller, hot)
        season = None if errors else self.rating.analysis_seasonal(caller, seasonal)
        return self._render("console/office/analysis.html", session, 400 if errors else 200,
                            hot=hot, topics=topics, season=season, errors=errors,
                            units=cas.unit_names(self.org), category=hot.get("category"))

    @http("GET", "/console/office/analysis/seasonal.png")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_seasonal_png(self, request, session):
        query = {"category": request.args["category"]} if request.args.get("category") else {}
        errors = checked(SeasonalQuerySchema, query)
        if errors:
            raise InvalidInput(errors)
        return seasonal_png_response(self.rating.analysis_seasonal_png(
            web.principal_of(session).as_rpc(), query))

    # ------------------------------------------------------------ campaigns
    @http("GET", "/console/office/campaigns")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_campaigns(self, request, session):
        return self._campaigns_page(request, session)

    def _campaigns_page(self, request, session, status=200, errors=None, typed=None):
        wanted = request.args.get("status")
        query = {"status": wanted} if wanted in ("open", "closed") else {}
        found = self.rating.campaign_list(web.principal_of(session).as_rpc(), query)
        return self._render("console/office/campaigns.html", session, status,
                            campaigns=found, status_filter=wanted, errors=errors or {},
                            typed=typed or {}, units=cas.unit_names(self.org),
                            typed_categories=(typed or {}).get("categories", []),
                            today=date.today().isoformat())

    @http("POST", "/console/office/campaigns")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_create_campaign(self, request, session):
        form = _form(request)
        categories = request.form.getlist("categories")
        units = request.form.getlist("units")
        body = campaign_body(form, categories, units)
        errors = checked(CampaignCreateSchema, body)
        if not errors:
            try:
                made = self.rating.campaign_create(web.principal_of(session).as_rpc(), body)
            except JiesuError as exc:
                errors = {"form": web.refusal(exc, "campaign_create")[1]}
            else:
                web.flash(session, f"专项治理「{made['name']}」已创建", "success")
                return web.redirect(f"/console/office/campaigns/{made['id']}")
        return self._campaigns_page(request, session, 400, errors,
                                    dict(form, categories=categories, units=units))

    @http("GET", "/console/office/campaigns/<string:campaign_id>")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_campaign(self, request, session, campaign_id):
        caller = web.principal_of(session).as_rpc()
        campaign = self.rating.campaign_get(campaign_id, caller)
        suggestions = self.rating.campaign_suggestions(campaign_id, caller)["cases"] \
            if campaign.get("status") == "open" else []
        return self._render("console/office/campaign.html", session, campaign=campaign,
                            suggestions=suggestions, units=cas.unit_names(self.org))

    @http("POST", "/console/office/campaigns/<string:campaign_id>/"
                  "<any(cases, milestones, close):step>")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_campaign_step(self, request, session, campaign_id, step):
        form = _form(request)
        if step == "cases":
            body = {"complaint_ids": request.form.getlist("complaint_ids"),
                    "note": _or_none(form.get("note"))}
            schema, rpc, done = AttachSchema, self.rating.campaign_attach, "已纳入专项治理"
        elif step == "milestones":
            body = {"title": form.get("title", ""), "note": _or_none(form.get("note")),
                    "due_date": _or_none(form.get("due_date")),
                    "done": form.get("done") == "1"}
            schema, rpc, done = CampaignMilestoneSchema, self.rating.campaign_add_milestone, \
                "节点已记录"
        else:
            body = {"conclusion": form.get("conclusion", "")}
            schema, rpc, done = CloseSchema, self.rating.campaign_close, "专项治理已结束"
        return self._campaign_change(session, campaign_id, schema, body, done,
                                     lambda caller: rpc(campaign_id, caller, body))

    @http("POST", "/console/office/campaigns/<string:campaign_id>/cases/"
                  "<string:complaint_id>/detach")
    @web.page(web.CONSOLE, roles=OFFICE)
    def office_campaign_detach(self, request, session, campaign_id, complaint_id):
        body = {"note": _or_none(_form(request).get("note"))}
        return self._campaign_change(
            session, campaign_id, DetachSchema, body, "已移出专项治理",
            lambda caller: self.rating.campaign_detach(campaign_id, complaint_id, caller, body))

    def _campaign_change(self, session, campaign_id, schema, body, done, call):
        back = web.redirect(f"/console/office/campaigns/{campaign_id}")
        errors = checked(schema, body)
        if errors:
            web.flash(session, f"未提交:{errors_text(errors)}", "error")
            return back
        try:
            call(web.principal_of(session).as_rpc())
        except JiesuError as exc:
            web.flash(session, f"未成功:{web.refusal(exc, 'campaign')[1]}", "error")
            return back
        web.flash(session, done, "success")
        return back
