"""Marshmallow fields shared by the services' schemas."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from marshmallow import fields

# What no keyboard types, refused in every text a client sends (the gateway checks every string
# of a JSON body, intake's `Text` fields each text): C0 and C1 controls (a NUL cannot even be
# stored in PostgreSQL), UTF-16 halves without their pair ("\ud800" cannot be encoded as
# UTF-8, so it would fail in the database driver or the RPC encoder), and the bidi embedding,
# override and isolate controls that make a text read otherwise than it is stored. Tab and
# line breaks are kept where a text may run over several lines.
_SURROGATES_AND_BIDI = "\ud800-\udfff\u202a-\u202e\u2066-\u2069"
NOT_IN_A_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_SURROGATES_AND_BIDI}]")
NOT_IN_A_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATES_AND_BIDI}]")

# Dates a client may give: aware, and within years that mean something here. Beyond them a
# date cannot even be converted to UTC ("0001-01-01T00:00:00+14:00" is year 0,
# "9999-12-31T23:59:59-23:59" year 10000): an OverflowError, a 500, instead of a field error.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)


class Moment(fields.AwareDateTime):
    """An aware date and time between EARLIEST and LATEST, given back in UTC. Every date an
    API takes is one of these; a service narrows it further where it must (e.g. not in the
    future)."""

    default_error_messages = {
        "range": f"日期超出范围,须在 {EARLIEST.year} 年至 {LATEST.year - 1} 年之间 "
                 f"(date out of range {EARLIEST.year}-{LATEST.year - 1})",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise self.make_error("range") from None
        if not EARLIEST <= moment < LATEST:
            raise self.make_error("range")
        return moment


class Answer(fields.Boolean):
    """A yes/no answer a person gave (the 回访's 是否联系, 是否解决): JSON true or false and
    nothing else. marshmallow's Boolean takes 1, 0 and 1.0 for them even with truthy={True}
    (1 == True in a set), and a client sending 1 meant something we cannot be sure of."""

    def __init__(self, **kwargs):
        super().__init__(truthy={True}, falsy={False}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value
