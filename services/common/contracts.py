"""What flows on the bus: every event, its version and its fields, in one place.

Events are facts in the past tense, published to `<source>.events` (nameko's topic exchange)
with the event type as routing key. Each carries an envelope (`event_id`, `event_type`,
`version`, `occurred_at`, `complaint_id`, `correlation_id`) and its own fields. A consumer
loads what it receives with the schema registered here, so a malformed event fails loudly
at the door instead of deep inside a handler.

Versioning: a change that a reader of the previous version could not read gets a new
`version` and a new schema class; the old one stays registered until no producer sends it.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

CATEGORIES = {
    "education": "教育教学",
    "logistics": "后勤保障",
    "security": "安全管理",
    "student_status": "学籍管理",
    "employment": "就业创业",
    "youth_league": "学团建设",
    "rewards_discipline": "奖惩管理",
    "finance": "财务管理",
    "special_care": "特殊关爱",
    "epidemic": "疫情防控",
}

GRADES = {
    "simple": "即时办结",
    "general": "日清日结",
    "complex": "3日办结",
}

CHANNELS = ("app", "wechat", "hotline", "open311", "staff")  # staff: R10, found by a unit


# The case's states (the lifecycle that moves between them: services/intake/lifecycle.py).
class Status:
    RECEIVED = "received"
    SCREENED_OUT = "screened_out"
    ASSIGNED = "assigned"          # dispatched (派单) to a unit and a named handler
    RETURNED = "returned"          # 退单: the unit sent it back, the office re-dispatches
    SIGNED = "signed"              # 签收
    IN_PROGRESS = "in_progress"
    REPLIED = "replied"
    REDO = "redo"                  # 发回重办: waiting for the office to send it back to a unit
    SUPERVISED = "supervised"      # 督办: waiting for (or acting on) the leader's 批示
    CLOSED = "closed"
    MERGED = "merged"              # a duplicate merged into another case

    LABELS = {RECEIVED: "已受理", SCREENED_OUT: "不予受理(已告知)", ASSIGNED: "已派单",
              RETURNED: "已退单", SIGNED: "已签收", IN_PROGRESS: "办理中", REPLIED: "已答复",
              REDO: "发回重办", SUPERVISED: "督办中", CLOSED: "已办结", MERGED: "已合并"}
    OPEN = frozenset({RECEIVED, ASSIGNED, RETURNED, SIGNED, IN_PROGRESS, REPLIED, REDO,
                      SUPERVISED})
    ALL = tuple(LABELS)


# R9: the complainant's rating, and the decisions rating takes from it.
RATING_LEVELS = {"satisfied": "满意", "basically": "基本满意", "dissatisfied": "不满意"}
RATING_DECISIONS = ("close", "order_redo", "supervise")

# Rounds of handling: the first, again after 发回重办, under 督办 (R9).
FIRST_ROUND, REDO_ROUND, SUPERVISED_ROUND = 0, 1, 2
ROUNDS = (FIRST_ROUND, REDO_ROUND, SUPERVISED_ROUND)

# The lifecycle's steps that complaint_transitioned reports (services/intake/lifecycle.py).
TRANSITION_ACTIONS = ("screen_out", "return_case", "sign_for", "start", "reply", "merge",
                      *RATING_DECISIONS)


class ContractSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # newer producers may add fields, nested ones too; old readers ignore them


class Envelope(ContractSchema):
    event_id = fields.String(required=True, validate=validate.Length(equal=36))
    event_type = fields.String(required=True)
    version = fields.Integer(required=True)
    occurred_at = fields.AwareDateTime(required=True)
    complaint_id = fields.String(required=True)
    correlation_id = fields.String(allow_none=True, load_default=None)


class Person(ContractSchema):
    id = fields.String(required=True)
    name = fields.String(allow_none=True, load_default=None)


class ComplaintReceivedV1(Envelope):
    number = fields.String(required=True)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    title = fields.String(allow_none=True, load_default=None)
    content = fields.String(required=True)
    location = fields.String(allow_none=True, load_default=None)
    anonymous = fields.Boolean(load_default=False)
    complainant = fields.Nested(Person, required=True)
    # Carried so notify can reach the complainant; never logged (X5).
    contact_phone = fields.String(allow_none=True, load_default=None)
    # Added within v1 (optional, so v1 readers and writers stay compatible):
    college = fields.String(allow_none=True, load_default=None)   # the complainant's 二级学院
    proactive = fields.Boolean(load_default=False)                # R10: filed by unit staff
    reporter_unit = fields.String(allow_none=True, load_default=None)
    screened = fields.Nested("Screening", allow_none=True, load_default=None)  # R4
    urgent = fields.Boolean(load_default=False)                   # R7 轻重缓急


class Screening(ContractSchema):
    rule = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["legal_channel", "unlawful"]))
    channel = fields.String(allow_none=True, load_default=None)
    reply = fields.String(required=True)


class ComplaintAssignedV1(Envelope):
    number = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    grade = fields.String(required=True, validate=validate.OneOf(GRADES))
    unit = fields.Nested(Person, required=True)
    handler = fields.Nested(Person, required=True)
    received_at = fields.AwareDateTime(required=True)
    # Added within v1 (optional): R8 首接首办 and the round of handling.
    disputed = fields.Boolean(load_default=False)
    assisting_units = fields.List(fields.Nested(Person), load_default=list)
    round = fields.Integer(load_default=FIRST_ROUND, validate=validate.OneOf(ROUNDS))
    # Who the SLA ladder reaches (R12): the unit head and the category's supervising leader.
    unit_head = fields.Nested(Person, allow_none=True, load_default=None)
    leader = fields.Nested(Person, allow_none=True, load_default=None)
    # Who filed it (and for R10 their unit), carried on the first assignment so that sla can
    # tell who may read the case's deadlines without also consuming every filing.
    complainant = fields.Nested(Person, allow_none=True, load_default=None)
    reporter_unit = fields.String(allow_none=True, load_default=None)


class DeadlineSetV1(Envelope):
    grade = fields.String(required=True, validate=validate.OneOf(GRADES))
    starts_at = fields.AwareDateTime(required=True)
    due_at = fields.AwareDateTime(required=True)
    # Added within v1 (optional): which target, which round, and whether an extension set it.
    target = fields.String(load_default="resolution",
                           validate=validate.OneOf(["resolution", "response"]))
    round = fields.Integer(load_default=FIRST_ROUND, validate=validate.OneOf(ROUNDS))
    extended = fields.Boolean(load_default=False)
    reason = fields.String(allow_none=True, load_default=None)


class SlaAlertV1(Envelope):
    """R12: 预警 (warning), 催办 (urge), overdue, or a step up the escalation ladder."""
    number = fields.String(allow_none=True, load_default=None)
    target = fields.String(required=True, validate=validate.OneOf(
        ["resolution", "response", "milestone", "feedback"]))
    title = fields.String(allow_none=True, load_default=None)  # a timetable step's title
    alert = fields.String(required=True,
                          validate=validate.OneOf(["warning", "urge", "overdue", "escalate"]))
    level = fields.String(required=True,
                          validate=validate.OneOf(["handler", "head", "office", "leader"]))
    recipient = fields.Nested(Person, allow_none=True, load_default=None)
    due_at = fields.AwareDateTime(required=True)
    round = fields.Integer(load_default=FIRST_ROUND, validate=validate.OneOf(ROUNDS))


class Milestone(ContractSchema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    due_at = fields.AwareDateTime(required=True)
    feedback_due_at = fields.AwareDateTime(allow_none=True, load_default=None)
    status = fields.String(load_default="pending")


class TimetableSetV1(Envelope):
    """R7: a long-term matter's timetable: milestones, each with a staged-feedback date."""
    number = fields.String(allow_none=True, load_default=None)
    milestones = fields.List(fields.Nested(Milestone), required=True)
    set_by = fields.Nested(Person, required=True)


