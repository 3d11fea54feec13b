"""The public API's schemas: what a client may send (validated here before any service is
asked; the service validates its command again) and what it gets back (the OpenAPI
document, gateway/openapi.py, is built from these).

The gateway does not import the services: where a public schema and a service's command must
agree (lengths, categories, the phone pattern, outcomes, communication kinds, states) both
read services/common (vocabulary.py, contracts.py), and tests/test_public_schemas.py checks
that the two sides still have the same fields and rules, and that what the services answer
fits the documented responses.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from gateway.pledges import PROMISE
from services.common.analysis_inputs import typed_text
from services.common.contracts import CATEGORIES, CHANNELS, GRADES, RATING_LEVELS, Status
from services.common.cti import CallEventSchema  # noqa: F401 (the webhook's public body)
from services.common.fields import Answer, Moment
from services.common.vocabulary import (
    ATTACHMENT_KINDS, CALL_LIST_LIMIT, CASE_ID_MAX, CASE_LIST_LIMIT, CASE_SORTS, CASE_VIEWS,
    CATEGORY_ERROR, COMMENT_MAX, COMMUNICATION_KINDS, CONTENT, EXTENSION_REASON, INSTRUCTION,
    LOCATION_MAX, MAX_OFFSET, MEDIA_TYPE_MAX, MILESTONE_NOTE, MILESTONE_TITLE,
    MILESTONE_UPDATES, MILESTONES, NOTE_MAX, OUTCOMES, PHONE, RATING_LEVEL_ERROR, REASON,
    REPLY_TEXT, RULE_MAX, SUMMARY, TITLE_MAX, UNIT_ID_MAX, WITH_WHOM, FullMatch, Text, length)

STATUS = validate.OneOf(list(Status.LABELS))


class _Closed(Schema):
    """A body or query a client sends: a key the API does not know is an error."""
    class Meta:
        unknown = RAISE


# ------------------------------------------------------------------ filings
class FileComplaintSchema(_Closed):
    """A new complaint as the complainant files it."""
    category = fields.String(required=True, validate=validate.OneOf(
        list(CATEGORIES), error=CATEGORY_ERROR),
        metadata={"description": "one of the ten category codes (GET /api/v1/categories)",
                  "example": "logistics"})
    content = Text(required=True, multiline=True, validate=length(CONTENT),
                   metadata={"example": "学生公寓3号楼热水已经停了两天"})
    title = Text(load_default=None, allow_none=True, validate=length(TITLE_MAX))
    contact_phone = fields.String(load_default=None, allow_none=True, validate=PHONE)
    location = Text(load_default=None, allow_none=True, validate=length(LOCATION_MAX))
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


class AppFilingSchema(FileComplaintSchema):
    """A complaint as the app sends it: the filing and the ticked pledge."""
    pledge = fields.Boolean(required=True, metadata={
        "description": f"must be true: the complainant ticked “{PROMISE}” (R3)",
        "example": True})


class OperatorFilingSchema(FileComplaintSchema):
    """A complaint an operator files for a hotline caller, linked to the call."""
    pledge_read = fields.Boolean(required=True, metadata={
        "description": "must be true: the operator read the pledge script (GET the call) and "
                       "the caller accepted it", "example": True})


# ------------------------------------------------------------------ queries
class CaseListQuerySchema(_Closed):
    view = fields.String(load_default="inbox", validate=validate.OneOf(list(CASE_VIEWS)))
    state = fields.String(load_default=None, validate=validate.OneOf(list(Status.LABELS)))
    category = fields.String(load_default=None, validate=validate.OneOf(list(CATEGORIES)))
    due_before = Moment(load_default=None)
    sort = fields.String(load_default="due", validate=validate.OneOf(list(CASE_SORTS)))
    limit = fields.Integer(load_default=CASE_LIST_LIMIT[0],
                           validate=validate.Range(min=1, max=CASE_LIST_LIMIT[1]))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class CallListQuerySchema(_Closed):
    unfiled = fields.Boolean(load_default=False, metadata={
        "description": "only answered calls nobody has filed for yet"})
    limit = fields.Integer(load_default=CALL_LIST_LIMIT[0],
                           validate=validate.Range(min=1, max=CALL_LIST_LIMIT[1]))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


# ------------------------------------------------------------------ staff actions
class NoParamsSchema(_Closed):
    pass


class ReturnCaseSchema(_Closed):
    reason = Text(required=True, multiline=True, validate=length(REASON))


class ReplySchema(_Closed):
    outcome = fields.String(required=True, validate=validate.OneOf(list(OUTCOMES)))
    text = Text(required=True, multiline=True, validate=length(REPLY_TEXT))


class CommunicationSchema(_Closed):
    kind = fields.String(required=True, validate=validate.OneOf(list(COMMUNICATION_KINDS)))
    at = Moment(required=True, metadata={
        "description": "when it took place: not in the future, not before the case was filed"})
    with_whom = Text(required=True, validate=length(WITH_WHOM))
    summary = Text(required=True, multiline=True, validate=length(SUMMARY))


class ScreenOutSchema(_Closed):
    rule = Text(required=True, validate=length(RULE_MAX))


class DispatchSchema(_Closed):
    unit_id = Text(load_default=None, allow_none=True, validate=length(UNIT_ID_MAX),
                   metadata={"description": "a unit of the directory; none: by the rules"})


class ClassifySchema(_Closed):
    """The office classifies a hotline voicemail after listening to it."""
    category = fields.String(required=True, validate=validate.OneOf(list(CATEGORIES)))
    title = Text(load_default=None, allow_none=True, validate=length(TITLE_MAX))
    urgent = fields.Boolean(load_default=False)


class InstructSchema(_Closed):
    text = Text(required=True, multiline=True, validate=length(INSTRUCTION))


class LinkSchema(_Closed):
    other_id = Text(required=True, validate=length(CASE_ID_MAX))


class MergeSchema(_Closed):
    into = Text(required=True, validate=length(CASE_ID_MAX))


# The body of POST /api/v1/staff/cases/{id}/{action}; communicate has its own path.
ACTION_SCHEMAS = {
    "sign_for": NoParamsSchema, "start": NoParamsSchema, "return_case": ReturnCaseSchema,
    "reply": ReplySchema, "communicate": CommunicationSchema, "screen_out": ScreenOutSchema,
    "dispatch": DispatchSchema, "instruct": InstructSchema, "link": LinkSchema,
    "merge": MergeSchema, "classify": ClassifySchema,
}


# ------------------------------------------------------------------ rating and deadlines
class RateSchema(_Closed):
    level = fields.String(required=True, validate=validate.OneOf(
        list(RATING_LEVELS), error=RATING_LEVEL_ERROR))
    comment = fields.String(load_default=None, allow_none=True,
                            validate=[length(COMMENT_MAX), typed_text])
    # 回访 (issue 12): did the unit contact you (是否联系), is it solved (是否解决).
    contacted = Answer(required=True)
    solved = Answer(required=True)


class CallbackSchema(RateSchema):
    """The office's phone 回访: the complainant's answers, and when they were called."""
    called_at = Moment(load_default=None, allow_none=True)


class RatingPageFormSchema(_Closed):
    """The SMS 回访 page's form (gateway/rating_page.py), form-encoded: 1 is 是, 0 is 否."""
    contacted = fields.String(required=True, validate=validate.OneOf(["1", "0"]))
    solved = fields.String(required=True, validate=validate.OneOf(["1", "0"]))
    level = fields.String(required=True, validate=validate.OneOf(
        list(RATING_LEVELS), error=RATING_LEVEL_ERROR))
    comment = fields.String(load_default=None, allow_none=True,
                            validate=[length(COMMENT_MAX), typed_text])


