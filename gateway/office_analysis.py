"""The staff API's routes for 分析研判 and 专项治理 (issue 12 §5).

A mixin of GatewayService (gateway/service.py): it uses the service's `rating` proxy and
`_staff`, `_json`. Its OpenAPI operations are listed here, in gateway/openapi.py's format, and
merged into the one document there.

Who may call (rating decides, docs/ANALYSIS.md): the office and the leaders read every
analysis and campaign; a unit's head and handlers read their own unit's analysis and the
campaigns their unit leads or is in the scope of (anything else: 404). Only the office
creates, attaches, detaches and closes; the office or the lead unit's head adds milestones.
"""
from __future__ import annotations

import base64
import binascii

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from gateway.http import HttpError, api, json_response
from gateway.server import http
from services.common.analysis_inputs import (AttachSchema, CampaignCreateSchema,
                                             CampaignListQuerySchema, CampaignMilestoneSchema,
                                             CloseSchema, DetachSchema, HotTopicsQuerySchema,
                                             ProblemsQuerySchema, SeasonalQuerySchema)
from services.common.errors import InvalidInput

BASE = "/api/v1/staff"
# What a client sends is checked with services/common/analysis_inputs.py's schemas, the ones
# rating loads its commands with.


# ------------------------------------------------------------------ what it gets back
class ChangeSchema(Schema):
    before = fields.Integer()
    change = fields.Integer()
    ratio = fields.Float(allow_none=True)


class CategoryCountSchema(Schema):
    category = fields.String()
    count = fields.Integer()


class UnitCountSchema(Schema):
    unit_id = fields.String(allow_none=True)
    count = fields.Integer()


class HotKeywordSchema(Schema):
    keyword = fields.String()
    count = fields.Integer(metadata={"description": "complaints of the period containing it"})
    weight = fields.Float()
    mom = fields.Nested(ChangeSchema, metadata={"description": "环比: the period before"})
    yoy = fields.Nested(ChangeSchema, metadata={"description": "同比: a year earlier"})
    by_category = fields.List(fields.Nested(CategoryCountSchema))
    by_unit = fields.List(fields.Nested(UnitCountSchema))


class DateRangeSchema(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")


class HotTopicsSchema(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    previous = fields.Nested(DateRangeSchema)
    last_year = fields.Nested(DateRangeSchema)
    category = fields.String(allow_none=True)
    unit = fields.String(allow_none=True)
    documents = fields.Integer()
    previous_documents = fields.Integer()
    last_year_documents = fields.Integer()
    keywords = fields.List(fields.Nested(HotKeywordSchema))


class SeasonalSchema(Schema):
    end = fields.String()
    unit = fields.String(allow_none=True)
    months = fields.List(fields.String())
    categories = fields.List(fields.String())
    labels = fields.Dict(keys=fields.String(), values=fields.String())
    counts = fields.Dict(keys=fields.String(), values=fields.List(fields.Integer()),
                         metadata={"description": "category -> one count per month"})
    totals = fields.List(fields.Integer())


class AnalysisCaseSchema(Schema):
    complaint_id = fields.String()
    number = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    unit_id = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    received_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)


class CommonProblemSchema(Schema):
    cluster_id = fields.String()
    size = fields.Integer()
    peak = fields.Integer(metadata={"description": "most cases within M days"})
    keywords = fields.List(fields.String())
    units = fields.List(fields.Nested(UnitCountSchema))
    categories = fields.List(fields.Nested(CategoryCountSchema))
    first_at = fields.AwareDateTime()
    last_at = fields.AwareDateTime()
    open = fields.Integer()
    cases = fields.List(fields.Nested(AnalysisCaseSchema))


class RepeatedProblemSchema(Schema):
    case = fields.Nested(AnalysisCaseSchema)
    earlier = fields.Nested(AnalysisCaseSchema, allow_none=True)
    place = fields.String(allow_none=True)
    times = fields.Integer()
    follow_up = fields.Boolean()


class ProblemSettingsSchema(Schema):
    min_cases = fields.Integer()
    within_days = fields.Integer()
    threshold = fields.Float()
    repeat_within_days = fields.Integer()


class ProblemsSchema(Schema):
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    unit = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    settings = fields.Nested(ProblemSettingsSchema)
    common = fields.List(fields.Nested(CommonProblemSchema))
    repeated = fields.List(fields.Nested(RepeatedProblemSchema))


class ScopeOutSchema(Schema):
    categories = fields.List(fields.String())
    keywords = fields.List(fields.String())
    units = fields.List(fields.String())
    start = fields.Date(data_key="from", allow_none=True)
    end = fields.Date(data_key="to", allow_none=True)


class NamedSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)