class MilestoneUpdatedV1(Envelope):
    """A step of the timetable: staged feedback given to the complainant, or the step done."""
    number = fields.String(allow_none=True, load_default=None)
    milestone = fields.Nested(Milestone, required=True)
    update = fields.String(required=True, validate=validate.OneOf(["feedback", "done"]))
    note = fields.String(required=True)
    by = fields.Nested(Person, required=True)


class ExtensionV1(Envelope):
    """X2: an extension asked for (extension_requested) or decided (extension_decided)."""
    extension_id = fields.String(required=True)
    status = fields.String(required=True,
                           validate=validate.OneOf(["requested", "approved", "refused"]))
    reason = fields.String(required=True)
    old_due_at = fields.AwareDateTime(required=True)
    new_due_at = fields.AwareDateTime(required=True)
    number = fields.String(allow_none=True, load_default=None)
    requested_by = fields.Nested(Person, required=True)
    decided_by = fields.Nested(Person, allow_none=True, load_default=None)
    note = fields.String(allow_none=True, load_default=None)
    unit_head = fields.Nested(Person, allow_none=True, load_default=None)


class ComplaintTransitionedV1(Envelope):
    """Every step of the lifecycle (services/intake/lifecycle.py) after assignment."""
    number = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    action = fields.String(required=True, validate=validate.OneOf(TRANSITION_ACTIONS))
    from_status = fields.String(required=True, validate=validate.OneOf(Status.ALL))
    to_status = fields.String(required=True, validate=validate.OneOf(Status.ALL))
    round = fields.Integer(required=True, validate=validate.OneOf(ROUNDS))
    actor = fields.Nested(Person, required=True)
    actor_role = fields.String(required=True)
    unit = fields.Nested(Person, allow_none=True, load_default=None)
    # Everyone who filed it (the case and the duplicates merged into it): they hear of it.
    complainants = fields.List(fields.Nested(Person), load_default=list)
    channel = fields.String(allow_none=True, load_default=None)
    note = fields.String(allow_none=True, load_default=None)
    outcome = fields.String(allow_none=True, load_default=None)


