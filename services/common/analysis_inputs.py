"""What a client sends to 分析研判 and 专项治理 (issue 12 §5): one set of schemas for both sides,
the gateway's check of the public request (gateway/office_analysis.py) and rating's load of its
command (services/rating/analysis_entrypoints.py), so the two cannot drift apart."""
from __future__ import annotations

import re
from datetime import date

from marshmallow import (RAISE, Schema, ValidationError, fields, validate, validates_schema)

from services.common.contracts import CATEGORIES
from services.common.fields import NOT_IN_A_LINE, NOT_IN_A_TEXT, Answer

# Dates that mean something here (a year before 1970 or after 2099 is a typo, and a year 1
# cannot be moved back a year for 同比).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2099, 12, 31)
DATE_RANGE = validate.Range(min=FIRST_DAY, max=LAST_DAY,
                            error="日期须在 1970-01-01 至 2099-12-31 之间 (date out of range)")
MONTH = re.compile(r"^(19[7-9]\d|20\d\d)-(0[1-9]|1[0-2])$")
MAX_IDS = 200


def _line(value: str) -> None:
    if NOT_IN_A_LINE.search(value) or not value.strip():
        raise ValidationError("须为不含控制字符的非空文字 (a line of text)")


def _text(value: str) -> None:
    if NOT_IN_A_TEXT.search(value) or not value.strip():
        raise ValidationError("须为不含控制字符的非空文字 (text)")


def Line(maximum: int, **kwargs):
    return fields.String(validate=[validate.Length(min=1, max=maximum), _line], **kwargs)


def Day(**kwargs):
    return fields.Date(validate=DATE_RANGE, **kwargs)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _ordered(data, start="start", end="end", start_key="from", end_key="to"):
    if data.get(start) and data.get(end) and data[start] > data[end]:
        raise ValidationError({end_key: [f"{end_key} 不能早于 {start_key} "
                                         f"({end_key} is before {start_key})"]})


class HotTopicsQuerySchema(_Strict):
    start = Day(required=True, data_key="from", metadata={"example": "2026-11-01"})
    end = Day(required=True, data_key="to", metadata={"example": "2026-11-30"})
    category = fields.String(load_default=None, validate=validate.OneOf(list(CATEGORIES)))
    unit = Line(64, load_default=None)
    top = fields.Integer(load_default=None, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _order(self, data, **kwargs):
        _ordered(data)


class ProblemsQuerySchema(_Strict):
    start = Day(load_default=None, data_key="from")
    end = Day(load_default=None, data_key="to")
    category = fields.String(load_default=None, validate=validate.OneOf(list(CATEGORIES)))
    unit = Line(64, load_default=None)

    @validates_schema
    def _order(self, data, **kwargs):
        _ordered(data)


class SeasonalQuerySchema(_Strict):
    end = fields.String(load_default=None, validate=validate.Regexp(
        MONTH, error="end 须为 YYYY-MM (a month)"))
    months = fields.Integer(load_default=None, validate=validate.Range(min=1, max=60))
    category = fields.String(load_default=None, validate=validate.OneOf(list(CATEGORIES)))
    unit = Line(64, load_default=None)


class ScopeSchema(_Strict):
    categories = fields.List(fields.String(validate=validate.OneOf(list(CATEGORIES))),
                             load_default=list, validate=validate.Length(max=len(CATEGORIES)))
    keywords = fields.List(Line(20), load_default=list, validate=validate.Length(max=20))
    units = fields.List(Line(64), load_default=list, validate=validate.Length(max=50))
    start = Day(load_default=None, allow_none=True, data_key="from")
    end = Day(load_default=None, allow_none=True, data_key="to")

    @validates_schema
    def _order(self, data, **kwargs):
        _ordered(data)


class CampaignCreateSchema(_Strict):
    name = Line(100, required=True)
    scope = fields.Nested(ScopeSchema, required=True)
    lead_unit = Line(64, required=True)
    target_date = Day(required=True)


class CampaignListQuerySchema(_Strict):
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "closed"]))


class AttachSchema(_Strict):
    complaint_ids = fields.List(Line(36), required=True,
                                validate=validate.Length(min=1, max=MAX_IDS))
    note = fields.String(load_default=None, allow_none=True,
                         validate=[validate.Length(min=1, max=500), _text])


class DetachSchema(_Strict):
    note = fields.String(load_default=None, allow_none=True,
                         validate=[validate.Length(min=1, max=500), _text])


class CampaignMilestoneSchema(_Strict):
    title = Line(100, required=True)
    note = fields.String(load_default=None, allow_none=True,
                         validate=[validate.Length(min=1, max=2000), _text])
    due_date = Day(load_default=None, allow_none=True)
    done = Answer(load_default=False)


class CloseSchema(_Strict):
    conclusion = fields.String(required=True, validate=[validate.Length(min=1, max=5000), _text])
