"""The staff API's routes for 周汇总 / 月总结 (issue 12 §3).

A mixin of GatewayService (gateway/service.py): it uses the service's `rating` proxy and
`_staff`, `_json`. Its OpenAPI operations are listed here, in gateway/openapi.py's format, and
merged into the one document there.

Who: the office and the leaders read every summary, and so do unit heads (the work group
they sit in gets each summary's digest); handlers are told there is none (404, as for any
staff read they may not make). Only the office generates one on demand (others: 404).
"""
from __future__ import annotations

import base64
import io

from marshmallow import Schema, fields, validate
from werkzeug.wrappers import Response

from gateway.http import api, json_response
from gateway.server import http
from gateway.summary_xlsx import XLSX_MEDIA_TYPE, write_summary_xlsx
from services.common.analysis_inputs import SUMMARY_PERIOD
from services.common.errors import InvalidInput

KINDS = ("weekly", "monthly")
LIST_LIMIT = 200


class _Closed(Schema):
    class Meta:
        unknown = "raise"


class GenerateSummarySchema(_Closed):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={
        "description": "weekly (周汇总, an ISO week) or monthly (月总结, a calendar month)"})
    period = fields.String(required=True, validate=SUMMARY_PERIOD, metadata={
        "description": "2026-W48 for a week, 2026-11 for a month; the period must be over"})


class SummaryListQuerySchema(_Closed):
    kind = fields.String(load_default=None, validate=validate.OneOf(KINDS))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=LIST_LIMIT))


class SummaryChartRefSchema(Schema):
    name = fields.String()
    title = fields.String()
    md5 = fields.String()
    bytes = fields.Integer()


class SummaryListItemSchema(Schema):
    id = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))
    period = fields.String()
    title = fields.String()
    from_ = fields.AwareDateTime(data_key="from")
    to = fields.AwareDateTime()
    trigger = fields.String(validate=validate.OneOf(["schedule", "request"]))
    generated_by = fields.String()
    generated_at = fields.AwareDateTime()


class SummarySchema(SummaryListItemSchema):
    content = fields.Dict(metadata={"description": "received (by channel, by category, 环比), "
                                                   "closed, assessment (三率, ranks, 红榜/黑榜), "
                                                   "overdue, due_soon, supervised, hot_topics, "
                                                   "meeting (调度会)"})
    markdown = fields.String()
    digest = fields.String(metadata={"description": "what was posted to the work group"})
    charts = fields.List(fields.Nested(SummaryChartRefSchema))
    created = fields.Boolean(metadata={"description": "POST only: false when the period's "
                                                      "summary existed (nothing re-posted)"})


PATH = "/api/v1/staff/summaries"
# (method, path, summary, request schema | None, (status, response schema, many), tags)
OPERATIONS: list[tuple] = [
    ("get", PATH, "周汇总/月总结, newest first (office, leaders, unit heads)", None,
     (200, SummaryListItemSchema, True), ["staff", "summaries"]),
    ("post", PATH, "Make the summary of a finished week or month now (office); 201 when made "
     "and posted to the work group, 200 with created=false when it existed (never posted "
     "twice), 409 period_not_finished", GenerateSummarySchema, (201, SummarySchema, False),
     ["staff", "summaries"]),
    ("get", PATH + "/{summary_id}", "A summary: its content, markdown and charts", None,
     (200, SummarySchema, False), ["staff", "summaries"]),
    ("get", PATH + "/{summary_id}.xlsx", "A summary as an Excel workbook", None,
     (200, "xlsx", False), ["staff", "summaries"]),
    ("get", PATH + "/{summary_id}/charts/{chart}.png", "A summary's chart (rates, received)",
     None, (200, "png", False), ["staff", "summaries"]),
]
RESPONSE_SCHEMAS: dict = {   # component name: (schema, keys not in every answer)
    "SummaryListItem": (SummaryListItemSchema, set()),
    "Summary": (SummarySchema, {"created"}),
    "SummaryChartRef": (SummaryChartRefSchema, set()),
}
EXAMPLES: dict = {("post", PATH): {"kind": "weekly", "period": "2026-W48"}}
ALSO_OK: dict = {("post", PATH): (200,)}   # the period's summary existed: created false
QUERIES: dict = {("get", PATH): SummaryListQuerySchema}
PATH_PARAMETERS: tuple = ("summary_id", "chart")


def _checked(schema, values: dict) -> dict:
    errors = schema().validate(values)
    if errors:
        raise InvalidInput(errors)
    return schema().load(values)


def summary_chart_response(found: dict) -> Response:
    """A summary's chart as rating answers it ({png: base64, md5}), as the PNG file (the API
    and the office's console page answer with it)."""
    return Response(base64.b64decode(found["png"]), mimetype="image/png",
                    headers={"ETag": f'"{found["md5"]}"'})


def summary_xlsx_response(summary: dict) -> Response:
    """A summary (the API's JSON) as its Excel workbook, to download."""
    out = io.BytesIO()   # a summary's workbook is small: a few hundred rows at most
    write_summary_xlsx(out, summary)
    name = f"jiesu-summary-{summary['period']}.xlsx"
    return Response(out.getvalue(), mimetype=XLSX_MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


class SummaryRoutes:
    @http("GET", PATH)
    @api
    def list_summaries(self, request):
        principal = self._staff(request)
        query = _checked(SummaryListQuerySchema, dict(request.args.items()))
        return json_response(self.rating.list_summaries(principal.as_rpc(), query))

    @http("POST", PATH)
    @api
    def generate_summary(self, request):
        principal = self._staff(request)
        body = _checked(GenerateSummarySchema, self._json(request))
        made = self.rating.generate_summary(principal.as_rpc(), body)
        return json_response(made, 201 if made["created"] else 200,
                             headers={"Location": f"{PATH}/{made['id']}"})

    @http("GET", PATH + "/<string:summary_id>")
    @api
    def get_summary(self, request, summary_id):
        principal = self._staff(request)
        return json_response(self.rating.get_summary(principal.as_rpc(), summary_id))

    @http("GET", PATH + "/<string:summary_id>/charts/<string:chart>.png")
    @api
    def get_summary_chart(self, request, summary_id, chart):
        principal = self._staff(request)
        return summary_chart_response(self.rating.get_summary_chart(principal.as_rpc(),
                                                                    summary_id, chart))

    @http("GET", PATH + "/<string:summary_id>.xlsx")
    @api
    def get_summary_xlsx(self, request, summary_id):
        principal = self._staff(request)
        return summary_xlsx_response(self.rating.get_summary(principal.as_rpc(), summary_id))