class DispatchRequestedV1(Envelope):
    """The office (or a leader's 批示) sends a case (back) to a unit; routing names the
    handler and answers with complaint_assigned."""
    number = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    unit_id = fields.String(allow_none=True, load_default=None)
    round = fields.Integer(required=True, validate=validate.OneOf(ROUNDS))
    received_at = fields.AwareDateTime(required=True)
    lead_unit_id = fields.String(allow_none=True, load_default=None)


class ComplaintRatedV1(Envelope):
    """The complainant's rating and what follows from it (R9): close, order_redo, supervise."""
    level = fields.String(required=True, validate=validate.OneOf(RATING_LEVELS))
    round = fields.Integer(required=True, validate=validate.OneOf(ROUNDS))
    decision = fields.String(required=True, validate=validate.OneOf(RATING_DECISIONS))
    rater = fields.Nested(Person, required=True)
    comment = fields.String(allow_none=True, load_default=None)
    # Added within v1 (optional): the 回访's other two answers (None: not answered).
    contacted = fields.Boolean(allow_none=True, load_default=None)
    solved = fields.Boolean(allow_none=True, load_default=None)
    # Added within v1 (optional): how the 回访 was made. "callback": the office called the
    # complainant and recorded their answers (called_by: who called); the rater is still the
    # complainant whose answers they are.
    via = fields.String(load_default="complainant",
                        validate=validate.OneOf(["complainant", "callback"]))
    called_by = fields.Nested(Person, allow_none=True, load_default=None)


class RatingExpiredV1(Envelope):
    """回访 (issue 12): the complainant did not rate the reply within the rating window
    (config/assessment.yaml rating_window_working_days): the case closes as 未评价 and is not an
    有效回访."""
    number = fields.String(allow_none=True, load_default=None)
    round = fields.Integer(required=True, validate=validate.OneOf(ROUNDS))
    unit = fields.Nested(Person, allow_none=True, load_default=None)


class SupervisorAssignedV1(Envelope):
    """Routing names the supervising leader (分管校领导) of a supervised case's category."""
    number = fields.String(required=True)
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    leader = fields.Nested(Person, required=True)


class ExclusionV1(Envelope):
    """考核剔除 (issue 12): a unit asks that a case be left out of its assessment figures
    (exclusion_requested), the office approves or refuses (exclusion_decided)."""
    number = fields.String(allow_none=True, load_default=None)
    exclusion_id = fields.String(required=True)
    unit = fields.Nested(Person, required=True)
    status = fields.String(required=True,
                           validate=validate.OneOf(["requested", "approved", "refused"]))
    reason = fields.String(required=True)
    evidence = fields.List(fields.String(), load_default=list)   # attachment sha256s
    requested_by = fields.Nested(Person, required=True)
    decided_by = fields.Nested(Person, allow_none=True, load_default=None)
    note = fields.String(allow_none=True, load_default=None)


class CampaignCaseV1(Envelope):
    """专项治理 (issue 12): the office attached a case to a campaign
    (campaign_case_attached) or took it out (campaign_case_detached); the case's timeline
    shows it."""
    number = fields.String(allow_none=True, load_default=None)
    campaign_id = fields.String(required=True)
    campaign_name = fields.String(required=True)
    by = fields.Nested(Person, required=True)
    note = fields.String(allow_none=True, load_default=None)


