"""What crosses the wire to and from intake: the filing (HTTP body = RPC argument) and the
case as it is shown back."""
from __future__ import annotations

import json

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from services.common.contracts import CATEGORIES, CHANNELS, GRADES
from services.common import vocabulary as words
from services.common.fields import Moment
from services.common.logs import mask_phone
from services.common.vocabulary import (ATTACHMENT_KINDS, CASE_SORTS, CASE_VIEWS,
                                        COMMUNICATION_KINDS, MAX_OFFSET, OUTCOMES, PHONE,
                                        FullMatch, Text, length)
from services.intake.lifecycle import Status




class FileComplaintSchema(Schema):
    """A new complaint as the complainant files it."""
    class Meta:
        unknown = RAISE

    category = fields.String(required=True, validate=validate.OneOf(
        list(CATEGORIES), error="必须是以下类别之一 (must be one of): {choices}"),
        metadata={"description": "one of the ten category codes (GET /api/v1/categories)",
                  "example": "logistics"})
    content = Text(required=True, multiline=True, validate=length(words.CONTENT),
                   metadata={"example": "学生公寓3号楼热水已经停了两天"})
    title = Text(load_default=None, allow_none=True, validate=length(words.TITLE_MAX))
    contact_phone = fields.String(load_default=None, allow_none=True, validate=PHONE)
    location = Text(load_default=None, allow_none=True, validate=length(words.LOCATION_MAX))
    # X8: where an Open311 app says it is, kept as given (WGS-84 degrees), both or neither.
    lat = fields.Float(load_default=None, allow_none=True,
                       validate=validate.Range(min=-90, max=90), metadata={"example": 36.66})
    long = fields.Float(load_default=None, allow_none=True,
                        validate=validate.Range(min=-180, max=180), metadata={"example": 117.12})
    anonymous = fields.Boolean(load_default=False,
                               metadata={"description": "hide the complainant from the unit"})
    urgent = fields.Boolean(load_default=False,
                            metadata={"description": "urgent matters get the shortest limit"})

    @validates_schema
    def _both_coordinates(self, data, **kwargs):
        if (data.get("lat") is None) != (data.get("long") is None):
            missing = "long" if data.get("long") is None else "lat"
            raise ValidationError("须同时给出 lat 与 long (give both lat and long)", missing)


class PledgeSchema(Schema):
    """R3: the words that record the complainant's pledge, as the channel took it."""
    pledge = fields.String(load_default=None, allow_none=True,
                           validate=length(words.PLEDGE_MAX))


class FiledSchema(Schema):
    id = fields.String()
    number = fields.String()
    status = fields.String()


class CallSchema(Schema):
    """A hotline call as the office's operator sees it (the caller masked)."""
    call_id = fields.String()
    state = fields.String(allow_none=True, metadata={
        "description": "ringing | answered | ended | voicemail"})
    caller = fields.String(metadata={"example": "139****5678"})
    operator = fields.String(allow_none=True)
    answered_at = fields.String(allow_none=True)
    ended_at = fields.String(allow_none=True)
    script = fields.String(metadata={"description": "the pledge the operator reads (R3)"})
    complaints = fields.List(fields.Nested(FiledSchema))


class CallListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    unfiled = fields.Boolean(load_default=False, metadata={
        "description": "only answered calls nobody has filed for yet"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class CallEventOutcomeSchema(Schema):
    """What a call event led to: nothing, an offer to file for the caller, or a voicemail
    case (filed, waiting for the office to classify it)."""
    outcome = fields.String(metadata={"description": "nothing | offer | voicemail"})
    call_id = fields.String()
    reason = fields.String(allow_none=True)
    operator = fields.String(allow_none=True)
    caller = fields.String(allow_none=True)
    script = fields.String(allow_none=True)
    complaint = fields.Nested(FiledSchema, allow_none=True)
    counts_from = fields.String(allow_none=True)


class TimelineEntrySchema(Schema):
    at = fields.AwareDateTime()
    kind = fields.String()
    text = fields.String()
    actor = fields.String(allow_none=True)


class UnitRefSchema(Schema):
    id = fields.String()
    name = fields.String()


class CaseSummarySchema(Schema):
    """A line of a staff list or a complainant's list (phone masked, X5)."""
    id = fields.String()
    number = fields.String()
    status = fields.String()
    status_label = fields.Function(lambda c: Status.LABELS.get(c.status))
    channel = fields.String()
    category = fields.String(allow_none=True)  # a voicemail until the office classifies it
    title = fields.String(allow_none=True)
    content = fields.String()
    complainant_id = fields.String(allow_none=True)
    complainant_name = fields.String(allow_none=True)
    contact_phone = fields.Function(
        lambda c: mask_phone(c.contact_phone) if c.contact_phone else None)
    anonymous = fields.Boolean()
    proactive = fields.Boolean()
    disputed = fields.Boolean()
    round = fields.Integer()
    unit_id = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    handler_name = fields.String(allow_none=True)
    received_at = fields.AwareDateTime()
    deadline = fields.AwareDateTime(attribute="due_at", allow_none=True)
    sla_state = fields.String()
    urgent = fields.Boolean()
    location = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)


class FiledByQuerySchema(Schema):
    """Open311's GET requests filters, for the requests one app filed."""
    class Meta:
        unknown = RAISE

    ids = fields.List(Text(validate=validate.Length(max=64)), load_default=list)
    number = Text(load_default=None, allow_none=True, validate=validate.Length(max=32))
    service_code = Text(load_default=None, allow_none=True, validate=validate.Length(max=32))
    start_date = Moment(load_default=None, allow_none=True)
    end_date = Moment(load_default=None, allow_none=True)
    statuses = fields.List(fields.String(validate=validate.OneOf(["open", "closed"])),
                           load_default=list)
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=1000))


class CaseListQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    view = fields.String(load_default="inbox", validate=validate.OneOf(
        list(CASE_VIEWS)))
    state = fields.String(load_default=None, validate=validate.OneOf(list(Status.LABELS)))
    category = fields.String(load_default=None, validate=validate.OneOf(list(CATEGORIES)))
    due_before = Moment(load_default=None)
    sort = fields.String(load_default="due", validate=validate.OneOf(list(CASE_SORTS)))
    limit = fields.Integer(load_default=words.CASE_LIST_LIMIT[0],
                           validate=validate.Range(min=1, max=words.CASE_LIST_LIMIT[1]))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class _ActionSchema(Schema):
    class Meta:
        unknown = RAISE


class NoParamsSchema(_ActionSchema):
    pass


class ReturnCaseSchema(_ActionSchema):
    reason = Text(required=True, multiline=True, validate=length(words.REASON))


class ReplySchema(_ActionSchema):
    outcome = fields.String(required=True, validate=validate.OneOf(list(OUTCOMES)))
    text = Text(required=True, multiline=True, validate=length(words.REPLY_TEXT))


class CommunicationSchema(_ActionSchema):
    kind = fields.String(required=True, validate=validate.OneOf(list(COMMUNICATION_KINDS)))
    at = Moment(required=True, metadata={
        "description": "when it took place: not in the future, not before the case was filed"})
    with_whom = Text(required=True, validate=length(words.WITH_WHOM))
    summary = Text(required=True, multiline=True, validate=length(words.SUMMARY))


class ScreenOutSchema(_ActionSchema):
    rule = Text(required=True, validate=length(words.RULE_MAX))


class DispatchSchema(_ActionSchema):
    unit_id = Text(load_default=None, allow_none=True, validate=length(words.UNIT_ID_MAX),
                   metadata={"description": "a unit of the directory; none: by the rules"})


class ClassifySchema(_ActionSchema):
    """The office classifies a hotline voicemail after listening to it."""
    category = fields.String(required=True, validate=validate.OneOf(list(CATEGORIES)))
    title = Text(load_default=None, allow_none=True, validate=length(words.TITLE_MAX))
    urgent = fields.Boolean(load_default=False)


class InstructSchema(_ActionSchema):
    text = Text(required=True, multiline=True, validate=length(words.INSTRUCTION))


class LinkSchema(_ActionSchema):
    other_id = Text(required=True, validate=length(words.CASE_ID_MAX))


class MergeSchema(_ActionSchema):
    into = Text(required=True, validate=length(words.CASE_ID_MAX))


ACTION_SCHEMAS = {
    "sign_for": NoParamsSchema, "start": NoParamsSchema, "return_case": ReturnCaseSchema,
    "reply": ReplySchema, "communicate": CommunicationSchema, "screen_out": ScreenOutSchema,
    "dispatch": DispatchSchema, "instruct": InstructSchema, "link": LinkSchema,
    "merge": MergeSchema, "classify": ClassifySchema,
}


class AttachmentSchema(Schema):
    """A stored photo or voice message, as the gateway describes it to intake."""
    class Meta:
        unknown = RAISE

    sha256 = fields.String(required=True, validate=FullMatch(r"[0-9a-f]{64}"))
    media_type = fields.String(required=True, validate=length(words.MEDIA_TYPE_MAX))
    kind = fields.String(required=True, validate=validate.OneOf(list(ATTACHMENT_KINDS)))
    size = fields.Integer(required=True, validate=validate.Range(min=1))


class ComplaintSchema(Schema):
    id = fields.String()
    number = fields.String()
    status = fields.String()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    category = fields.String(allow_none=True)
    category_label = fields.Function(lambda c: CATEGORIES.get(c.category))
    title = fields.String(allow_none=True)
    content = fields.String()
    location = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    contact_phone = fields.Function(
        lambda c: mask_phone(c.contact_phone) if c.contact_phone else None)
    anonymous = fields.Boolean()
    complainant_id = fields.String()
    received_at = fields.AwareDateTime()
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    assigned_unit = fields.Method("_unit", allow_none=True)
    handler = fields.Method("_handler", allow_none=True)
    deadline = fields.AwareDateTime(attribute="due_at", allow_none=True)
    status_label = fields.Function(lambda c: Status.LABELS.get(c.status))
    complainant_name = fields.String(allow_none=True)
    round = fields.Integer()
    proactive = fields.Boolean()
    disputed = fields.Boolean()
    lead_unit_id = fields.String(allow_none=True)
    assisting_units = fields.Function(lambda c: json.loads(c.assisting_units or "[]"))
    screened_kind = fields.String(allow_none=True)
    reply_outcome = fields.String(allow_none=True)
    reply_text = fields.String(allow_none=True)
    instruction = fields.String(allow_none=True)
    supervisor = fields.Function(lambda c: {"id": c.supervisor_id, "name": c.supervisor_name}
                                 if c.supervisor_id else None)
    merged_into = fields.String(allow_none=True)
    last_rating = fields.String(allow_none=True)
    urgent = fields.Boolean()
    pledge = fields.String(allow_none=True)
    call_id = fields.String(allow_none=True)
    sla_state = fields.String()
    response_deadline = fields.AwareDateTime(attribute="response_due_at", allow_none=True)
    timetable = fields.Function(lambda c: json.loads(c.timetable) if c.timetable else None)
    timeline = fields.List(fields.Nested(TimelineEntrySchema))

    def _unit(self, complaint):
        if not complaint.unit_id:
            return None
        return {"id": complaint.unit_id, "name": complaint.unit_name}

    def _handler(self, complaint):
        if not complaint.handler_id:
            return None
        return {"id": complaint.handler_id, "name": complaint.handler_name}
