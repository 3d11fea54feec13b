"""What crosses the wire to and from intake: the filing (HTTP body = RPC argument) and the
case as it is shown back."""
from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from services.common.contracts import CATEGORIES, CHANNELS, GRADES
from services.common.logs import mask_phone

PHONE = validate.Regexp(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$",
                        error="不是有效的手机号或座机号 (not a valid phone number)")


class FileComplaintSchema(Schema):
    """A new complaint as the complainant files it."""
    class Meta:
        unknown = RAISE

    category = fields.String(required=True, validate=validate.OneOf(
        list(CATEGORIES), error="必须是以下类别之一 (must be one of): {choices}"),
        metadata={"description": "one of the ten category codes (GET /api/v1/categories)",
                  "example": "logistics"})
    content = fields.String(required=True, validate=validate.Length(min=5, max=5000),
                            metadata={"example": "学生公寓3号楼热水已经停了两天"})
    title = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    contact_phone = fields.String(load_default=None, allow_none=True, validate=PHONE)
    location = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    anonymous = fields.Boolean(load_default=False,
                               metadata={"description": "hide the complainant from the unit"})


class ComplainantSchema(Schema):
    """Who files: taken from the verified token, never from the body."""
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(load_default=None, allow_none=True)
    roles = fields.List(fields.String(), load_default=list)


class FiledSchema(Schema):
    id = fields.String()
    number = fields.String()
    status = fields.String()


class TimelineEntrySchema(Schema):
    at = fields.AwareDateTime()
    kind = fields.String()
    text = fields.String()
    actor = fields.String(allow_none=True)


class UnitRefSchema(Schema):
    id = fields.String()
    name = fields.String()


class ComplaintSchema(Schema):
    id = fields.String()
    number = fields.String()
    status = fields.String()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    category = fields.String()
    category_label = fields.Function(lambda c: CATEGORIES.get(c.category))
    title = fields.String(allow_none=True)
    content = fields.String()
    location = fields.String(allow_none=True)
    contact_phone = fields.Function(
        lambda c: mask_phone(c.contact_phone) if c.contact_phone else None)
    anonymous = fields.Boolean()
    complainant_id = fields.String()
    received_at = fields.AwareDateTime()
    grade = fields.String(allow_none=True, validate=validate.OneOf(GRADES))
    assigned_unit = fields.Method("_unit", allow_none=True)
    handler = fields.Method("_handler", allow_none=True)
    deadline = fields.AwareDateTime(attribute="due_at", allow_none=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema))

    def _unit(self, complaint):
        if not complaint.unit_id:
            return None
        return {"id": complaint.unit_id, "name": complaint.unit_name}

    def _handler(self, complaint):
        if not complaint.handler_id:
            return None
        return {"id": complaint.handler_id, "name": complaint.handler_name}
