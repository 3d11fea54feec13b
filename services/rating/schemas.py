"""What crosses the wire to and from rating."""
from marshmallow import RAISE, Schema, fields, validate

from services.common import vocabulary as words
from services.common.analysis_inputs import typed_text
from services.common.fields import Answer, Moment
from services.common.vocabulary import length
from services.rating.domain import LEVELS


class RateSchema(Schema):
    class Meta:
        unknown = RAISE

    level = fields.String(required=True, validate=validate.OneOf(
        list(LEVELS), error=words.RATING_LEVEL_ERROR))
    comment = fields.String(load_default=None, allow_none=True,
                            validate=[length(words.COMMENT_MAX), typed_text])
    # 回访 (issue 12): did the unit contact you (是否联系), is it solved (是否解决).
    contacted = Answer(required=True)
    solved = Answer(required=True)


class CallbackSchema(RateSchema):
    """The office's phone 回访: the complainant's answers, and when they were called (now, if
    not said)."""
    called_at = Moment(load_default=None, allow_none=True)


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
    via = fields.String()
    called_by = fields.String(allow_none=True)
    called_at = fields.AwareDateTime(allow_none=True)
