import json
from datetime import date, datetime, timedelta, timezone

import pytest

from gateway.hotline import HotlineRejected, ReplayGuard, verify_event
from services.common.signing import hmac_signature as signature
from services.intake.calls import (PLEDGE_SCRIPT, CallLog, FileVoicemail, Nothing, OfferFiling,
                                   Phone, WorkingHours, next_working_morning, pledge_record)

SECRET = "cti-test-secret-0123456789"
CST = timezone(timedelta(hours=8))
NOW = 1_780_000_000  # unix seconds of "now" in these tests


def weekdays(day: date) -> bool:
    return day.weekday() < 5


def request(event: dict, secret: str = SECRET, timestamp: int = NOW):
    body = json.dumps(event).encode("utf-8")
    headers = {"X-CTI-Timestamp": str(timestamp),
               "X-CTI-Signature": signature(secret, str(timestamp), body)}
    return headers, body


def event(event_id, kind, at, **extra):
    return {"event_id": event_id, "call_id": "c-1", "type": kind, "at": at,
            "caller": "13912345678", **extra}


def receive(guard, payload, **kwargs):
    headers, body = request(payload, **kwargs)
    return verify_event(headers, body, SECRET, guard, now=NOW)


def test_an_answered_call_offers_the_operator_to_file_once():
    guard, log = ReplayGuard(), CallLog("c-1")
    stream = [event("e1", "ringing", "2026-03-02T10:00:00+08:00"),
              event("e2", "answered", "2026-03-02T10:00:07+08:00", operator="op-7"),
              event("e3", "ended", "2026-03-02T10:04:07+08:00", operator="op-7",
                    duration_seconds=240, recording_url="https://cti.example/rec/c-1.mp3")]

    actions = [log.apply(receive(guard, payload)) for payload in stream]

    assert isinstance(actions[0], Nothing) and isinstance(actions[2], Nothing)
    offer = actions[1]
    assert isinstance(offer, OfferFiling) and offer.script == PLEDGE_SCRIPT
    assert offer.operator == "op-7" and offer.caller.number == "13912345678"
    assert log.state == "ended" and log.duration_seconds == 240
    assert log.recording_url == "https://cti.example/rec/c-1.mp3"
    assert CallLog.from_dict(log.as_dict()).as_dict() == log.as_dict()


def test_a_friday_night_voicemail_is_filed_for_monday_morning():
    guard = ReplayGuard()
    log = CallLog("c-1", hours=WorkingHours(weekdays))
    friday_night = "2026-03-06T22:00:00+08:00"
    stream = [event("v1", "ringing", friday_night),
              event("v2", "voicemail", friday_night,
                    recording_url="https://cti.example/rec/c-1.mp3",
                    transcript="  三号宿舍楼热水器坏了  ")]

    first, filed = [log.apply(receive(guard, payload)) for payload in stream]

    assert isinstance(first, Nothing)
    assert isinstance(filed, FileVoicemail)
    assert filed.content == "三号宿舍楼热水器坏了"
    assert filed.received_at == datetime(2026, 3, 6, 22, 0, tzinfo=CST)
    assert filed.counts_from == datetime(2026, 3, 9, 8, 30, tzinfo=CST)   # Monday
    assert filed.counts_from.weekday() == 0
    assert "如实反映" in filed.pledge


def test_a_voicemail_without_transcript_points_to_the_recording():
    log = CallLog("c-1")
    filed = log.apply(receive(ReplayGuard(), event(
        "v1", "voicemail", "2026-03-02T12:00:00+08:00", recording_url="https://cti.example/r")))
    assert filed.content == "语音留言,录音见 https://cti.example/r"


def test_out_of_order_and_duplicate_events():
    log = CallLog("c-1")
    ended = receive(ReplayGuard(), event("e3", "ended", "2026-03-02T10:04:00+08:00",
                                         operator="op-7", duration_seconds=240))
    assert isinstance(log.apply(ended), OfferFiling)          # answered was lost/overtaken
    assert isinstance(log.apply(ended), Nothing)              # same event twice
    late = receive(ReplayGuard(), event("e2", "answered", "2026-03-02T10:00:07+08:00",
                                        operator="op-7"))
    assert isinstance(log.apply(late), Nothing)               # no second offer
    assert log.answered_at == datetime(2026, 3, 2, 10, 0, 7, tzinfo=CST)
    voicemail = receive(ReplayGuard(), event("e4", "voicemail", "2026-03-02T10:05:00+08:00",
                                             transcript="x"))
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
    evt = receive(ReplayGuard(), event("e1", "ringing", "2026-03-02T10:00:00+08:00"))
    log = CallLog("c-1")
    log.apply(evt)
    for text in (repr(evt), str(evt), repr(log), str(Phone("13912345678"))):
        assert "13912345678" not in text
    assert str(evt.caller) == "139****5678"
    # a landline as every staff view shows it (was 053*****7897)
    assert str(Phone("053188117897")) == "0531-****7897"


