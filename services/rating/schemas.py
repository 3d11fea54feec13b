"""What crosses the wire from rating."""
from marshmallow import Schema, fields, validate

LEVELS = {"satisfied": "满意", "basically": "基本满意", "dissatisfied": "不满意"}


class RatingSchema(Schema):
    id = fields.String()
    complaint_id = fields.String()
    round = fields.Integer()
    level = fields.String(validate=validate.OneOf(LEVELS))
    comment = fields.String(allow_none=True)
    rated_at = fields.AwareDateTime()
