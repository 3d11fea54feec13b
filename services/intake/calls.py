"""The 24-hour hotline 0531-88117897 (R2), as intake sees it: call events, the call's state,
what each event asks intake to do, the pledge (R3) in words, and working time for voicemail.

The gateway authenticates the call centre's (CTI) webhook (gateway/hotline.py) and passes
each event on; intake keeps one `CallLog` per call in its database and does what `apply`
returns: nothing, offer the operator to file for the caller, or file a voicemail.

Caller numbers are personal data: every repr and str here shows them masked (139****5678).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

# The event as the CTI sends it is the gateway's and intake's shared contract.
from services.common.cti import (  # noqa: F401 (intake's service reads them off this module)
    ANSWERED, ENDED, EVENT_TYPES, RINGING, VOICEMAIL, CallEvent, CallEventSchema, Phone,
    event_from)

HOTLINE_NUMBER = "0531-88117897"

# R3 on the phone: the operator reads this before filing, and the case records that it was read.
PLEDGE_SCRIPT = (
    "您好,这里是学校接诉即办24小时热线。在为您登记诉求之前,请您知晓:"
    "您反映的情况应当真实、准确,不得捏造、歪曲事实或诬告他人;"
    "如反映不实,您需承担相应责任。办理结果将由您本人进行满意度评价。"
    "请问您是否知晓并承诺如实反映?"
)
# Played by the CTI before the beep when nobody can answer (after hours, or all lines busy).
VOICEMAIL_GREETING = (
    "您好,这里是学校接诉即办24小时热线,现在暂时无法接听。请在提示音后留言,"
    "说明您的诉求、所在位置和联系方式,我们将在工作时间尽快受理。"
    "请如实反映情况,如反映不实,您需承担相应责任。"
)


def pledge_record(operator_id: str, at: datetime, tz: str = "Asia/Shanghai") -> str:
    """The words recorded with a case filed by an operator: who read the pledge, and when."""
    local = _aware(at).astimezone(ZoneInfo(tz))
    return (f"诉求人已知晓并承诺如实反映诉求,如有不实愿承担相应责任"
            f"(热线{HOTLINE_NUMBER},话务员 {operator_id} 于 {local:%Y-%m-%d %H:%M} 宣读确认)。")


def voicemail_pledge_record(at: datetime, tz: str = "Asia/Shanghai") -> str:
    """A voicemail caller heard the pledge as a recorded prompt but did not answer it."""
    local = _aware(at).astimezone(ZoneInfo(tz))
    return (f"诉求人留言前已收听如实反映的语音提示(热线{HOTLINE_NUMBER}语音留言,"
            f"{local:%Y-%m-%d %H:%M}),未经话务员确认。")


# ------------------------------------------------------------------------- working time
def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("hotline times must carry their offset")
    return at


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def next_working_morning(at: datetime, workday_start: str = "08:30",
                         tz: str = "Asia/Shanghai",
                         is_working_day: Callable[[date], bool] = lambda d: d.weekday() < 5
                         ) -> datetime:
    """The first start of a working day at or after `at`: the same morning if `at` is on a
    working day before the start, else the next working day's. Aware, in `tz`."""
    zone = ZoneInfo(tz)
    local = _aware(at).astimezone(zone)
    start = _clock(workday_start)
    day = local.date()
    if not (is_working_day(day) and local.time() <= start):
        day += timedelta(days=1)
        for _ in range(366):
            if is_working_day(day):
                break
            day += timedelta(days=1)
        else:
            raise ValueError("no working day within a year")
    return datetime.combine(day, start, zone)


@dataclass(frozen=True)
class WorkingHours:
    """When cases are received; pass the SLA calendar's `is_working_day`."""
    is_working_day: Callable[[date], bool]
    start: str = "08:30"
    end: str = "17:30"
    tz: str = "Asia/Shanghai"

    def counts_from(self, at: datetime) -> datetime:
        """`at` itself within working hours, else the next working morning."""
        local = _aware(at).astimezone(ZoneInfo(self.tz))
        if (self.is_working_day(local.date())
                and _clock(self.start) <= local.time() < _clock(self.end)):
            return at
        return next_working_morning(at, self.start, self.tz, self.is_working_day)


# ---------------------------------------------------------------------------- call log
@dataclass(frozen=True)
class Nothing:
    reason: str


@dataclass(frozen=True)
class OfferFiling:
    """Show the operator a "file for this call" form, prefilled, with the pledge script."""
    call_id: str
    operator: str
    caller: Phone
    at: datetime
    script: str = PLEDGE_SCRIPT


@dataclass(frozen=True)
class FileVoicemail:
    """File a case from a voicemail, on the caller's behalf (channel "hotline").

    `received_at` is when the caller left it; `counts_from` when its time limits start (the
    next working morning for a voicemail left after hours)."""
    call_id: str
    caller: Phone
    content: str
    recording_url: str | None
    received_at: datetime
    counts_from: datetime
    pledge: str