class SummaryChartV1(ContractSchema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    png = fields.String(required=True)   # base64 of the PNG (WeCom takes ≤ 2 MB before encoding)
    md5 = fields.String(required=True, validate=validate.Length(equal=32))


class SummaryPublishedV1(Envelope):
    """周汇总 / 月总结 (issue 12 §3): a summary was made; notify posts its digest and charts to
    the work group. The envelope's `complaint_id` carries the summary's id (a summary is about
    no one complaint; the envelope's field is the bus's one subject id), and notify posts each
    summary id once."""
    kind = fields.String(required=True, validate=validate.OneOf(["weekly", "monthly"]))
    period = fields.String(required=True)
    title = fields.String(required=True)
    digest = fields.String(required=True)          # markdown, the work-group post
    charts = fields.List(fields.Nested(SummaryChartV1), load_default=list)


# (event_type, version) -> schema. The one registry of the bus.
EVENTS: dict[tuple[str, int], type[Envelope]] = {
    ("complaint_received", 1): ComplaintReceivedV1,
    ("complaint_assigned", 1): ComplaintAssignedV1,
    ("deadline_set", 1): DeadlineSetV1,
    ("complaint_transitioned", 1): ComplaintTransitionedV1,
    ("dispatch_requested", 1): DispatchRequestedV1,
    ("complaint_rated", 1): ComplaintRatedV1,
    ("rating_expired", 1): RatingExpiredV1,
    ("supervisor_assigned", 1): SupervisorAssignedV1,
    ("sla_alert", 1): SlaAlertV1,
    ("extension_requested", 1): ExtensionV1,
    ("extension_decided", 1): ExtensionV1,
    ("timetable_set", 1): TimetableSetV1,
    ("milestone_updated", 1): MilestoneUpdatedV1,
    ("exclusion_requested", 1): ExclusionV1,
    ("exclusion_decided", 1): ExclusionV1,
    ("campaign_case_attached", 1): CampaignCaseV1,
    ("campaign_case_detached", 1): CampaignCaseV1,
    ("summary_published", 1): SummaryPublishedV1,
}

# Which service publishes which event type (the nameko exchange is `<source>.events`).
SOURCES = {
    "complaint_received": "intake",
    "complaint_assigned": "routing",
    "deadline_set": "sla",
    "complaint_transitioned": "intake",
    "dispatch_requested": "intake",
    "complaint_rated": "rating",
    "rating_expired": "rating",
    "supervisor_assigned": "routing",
    "sla_alert": "sla",
    "extension_requested": "sla",
    "extension_decided": "sla",
    "timetable_set": "sla",
    "milestone_updated": "sla",
    "exclusion_requested": "rating",
    "exclusion_decided": "rating",
    "campaign_case_attached": "rating",
    "campaign_case_detached": "rating",
    "summary_published": "rating",
}


class CallerSchema(Schema):
    """Who is calling a service over RPC (the gateway passes what the verified token says,
    never what a request body claims). One schema for every service that takes a caller."""
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(load_default=None, allow_none=True)
    roles = fields.List(fields.String(), load_default=list)
    unit = fields.String(load_default=None, allow_none=True)      # staff: their unit
    college = fields.String(load_default=None, allow_none=True)   # students: their 二级学院


class ContractError(ValueError):
    pass


def latest_version(event_type: str) -> int:
    versions = [v for (name, v) in EVENTS if name == event_type]
    if not versions:
        raise ContractError(f"no contract for event type {event_type!r}")
    return max(versions)


@lru_cache(maxsize=None)
def _schema(event_type: str, version: int) -> Envelope:
    # One instance per contract: building a marshmallow schema per event was a tenth of the
    # SLA poller's time when it fires alerts in bulk (bench/sla.py).
    return EVENTS[(event_type, version)]()


def build_event(event_type: str, complaint_id: str, occurred_at: datetime, *,
                correlation_id: str | None = None, **body) -> dict:
    """A new event as it goes on the wire (JSON-ready), validated against its contract."""
    version = latest_version(event_type)
    schema = _schema(event_type, version)
    raw = dict(body, event_id=str(uuid.uuid4()), event_type=event_type, version=version,
               occurred_at=occurred_at, complaint_id=complaint_id,
               correlation_id=correlation_id)
    wire = schema.dump(raw)
    errors = schema.validate(wire)
    if errors:
        raise ContractError(f"{event_type} v{version} does not match its contract: {errors}")
    return wire


def load_event(event_type: str, payload: dict) -> dict:
    """Validate and load a received event (datetimes become aware datetimes)."""
    version = payload.get("version")
    if (event_type, version) not in EVENTS:
        raise ContractError(f"unknown event {event_type!r} version {version!r}")
    try:
        return _schema(event_type, version).load(payload)
    except ValidationError as exc:
        raise ContractError(f"{event_type} v{version} rejected: {exc.messages}") from exc
