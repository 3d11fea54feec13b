"""The CTI webhook's door (gateway/hotline.py): signature, timestamp window, replays, and
the event validated with the CTI contract (services/common/cti.py). What intake does with an
event is tested in services/intake/tests/test_calls.py."""
import json

import pytest

from gateway.hotline import HotlineRejected, ReplayGuard, verify_event
from services.common.signing import hmac_signature as signature

SECRET = "cti-test-secret-0123456789"
NOW = 1_780_000_000  # unix seconds of "now" in these tests


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


RINGING = event("e1", "ringing", "2026-03-02T10:00:00+08:00")


def test_a_verified_event_is_the_contract_s_event_with_the_caller_masked():
    evt = receive(ReplayGuard(), RINGING)
    assert (evt.event_id, evt.call_id, evt.type) == ("e1", "c-1", "ringing")
    assert evt.caller.number == "13912345678" and "13912345678" not in repr(evt)
    assert evt.as_payload()["caller"] == "13912345678"


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
