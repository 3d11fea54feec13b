"""The 24-hour hotline's call-centre (CTI) webhook: is this request the CTI's, and new?

`POST /hotline/calls/events` receives one call event per request. `verify_event` checks the
signature, the timestamp window and the event id against replays, then validates the event
(services/common/cti.py, the contract intake loads it with too); intake keeps each call's
state and decides what follows.

Signature: `X-CTI-Timestamp: <unix seconds>` and
`X-CTI-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>`. Several
secrets may be given while one is rotated. Rejections raise `HotlineRejected(status, reason)`:
401 bad or missing signature or timestamp off by more than 300 s, 400 malformed JSON or event,
409 an event id already received (the CTI should count a 409 as delivered), 413 too large.
"""
from __future__ import annotations

import hmac
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable

from marshmallow import ValidationError

from gateway.http import MAX_BODY_BYTES
from services.common.cti import CallEvent, CallEventSchema, event_from
from services.common.signing import hmac_signature

SIGNATURE_HEADER = "X-CTI-Signature"
TIMESTAMP_HEADER = "X-CTI-Timestamp"
MAX_SKEW_SECONDS = 300


class HotlineRejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


# ------------------------------------------------------------------------ authenticity
class ReplayGuard:
    """Event ids already received, bounded (least recently claimed forgotten first).

    The timestamp window already stops a replay older than `MAX_SKEW_SECONDS`, so the guard
    only has to cover about ten minutes of traffic; `max_entries` should exceed that. It is a
    first line per gateway process: intake records every event id it applied in the call's
    own row, so a replay that reaches another replica still changes nothing."""

    def __init__(self, max_entries: int = 10_000):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, event_id: str) -> bool:
        """True the first time an id is claimed, False for a replay. Atomic."""
        with self._lock:
            if event_id in self._seen:
                self._seen.move_to_end(event_id)
                return False
            self._seen[event_id] = None
            while len(self._seen) > self.max_entries:
                self._seen.popitem(last=False)
            return True

    def release(self, event_id: str) -> None:
        """Forget an id whose handling failed, so the CTI's retry is accepted."""
        with self._lock:
            self._seen.pop(event_id, None)

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True)
class Webhook:
    """The CTI webhook's secrets (several while one is rotated; none: the webhook is off) and
    this process's replay guard (a first line: intake applies each event id once whichever
    replica passes it on)."""
    secrets: tuple[str, ...]
    guard: ReplayGuard = field(default_factory=ReplayGuard)

    @classmethod
    def from_settings(cls, settings) -> "Webhook":
        return cls(tuple(str(secret) for secret in settings.hotline_webhook_secrets if secret))


def check_signature(headers, body: bytes, secrets: str | Iterable[str], now: float) -> None:
    """Raise HotlineRejected(401) unless one of `secrets` signed this body within the window."""
    secrets = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    if not any(secrets):
        raise HotlineRejected(401, "hotline webhook has no secret configured")
    lowered = {str(key).lower(): value for key, value in headers.items()}
    timestamp = (lowered.get(TIMESTAMP_HEADER.lower()) or "").strip()
    given = (lowered.get(SIGNATURE_HEADER.lower()) or "").strip()
    if not timestamp or not given:
        raise HotlineRejected(401, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    if not timestamp.isdigit() or not timestamp.isascii():
        raise HotlineRejected(401, f"{TIMESTAMP_HEADER} must be unix seconds")
    given = given.encode("ascii", "replace").decode("ascii").lower()
    if not any(hmac.compare_digest(hmac_signature(secret, timestamp, body), given)
               for secret in secrets if secret):
        raise HotlineRejected(401, "bad signature")
    # Checked after the signature, so an attacker learns nothing about the clock.
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise HotlineRejected(401, "timestamp outside the allowed window")

def parse_event(body: bytes) -> CallEvent:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise HotlineRejected(400, "body is not JSON") from exc
    if not isinstance(payload, dict):
        raise HotlineRejected(400, "body must be a JSON object")
    try:
        data = CallEventSchema().load(payload)
    except ValidationError as exc:
        described = "; ".join(f"{name}: {' '.join(map(str, problems))}"
                              for name, problems in exc.normalized_messages().items())
        raise HotlineRejected(400, described) from exc
    return event_from(data)


def verify_event(headers, body: bytes, secrets: str | Iterable[str], guard: ReplayGuard,
                 now: float, max_bytes: int = MAX_BODY_BYTES) -> CallEvent:
    """Authenticate, validate and claim one webhook request; the event, or HotlineRejected.

    The id is claimed last, so unsigned or invalid requests cannot fill the guard. If handling
    the event then fails, call `guard.release(event.event_id)` so the CTI's retry goes through.
    """
    if len(body) > max_bytes:
        raise HotlineRejected(413, "event too large")
    check_signature(headers, body, secrets, now)
    event = parse_event(body)
    if not guard.claim(event.event_id):
        raise HotlineRejected(409, f"event {event.event_id} already received")
    return event
