import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from services.common.privacy import mask_number
from services.common.signing import hmac_signature as sign
from services.notify.sms import HttpSmsSender, LoggingSmsSender, SmsError

ACCOUNT, SECRET = "jiesu", "sms-test-secret"


class FakeProvider(BaseHTTPRequestHandler):
    """Checks what a real provider checks; texts each idempotency key once."""

    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server.requests.append({"method": "POST", "path": self.path,
                                "headers": dict(self.headers), "body": body})
        if server.delay:
            time.sleep(server.delay)
        timestamp = self.headers.get("X-Sms-Timestamp", "")
        if (self.path != "/sms/send" or self.headers.get("X-Sms-Account") != ACCOUNT
                or self.headers.get("X-Sms-Signature") != sign(SECRET, timestamp, body)
                or abs(time.time() - int(timestamp or 0)) > 300):
            return self.answer(401)
        if server.status != 200:
            return self.answer(server.status)
        key = self.headers["Idempotency-Key"]
        if key not in server.sent:
            server.sent[key] = json.loads(body)
        self.answer(200)

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
    server.requests, server.sent, server.status, server.delay = [], {}, 200, 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def notification(**extra):
    values = dict(id="n-1", recipient_role="complainant", recipient_id="hotline:c-1",
                  address="13912345678",
                  recipient_name=None, channel="sms", template="case_received",
                  text="您的诉求已受理,编号 JS2026030001。")
    values.update(extra)
    return SimpleNamespace(**values)


def test_a_text_is_posted_signed_and_idempotent(provider):
    sender = HttpSmsSender(provider.base_url + "/", ACCOUNT, SECRET)

    sender.send(notification())
    sender.send(notification())                      # a resend

    first, second = provider.requests
    assert first["method"] == "POST" and first["path"] == "/sms/send"
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"] == "n-1"
    assert first["headers"]["Content-Type"].startswith("application/json")
    assert json.loads(first["body"]) == {"to": "13912345678", "account": ACCOUNT,
                                         "text": "您的诉求已受理,编号 JS2026030001。"}
    assert provider.sent == {"n-1": json.loads(first["body"])}   # texted once


def test_the_address_is_the_number_texted(provider):
    HttpSmsSender(provider.base_url, ACCOUNT, SECRET).send(
        notification(recipient_id="hotline:c-1", address="0531-88117897"))
    assert json.loads(provider.requests[0]["body"])["to"] == "053188117897"


def test_a_wrong_secret_is_refused(provider):
    with pytest.raises(SmsError, match="401"):
        HttpSmsSender(provider.base_url, ACCOUNT, "wrong").send(notification())
    assert provider.sent == {}


def test_a_server_error_raises_without_naming_the_number(provider):
    provider.status = 500
    with pytest.raises(SmsError, match="500") as caught:
        HttpSmsSender(provider.base_url, ACCOUNT, SECRET).send(notification())
    assert "13912345678" not in str(caught.value)


def test_a_timeout_raises(provider):
    provider.delay = 1.0
    with pytest.raises(SmsError, match="did not answer"):
        HttpSmsSender(provider.base_url, ACCOUNT, SECRET, timeout=0.2).send(notification())


def test_nobody_listening_raises():
    with pytest.raises(SmsError, match="unreachable"):
        HttpSmsSender("http://127.0.0.1:9", ACCOUNT, SECRET, timeout=1).send(notification())


def test_recipients_without_a_phone_or_id_are_refused(provider):
    sender = HttpSmsSender(provider.base_url, ACCOUNT, SECRET)
    with pytest.raises(SmsError, match="no phone"):
        sender.send(notification(address=None))
    with pytest.raises(SmsError, match="no phone"):
        sender.send(notification(address="s2023001"))
    with pytest.raises(SmsError, match="without an id"):
        sender.send(notification(id=None))
    assert provider.requests == []


def test_the_logging_sender_masks_the_number(caplog):
    with caplog.at_level(logging.INFO, logger="jiesu.notify.sms"):
        LoggingSmsSender().send(notification())
    assert "139****5678" in caplog.text and "13912345678" not in caplog.text
    assert "JS2026030001" in caplog.text


def test_mask_number():
    assert mask_number("13912345678") == "139****5678"
    assert mask_number("053188117897") == "053*****7897"
    assert mask_number("88117897") == "****7897"
    assert mask_number("") == ""
