"""What a client sends to the office's routes (issue 12): 考核 (§2), 周汇总/月总结 periods (§3),
分析研判 and 专项治理 (§5). One set of schemas for both sides, the gateway's check of the public
request (gateway/office_figures.py, office_summaries.py, office_analysis.py) and rating's load
of its command (services/rating/*_entrypoints.py), so the two cannot drift apart.

Every text refuses what services/common/fields.py says no keyboard types (a NUL cannot be
stored in PostgreSQL: a 500 instead of a 400), and every period and date is bounded to years
that mean something here (year 0 or 10000 cannot even be turned into a date)."""
from __future__ import annotations

import re
from datetime import date

from marshmallow import (RAISE, Schema, ValidationError, fields, validate, validates_schema)

from services.common.contracts import CATEGORIES
from services.common.fields import NOT_IN_A_LINE, NOT_IN_A_TEXT, Answer
from services.common.vocabulary import FullMatch

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


def typed_text(value: str) -> None:
    """A text that may be empty (a note, a comment, a reason left blank) but holds no
    character no keyboard types: a form body (the SMS 回访 page) is not checked as a JSON
    body is, and a NUL would reach the database."""
    if NOT_IN_A_TEXT.search(value):
        raise ValidationError("含有不允许的控制字符或无效字符 (contains control or invalid "
                              "characters)")


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
    end = fields.String(load_default=None, validate=FullMatch(
        MONTH, error="end 须为 1970-01 至 2099-12 之间的 YYYY-MM (a month)"))
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


# ------------------------------------------------------------------ 考核 (§2)
PERIOD_ERROR = ("考核周期须为 1970-01 至 2099-12 之间的 YYYY-MM "
                "(a period is a month YYYY-MM, 1970-01 to 2099-12)")
SHA256_ERROR = "附件须为 sha256 (64 位小写十六进制)"
TEXT_MAX = 2000


def Period(**kwargs):
    """A 考核 period: a month (config/assessment.yaml period_cutoff_day sets its bounds)."""
    return fields.String(validate=FullMatch(MONTH, error=PERIOD_ERROR), **kwargs)


class PeriodSchema(_Strict):
    period = Period(required=True, metadata={
        "description": "YYYY-MM (config/assessment.yaml period_cutoff_day sets its bounds)"})


class AssessmentXlsxQuerySchema(PeriodSchema):
    basis = fields.String(load_default="assessment",
                          validate=validate.OneOf(["assessment", "full"]),
                          metadata={"description": "assessment (考核口径, without 剔除) or "
                                                   "full (全口径)"})


class AssessmentQuerySchema(AssessmentXlsxQuerySchema):
    by = fields.String(load_default="unit", validate=validate.OneOf(["unit", "category"]))


class PublishSchema(_Strict):
    reason = fields.String(load_default=None, allow_none=True,
                           validate=[validate.Length(max=TEXT_MAX), typed_text],
                           metadata={"description": "required for a correction (figures "
                                                    "changed since the last version)"})


class ExclusionRequestSchema(_Strict):
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=TEXT_MAX),
                                                    _text])
    evidence = fields.List(fields.String(validate=FullMatch(r"[0-9a-f]{64}",
                                                            error=SHA256_ERROR)),
                           load_default=list, validate=validate.Length(max=20),
                           metadata={"description": "sha256s of attachments uploaded before"})


class ExclusionDecisionSchema(_Strict):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "refuse"]))
    note = fields.String(load_default=None, allow_none=True,
                         validate=[validate.Length(max=TEXT_MAX), typed_text])


class ExclusionListQuerySchema(_Strict):
    status = fields.String(load_default=None,
                           validate=validate.OneOf(["requested", "approved", "refused"]))
    unit_id = Line(64, load_default=None)
    complaint_id = Line(36, load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


# ------------------------------------------------------------------ 周汇总/月总结 (§3)
# The shape and years of a summary's period; rating says whether the week exists and whether
# the kind matches.
SUMMARY_PERIOD = FullMatch(r"(19[7-9]\d|20\d\d)-(W(0[1-9]|[1-4]\d|5[0-3])|0[1-9]|1[0-2])",
                           error="汇总周期须为 2026-W48 (周) 或 2026-11 (月), 1970 至 2099 年 "
                                 "(a period is YYYY-Www or YYYY-MM, 1970-2099)")
