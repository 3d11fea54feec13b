"""What crosses the wire from the SLA service."""
from marshmallow import Schema, fields


class DeadlineSchema(Schema):
    complaint_id = fields.String()
    kind = fields.String()
    round = fields.Integer()
    grade = fields.String()
    starts_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime()
    status = fields.String()
