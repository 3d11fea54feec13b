"""The OpenAPI 3 document of the HTTP API, generated from the marshmallow schemas that the
services load and dump (X8). Served at /api/v1/openapi.json; a test checks that every route
of the gateway is in it."""
from __future__ import annotations

from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from gateway import pledges
from services.intake import calls, schemas as intake
from services.rating import schemas as rating
from services.sla import schemas as sla


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_input"})
    message = fields.String(required=True, metadata={"example": "输入有误 (invalid input)"})
    fields_ = fields.Dict(data_key="fields", metadata={"description": "field -> messages"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class CodeLabelSchema(Schema):
    code = fields.String()
    label = fields.String()


class UnitFiguresSchema(Schema):
    unit_id = fields.String()
    by_state = fields.Dict(keys=fields.String(), values=fields.Integer())
    open = fields.Integer()
    overdue = fields.Integer()
    at = fields.AwareDateTime()


class AuditEntrySchema(Schema):
    at = fields.AwareDateTime()
    actor_id = fields.String()
    actor_role = fields.String()
    action = fields.String()
    changes = fields.Dict()


class AttachmentOutSchema(intake.AttachmentSchema):
    url = fields.String()


class HealthSchema(Schema):
    status = fields.String(metadata={"example": "ok"})


ACTION_PATH = "/api/v1/staff/cases/{complaint_id}/{action}"

# (method, path, summary, request schema, (status, response schema, many), tags)
OPERATIONS = [
    ("post", "/api/v1/complaints", "File a complaint (the complainant, from the app), with "
     "the ticked pledge that it is true (R3)",
     pledges.AppFilingSchema, (201, intake.FiledSchema, False), ["complainant"]),
    ("get", "/api/v1/complaints", "The caller's own complaints", None,
     (200, intake.CaseSummarySchema, True), ["complainant"]),
    ("get", "/api/v1/complaints/{complaint_id}", "A complaint, its state, deadline and timeline",
     None, (200, intake.ComplaintSchema, False), ["complainant"]),
    ("post", "/api/v1/complaints/{complaint_id}/rating",
     "Rate the reply: satisfied / basically / dissatisfied (R9)", rating.RateSchema,
     (201, rating.RatingSchema, False), ["complainant"]),
    ("post", "/api/v1/complaints/{complaint_id}/attachments",
     "Attach a photo or voice message (raw body; type read from the bytes)", "binary",
     (201, AttachmentOutSchema, False), ["complainant", "staff"]),
    ("get", "/api/v1/complaints/{complaint_id}/attachments/{sha256}", "An attachment's bytes",
     None, (200, "binary", False), ["complainant", "staff"]),
    ("get", "/api/v1/categories", "The ten categories", None, (200, CodeLabelSchema, True),
     ["reference"]),
    ("get", "/api/v1/grades", "The three grades and their time limits", None,
     (200, CodeLabelSchema, True), ["reference"]),
    ("get", "/api/v1/staff/cases", "A staff list: unit inbox, office views, leader's items",
     None, (200, intake.CaseSummarySchema, True), ["staff"]),
    ("get", "/api/v1/staff/cases/{complaint_id}", "A case as this staff member may see it",
     None, (200, intake.ComplaintSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/communications",
     "Record a phone call or a meeting with the complainant (R6)",
     intake.CommunicationSchema, (201, intake.ComplaintSchema, False), ["staff"]),
    ("post", ACTION_PATH, "Act on a case (see the action parameter; 409 if refused)",
     None, (200, intake.ComplaintSchema, False), ["staff"]),
    ("get", "/api/v1/staff/cases/{complaint_id}/deadlines",
     "The case's targets (签收, 办结 per round), their state and extensions", None,
     (200, sla.DeadlineSchema, True), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/extensions",
     "Ask for more time, with a reason (X2; the unit's handler or head)",
     sla.ExtensionRequestSchema, (201, sla.ExtensionSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/extensions/{extension_id}/decision",
     "Approve or refuse an extension (the unit head or the office)",
     sla.ExtensionDecisionSchema, (200, sla.ExtensionSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/timetable",
     "Set a long-term matter's timetable: milestones with staged-feedback dates (R7)",
     sla.TimetableSchema, (201, sla.TimetableOutSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/timetable/{milestone_id}",
     "Give staged feedback on a milestone, or mark it done", sla.MilestoneUpdateSchema,
     (200, None, False), ["staff"]),
    ("get", "/api/v1/staff/cases/{complaint_id}/audit", "The audit trail (office)", None,
     (200, AuditEntrySchema, True), ["staff"]),
    ("get", "/api/v1/staff/units/{unit_id}/figures", "A unit's live figures (R13)", None,
     (200, UnitFiguresSchema, False), ["staff"]),
    ("post", "/api/v1/staff/reports", "File a problem the unit found itself (R10)",
     intake.FileComplaintSchema, (201, intake.FiledSchema, False), ["staff"]),
    ("post", "/hotline/calls/events", "The call centre's (CTI) call events: ringing, answered, "
     "ended, voicemail (X-CTI-Timestamp and X-CTI-Signature HMAC; 409 = already received)",
     calls.CallEventSchema, (200, intake.CallEventOutcomeSchema, False), ["hotline"]),
    ("get", "/api/v1/staff/hotline/calls", "Hotline calls, newest first; unfiled=true: the "
     "answered calls nobody has filed for yet (office)", None, (200, intake.CallSchema, True),
     ["hotline", "staff"]),
    ("get", "/api/v1/staff/hotline/calls/{call_id}", "A hotline call for its operator: the "
     "masked caller, the pledge script to read, the cases filed from it (office)", None,
     (200, intake.CallSchema, False), ["hotline", "staff"]),
    ("post", "/api/v1/staff/hotline/calls/{call_id}/complaints", "File for the caller of an "
     "answered call, after reading the pledge (office)", pledges.OperatorFilingSchema,
     (201, intake.FiledSchema, False), ["hotline", "staff"]),
    ("get", "/open311/v2/services.{fmt}", "Open311 GeoReport v2: the service list (json|xml)",
     None, (200, None, True), ["open311"]),
    ("get", "/open311/v2/services/{code}.{fmt}", "Open311: a service definition", None,
     (200, None, False), ["open311"]),
    ("post", "/open311/v2/requests.{fmt}",
     "Open311: file a service request (form-encoded, api_key required)", None,
     (201, None, True), ["open311"]),
    ("get", "/open311/v2/requests.{fmt}",
     "Open311: this app's requests; service_request_id, service_code, start_date, end_date, "
     "status filters (api_key required)", None, (200, None, True), ["open311"]),
    ("get", "/open311/v2/requests/{request_id}.{fmt}", "Open311: one request (api_key required)",
     None, (200, None, True), ["open311"]),
    ("get", "/wechat", "WeChat 公众号 server URL verification (signature, timestamp, nonce, "
     "echostr)", None, (200, "binary", False), ["wechat"]),
    ("post", "/wechat", "WeChat 公众号 messages, plain or safe mode (XML); passive XML reply",
     None, (200, "binary", False), ["wechat"]),
    ("get", "/healthz", "Liveness", None, (200, HealthSchema, False), ["operations"]),
    ("get", "/api/v1/openapi.json", "This document", None, (200, None, False), ["reference"]),
]

# One example request per operation with a body (a test loads each through its schema).
FILING_EXAMPLE = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
                  "location": "学生公寓3号楼", "contact_phone": "13912345678"}
EXAMPLES = {
    ("post", "/api/v1/complaints"): dict(FILING_EXAMPLE, pledge=True),
    ("post", "/api/v1/complaints/{complaint_id}/rating"):
        {"level": "satisfied", "comment": "维修及时,谢谢"},
    ("post", "/api/v1/staff/cases/{complaint_id}/communications"):
        {"kind": "phone", "at": "2026-11-24T10:30:00+08:00", "with_whom": "张三",
         "summary": "电话告知已安排维修,明天上午到场"},
    ("post", "/api/v1/staff/cases/{complaint_id}/extensions"):
        {"reason": "需采购热水器配件,到货需两天", "new_due_at": "2026-11-27T17:30:00+08:00"},
    ("post", "/api/v1/staff/cases/{complaint_id}/extensions/{extension_id}/decision"):
        {"approve": True, "note": "同意延期"},
    ("post", "/api/v1/staff/cases/{complaint_id}/timetable"):
        {"milestones": [{"title": "完成管道检修", "due_at": "2026-12-04T17:30:00+08:00",
                         "feedback_due_at": "2026-12-01T17:30:00+08:00"}]},
    ("post", "/api/v1/staff/cases/{complaint_id}/timetable/{milestone_id}"):
        {"update": "feedback", "note": "配件已到货,正在安装"},
    ("post", "/api/v1/staff/reports"): FILING_EXAMPLE,
    ("post", "/hotline/calls/events"):
        {"event_id": "evt-20261124-000123", "call_id": "call-20261124-0042", "type": "answered",
         "at": "2026-11-24T09:12:06+08:00", "caller": "13912345678", "operator": "op-1024"},
    ("post", "/api/v1/staff/hotline/calls/{call_id}/complaints"):
        dict(FILING_EXAMPLE, pledge_read=True),
}
ACTION_EXAMPLES = {
    "sign_for": {}, "start": {},
    "return_case": {"reason": "不属于本单位职责,应由保卫处办理"},
    "reply": {"outcome": "solved", "text": "热水器已于今日修复,已电话告知诉求人"},
    "screen_out": {"rule": "unlawful_grades"},
    "dispatch": {"unit_id": "logistics"},
    "instruct": {"text": "请后勤管理处三日内彻底解决并回访"},
    "link": {"other_id": "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"},
    "merge": {"into": "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"},
    "classify": {"category": "logistics", "title": "图书馆空调漏水", "urgent": False},
}

ACTION_BODIES = {name: schema for name, schema in intake.ACTION_SCHEMAS.items()
                 if name != "communicate"}
PUBLIC = {"/api/v1/categories", "/api/v1/grades", "/healthz", "/api/v1/openapi.json",
          "/wechat",
          "/open311/v2/services.{fmt}", "/open311/v2/services/{code}.{fmt}"}


BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _content(schema, many=False):
    if schema == "binary":
        return BINARY
    if schema is None:
        return {"application/json": {"schema": {"type": "object"}}}
    name = schema.__name__.removesuffix("Schema")
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"application/json": {"schema": {"type": "array", "items": ref} if many else ref}}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    spec = APISpec(title="jiesu 接诉即办 API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Complainants file and follow their requests; staff "
                                        "handle them. Errors: one shape, ErrorSchema."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.security_scheme("open311_api_key", {"type": "apiKey", "in": "query",
                                                         "name": "api_key"})
    spec.components.security_scheme("cti_signature", {
        "type": "apiKey", "in": "header", "name": "X-CTI-Signature",
        "description": "sha256=<hex HMAC-SHA256(secret, X-CTI-Timestamp + '.' + body)>"})
    spec.components.schema("Error", schema=ErrorSchema)
    named = {op[3] for op in OPERATIONS} | {op[4][1] for op in OPERATIONS}
    for schema in (named - {None, "binary"}) | set(ACTION_BODIES.values()):
        name = schema.__name__.removesuffix("Schema")
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=schema)
    errors = {str(status): {"description": text, "content": _content(ErrorSchema)}
              for status, text in ((400, "invalid input"), (401, "no valid bearer token"),
                                   (404, "no such thing, or not yours to see"),
                                   (409, "not allowed in the case's state"),
                                   (503, "a service did not answer in time"))}
    for method, path, summary, body, (status, response, many), tags in OPERATIONS:
        operation = {"summary": summary, "tags": tags,
                     "responses": {str(status): {"description": "OK",
                                                 "content": _content(response, many)}, **errors}}
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in ("complaint_id", "unit_id", "action", "sha256", "extension_id",
                               "milestone_id", "code", "request_id", "fmt", "call_id")
                  if "{" + name + "}" in path]
        if path == ACTION_PATH:
            params[-1]["schema"]["enum"] = sorted(ACTION_BODIES)
            operation["requestBody"] = {"content": {"application/json": {"schema": {"oneOf": [
                {"$ref": f"#/components/schemas/{s.__name__.removesuffix('Schema')}"}
                for s in ACTION_BODIES.values()]}, "examples": {
                    action: {"summary": action, "value": ACTION_EXAMPLES[action]}
                    for action in sorted(ACTION_BODIES)}}}}
        queries = {"/api/v1/staff/cases": intake.CaseListQuerySchema,
                   "/api/v1/staff/hotline/calls": intake.CallListQuerySchema}
        if path in queries and method == "get":
            params += [{"name": name, "in": "query", "required": False,
                        "schema": {"type": "string"}}
                       for name in queries[path]().fields]
        if params:
            operation["parameters"] = params
        if body is not None:
            operation["requestBody"] = {"required": True, "content": _content(body)}
            if (method, path) in EXAMPLES:
                operation["requestBody"]["content"]["application/json"]["example"] = \
                    EXAMPLES[(method, path)]
        if path.startswith("/open311/v2/requests"):
            operation["security"] = [{"open311_api_key": []}]
        elif path.startswith("/hotline/"):
            operation["security"] = [{"cti_signature": []}]
        elif path not in PUBLIC:
            operation["security"] = [{"bearer": []}]
        spec.path(path=path, operations={method: operation})
    return spec.to_dict()
