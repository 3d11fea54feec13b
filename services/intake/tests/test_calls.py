"""Intake's side of the hotline (services/intake/calls.py): what each call event asks intake
to do, the working time a voicemail counts from, the pledge in words, masked callers. The
events are loaded with the CTI contract (services/common/cti.py) as intake's service loads
them; the webhook's signature and replay checks are the gateway's (gateway/tests)."""
from datetime import date, datetime, timedelta, timezone

from services.intake.calls import (PLEDGE_SCRIPT, CallEventSchema, CallLog, FileVoicemail,
                                   Nothing, OfferFiling, Phone, WorkingHours, event_from,
                                   next_working_morning, pledge_record)

CST = timezone(timedelta(hours=8))


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def event(event_id, kind, at, **extra):
    return {"event_id": event_id, "call_id": "c-1", "type": kind, "at": at,
            "caller": "13912345678", **extra}


def receive(payload):
    return event_from(CallEventSchema().load(payload))


def test_an_answered_call_offers_the_operator_to_file_once():
    log = CallLog("c-1")
    stream = [event("e1", "ringing", "2026-03-02T10:00:00+08:00"),
              event("e2", "answered", "2026-03-02T10:00:07+08:00", operator="op-7"),
              event("e3", "ended", "2026-03-02T10:04:07+08:00", operator="op-7",
                    duration_seconds=240, recording_url="https://cti.example/rec/c-1.mp3")]

    actions = [log.apply(receive(payload)) for payload in stream]

    assert isinstance(actions[0], Nothing) and isinstance(actions[2], Nothing)
    offer = actions[1]
    assert isinstance(offer, OfferFiling) and offer.script == PLEDGE_SCRIPT
    assert offer.operator == "op-7" and offer.caller.number == "13912345678"
    assert log.state == "ended" and log.duration_seconds == 240
    assert log.recording_url == "https://cti.example/rec/c-1.mp3"
    assert CallLog.from_dict(log.as_dict()).as_dict() == log.as_dict()


def test_a_friday_night_voicemail_is_filed_for_monday_morning():
    log = CallLog("c-1", hours=WorkingHours(weekdays))
    friday_night = "2026-03-06T22:00:00+08:00"
    stream = [event("v1", "ringing", friday_night),
              event("v2", "voicemail", friday_night,
                    recording_url="https://cti.example/rec/c-1.mp3",
                    transcript="  三号宿舍楼热水器坏了  ")]

    first, filed = [log.apply(receive(payload)) for payload in stream]

    assert isinstance(first, Nothing)
    assert isinstance(filed, FileVoicemail)
    assert filed.content == "三号宿舍楼热水器坏了"
    assert filed.received_at == datetime(2026, 3, 6, 22, 0, tzinfo=CST)
    assert filed.counts_from == datetime(2026, 3, 9, 8, 30, tzinfo=CST)   # Monday
    assert filed.counts_from.weekday() == 0
    assert "如实反映" in filed.pledge


def test_a_voicemail_without_transcript_points_to_the_recording():
    log = CallLog("c-1")
    filed = log.apply(receive(event(
        "v1", "voicemail", "2026-03-02T12:00:00+08:00", recording_url="https://cti.example/r")))
    assert filed.content == "语音留言,录音见 https://cti.example/r"


def test_out_of_order_and_duplicate_events():
    log = CallLog("c-1")
    ended = receive(event("e3", "ended", "2026-03-02T10:04:00+08:00", operator="op-7",
                          duration_seconds=240))
    assert isinstance(log.apply(ended), OfferFiling)          # answered was lost/overtaken
    assert isinstance(log.apply(ended), Nothing)              # same event twice
    late = receive(event("e2", "answered", "2026-03-02T10:00:07+08:00", operator="op-7"))
    assert isinstance(log.apply(late), Nothing)               # no second offer
    assert log.answered_at == datetime(2026, 3, 2, 10, 0, 7, tzinfo=CST)
    voicemail = receive(event("e4", "voicemail", "2026-03-02T10:05:00+08:00", transcript="x"))
    assert isinstance(log.apply(voicemail), Nothing)          # branches exclude each other


def test_next_working_morning():
    def at(day, hour, minute=0):
        return datetime(2026, 3, day, hour, minute, tzinfo=CST)
    assert next_working_morning(at(2, 6), is_working_day=weekdays) == at(2, 8, 30)
    assert next_working_morning(at(2, 18), is_working_day=weekdays) == at(3, 8, 30)
    assert next_working_morning(at(7, 11), is_working_day=weekdays) == at(9, 8, 30)
    utc = datetime(2026, 3, 6, 14, 0, tzinfo=timezone.utc)                # Fri 22:00 in Jinan
    assert next_working_morning(utc, is_working_day=weekdays) == at(9, 8, 30)
    assert WorkingHours(weekdays).counts_from(at(2, 10)) == at(2, 10)


def test_the_pledge_record_names_operator_and_time():
    text = pledge_record("op-7", datetime(2026, 3, 2, 2, 5, tzinfo=timezone.utc))
    assert text.startswith("诉求人已知晓并承诺如实反映")
    assert "op-7" in text and "2026-03-02 10:05" in text


def test_caller_numbers_are_masked_in_repr_and_str():
    evt = receive(event("e1", "ringing", "2026-03-02T10:00:00+08:00"))
    log = CallLog("c-1")
    log.apply(evt)
    for text in (repr(evt), str(evt), repr(log), str(Phone("13912345678"))):
        assert "13912345678" not in text
    assert str(evt.caller) == "139****5678"
    # a landline as every staff view shows it (was 053*****7897)
    assert str(Phone("053188117897")) == "0531-****7897"
