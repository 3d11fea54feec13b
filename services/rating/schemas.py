"""What crosses the wire to and from rating."""
from marshmallow import RAISE, Schema, fields, validate

from services.common import vocabulary as words
from services.common.vocabulary import length
from services.rating.domain import LEVELS


class RateSchema(Schema):
    class Meta:
        unknown = RAISE

    level = fields.String(required=True, validate=validate.OneOf(
        list(LEVELS), error=words.RATING_LEVEL_ERROR))
    comment = fields.String(load_default=None, allow_none=True,
                            validate=length(words.COMMENT_MAX))
    # 回访 (issue 12): did the unit contact you (是否联系), is it solved (是否解决). Not yet
    # required of every client: null is "not answered".
    contacted = fields.Boolean(load_default=None, allow_none=True, truthy={True}, falsy={False})
    solved = fields.Boolean(load_default=None, allow_none=True, truthy={True}, falsy={False})


class RatingSchema(Schema):
    id = fields.String()
    complaint_id = fields.String()
    round = fields.Integer()
    level = fields.String()
    level_label = fields.Function(lambda r: LEVELS.get(r.level))
    comment = fields.String(allow_none=True)
    contacted = fields.Boolean(allow_none=True)
    solved = fields.Boolean(allow_none=True)
    rated_at = fields.AwareDateTime()
    decision = fields.String(allow_none=True)
