"""Local stand-ins for the outside services the channels talk to: WeChat's HTTP API and an
SMS provider. Real HTTP servers (werkzeug, in a thread) that check what the real ones check
and keep what they accepted, for the end-to-end tests."""
from __future__ import annotations

import json
import threading
import time

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.common.signing import hmac_signature as sign


class _Server:
    def __init__(self):
        self.lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    @staticmethod
    def answer(http_status=200, **fields):
        return Response(json.dumps(fields, ensure_ascii=False), status=http_status,
                        mimetype="application/json")


class FakeWeChatApi(_Server):
    """/cgi-bin/token and /cgi-bin/message/template/send, with WeChat's error codes."""

    def __init__(self, app_id: str, secret: str):
        super().__init__()
        self.app_id, self.secret = app_id, secret
        self.tokens: set[str] = set()
        self.delivered: list[dict] = []

    def handle(self, request):
        if request.path == "/cgi-bin/token" and request.method == "GET":
            args = request.args
            if args.get("grant_type") != "client_credential" or args.get("appid") != self.app_id:
                return self.answer(errcode=40013, errmsg="invalid appid")
            if args.get("secret") != self.secret:
                return self.answer(errcode=40001, errmsg="invalid credential")
            with self.lock:
                token = f"TOKEN-{len(self.tokens) + 1}"
                self.tokens.add(token)
            return self.answer(access_token=token, expires_in=7200)
        if request.path == "/cgi-bin/message/template/send" and request.method == "POST":
            if request.args.get("access_token") not in self.tokens:
                return self.answer(errcode=40014, errmsg="invalid access_token")
            if not request.mimetype == "application/json":
                return self.answer(errcode=47001, errmsg="data format error")
            body = json.loads(request.get_data().decode("utf-8"))
            if not body.get("touser") or not body.get("template_id") or not all(
                    isinstance(v, dict) and isinstance(v.get("value"), str)
                    for v in body.get("data", {}).values()):
                return self.answer(errcode=47001, errmsg="data format error")
            with self.lock:
                self.delivered.append(body)
            return self.answer(errcode=0, errmsg="ok", msgid=len(self.delivered))
        return Response("not found", status=404)


class FakeSmsProvider(_Server):
    """POST /sms/send as services/notify/sms.py describes it: signed, idempotent."""

    def __init__(self, account: str, secret: str):
        super().__init__()
        self.account, self.secret = account, secret
        self.sent: dict[str, dict] = {}

    def handle(self, request):
        body = request.get_data()
        timestamp = request.headers.get("X-Sms-Timestamp", "")
        if (request.path != "/sms/send" or request.method != "POST"
                or request.headers.get("X-Sms-Account") != self.account
                or request.headers.get("X-Sms-Signature") != sign(self.secret, timestamp, body)
                or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300):
            return self.answer(401, error="unauthorized")
        with self.lock:
            self.sent.setdefault(request.headers["Idempotency-Key"], json.loads(body))
        return self.answer(200, status="accepted")

    def texts_to(self, number: str) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.sent.values() if m["to"] == number]