RINGING = event("e1", "ringing", "2026-03-02T10:00:00+08:00")


@pytest.mark.parametrize("mangle, status", [
    (lambda h, b: ({**h, "X-CTI-Signature": "sha256=" + "0" * 64}, b), 401),
    (lambda h, b: ({"X-CTI-Timestamp": h["X-CTI-Timestamp"]}, b), 401),
    (lambda h, b: ({k: v for k, v in h.items() if k != "X-CTI-Timestamp"}, b), 401),
    (lambda h, b: (h, b + b" "), 401),                                  # body altered
    (lambda h, b: ({**h, "X-CTI-Timestamp": "abc"}, b), 401),
])
def test_bad_signatures_are_rejected(mangle, status):
    headers, body = mangle(*request(RINGING))
    with pytest.raises(HotlineRejected) as caught:
        verify_event(headers, body, SECRET, ReplayGuard(), now=NOW)
    assert caught.value.status == status


def test_another_secret_is_rejected_and_rotation_accepted():
    headers, body = request(RINGING, secret="someone-else")
    with pytest.raises(HotlineRejected):
        verify_event(headers, body, SECRET, ReplayGuard(), now=NOW)
    assert verify_event(headers, body, ("new", "someone-else"), ReplayGuard(), now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_timestamps_are_rejected(skew):
    headers, body = request(RINGING, timestamp=NOW + skew)
    with pytest.raises(HotlineRejected) as caught:
        verify_event(headers, body, SECRET, ReplayGuard(), now=NOW)
    assert caught.value.status == 401 and "window" in caught.value.reason


def test_a_replayed_event_id_is_rejected_until_released():
    guard = ReplayGuard()
    receive(guard, RINGING)
    with pytest.raises(HotlineRejected) as caught:
        receive(guard, RINGING, timestamp=NOW + 1)                  # freshly signed, same id
    assert caught.value.status == 409
    guard.release("e1")
    assert receive(guard, RINGING).event_id == "e1"


def test_the_replay_guard_is_bounded():
    guard = ReplayGuard(max_entries=2)
    assert guard.claim("a") and guard.claim("b") and not guard.claim("a")
    assert guard.claim("c") and len(guard) == 2
    assert guard.claim("b")                                          # forgotten, oldest


def test_malformed_json_is_rejected():
    body = b'{"event_id": "e1", '
    headers = {"X-CTI-Timestamp": str(NOW), "X-CTI-Signature": signature(SECRET, str(NOW), body)}
    with pytest.raises(HotlineRejected) as caught:
        verify_event(headers, body, SECRET, ReplayGuard(), now=NOW)
    assert caught.value.status == 400


@pytest.mark.parametrize("payload", [
    event("e1", "transferred", "2026-03-02T10:00:00+08:00"),           # unknown type
    event("e1", "answered", "2026-03-02T10:00:00+08:00"),              # no operator
    event("e1", "ringing", "2026-03-02T10:00:00"),                     # no offset
    event("e1", "voicemail", "2026-03-02T10:00:00+08:00"),             # nothing to file
    event("e1", "ringing", "2026-03-02T10:00:00+08:00", caller="not a phone"),
    [RINGING],
    # NUL and other control characters: PostgreSQL refuses NUL in a string (was a 500).
    event("e1\u0000", "ringing", "2026-03-02T10:00:00+08:00"),
    event("e1", "voicemail", "2026-03-02T10:00:00+08:00", transcript="漏水\u0000"),
    event("e1", "answered", "2026-03-02T10:00:00+08:00", operator="op\u0007"),
    event("e1", "ringing", "9999-12-31T23:59:59-23:59"),                # overflows UTC
    event("e1", "ended", "2026-03-02T10:00:00+08:00", operator="op-1",
          duration_seconds=10**20),                                      # overflows BIGINT
])
def test_invalid_events_are_rejected_and_not_claimed(payload):
    guard = ReplayGuard()
    with pytest.raises(HotlineRejected) as caught:
        receive(guard, payload)
    assert caught.value.status == 400 and len(guard) == 0
