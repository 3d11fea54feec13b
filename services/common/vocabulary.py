"""What the public API and the services that take it must agree on: the words a client may
use (outcomes, communication kinds, list views), how long each text may be, the phone
pattern, and the two fields that read what a person typed.

The gateway validates a body with its own public schemas (gateway/schemas.py) before a
service sees it, and the service validates its command again; both read their limits here,
so that the two checks cannot drift apart. Categories, grades, channels and case states are
in services/common/contracts.py, the characters no keyboard types in services/common/fields.py.
"""
from __future__ import annotations

import unicodedata

from marshmallow import ValidationError, fields, validate

from services.common.fields import NOT_IN_A_LINE, NOT_IN_A_TEXT

# A mobile number or a landline with its area code (0531-88117897).
PHONE_PATTERN = r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$"
PHONE_ERROR = "不是有效的手机号或座机号 (not a valid phone number)"
CATEGORY_ERROR = "必须是以下类别之一 (must be one of): {choices}"
RATING_LEVEL_ERROR = "评价须为 satisfied(满意)/basically(基本满意)/dissatisfied(不满意)"

# R6 and the reply: how the unit talked to the complainant, and what came of the case.
COMMUNICATION_KINDS = {"phone": "电话沟通", "face_to_face": "见面沟通"}
OUTCOMES = {"solved": "已解决", "explained": "已解释说明", "policy_unsolvable": "政策范围内暂不能解决",
            "long_term": "需长期解决(已制定时间表)"}
ATTACHMENT_KINDS = {"photo": "图片", "voice": "语音"}

# The staff lists (GET /api/v1/staff/cases) and their orders.
CASE_VIEWS = ("inbox", "all", "screened_out", "returned", "disputed", "redo", "supervised",
              "proactive", "unclassified")
CASE_SORTS = ("due", "received")
# R7: what a unit reports on a milestone of a long-term matter's timetable.
MILESTONE_UPDATES = ("feedback", "done")

# Lengths, as (min, max) or max: the same in the public schema and the service's command.
CONTENT = (5, 5000)
TITLE_MAX = 200
LOCATION_MAX = 200
PLEDGE_MAX = 500
REASON = (2, 500)               # 退单
REPLY_TEXT = (2, 5000)          # 答复
WITH_WHOM = (1, 100)
SUMMARY = (2, 2000)             # a communication's summary
INSTRUCTION = (2, 2000)         # 批示
RULE_MAX = 64                   # a screening rule's code
UNIT_ID_MAX = 64
CASE_ID_MAX = 36                # a UUID
MEDIA_TYPE_MAX = 64
EXTENSION_REASON = (2, 1000)
NOTE_MAX = 1000                 # an extension decision's note
MILESTONE_TITLE = (2, 200)
MILESTONES = (1, 20)
MILESTONE_NOTE = (2, 2000)
COMMENT_MAX = 1000              # a rating's comment
# Paging: far beyond any real list, far below what the database's BIGINT overflows at.
MAX_OFFSET = 1_000_000
CASE_LIST_LIMIT = (50, 500)     # (default, max)
CALL_LIST_LIMIT = (100, 500)


def length(bounds) -> validate.Length:
    """validate.Length from a (min, max) pair or a max alone."""
    low, high = bounds if isinstance(bounds, tuple) else (None, bounds)
    return validate.Length(min=low, max=high)


class FullMatch(validate.Regexp):
    """validate.Regexp over the whole value, whatever the pattern's anchors: Regexp uses
    re.match, and `$` also matches before a final newline, so `^…$` lets "13912345678\\n"
    through."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


PHONE = FullMatch(PHONE_PATTERN, error=PHONE_ERROR)


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


class Text(fields.String):
    """A text a person typed: trimmed of surrounding whitespace, refused if nothing visible
    is left (spaces, tabs, zero-width spaces), or if it holds a character no keyboard types
    (services/common/fields.py). `multiline` allows tabs and line breaks inside."""

    default_error_messages = {
        "blank": "不能为空白 (must not be blank)",
        "characters": "含有不允许的控制字符或无效字符 (contains control or invalid characters)",
    }

    def __init__(self, *args, multiline: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.forbidden = NOT_IN_A_TEXT if multiline else NOT_IN_A_LINE

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.forbidden.search(text):
            raise self.make_error("characters")
        if all(_invisible(char) for char in text):
            raise self.make_error("blank")
        return text.strip()
