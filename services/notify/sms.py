"""SMS senders (R2): hotline callers have no app or WeChat account, so they hear from us by text.

Both senders implement the `send(notification)` interface of `senders.py`. The number is the
notification's `address` (notify fills it from the phone the caller's case recorded);
anything that is not a phone number is refused rather than texted.

The HTTP provider is generic. Its contract, which a real gateway or a small adapter in front of
one must honour:

    POST {base_url}/sms/send
    Content-Type: application/json
    Idempotency-Key: <notification id>          a resend of the same notification texts once
    X-Sms-Account: <account>
    X-Sms-Timestamp: <unix seconds>
    X-Sms-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>
    {"to": "13912345678", "text": "...", "account": "<account>"}

    2xx: accepted. Anything else, or no answer within `timeout` seconds: `SmsError`, and the
    notify service's resend loop tries again later with the same idempotency key.

HMAC rather than a bearer token: the secret never travels, and the signature covers the body
and a timestamp, so a captured request can neither be altered nor replayed later (the provider
should refuse timestamps more than 300 s off, like our own CTI webhook does).
"""
from __future__ import annotations

import json
import logging
import re
import time

import requests

from services.common.privacy import mask_number
from services.common.signing import hmac_signature

log = logging.getLogger("jiesu.notify.sms")

PHONE = re.compile(r"^\+?\d{5,20}$")


class SmsError(RuntimeError):
    """The provider did not accept the message. The text never names the number.
    `permanent`: resending it cannot succeed (notify gives it up at once)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def phone_of(notification) -> str:
    number = getattr(notification, "address", None)
    number = str(number or "").strip().replace("-", "").replace(" ", "")
    if not PHONE.match(number):
        raise SmsError(f"recipient {mask_number(number)} has no phone number to text",
                       permanent=True)
    return number


class HttpSmsSender:
    name = "sms"

    def __init__(self, base_url: str, account: str, secret: str, session=None,
                 timeout: float = 5, clock=time.time):
        if not base_url or not account or not secret:
            raise ValueError("HttpSmsSender needs base_url, account and secret")
        self.url = base_url.rstrip("/") + "/sms/send"
        self.account = account
        self.secret = secret
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock

    def __repr__(self) -> str:
        return f"HttpSmsSender({self.url!r}, account={self.account!r})"

    def send(self, notification) -> None:
        key = getattr(notification, "id", None)
        if not key:
            raise SmsError("a notification without an id cannot be sent idempotently")
        phone = phone_of(notification)
        body = json.dumps({"to": phone, "text": notification.text, "account": self.account},
                          ensure_ascii=False).encode("utf-8")
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": str(key),
            "X-Sms-Account": self.account,
            "X-Sms-Timestamp": timestamp,
            "X-Sms-Signature": hmac_signature(self.secret, timestamp, body),
        }
        try:
            response = self.session.post(self.url, data=body, headers=headers,
                                         timeout=self.timeout)
        except requests.Timeout as exc:
            raise SmsError(f"SMS provider did not answer within {self.timeout}s") from exc
        except requests.RequestException as exc:
            raise SmsError(f"SMS provider unreachable: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise SmsError(f"SMS provider answered {response.status_code}")
        log.info("sms %s to %s accepted", key, mask_number(phone))


class LoggingSmsSender:
    name = "sms-logging"

    def send(self, notification) -> None:
        log.info("sms to %s [%s]: %s", mask_number(phone_of(notification)),
                 notification.template, notification.text)
