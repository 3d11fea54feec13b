"""What crosses the wire to and from the SLA service."""
from marshmallow import RAISE, Schema, fields, validate

from services.common import vocabulary as words
from services.common.fields import Moment
from services.common.vocabulary import length


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


class ExtensionRequestSchema(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=length(words.EXTENSION_REASON))
    new_due_at = Moment(required=True)


class ExtensionDecisionSchema(Schema):
    class Meta:
        unknown = RAISE

    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=length(words.NOTE_MAX))


class MilestoneSchema(Schema):
    class Meta:
        unknown = RAISE

    title = fields.String(required=True, validate=length(words.MILESTONE_TITLE))
    due_at = Moment(required=True)
    feedback_due_at = Moment(load_default=None, allow_none=True)


class TimetableSchema(Schema):
    class Meta:
        unknown = RAISE

    milestones = fields.List(fields.Nested(MilestoneSchema), required=True,
                             validate=length(words.MILESTONES))


class MilestoneOutSchema(Schema):
    id = fields.String()
    title = fields.String()
    due_at = fields.AwareDateTime()
    feedback_due_at = fields.AwareDateTime(allow_none=True)
    status = fields.String()


class TimetableOutSchema(Schema):
    complaint_id = fields.String()
    milestones = fields.List(fields.Nested(MilestoneOutSchema))


class MilestoneUpdateSchema(Schema):
    class Meta:
        unknown = RAISE

    update = fields.String(required=True, validate=validate.OneOf(list(words.MILESTONE_UPDATES)))
    note = fields.String(required=True, validate=length(words.MILESTONE_NOTE))


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