class ExtensionRequestSchema(_Closed):
    reason = fields.String(required=True, validate=length(EXTENSION_REASON))
    new_due_at = Moment(required=True)


class ExtensionDecisionSchema(_Closed):
    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=length(NOTE_MAX))


class MilestoneSchema(_Closed):
    title = fields.String(required=True, validate=length(MILESTONE_TITLE))
    due_at = Moment(required=True)
    feedback_due_at = Moment(load_default=None, allow_none=True)


class TimetableSchema(_Closed):
    milestones = fields.List(fields.Nested(MilestoneSchema), required=True,
                             validate=length(MILESTONES))


class MilestoneUpdateSchema(_Closed):
    update = fields.String(required=True, validate=validate.OneOf(list(MILESTONE_UPDATES)))
    note = fields.String(required=True, validate=length(MILESTONE_NOTE))


# ------------------------------------------------------------------ what the gateway stores
class AttachmentSchema(_Closed):
    """A stored photo or voice message (gateway/attachments.py), as intake records it."""
    sha256 = fields.String(required=True, validate=FullMatch(r"[0-9a-f]{64}"))
    media_type = fields.String(required=True, validate=length(MEDIA_TYPE_MAX))
    kind = fields.String(required=True, validate=validate.OneOf(list(ATTACHMENT_KINDS)))
    size = fields.Integer(required=True, validate=validate.Range(min=1))


