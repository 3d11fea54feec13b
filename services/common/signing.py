"""The one request signature jiesu uses with the outside systems it talks HTTP to: the call
centre's webhook (it signs, we check) and the SMS provider (we sign, it checks).

    sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

with the timestamp in unix seconds sent beside it. It covers the body and the time, so a
captured request can be neither altered nor replayed later (the receiver refuses timestamps
more than 300 s off), and the secret itself never travels.
"""
from __future__ import annotations

import hashlib
import hmac


def hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"
