"""What crosses the wire from notify."""
from marshmallow import Schema, fields


class NotificationSchema(Schema):
    id = fields.String()
    complaint_id = fields.String()
    recipient_role = fields.String()
    recipient_id = fields.String()
    recipient_name = fields.String(allow_none=True)
    channel = fields.String()
    template = fields.String()
    text = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)
