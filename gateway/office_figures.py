"""The staff API's routes for the assessment (三率/考核, issue 12 §2): figures, exclusions, snapshots, xlsx.

A mixin of GatewayService (gateway/service.py): it uses the service's `rating` proxy and
`_staff`, `_json`. Its OpenAPI operations are listed here, in gateway/openapi.py's format, and
merged into the one document there.

Who (rating decides, docs/ASSESSMENT.md "Roles"): the office and leaders see every unit; a
unit head their unit's row and rank; a handler their unit's row; the office alone publishes
and decides 剔除; a unit's head or handler asks for one. Anyone else: 404.
"""
from __future__ import annotations

import os
import tempfile

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from gateway.exports import write_assessment_xlsx
from gateway.http import api, json_response
from gateway.server import http
from services.common.analysis_inputs import (AssessmentQuerySchema,
                                             AssessmentXlsxQuerySchema,
                                             ExclusionDecisionSchema, ExclusionListQuerySchema,
                                             ExclusionRequestSchema, PeriodSchema,
                                             PublishSchema)
from services.common.contracts import CATEGORIES
from services.common.errors import InvalidInput

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LEDGER_PAGE = 1000
CHUNK = 64 * 1024
# What a client sends is checked with services/common/analysis_inputs.py's schemas, the ones
# rating loads its commands with.


def _rate(description):
    return fields.Float(allow_none=True, metadata={"description": description})


class _Figures(Schema):
    rated = fields.Integer(metadata={"description": "有效回访"})
    contacted = fields.Integer()
    solved = fields.Integer()
    satisfied = fields.Integer()
    basically = fields.Integer()
    dissatisfied = fields.Integer()
    response_rate = _rate("响应率, 0–1, 4 decimals")
    resolution_rate = _rate("解决率")
    satisfaction_rate = _rate("满意率")
    score = fields.Float(allow_none=True, metadata={"description": "综合得分 0–100"})
    dispatched = fields.Integer()
    signed = fields.Integer()
    replied = fields.Integer()
    due = fields.Integer()
    closed = fields.Integer()
    unrated = fields.Integer()
    on_time_sign_rate = _rate("及时签收率: signed within the response target / dispatched")
    on_time_reply_rate = _rate("按时办结率: replied by the deadline / due")
    avg_sign_hours = fields.Float(allow_none=True, metadata={"description": "working hours"})
    avg_reply_hours = fields.Float(allow_none=True, metadata={"description": "working hours"})
    redo = fields.Integer()
    supervised = fields.Integer()
    overdue = fields.Integer()


class AssessmentRowSchema(_Figures):
    unit_id = fields.String()
    unit_name = fields.String()
    unit_kind = fields.String()
    rank = fields.Integer(allow_none=True, metadata={"description": "null: below min_rated"})
    previous_rank = fields.Integer(allow_none=True)
    rank_change = fields.Integer(allow_none=True, metadata={"description": "positive: up"})


class CategoryRowSchema(_Figures):
    category = fields.String(validate=validate.OneOf(list(CATEGORIES)))
    category_name = fields.String()


class AssessmentSchema(Schema):
    period = fields.String()
    basis = fields.String()
    by = fields.String()
    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()
    version = fields.Integer(allow_none=True)
    frozen = fields.Boolean()
    published_at = fields.AwareDateTime(allow_none=True)
    groups = fields.Dict(keys=fields.String(), values=fields.List(
        fields.Nested(AssessmentRowSchema)), metadata={
        "description": "department (职能部门), college (二级学院), other (listed, unranked)"})
    red = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                      metadata={"description": "红榜: unit ids per group"})
    black = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                        metadata={"description": "黑榜: unit ids per group"})
    categories = fields.List(fields.Nested(CategoryRowSchema),
                             metadata={"description": "by=category only"})


class SnapshotVersionSchema(Schema):
    period = fields.String()
    basis = fields.String()
    version = fields.Integer()
    frozen_at = fields.AwareDateTime()
    first_frozen_at = fields.AwareDateTime()
    published_by = fields.String()
    published_by_name = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    changed = fields.Boolean(metadata={"description": "false: the same figures, same version"})


class PublishedSchema(Schema):
    period = fields.String()
    versions = fields.Dict(keys=fields.String(), values=fields.Nested(SnapshotVersionSchema))


