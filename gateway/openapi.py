"""The OpenAPI 3 document of the HTTP API, generated from the gateway's public schemas
(gateway/schemas.py), the ones it validates requests with (X8). Served at
/api/v1/openapi.json.

It describes what is served, not what was meant: every response body is closed
(`additionalProperties: false`, the keys always present `required`), and
tests/test_public_schemas.py checks the schemas against the services' own and against what
the services really answer, so a key added or dropped anywhere fails a test
(tests/e2e/test_schemathesis.py too) instead of surprising a client. Every error status an
operation can answer is listed with its shape: jiesu's one error object, or Open311's and
WeChat's own.
"""
from __future__ import annotations

import re
from copy import deepcopy
from functools import lru_cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields, validate

from gateway import office_analysis, office_figures, office_summaries, schemas
from services.common.contracts import CATEGORIES

# ------------------------------------------------------------------ error shapes


class ErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "invalid_input"})
    message = fields.String(required=True, metadata={"example": "输入有误 (invalid input)"})
    fields_ = fields.Dict(data_key="fields", metadata={"description": "field -> messages"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


class Open311ErrorSchema(Schema):
    """GeoReport v2's error: the list holds one of these."""
    code = fields.Integer(required=True)
    description = fields.String(required=True)


# ------------------------------------------------------------------ response components
# component name: (schema, keys not in every answer)
RESPONSE_SCHEMAS = {
    "Complaint": (schemas.ComplaintSchema, {"links", "similar"}),
    "CaseSummary": (schemas.CaseSummarySchema, set()),
    "Deadline": (schemas.DeadlineSchema, set()),
    "Extension": (schemas.ExtensionSchema, set()),
    "Rating": (schemas.RatingSchema, set()),
    "Filed": (schemas.FiledSchema, set()),
    "TimelineEntry": (schemas.TimelineEntrySchema, set()),
    "CommunicationView": (schemas.CommunicationViewSchema, set()),
    "CaseLink": (schemas.CaseLinkSchema, set()),
    "SimilarCase": (schemas.SimilarCaseSchema, set()),
    "TimetableStep": (schemas.TimetableStepSchema, {"feedback_given"}),
    "UnitRef": (schemas.UnitRefSchema, set()),
    "PersonRef": (schemas.PersonRefSchema, set()),
    "Call": (schemas.CallSchema, set()),
    "TimetableOut": (schemas.TimetableOutSchema, set()),
    "MilestoneOut": (schemas.MilestoneOutSchema, set()),
    "MilestoneStatus": (schemas.MilestoneStatusSchema, set()),
    "Health": (schemas.HealthSchema, set()),
}


# ------------------------------------------------------------------ Open311 GeoReport v2


class Open311ServiceSchema(Schema):
    service_code = fields.String(validate=validate.OneOf(list(CATEGORIES)))
    service_name = fields.String()
    description = fields.String()
    metadata = fields.Boolean()
    type = fields.String()
    keywords = fields.String()
    group = fields.String()


class Open311ValueSchema(Schema):
    key = fields.String()
    name = fields.String()


class Open311AttributeSchema(Schema):
    variable = fields.Boolean()
    code = fields.String()
    datatype = fields.String()
    required = fields.Boolean()
    datatype_description = fields.String()
    order = fields.Integer()
    description = fields.String()
    values = fields.List(fields.Nested(Open311ValueSchema))


class Open311ServiceDefinitionSchema(Schema):
    service_code = fields.String()
    attributes = fields.List(fields.Nested(Open311AttributeSchema))


class Open311RequestSchema(Schema):
    """gateway/open311.py request_view."""
    service_request_id = fields.String()
    status = fields.String(validate=validate.OneOf(["open", "closed"]))
    status_notes = fields.String(allow_none=True)
    service_name = fields.String(allow_none=True)
    service_code = fields.String(allow_none=True)
    description = fields.String()
    agency_responsible = fields.String(allow_none=True)
    service_notice = fields.String(allow_none=True)
    requested_datetime = fields.AwareDateTime()
    updated_datetime = fields.AwareDateTime()
    expected_datetime = fields.AwareDateTime(allow_none=True)
    address = fields.String(allow_none=True)
    address_id = fields.String(allow_none=True)
    zipcode = fields.String(allow_none=True)
    lat = fields.Raw(allow_none=True)
    long = fields.Raw(allow_none=True)
    media_url = fields.String(allow_none=True)


class Open311FiledSchema(Schema):
    service_request_id = fields.String()
    service_notice = fields.String()
    account_id = fields.String(allow_none=True)


class Open311FilingFormSchema(Schema):
    """POST requests.{fmt}, form-encoded as GeoReport v2 says (api_key in the query or the
    form)."""
    service_code = fields.String(required=True, validate=validate.OneOf(list(CATEGORIES)))
    description = fields.String()
    lat = fields.Float()
    long = fields.Float()
    address_string = fields.String()
    email = fields.String()
    device_id = fields.String()
    account_id = fields.String()
    first_name = fields.String()
    last_name = fields.String()
    phone = fields.String()
    pledge = fields.String(required=True, data_key="attribute[pledge]",
                           validate=validate.OneOf(["yes"]),
                           metadata={"description": "R3: the requester's pledge (yes)"})


# ------------------------------------------------------------------ operations

ACTION_PREFIX = "/api/v1/staff/cases/{complaint_id}/"
# The route POST /api/v1/staff/cases/{complaint_id}/{action} serves these, one path each so
# that each has its own body.
ACTIONS = {
    "sign_for": "签收: the unit's handler or head takes the case",
    "start": "Start handling a signed case (the unit)",
    "return_case": "退单: the unit sends the case back to the office, with a reason",
    "reply": "答复: the unit replies with the outcome (after talking to the complainant, R6)",
    "screen_out": "Screen the case out under a rule (the office)",
    "dispatch": "派单: send the case to a unit (the office; the directory's unit if omitted)",
    "instruct": "批示: the supervising leader's instruction on a supervised case",
    "link": "Link the case to another one (the office)",
    "merge": "Merge the case, a duplicate, into another one (the office)",
    "classify": "Classify a hotline voicemail: its category, title and urgency (the office)",
}
ACTION_BODIES = {name: schema for name, schema in schemas.ACTION_SCHEMAS.items()
                 if name in ACTIONS}

# (method, path, summary, request schema, (status, response schema, many), tags)
OPERATIONS = [
    ("post", "/api/v1/complaints", "File a complaint (the complainant, from the app), with "
     "the ticked pledge that it is true (R3)",
     schemas.AppFilingSchema, (201, schemas.FiledSchema, False), ["complainant"]),
    ("get", "/api/v1/complaints", "The caller's own complaints", None,
     (200, schemas.CaseSummarySchema, True), ["complainant"]),
    ("get", "/api/v1/complaints/{complaint_id}", "A complaint, its state, deadline and timeline",
     None, (200, schemas.ComplaintSchema, False), ["complainant"]),
    ("post", "/api/v1/complaints/{complaint_id}/rating",
     "The 回访: rate the reply satisfied / basically / dissatisfied, and say whether the "
     "unit contacted you and whether it is solved (R9)", schemas.RateSchema,
     (201, schemas.RatingSchema, False), ["complainant"]),
    ("post", "/api/v1/complaints/{complaint_id}/attachments",
     "Attach a photo or voice message (raw body; type read from the bytes)", "binary",
     (201, schemas.AttachmentOutSchema, False), ["complainant", "staff"]),
    ("get", "/api/v1/complaints/{complaint_id}/attachments/{sha256}", "An attachment's bytes",
     None, (200, "media", False), ["complainant", "staff"]),
    ("get", "/api/v1/categories", "The ten categories", None, (200, schemas.CodeLabelSchema, True),
     ["reference"]),
    ("get", "/api/v1/grades", "The three grades and their time limits", None,
     (200, schemas.CodeLabelSchema, True), ["reference"]),
    ("get", "/api/v1/staff/cases", "A staff list: unit inbox, office views, leader's items",
     None, (200, schemas.CaseSummarySchema, True), ["staff"]),
    ("get", "/api/v1/staff/cases/{complaint_id}", "A case as this staff member may see it",
     None, (200, schemas.ComplaintSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/communications",
     "Record a phone call or a meeting with the complainant (R6)",
     schemas.CommunicationSchema, (201, schemas.ComplaintSchema, False), ["staff"]),
    *[("post", ACTION_PREFIX + action, f"{summary} (409 if the case's state refuses it)",
       ACTION_BODIES[action], (200, schemas.ComplaintSchema, False), ["staff", "actions"])
      for action, summary in ACTIONS.items()],
    ("post", "/api/v1/staff/cases/{complaint_id}/callback",
     "Record the office's phone 回访 for a complainant who did not rate: their three answers "
     "and comment, by who called (office; 409 unless the case awaits its rating)",
     schemas.CallbackSchema, (201, schemas.RatingSchema, False), ["staff"]),
    ("get", "/api/v1/staff/cases/{complaint_id}/deadlines",
     "The case's targets (签收, 办结 per round), their state and extensions", None,
     (200, schemas.DeadlineSchema, True), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/extensions",
     "Ask for more time, with a reason (X2; the unit's handler or head)",
     schemas.ExtensionRequestSchema, (201, schemas.ExtensionSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/extensions/{extension_id}/decision",
     "Approve or refuse an extension (the unit head or the office)",
     schemas.ExtensionDecisionSchema, (200, schemas.ExtensionSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/timetable",
     "Set a long-term matter's timetable: milestones with staged-feedback dates (R7)",
     schemas.TimetableSchema, (201, schemas.TimetableOutSchema, False), ["staff"]),
    ("post", "/api/v1/staff/cases/{complaint_id}/timetable/{milestone_id}",
     "Give staged feedback on a milestone, or mark it done", schemas.MilestoneUpdateSchema,
     (200, schemas.MilestoneStatusSchema, False), ["staff"]),
    ("get", "/api/v1/staff/cases/{complaint_id}/audit", "The audit trail (office)", None,
     (200, schemas.AuditEntrySchema, True), ["staff"]),
    ("get", "/api/v1/staff/units/{unit_id}/figures", "A unit's live figures (R13)", None,
     (200, schemas.UnitFiguresSchema, False), ["staff"]),
    ("post", "/api/v1/staff/reports", "File a problem the unit found itself (R10)",
     schemas.FileComplaintSchema, (201, schemas.FiledSchema, False), ["staff"]),
    ("post", "/hotline/calls/events", "The call centre's (CTI) call events: ringing, answered, "
     "ended, voicemail (X-CTI-Timestamp and X-CTI-Signature HMAC; 409 = already received)",
     schemas.CallEventSchema, (200, schemas.CallEventOutcomeSchema, False), ["hotline"]),
    ("get", "/api/v1/staff/hotline/calls", "Hotline calls, newest first; unfiled=true: the "
     "answered calls nobody has filed for yet (office)", None, (200, schemas.CallSchema, True),
     ["hotline", "staff"]),
    ("get", "/api/v1/staff/hotline/calls/{call_id}", "A hotline call for its operator: the "
     "masked caller, the pledge script to read, the cases filed from it (office)", None,
     (200, schemas.CallSchema, False), ["hotline", "staff"]),
    ("post", "/api/v1/staff/hotline/calls/{call_id}/complaints", "File for the caller of an "
     "answered call, after reading the pledge (office)", schemas.OperatorFilingSchema,
     (201, schemas.FiledSchema, False), ["hotline", "staff"]),
    ("get", "/open311/v2/services.{fmt}", "Open311 GeoReport v2: the service list (json|xml)",
     None, (200, Open311ServiceSchema, True), ["open311"]),
    ("get", "/open311/v2/services/{code}.{fmt}", "Open311: a service definition", None,
     (200, Open311ServiceDefinitionSchema, False), ["open311"]),
    ("post", "/open311/v2/requests.{fmt}",
     "Open311: file a service request (form-encoded, api_key required)",
     Open311FilingFormSchema, (201, Open311FiledSchema, True), ["open311"]),
    ("get", "/open311/v2/requests.{fmt}",
     "Open311: this app's requests; service_request_id, service_code, start_date, end_date, "
     "status filters (api_key required)", None, (200, Open311RequestSchema, True),
     ["open311"]),
    ("get", "/open311/v2/requests/{request_id}.{fmt}", "Open311: one request (api_key required)",
     None, (200, Open311RequestSchema, True), ["open311"]),
    ("get", "/wechat", "WeChat 公众号 server URL verification (signature, timestamp, nonce, "
     "echostr)", None, (200, "text", False), ["wechat"]),
    ("post", "/wechat", "WeChat 公众号 messages, plain or safe mode (XML); passive XML reply",
     "xml", (200, "text", False), ["wechat"]),
    ("get", "/healthz", "Liveness", None, (200, schemas.HealthSchema, False), ["operations"]),
    ("get", "/api/v1/openapi.json", "This document", None, (200, "document", False),
     ["reference"]),
    ("get", "/r/{token}", "The 回访 page a reply's SMS links to (the signed token is the "
     "credential): a form with 是否联系, 是否解决, 满意度 and a comment (HTML)", None,
     (200, "html", False), ["rating page"]),
    ("post", "/r/{token}", "Rate through the SMS 回访 page (form-encoded; contacted and solved "
     "1 or 0); answers an HTML page", schemas.RatingPageFormSchema, (200, "html", False),
     ["rating page"]),
]

# One example request per operation with a body (a test loads each through its schema).
FILING_EXAMPLE = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
                  "location": "学生公寓3号楼", "contact_phone": "13912345678"}
EXAMPLES = {
    ("post", "/api/v1/complaints"): dict(FILING_EXAMPLE, pledge=True),
    ("post", "/api/v1/complaints/{complaint_id}/rating"):
        {"level": "satisfied", "contacted": True, "solved": True, "comment": "维修及时,谢谢"},
    ("post", "/api/v1/staff/cases/{complaint_id}/callback"):
        {"level": "basically", "contacted": True, "solved": False,
         "comment": "电话回访:已联系,配件未到,暂未修好", "called_at": "2026-11-26T15:00:00+08:00"},
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
EXAMPLES.update({("post", ACTION_PREFIX + action): body
                 for action, body in ACTION_EXAMPLES.items()})

PUBLIC = {"/api/v1/categories", "/api/v1/grades", "/healthz", "/api/v1/openapi.json",
          "/wechat", "/r/{token}",
          "/open311/v2/services.{fmt}", "/open311/v2/services/{code}.{fmt}"}
# Where the abuse limits count (gateway/limits.py): the filings and the uploads.
RATE_LIMITED = {("post", "/api/v1/complaints"), ("post", "/api/v1/staff/reports"),
                ("post", "/api/v1/complaints/{complaint_id}/attachments"),
                ("post", "/open311/v2/requests.{fmt}")}
# Where a chunked body is refused (gateway/server.py body_rules).
LENGTH_REQUIRED = {("post", "/api/v1/complaints/{complaint_id}/attachments")}
# Filings and uploads answer 201 with Location.
LOCATED = {("post", "/api/v1/complaints"), ("post", "/api/v1/complaints/{complaint_id}/attachments"),
           ("post", "/api/v1/staff/hotline/calls/{call_id}/complaints")}
# Request schemas whose boolean must be true: false is refused (R3's pledges).
MUST_BE_TRUE = {"AppFiling": "pledge", "OperatorFiling": "pledge_read"}
PATH_PARAMETERS = ("complaint_id", "unit_id", "sha256", "extension_id", "milestone_id", "code",
                   "request_id", "fmt", "call_id", "token")
QUERIES = {("get", "/api/v1/staff/cases"): schemas.CaseListQuerySchema,
           ("get", "/api/v1/staff/hotline/calls"): schemas.CallListQuerySchema}
# Operations with a second success status: (method, path) -> statuses (the summaries' POST
# answers 200 when the period's summary existed already).
ALSO_OK: dict = dict(office_summaries.ALSO_OK)
# The office's routes (issue 12) list their operations beside their handlers.
for _office in (office_figures, office_summaries, office_analysis):
    OPERATIONS += _office.OPERATIONS
    RESPONSE_SCHEMAS.update(_office.RESPONSE_SCHEMAS)
    EXAMPLES.update(_office.EXAMPLES)
    QUERIES.update(_office.QUERIES)
    PATH_PARAMETERS += _office.PATH_PARAMETERS
OPEN311_QUERY = {
    "service_request_id": "comma-separated ids", "service_code": "a category code",
    "start_date": "ISO 8601 (default: 90 days ago)", "end_date": "ISO 8601 (default: now)",
    "status": "open, closed or open,closed"}

# status -> (component name, description, headers)
ERRORS = {
    400: ("BadRequest", "invalid input: malformed JSON, a field that fails validation "
                        "(error.fields names each), a bad query parameter or Idempotency-Key",
          ()),
    401: ("Unauthorized", "no valid bearer token (missing, malformed, expired, without exp "
                          "or iat, or with unknown roles)", ("WWW-Authenticate",)),
    404: ("NotFound", "no such thing, or not yours to see (a complainant is never told that "
                      "a staff route exists)", ()),
    405: ("MethodNotAllowed", "the path exists but not with this method (OPTIONS and TRACE "
                              "included); Allow lists the methods it has", ("Allow",)),
    408: ("RequestTimeout", "the request's headers or body did not arrive in time", ()),
    409: ("Conflict", "refused in the case's present state (error.code says why), or "
                      "already done", ()),
    411: ("LengthRequired", "an upload must come with Content-Length, not chunked", ()),
    413: ("PayloadTooLarge", "the body is larger than the limit", ()),
    415: ("UnsupportedMediaType", "the body is not of the documented type (JSON: "
                                  "application/json in UTF-8; attachments: a photo or voice "
                                  "type read from the bytes)", ()),
    429: ("TooManyRequests", "too many filings from this user or address; Retry-After says "
                             "when to try again", ("Retry-After",)),
    503: ("ServiceUnavailable", "a service behind the gateway did not answer in time or is "
                                "down; Retry-After says when to try again", ("Retry-After",)),
}
HEADERS = {
    "WWW-Authenticate": {"description": "Bearer realm=\"jiesu\"", "schema": {"type": "string"}},
    "Allow": {"description": "the methods this path has", "schema": {"type": "string"}},
    "Retry-After": {"description": "seconds", "schema": {"type": "integer", "minimum": 0}},
    "Location": {"description": "the created resource", "schema": {"type": "string"}},
}


def _name(schema) -> str:
    for name, (known, _optional) in RESPONSE_SCHEMAS.items():
        if schema is known:
            return name
    return schema.__name__.removesuffix("Schema")


def _resolve_name(schema) -> str:
    """apispec's name for a nested schema: the same as ours."""
    return _name(schema if isinstance(schema, type) else type(schema))


def _ref(schema) -> dict:
    return {"$ref": f"#/components/schemas/{_name(schema)}"}


def _content(schema, many=False) -> dict:
    if schema == "binary":
        return {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    if schema == "media":
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {"image/*": binary, "audio/*": binary, "application/octet-stream": binary}
    if schema == "text":
        return {"text/plain": {"schema": {"type": "string"}},
                "text/xml": {"schema": {"type": "string"}}}
    if schema == "xml":
        return {"text/xml": {"schema": {"type": "string"}},
                "application/xml": {"schema": {"type": "string"}}}
    if schema == "xlsx":
        return {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                {"schema": {"type": "string", "format": "binary"}}}
    if schema == "png":
        return {"image/png": {"schema": {"type": "string", "format": "binary"}}}
    if schema == "document":
        return {"application/json": {"schema": {"type": "object"}}}
    if schema == "html":
        return {"text/html": {"schema": {"type": "string"}}}
    ref = _ref(schema)
    return {"application/json": {"schema": {"type": "array", "items": ref} if many else ref}}


def _open311_content(schema, many=True) -> dict:
    ref = _ref(schema)
    return {"application/json": {"schema": {"type": "array", "items": ref} if many else ref},
            "text/xml": {"schema": {"type": "string"}}}


def _statuses(method: str, path: str, body) -> list[int]:
    """The error statuses an operation of jiesu's own API can answer (gateway/http.py,
    gateway/server.py): 400 for any malformed request, a Transfer-Encoding the server does
    not take included; a body is read before a worker gets the request (408, 413), so 503
    is only for the routes that ask a service."""
    statuses = {400}
    if path not in ("/api/v1/categories", "/api/v1/grades", "/api/v1/openapi.json"):
        statuses.add(503)
    if path.startswith("/hotline/"):
        statuses |= {401, 404, 409}
    elif path not in PUBLIC:
        statuses |= {401, 404}
    if body is not None:
        statuses |= {408, 409, 413, 415}
    if (method, path) in LENGTH_REQUIRED:
        statuses.add(411)
    if (method, path) in RATE_LIMITED:
        statuses.add(429)
    return sorted(statuses)


def _error_responses(statuses) -> dict:
    return {str(status): {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
            for status in statuses}


def _open311_errors(method: str) -> dict:
    statuses = {400: "invalid input", 403: "api_key missing or not valid",
                404: "no such service, request or format, or Open311 is off",
                503: "try again later"}
    if method == "post":
        statuses.update({408: "the request did not arrive in time", 413: "request too large",
                         429: "too many requests"})
    return {str(status): {"description": f"GeoReport v2 error: {text}",
                          "content": _open311_content(Open311ErrorSchema)}
            for status, text in sorted(statuses.items())}


def _wechat_errors(method: str) -> dict:
    text = {"text/plain": {"schema": {"type": "string"}}}
    errors = {"400": {"description": "malformed or oversized message", "content": text},
              "403": {"description": "bad signature or stale timestamp", "content": text},
              "404": {"description": "the official account is not connected", "content": text}}
    if method == "post":
        errors["408"] = {"description": "the message did not arrive in time", "content": text}
    return errors


def _rating_page_errors(method: str) -> dict:
    """The SMS 回访 page answers as pages (gateway/service.py _as_page), its refusals and the
    unexpected alike; what the server itself refuses before the route runs (a body too
    large, too slow, cut short, or sent in a Transfer-Encoding it does not take) is the one
    error shape."""
    html, json_error = _content("html"), _content(ErrorSchema)
    both = dict(html, **json_error)
    pages = {"404": "no such link, or no such case", "409": "the case does not await its "
             "rating (rated already, or closed)", "410": "the link has expired",
             "503": "a service did not answer; try again later"}
    errors = {status: {"description": text, "content": html} for status, text in pages.items()}
    if method == "post":
        errors.update({"400": {"description": "an answer missing or not one of the choices "
                                              "(the form again, with why; a page), or a "
                                              "malformed request (the server's, JSON)",
                               "content": both},
                       "415": {"description": "not a form", "content": html},
                       "408": {"description": "the request did not arrive in time",
                               "content": json_error},
                       "413": {"description": "the body is larger than the limit (the "
                                              "server's, JSON), or a form of too many parts "
                                              "(a page)", "content": both}})
    else:
        errors["400"] = {"description": "malformed request", "content": json_error}
    return dict(sorted(errors.items()))


def _parameters(method: str, path: str) -> list[dict]:
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in PATH_PARAMETERS if "{" + name + "}" in path]
    for param in params:
        if param["name"] == "fmt":
            param["schema"]["enum"] = ["json", "xml"]
        elif param["name"] == "code":
            param["schema"]["enum"] = list(CATEGORIES)
        elif param["name"] == "unit_id":
            param["description"] = "a unit id of config/org.yaml"
    if (method, path) in QUERIES:
        # apispec expands a schema into one query parameter per field, typed and bounded.
        params.append({"in": "query", "schema": QUERIES[(method, path)]})
    if path in ("/open311/v2/requests.{fmt}",) and method == "get":
        params += [{"name": name, "in": "query", "required": False, "description": text,
                    "schema": {"type": "string"}} for name, text in OPEN311_QUERY.items()]
    return params


def _operation(method, path, summary, body, success, tags) -> dict:
    status, response, many = success
    operation = {"summary": summary, "tags": tags, "operationId": _operation_id(method, path)}
    if path.startswith("/open311/"):
        ok = _open311_content(response, many)
        errors = _open311_errors(method)
    elif path == "/wechat":
        ok, errors = _content(response), _wechat_errors(method)
    elif path.startswith("/r/"):
        ok, errors = _content(response), _rating_page_errors(method)
    else:
        ok = _content(response, many)
        errors = _error_responses(_statuses(method, path, body))
    operation["responses"] = {str(status): {"description": "OK", "content": ok}, **errors}
    for also in ALSO_OK.get((method, path), ()):
        operation["responses"][str(also)] = {"description": "OK", "content": ok}
    if (method, path) in LOCATED:
        operation["responses"][str(status)]["headers"] = {"Location": HEADERS["Location"]}
    params = _parameters(method, path)
    if params:
        operation["parameters"] = params
    if body is not None:
        if path.startswith(("/open311/", "/r/")):
            content = {"application/x-www-form-urlencoded": {"schema": _ref(body)}}
        else:
            content = _content(body)
        required = not (isinstance(body, type) and not any(
            f.required for f in body().fields.values()))
        operation["requestBody"] = {"required": required, "content": content}
        if (method, path) in EXAMPLES:
            content["application/json"]["example"] = EXAMPLES[(method, path)]
    if path.startswith("/open311/v2/requests"):
        operation["security"] = [{"open311_api_key": []}]
    elif path.startswith("/hotline/"):
        operation["security"] = [{"cti_signature": []}]
    elif path not in PUBLIC:
        operation["security"] = [{"bearer": []}]
    return operation


def _operation_id(method: str, path: str) -> str:
    return method + "_" + re.sub(r"[^0-9A-Za-z]+", "_", path.removeprefix("/api/v1")).strip("_")


def _schemas(spec) -> None:
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.schema("Open311Error", schema=Open311ErrorSchema)
    for name, (schema, _optional) in RESPONSE_SCHEMAS.items():
        if name not in spec.components.schemas:
            spec.components.schema(name, schema=schema)
    used = {op[3] for op in OPERATIONS} | {op[4][1] for op in OPERATIONS}
    for schema in sorted((s for s in used if isinstance(s, type)), key=_name):
        if _name(schema) not in spec.components.schemas:
            spec.components.schema(_name(schema), schema=schema)


def _close_responses(schemas: dict) -> None:
    """A response always carries its keys (null when there is no value), so each is
    required; and a body must be true where false is refused."""
    for name, (_schema, optional) in RESPONSE_SCHEMAS.items():
        component = schemas[name]
        component["required"] = sorted(set(component["properties"]) - optional)
    for name, field in MUST_BE_TRUE.items():
        schemas[name]["properties"][field]["enum"] = [True]


@lru_cache(maxsize=1)
def _document() -> dict:
    spec = APISpec(title="jiesu 接诉即办 API", version="1.0.0", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_resolve_name)],
                   info={"description": "Complainants file and follow their requests; staff "
                                        "handle them. Every error of /api and /hotline has one "
                                        "shape, Error: {\"error\": {\"code\", \"message\", "
                                        "\"fields\"?}}. Every path answers 405 "
                                        "(MethodNotAllowed, with Allow) to a method it does "
                                        "not list, OPTIONS and TRACE included. Open311 and "
                                        "WeChat answer in their own formats."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "bearerFormat": "JWT"})
    spec.components.security_scheme("open311_api_key", {"type": "apiKey", "in": "query",
                                                         "name": "api_key"})
    spec.components.security_scheme("cti_signature", {
        "type": "apiKey", "in": "header", "name": "X-CTI-Signature",
        "description": "sha256=<hex HMAC-SHA256(secret, X-CTI-Timestamp + '.' + body)>"})
    for status, (name, text, headers) in ERRORS.items():
        spec.components.response(name, {
            "description": text, "content": _content(ErrorSchema),
            **({"headers": {h: HEADERS[h] for h in headers}} if headers else {})})
    _schemas(spec)
    for method, path, summary, body, success, tags in OPERATIONS:
        spec.path(path=path, operations={
            method: _operation(method, path, summary, body, success, tags)})
    document = spec.to_dict()
    _close_responses(document["components"]["schemas"])
    return document


def openapi_document() -> dict:
    """The document (a copy: the cached one stays as built)."""
    return deepcopy(_document())