class CampaignProgressSchema(Schema):
    cases = fields.Integer()
    open = fields.Integer()
    closed = fields.Integer()
    unrated = fields.Integer()
    not_counted = fields.Integer()
    rated = fields.Integer(metadata={"description": "有效回访 among the closed cases"})
    contacted = fields.Integer()
    solved = fields.Integer()
    satisfied = fields.Integer()
    basically = fields.Integer()
    dissatisfied = fields.Integer()
    response_rate = fields.Float(allow_none=True)
    resolution_rate = fields.Float(allow_none=True)
    satisfaction_rate = fields.Float(allow_none=True)
    score = fields.Float(allow_none=True)


class MilestoneSummarySchema(Schema):
    total = fields.Integer()
    done = fields.Integer()
    overdue = fields.Integer()


class CampaignMilestoneOutSchema(Schema):
    id = fields.String()
    title = fields.String()
    note = fields.String(allow_none=True)
    due_date = fields.Date(allow_none=True)
    done = fields.Boolean()
    recorded_by = fields.Nested(NamedSchema)
    recorded_at = fields.AwareDateTime()


class CampaignCaseSchema(AnalysisCaseSchema):
    attached_at = fields.AwareDateTime()
    attached_by = fields.String()


class CampaignSchema(Schema):
    id = fields.String()
    name = fields.String()
    scope = fields.Nested(ScopeOutSchema)
    lead_unit = fields.Nested(NamedSchema)
    target_date = fields.Date()
    status = fields.String(validate=validate.OneOf(["open", "closed"]))
    status_label = fields.String()
    overdue = fields.Boolean(metadata={"description": "open past its target date"})
    conclusion = fields.String(allow_none=True)
    created_by = fields.Nested(NamedSchema)
    created_at = fields.AwareDateTime()
    closed_by = fields.String(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    progress = fields.Nested(CampaignProgressSchema)
    milestone_summary = fields.Nested(MilestoneSummarySchema)
    milestones = fields.List(fields.Nested(CampaignMilestoneOutSchema),
                             metadata={"description": "not in the list"})
    cases = fields.List(fields.Nested(CampaignCaseSchema),
                        metadata={"description": "not in the list"})


class SuggestedCaseSchema(AnalysisCaseSchema):
    cluster_id = fields.String(allow_none=True)
    reasons = fields.List(fields.String(validate=validate.OneOf(["scope", "cluster"])))


class SuggestionsSchema(Schema):
    campaign_id = fields.String()
    cases = fields.List(fields.Nested(SuggestedCaseSchema))


# ------------------------------------------------------------------ the document
CAMPAIGN = BASE + "/campaigns/{campaign_id}"
# (method, path, summary, request schema | None, (status, response schema, many), tags)
OPERATIONS: list[tuple] = [
    ("get", BASE + "/analysis/hot-topics", "分析研判: the hot keywords of [from, to] (local "
     "dates, both included, at most max_range_days) with 环比 and 同比, by category and unit "
     "(office, leaders; a unit's staff: their unit)", None, (200, HotTopicsSchema, False),
     ["staff", "analysis"]),
    ("get", BASE + "/analysis/seasonal", "Cases per category and month over the last 24 "
     "months (office, leaders; a unit's staff: their unit)", None,
     (200, SeasonalSchema, False), ["staff", "analysis"]),
    ("get", BASE + "/analysis/seasonal.png", "The seasonal view as a heat map (PNG)", None,
     (200, "png", False), ["staff", "analysis"]),
    ("get", BASE + "/analysis/problems", "共性问题 (clusters of ≥ N similar cases within M "
     "days) and 反复发生 (repeats of a closed case at the same place), for follow-up; default "
     "period: the last 30 days", None, (200, ProblemsSchema, False), ["staff", "analysis"]),
    ("post", BASE + "/campaigns", "专项治理: create a campaign (office)", CampaignCreateSchema,
     (201, CampaignSchema, False), ["staff", "campaigns"]),
    ("get", BASE + "/campaigns", "The campaigns the caller may read, newest first", None,
     (200, CampaignSchema, True), ["staff", "campaigns"]),
    ("get", CAMPAIGN, "A campaign: its cases, progress (open/closed, 三率) and milestones",
     None, (200, CampaignSchema, False), ["staff", "campaigns"]),
    ("get", CAMPAIGN + "/suggestions", "Cases to attach: matching the scope, or in the "
     "共性问题 clusters of those and of the attached cases (office)", None,
     (200, SuggestionsSchema, False), ["staff", "campaigns"]),
    ("post", CAMPAIGN + "/cases", "Attach cases (office; 409 once closed); each new one is "
     "announced on its timeline", AttachSchema, (200, CampaignSchema, False),
     ["staff", "campaigns"]),
    ("post", CAMPAIGN + "/cases/{complaint_id}/detach", "Take a case out (office; 409 once "
     "closed)", DetachSchema, (200, CampaignSchema, False), ["staff", "campaigns"]),
    ("post", CAMPAIGN + "/milestones", "Record a milestone (office or the lead unit's head; "
     "409 once closed)", CampaignMilestoneSchema, (201, CampaignSchema, False),
     ["staff", "campaigns"]),
    ("post", CAMPAIGN + "/close", "Close the campaign with its conclusion (office; 409 if "
     "already closed)", CloseSchema, (200, CampaignSchema, False), ["staff", "campaigns"]),
]
RESPONSE_SCHEMAS: dict = {   # component name: (schema, keys not in every answer)
    "HotTopics": (HotTopicsSchema, set()),
    "HotKeyword": (HotKeywordSchema, set()),
    "Change": (ChangeSchema, set()),
    "CategoryCount": (CategoryCountSchema, set()),
    "UnitCount": (UnitCountSchema, set()),
    "DateRange": (DateRangeSchema, set()),
    "Seasonal": (SeasonalSchema, set()),
    "AnalysisCase": (AnalysisCaseSchema, set()),
    "CommonProblem": (CommonProblemSchema, set()),
    "RepeatedProblem": (RepeatedProblemSchema, set()),
    "ProblemSettings": (ProblemSettingsSchema, set()),
    "Problems": (ProblemsSchema, set()),
    "ScopeOut": (ScopeOutSchema, set()),
    "Named": (NamedSchema, set()),
    "CampaignProgress": (CampaignProgressSchema, set()),
    "MilestoneSummary": (MilestoneSummarySchema, set()),
    "CampaignMilestoneOut": (CampaignMilestoneOutSchema, set()),
    "CampaignCase": (CampaignCaseSchema, set()),
    "Campaign": (CampaignSchema, {"milestones", "cases"}),
    "SuggestedCase": (SuggestedCaseSchema, set()),
    "Suggestions": (SuggestionsSchema, set()),
}
EXAMPLES: dict = {           # (method, path): request body example
    ("post", BASE + "/campaigns"): {
        "name": "学生公寓热水专项治理", "lead_unit": "logistics", "target_date": "2026-12-31",
        "scope": {"categories": ["logistics"], "keywords": ["热水", "热水器"],
                  "units": [], "from": "2026-11-01", "to": "2026-12-31"}},
    ("post", CAMPAIGN + "/cases"): {"complaint_ids": ["5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"],
                                    "note": "同一热水器故障"},
    ("post", CAMPAIGN + "/cases/{complaint_id}/detach"): {"note": "非热水问题"},
    ("post", CAMPAIGN + "/milestones"): {"title": "完成3号楼热水器更换",
                                         "due_date": "2026-12-10", "done": False},
    ("post", CAMPAIGN + "/close"): {"conclusion": "热水器已全部更换,回访满意"},
}
QUERIES: dict = {            # (method, path): query schema
    ("get", BASE + "/analysis/hot-topics"): HotTopicsQuerySchema,
    ("get", BASE + "/analysis/seasonal"): SeasonalQuerySchema,
    ("get", BASE + "/analysis/seasonal.png"): SeasonalQuerySchema,
    ("get", BASE + "/analysis/problems"): ProblemsQuerySchema,
    ("get", BASE + "/campaigns"): CampaignListQuerySchema,
}
PATH_PARAMETERS: tuple = ("campaign_id",)


def _query(schema, request) -> dict:
    """The query as sent, once its public schema finds nothing wrong (a repeated key is
    refused: which one was meant?)."""
    args = request.args
    repeated = [key for key in args if len(args.getlist(key)) > 1]
    if repeated:
        raise InvalidInput({repeated[0]: ["只能给出一次 (given more than once)"]})
    query = dict(args.items())
    errors = schema().validate(query)
    if errors:
        raise InvalidInput(errors)
    return query


def _body(schema, body) -> dict:
    errors = schema().validate(body)
    if errors:
        raise InvalidInput(errors)
    return body


def seasonal_png_response(drawn: dict) -> Response:
    """Rating's drawing of the seasonal view as the PNG file (the API and the office's console
    page answer with it); 503 when rating could not draw it."""
    try:
        png = base64.b64decode(drawn["png"], validate=True)
    except (KeyError, TypeError, binascii.Error):
        # Rating draws nothing without a CJK font, and says why.
        raise HttpError(503, "chart_unavailable", drawn.get("reason")
                        or "图表暂不可用 (chart unavailable)",
                        headers={"Retry-After": "3600"}) from None
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private"})


class AnalysisRoutes:
    @http("GET", BASE + "/analysis/hot-topics")
    @api
    def analysis_hot_topics(self, request):
        principal = self._staff(request)
        return json_response(self.rating.analysis_hot_topics(
            principal.as_rpc(), _query(HotTopicsQuerySchema, request)))

    @http("GET", BASE + "/analysis/seasonal")
    @api
    def analysis_seasonal(self, request):
        principal = self._staff(request)
        return json_response(self.rating.analysis_seasonal(
            principal.as_rpc(), _query(SeasonalQuerySchema, request)))

    @http("GET", BASE + "/analysis/seasonal.png")
    @api
    def analysis_seasonal_png(self, request):
        principal = self._staff(request)
        return seasonal_png_response(self.rating.analysis_seasonal_png(
            principal.as_rpc(), _query(SeasonalQuerySchema, request)))

    @http("GET", BASE + "/analysis/problems")
    @api
    def analysis_problems(self, request):
        principal = self._staff(request)
        return json_response(self.rating.analysis_problems(
            principal.as_rpc(), _query(ProblemsQuerySchema, request)))

    @http("POST", BASE + "/campaigns")
    @api
    def campaign_create(self, request):
        principal = self._staff(request)
        created = self.rating.campaign_create(
            principal.as_rpc(), _body(CampaignCreateSchema, self._json(request)))
        return json_response(created, 201, headers={
            "Location": f"{BASE}/campaigns/{created['id']}"})

    @http("GET", BASE + "/campaigns")
    @api
    def campaign_list(self, request):
        principal = self._staff(request)
        return json_response(self.rating.campaign_list(
            principal.as_rpc(), _query(CampaignListQuerySchema, request)))

    @http("GET", BASE + "/campaigns/<string:campaign_id>")
    @api
    def campaign_get(self, request, campaign_id):
        principal = self._staff(request)
        return json_response(self.rating.campaign_get(campaign_id, principal.as_rpc()))

    @http("GET", BASE + "/campaigns/<string:campaign_id>/suggestions")
    @api
    def campaign_suggestions(self, request, campaign_id):
        principal = self._staff(request)
        return json_response(self.rating.campaign_suggestions(campaign_id,
                                                              principal.as_rpc()))

    @http("POST", BASE + "/campaigns/<string:campaign_id>/cases")
    @api
    def campaign_attach(self, request, campaign_id):
        principal = self._staff(request)
        return json_response(self.rating.campaign_attach(
            campaign_id, principal.as_rpc(), _body(AttachSchema, self._json(request))))

    @http("POST", BASE + "/campaigns/<string:campaign_id>/cases/<string:complaint_id>/detach")
    @api
    def campaign_detach(self, request, campaign_id, complaint_id):
        principal = self._staff(request)
        body = self._json(request) if request.content_length else {}
        return json_response(self.rating.campaign_detach(
            campaign_id, complaint_id, principal.as_rpc(), _body(DetachSchema, body)))

    @http("POST", BASE + "/campaigns/<string:campaign_id>/milestones")
    @api
    def campaign_add_milestone(self, request, campaign_id):
        principal = self._staff(request)
        return json_response(self.rating.campaign_add_milestone(
            campaign_id, principal.as_rpc(),
            _body(CampaignMilestoneSchema, self._json(request))), 201)

    @http("POST", BASE + "/campaigns/<string:campaign_id>/close")
    @api
    def campaign_close(self, request, campaign_id):
        principal = self._staff(request)
        return json_response(self.rating.campaign_close(
            campaign_id, principal.as_rpc(), _body(CloseSchema, self._json(request))))