Action = Nothing | OfferFiling | FileVoicemail

# Progress along a call: ringing, then answered, then ended; or ringing, then voicemail.
_RANK = {None: 0, RINGING: 1, ANSWERED: 2, ENDED: 3, VOICEMAIL: 3}


@dataclass
class CallLog:
    """One call's state, from its CTI events. Feed every event to `apply`; do what it returns.

    Choices for events that come late, twice or out of order (webhooks are retried and may
    overtake each other):
    - an event id already applied: Nothing;
    - an event that does not advance the call (a `ringing` after `answered`, a second `ended`,
      anything after `voicemail`): Nothing, but a missing detail it carries (the ringing time,
      the recording) is kept;
    - a step skipped (`answered` or `ended` without `ringing`; `ended` without `answered`):
      the missed steps are taken as having happened, so an `ended` that overtook `answered`
      still makes the operator an offer to file (the operator can file from their notes);
    - `voicemail` after `answered`/`ended`, or `answered`/`ended` after `voicemail`: the two
      branches exclude each other; the first to arrive wins and the other is ignored, so a
      call never yields both an offer and a voicemail case.
    Order is by the call's progress, not by `at`: the CTI's clocks are one clock.
    """
    call_id: str
    hours: WorkingHours | None = None
    state: str | None = None
    caller: Phone | None = None
    operator: str | None = None
    rang_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    recording_url: str | None = None
    duration_seconds: int | None = None
    applied: list = field(default_factory=list)

    def apply(self, event: CallEvent) -> Action:
        if event.call_id != self.call_id:
            raise ValueError(f"event for call {event.call_id} given to call {self.call_id}")
        if event.event_id in self.applied:
            return Nothing("duplicate event")
        self.applied.append(event.event_id)
        self.caller = self.caller or event.caller
        self._keep_details(event)
        if self.state == VOICEMAIL or (event.type == VOICEMAIL and self.state in (ANSWERED,
                                                                                   ENDED)):
            return Nothing(f"{event.type} after {self.state}: ignored")
        if _RANK[event.type] <= _RANK[self.state]:
            return Nothing(f"{event.type} after {self.state}: nothing to do")
        previous, self.state = self.state, event.type
        if event.type == ANSWERED or (event.type == ENDED and previous != ANSWERED):
            return OfferFiling(self.call_id, self.operator, self.caller,
                               self.answered_at or event.at)
        if event.type == VOICEMAIL:
            return self._voicemail(event)
        return Nothing(f"call {event.type}")

    def _keep_details(self, event: CallEvent) -> None:
        if event.type == RINGING:
            self.rang_at = self.rang_at or event.at
        if event.type in (ANSWERED, ENDED):
            self.operator = self.operator or event.operator
        if event.type == ANSWERED:
            self.answered_at = self.answered_at or event.at
        if event.type in (ENDED, VOICEMAIL):
            self.ended_at = self.ended_at or event.at
            self.recording_url = self.recording_url or event.recording_url
        if event.type == ENDED and self.duration_seconds is None:
            self.duration_seconds = event.duration_seconds

    def _voicemail(self, event: CallEvent) -> FileVoicemail:
        transcript = (event.transcript or "").strip()
        content = transcript or f"语音留言,录音见 {event.recording_url}"
        counts_from = self.hours.counts_from(event.at) if self.hours else event.at
        tz = self.hours.tz if self.hours else "Asia/Shanghai"
        return FileVoicemail(self.call_id, event.caller, content, event.recording_url,
                             event.at, counts_from, voicemail_pledge_record(event.at, tz))

    # A call log is stored between requests (one row or cache entry per call_id).
    def as_dict(self) -> dict:
        def moment(value):
            return value.isoformat() if value else None
        return {"call_id": self.call_id, "state": self.state,
                "caller": self.caller.number if self.caller else None,
                "operator": self.operator, "rang_at": moment(self.rang_at),
                "answered_at": moment(self.answered_at), "ended_at": moment(self.ended_at),
                "recording_url": self.recording_url, "duration_seconds": self.duration_seconds,
                "applied": list(self.applied)}

    @classmethod
    def from_dict(cls, data: dict, hours: WorkingHours | None = None) -> "CallLog":
        def moment(value):
            return datetime.fromisoformat(value) if value else None
        return cls(call_id=data["call_id"], hours=hours, state=data.get("state"),
                   caller=Phone(data["caller"]) if data.get("caller") else None,
                   operator=data.get("operator"), rang_at=moment(data.get("rang_at")),
                   answered_at=moment(data.get("answered_at")),
                   ended_at=moment(data.get("ended_at")),
                   recording_url=data.get("recording_url"),
                   duration_seconds=data.get("duration_seconds"),
                   applied=list(data.get("applied") or []))
