"""The link in the SMS that tells a hotline caller the reply (issue 12, 回访): it opens the
case in the complainant's H5 (issue 13), signed in as the caller by the link itself, where
they read the reply and answer the three questions without an account.

    <public_base_url>/h5/t/<token>,  token = <payload>.<mac>

(Links sent before the H5 existed, <public_base_url>/r/<token>, open the small 回访 page
that needs no session; the gateway keeps serving both.)

payload: base64url of the JSON [complaint id, complainant id, expiry in unix seconds];
mac: base64url of HMAC-SHA256(rating_link_secret, payload), cut to 128 bits. notify signs
(it sends the SMS), the gateway checks (it serves the page); the token is the credential,
so the page needs no login and no CSRF token, and tells nothing to anyone without it.
rating still decides whether the case awaits its rating and takes one rating per reply.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime

# How long a link works after the reply: past the rating window (3 working days, with a
# holiday between) the page says the case is no longer open for rating, not "bad link".
LINK_DAYS = 15
MAX_TOKEN = 400   # characters: a complainant id is at most 64, a complaint id 36


class BadToken(Exception):
    """`reason`: "invalid" (not ours, altered, malformed) or "expired"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode("utf-8"), payload.encode("ascii"),
                         hashlib.sha256).digest()[:16])


def sign(secret: str, complaint_id: str, complainant_id: str, expires: int) -> str:
    payload = _b64(json.dumps([complaint_id, complainant_id, int(expires)],
                              separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: str, token: str, now: float) -> tuple[str, str]:
    """(complaint id, complainant id) of a token we signed that has not expired."""
    if not secret or not token or len(token) > MAX_TOKEN or token.count(".") != 1:
        raise BadToken("invalid")
    payload, mac = token.split(".")
    try:
        expected = _mac(secret, payload)
    except UnicodeEncodeError:
        raise BadToken("invalid") from None
    if not hmac.compare_digest(mac.encode("ascii", "replace"), expected.encode("ascii")):
        raise BadToken("invalid")
    try:
        complaint_id, complainant_id, expires = json.loads(_unb64(payload).decode("utf-8"))
    except (ValueError, TypeError):
        raise BadToken("invalid") from None
    if not (isinstance(complaint_id, str) and isinstance(complainant_id, str)
            and isinstance(expires, int)):
        raise BadToken("invalid")
    if now >= expires:
        raise BadToken("expired")
    return complaint_id, complainant_id


H5_CASE_LINK = "/h5/t/"   # the gateway signs the caller in and shows the case
RATING_PAGE = "/r/"       # the 回访 page without a session (links of issue 12)


def rating_url(settings, complaint_id: str, complainant_id: str,
               replied_at: datetime, path: str = H5_CASE_LINK) -> str | None:
    """The link for one complainant of a replied case, valid LINK_DAYS from the reply (the
    same link however often the SMS is resent); None when the settings give no base
    address or no secret."""
    base, secret = settings.public_base_url.rstrip("/"), settings.rating_link_secret
    if not (base and secret):
        return None
    expires = int(replied_at.timestamp()) + LINK_DAYS * 86400
    return f"{base}{path}{sign(secret, complaint_id, complainant_id, expires)}"
