"""The call centre's (CTI) call events: what the gateway's webhook (gateway/hotline.py) takes
after checking the signature, and what intake (services/intake/calls.py) keeps per call. Both
load an event with CallEventSchema, so an event the gateway passes on is one intake accepts.

Caller numbers are personal data: every repr and str here shows them masked (139****5678).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from services.common.fields import Moment
from services.common.privacy import mask_contact
from services.common.vocabulary import FullMatch, Text

RINGING, ANSWERED, ENDED, VOICEMAIL = "ringing", "answered", "ended", "voicemail"
EVENT_TYPES = (RINGING, ANSWERED, ENDED, VOICEMAIL)


@dataclass(frozen=True)
class Phone:
    """A caller's number; `number` is the full one, str and repr only ever the masked one."""
    number: str

    # masked as every staff view masks a number (0531-****7897 for a landline)
    def __str__(self) -> str:
        return mask_contact(self.number) or ""

    def __repr__(self) -> str:
        return f"Phone({str(self)!r})"


class CallEventSchema(Schema):
    """One CTI call event. Unknown fields are dropped: CTI vendors add their own."""

    class Meta:
        unknown = EXCLUDE

    # Text: no NUL or other control characters (PostgreSQL refuses NUL in a string).
    event_id = Text(required=True, validate=validate.Length(min=1, max=64))
    call_id = Text(required=True, validate=validate.Length(min=1, max=64))
    type = fields.String(required=True, validate=validate.OneOf(EVENT_TYPES))
    at = Moment(required=True)
    caller = fields.String(required=True, validate=FullMatch(r"^\+?[\d\- ]{3,24}$"))
    operator = Text(load_default=None, validate=validate.Length(min=1, max=64))
    recording_url = fields.Url(load_default=None, schemes={"http", "https"})
    # a day at most: a bigger number is no call, and would overflow the column
    duration_seconds = fields.Integer(load_default=None, strict=True,
                                      validate=validate.Range(min=0, max=86_400))
    transcript = Text(load_default=None, multiline=True, validate=validate.Length(max=5000))

    @validates_schema
    def _per_type(self, data, **kwargs):
        kind = data.get("type")
        if kind in (ANSWERED, ENDED) and not data.get("operator"):
            raise ValidationError(f"{kind} needs the operator", "operator")
        if kind == ENDED and data.get("duration_seconds") is None:
            raise ValidationError("ended needs duration_seconds", "duration_seconds")
        if kind == VOICEMAIL and not (data.get("recording_url")
                                      or (data.get("transcript") or "").strip()):
            raise ValidationError("voicemail needs a recording_url or a transcript",
                                  "recording_url")


@dataclass(frozen=True)
class CallEvent:
    event_id: str
    call_id: str
    type: str
    at: datetime
    caller: Phone
    operator: str | None = None
    recording_url: str | None = None
    duration_seconds: int | None = None
    transcript: str | None = None

    def as_payload(self) -> dict:
        """The event as it crosses the wire (CallEventSchema loads it back)."""
        return {"event_id": self.event_id, "call_id": self.call_id, "type": self.type,
                "at": self.at.isoformat(), "caller": self.caller.number,
                "operator": self.operator, "recording_url": self.recording_url,
                "duration_seconds": self.duration_seconds, "transcript": self.transcript}


def event_from(data: dict) -> CallEvent:
    """A CallEvent from what CallEventSchema loaded (the number normalised, digits only)."""
    data = dict(data)
    caller = Phone(data.pop("caller").replace("-", "").replace(" ", ""))
    return CallEvent(caller=caller, **data)