class ExclusionSchema(Schema):
    id = fields.String()
    complaint_id = fields.String()
    unit_id = fields.String()
    status = fields.String(validate=validate.OneOf(["requested", "approved", "refused"]))
    reason = fields.String()
    evidence = fields.List(fields.String())
    requested_by = fields.String()
    requested_by_name = fields.String(allow_none=True)
    requested_at = fields.AwareDateTime()
    decided_by = fields.String(allow_none=True)
    decided_by_name = fields.String(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    note = fields.String(allow_none=True)


PATH = "/api/v1/staff/assessment"
EXCLUSIONS = "/api/v1/staff/exclusions"
CASE_EXCLUSIONS = "/api/v1/staff/cases/{complaint_id}/exclusions"
TAGS = ["staff", "assessment"]
# (method, path, summary, request schema | None, (status, response schema, many), tags)
OPERATIONS: list[tuple] = [
    ("get", PATH, "三率/考核 of a period per unit (or category), ranked per group with "
     "红榜/黑榜; from the published snapshot when frozen (office, leaders: all; a head: "
     "their unit and rank; a handler: their unit)", None, (200, AssessmentSchema, False), TAGS),
    ("get", PATH + ".xlsx", "The same as an Excel workbook: 汇总, 单位, 类别, 案件台账 "
     "(phones masked, anonymous complainants hidden)", None, (200, "xlsx", False), TAGS),
    ("post", PATH + "/{period}/publish", "Publish (freeze) a finished period on both bases; "
     "the same figures again keep their version, changed ones are a correction (version + 1, "
     "reason required); office only", PublishSchema, (200, PublishedSchema, False), TAGS),
    ("post", CASE_EXCLUSIONS, "考核剔除: the case's unit asks that it leave the assessment "
     "basis (reason, evidence); 409 when one is pending or approved", ExclusionRequestSchema,
     (201, ExclusionSchema, False), TAGS),
    ("get", EXCLUSIONS, "剔除 requests (office, leaders: all; a unit: its own)", None,
     (200, ExclusionSchema, True), TAGS),
    ("post", EXCLUSIONS + "/{exclusion_id}/decision", "The office approves or refuses a 剔除 "
     "(once; 409 when decided)", ExclusionDecisionSchema, (200, ExclusionSchema, False), TAGS),
]
RESPONSE_SCHEMAS: dict = {   # component name: (schema, keys not in every answer)
    "Assessment": (AssessmentSchema, {"categories"}),
    "AssessmentRow": (AssessmentRowSchema, set()),
    "AssessmentCategoryRow": (CategoryRowSchema, set()),
    "AssessmentPublished": (PublishedSchema, set()),
    "AssessmentSnapshotVersion": (SnapshotVersionSchema, set()),
    "Exclusion": (ExclusionSchema, set()),
}
EXAMPLES: dict = {
    ("post", PATH + "/{period}/publish"): {"reason": None},
    ("post", CASE_EXCLUSIONS): {"reason": "该诉求属于地方政府职责,非本单位可办",
                                "evidence": ["9f86d081884c7d659a2feaa0c55ad015"
                                             "a3bf4f1b2b0b822cd15d6c15b0f00a08"]},
    ("post", EXCLUSIONS + "/{exclusion_id}/decision"): {"decision": "approve",
                                                        "note": "核实属实"},
}
QUERIES: dict = {("get", PATH): AssessmentQuerySchema,
                 ("get", PATH + ".xlsx"): AssessmentXlsxQuerySchema,
                 ("get", EXCLUSIONS): ExclusionListQuerySchema}
PATH_PARAMETERS: tuple = ("period", "exclusion_id")


def _checked(schema, values) -> dict:
    errors = schema().validate(values)
    if errors:
        raise InvalidInput(errors)
    return schema().load(values)


def _stream(path: str):
    """The finished file in chunks, removed once sent (or abandoned)."""
    try:
        with open(path, "rb") as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    break
                yield chunk
    finally:
        os.unlink(path)


class FiguresRoutes:
    @http("GET", PATH)
    @api
    def get_assessment(self, request):
        principal = self._staff(request)
        query = _checked(AssessmentQuerySchema, dict(request.args.items()))
        return json_response(self.rating.get_assessment(
            query["period"], query["basis"], query["by"], principal.as_rpc()))

    @http("GET", PATH + ".xlsx")
    @api
    def get_assessment_xlsx(self, request):
        principal = self._staff(request)
        query = _checked(AssessmentXlsxQuerySchema, dict(request.args.items()))
        return self._assessment_workbook(query["period"], query["basis"], principal.as_rpc())

    def _assessment_workbook(self, period: str, basis: str, caller: dict) -> Response:
        """The period's workbook as the caller may read it, streamed from a temporary file
        (the API's route and the office's console page both answer with it)."""
        units = self.rating.get_assessment(period, basis, "unit", caller)
        categories = self.rating.get_assessment(period, basis, "category",
                                                caller)["categories"]
        handle, path = tempfile.mkstemp(prefix="jiesu-assessment-", suffix=".xlsx")
        os.close(handle)
        try:
            write_assessment_xlsx(path, units, self._ledger(period, caller),
                                  categories=categories)
        except BaseException:
            os.unlink(path)
            raise
        name = f"jiesu-assessment-{period}-{basis}.xlsx"
        return Response(_stream(path), mimetype=XLSX_MEDIA_TYPE, direct_passthrough=True,
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Content-Length": str(os.path.getsize(path))})

    def _ledger(self, period: str, caller: dict):
        """The period's cases, page by page (one page in memory at a time)."""
        after = None
        while True:
            page = self.rating.assessment_ledger(period, caller, after, LEDGER_PAGE)
            yield from page
            if len(page) < LEDGER_PAGE:
                return
            after = page[-1]["complaint_id"]

    @http("POST", PATH + "/<string:period>/publish")
    @api
    def publish_assessment(self, request, period):
        principal = self._staff(request)
        _checked(PeriodSchema, {"period": period})
        body = _checked(PublishSchema, self._json(request))
        return json_response(self.rating.publish_assessment(period, principal.as_rpc(), body))

    @http("POST", "/api/v1/staff/cases/<string:complaint_id>/exclusions")
    @api
    def request_exclusion(self, request, complaint_id):
        principal = self._staff(request)
        body = _checked(ExclusionRequestSchema, self._json(request))
        made = self.rating.request_exclusion(complaint_id, principal.as_rpc(), body)
        return json_response(made, 201, headers={"Location": f"{EXCLUSIONS}/{made['id']}"})

    @http("GET", EXCLUSIONS)
    @api
    def list_exclusions(self, request):
        principal = self._staff(request)
        query = _checked(ExclusionListQuerySchema, dict(request.args.items()))
        return json_response(self.rating.list_exclusions(principal.as_rpc(), query))

    @http("POST", EXCLUSIONS + "/<string:exclusion_id>/decision")
    @api
    def decide_exclusion(self, request, exclusion_id):
        principal = self._staff(request)
        body = _checked(ExclusionDecisionSchema, self._json(request))
        return json_response(self.rating.decide_exclusion(exclusion_id, principal.as_rpc(),
                                                          body))