class AttachmentOutSchema(AttachmentSchema):
    url = fields.String()


# ------------------------------------------------------------------ answers
# What the services answer, key for key (tests/test_public_schemas.py compares them with the
# services' own schemas and with real answers); the document closes them (every key
# required, no other key allowed) so that a key added or dropped anywhere fails a test.
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


class PersonRefSchema(Schema):
    id = fields.String()
    name = fields.String(allow_none=True)


class CommunicationViewSchema(CommunicationSchema):
    """A call or meeting recorded on the case (R6), in the round it was made in."""
    round = fields.Integer()


class CaseLinkSchema(LinkSchema):
    kind = fields.String(metadata={"description": "why the cases are linked, e.g. similar"})


class SimilarCaseSchema(Schema):
    """X3 举一反三: a case like this one (staff only)."""
    id = fields.String()
    number = fields.String()
    status = fields.String(validate=STATUS)
    score = fields.Float(validate=validate.Range(min=0, max=1))
    probable_duplicate = fields.Boolean()


class MilestoneOutSchema(Schema):
    id = fields.String()
    title = fields.String()
    due_at = fields.AwareDateTime()
    feedback_due_at = fields.AwareDateTime(allow_none=True)
    status = fields.String()


class TimetableOutSchema(Schema):
    complaint_id = fields.String()
    milestones = fields.List(fields.Nested(MilestoneOutSchema))


class TimetableStepSchema(MilestoneOutSchema):
    """A step of a long-term matter's timetable (R7), as intake keeps it on the case."""
    feedback_given = fields.Boolean(metadata={"description": "once staged feedback was given"})


class ComplaintSchema(Schema):
    """A case as the caller may see it (identity and phone hidden or masked, X5)."""
    id = fields.String()
    number = fields.String()
    status = fields.String(validate=STATUS)
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    category = fields.String(allow_none=True)
    category_label = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    content = fields.String()
    location = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    contact_phone = fields.String(allow_none=True, metadata={"example": "139****5678"})
    anonymous = fields.Boolean()
    complainant_id = fields.String(allow_none=True, metadata={
        "description": "null when the case is anonymous and the viewer is the unit"})
    received_at = fields.AwareDateTime()
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    assigned_unit = fields.Nested(UnitRefSchema, allow_none=True)
    handler = fields.Nested(PersonRefSchema, allow_none=True)
    deadline = fields.AwareDateTime(allow_none=True)
    status_label = fields.String(allow_none=True)
    complainant_name = fields.String(allow_none=True)
    round = fields.Integer()
    proactive = fields.Boolean()
    disputed = fields.Boolean()
    lead_unit_id = fields.String(allow_none=True)
    assisting_units = fields.List(fields.Nested(UnitRefSchema))
    screened_kind = fields.String(allow_none=True)
    reply_outcome = fields.String(allow_none=True)
    reply_text = fields.String(allow_none=True)
    instruction = fields.String(allow_none=True)
    supervisor = fields.Nested(PersonRefSchema, allow_none=True)
    merged_into = fields.String(allow_none=True)
    last_rating = fields.String(allow_none=True)
    urgent = fields.Boolean()
    pledge = fields.String(allow_none=True)
    call_id = fields.String(allow_none=True)
    sla_state = fields.String()
    response_deadline = fields.AwareDateTime(allow_none=True)
    timetable = fields.List(fields.Nested(TimetableStepSchema), allow_none=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    time_left_seconds = fields.Integer(allow_none=True, metadata={
        "description": "seconds to the deadline (negative when overdue) while it is handled"})
    communications = fields.List(fields.Nested(CommunicationViewSchema))
    attachments = fields.List(fields.Nested(AttachmentSchema))
    links = fields.List(fields.Nested(CaseLinkSchema), metadata={"description": "staff only"})
    similar = fields.List(fields.Nested(SimilarCaseSchema), metadata={
        "description": "staff only: cases like this one the viewer may read"})


class CaseSummarySchema(Schema):
    """A line of a staff list or a complainant's list (phone masked, X5)."""
    id = fields.String()
    number = fields.String()
    status = fields.String(validate=STATUS)
    status_label = fields.String(allow_none=True)
    channel = fields.String()
    category = fields.String(allow_none=True)  # a voicemail until the office classifies it
    title = fields.String(allow_none=True)
    content = fields.String()
    complainant_id = fields.String(allow_none=True)
    complainant_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True, metadata={"example": "139****5678"})
    anonymous = fields.Boolean()
    proactive = fields.Boolean()
    disputed = fields.Boolean()
    round = fields.Integer()
    unit_id = fields.String(allow_none=True)
    unit_name = fields.String(allow_none=True)
    handler_name = fields.String(allow_none=True)
    received_at = fields.AwareDateTime()
    deadline = fields.AwareDateTime(allow_none=True)
    sla_state = fields.String()
    urgent = fields.Boolean()
    location = fields.String(allow_none=True)
    lat = fields.Float(allow_none=True)
    long = fields.Float(allow_none=True)
    time_left_seconds = fields.Integer(allow_none=True)


class ExtensionSchema(Schema):
    id = fields.String()
    complaint_id = fields.String()
    status = fields.String()
    reason = fields.String()
    old_due_at = fields.AwareDateTime()
    new_due_at = fields.AwareDateTime()
    requested_by = fields.String()
    requested_at = fields.AwareDateTime()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    note = fields.String(allow_none=True)


class DeadlineSchema(Schema):
    complaint_id = fields.String()
    kind = fields.String()
    title = fields.String(allow_none=True)
    milestone_id = fields.String()
    round = fields.Integer()
    grade = fields.String()
    starts_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime()
    status = fields.String()
    state = fields.String()
    extensions = fields.List(fields.Nested(ExtensionSchema))


class RatingSchema(Schema):
    id = fields.String()
    complaint_id = fields.String()
    round = fields.Integer()
    level = fields.String()
    level_label = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    contacted = fields.Boolean(allow_none=True)
    solved = fields.Boolean(allow_none=True)
    rated_at = fields.AwareDateTime()
    decision = fields.String(allow_none=True)
    via = fields.String()   # complainant | callback (the office's phone 回访)
    called_by = fields.String(allow_none=True)
    called_at = fields.AwareDateTime(allow_none=True)


class MilestoneStatusSchema(Schema):
    milestone_id = fields.String()
    status = fields.String()


class HealthSchema(Schema):
    """services/common/health.py alive()."""
    status = fields.String(metadata={"example": "ok"})
    instance = fields.String(allow_none=True, metadata={
        "description": "the id of the run this process belongs to (a start-up checks that the "
                       "gateway answering is its own)"})


class CodeLabelSchema(Schema):
    code = fields.String()
    label = fields.String()


class UnitFiguresSchema(Schema):
    unit_id = fields.String()
    by_state = fields.Dict(keys=fields.String(), values=fields.Integer())
    open = fields.Integer()
    overdue = fields.Integer()
    # since midnight where the university is (the head's live view, issue 13)
    received_today = fields.Integer()
    closed_today = fields.Integer()
    at = fields.AwareDateTime()


class AuditEntrySchema(Schema):
    at = fields.AwareDateTime()
    actor_id = fields.String()
    actor_role = fields.String()
    action = fields.String()
    changes = fields.Dict()
