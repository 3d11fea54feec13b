"""gateway/server.py on a small service of its own (no broker needed): deadlines on headers
and bodies, the checks before a body is read, bounded chunked reading, /healthz without a
worker, and the gateway's own worker pool."""
from __future__ import annotations

from http.client import HTTPResponse
import io
import json
import select
import socket
import time

import pytest
from eventlet.event import Event
from werkzeug.wrappers import Response

from gateway.auth import issue_token
from gateway.server import BodyRefused, _read_chunked, body_rules, http
from services.common.settings import Settings, nameko_config

SECRET = "server-test-secret-0123456789abcdef"
BOUND = 10   # only how long before a test calls it a hang
released = Event()   # lets /busy's one worker finish


class EchoService:
    name = "echo"

    @http("POST", "/api/v1/echo")
    def api_echo(self, request):
        return Response(request.get_data(), status=200)

    @http("POST", "/open/echo")
    def open_echo(self, request):
        return Response(request.get_data(), status=200)

    @http("GET", "/busy")
    def busy(self, request):
        released.wait()
        return "done"

    @http("GET", "/healthz")
    def healthz(self, request):
        return "from a worker"


@pytest.fixture
def start(container_factory, web_config):
    def start_with(**changes):
        settings = Settings(jwt_secret=SECRET, log_json=False, **changes)
        config = nameko_config(settings, WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"])
        container = container_factory(EchoService, config)
        container.start()
        host, port = web_config["WEB_SERVER_ADDRESS"].split(":")
        return container, (host, int(port))
    return start_with


def _bearer() -> str:
    return f"Bearer {issue_token(SECRET, 's1')}"


def _request(path, body=b"", method="POST", **headers) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _answer(sock):
    sock.settimeout(BOUND)
    response = HTTPResponse(sock)
    response.begin()
    return response.status, response.headers, response.read()


def _code(body: bytes) -> str:
    return json.loads(body)["error"]["code"]


def _trickle(sock, payload: bytes, every=0.1, bound=BOUND):
    deadline = time.monotonic() + bound
    for byte in payload:
        if select.select([sock], [], [], every)[0] or time.monotonic() > deadline:
            break
        sock.sendall(bytes([byte]))
    return _answer(sock)


def test_the_body_reaches_the_worker_and_the_connection_is_reused(start):
    _, address = start()
    with socket.create_connection(address, timeout=BOUND) as sock:
        for text in (b"first", b"second"):
            sock.sendall(_request("/open/echo", text, Content_Length=len(text)))
            status, _, body = _answer(sock)
            assert (status, body) == (200, text)


def test_healthz_answers_without_a_worker(start):
    container, address = start(gateway_max_workers=1)
    assert container.max_workers == 1
    with socket.create_connection(address, timeout=BOUND) as busy:
        busy.sendall(_request("/busy", method="GET"))
        with socket.create_connection(address, timeout=BOUND) as sock:
            sock.sendall(_request("/healthz", method="GET"))
            status, _, body = _answer(sock)
        assert status == 200 and json.loads(body)["status"] == "ok"
        released.send()
        assert _answer(busy)[2] == b"done"


def test_the_gateway_has_its_own_worker_pool(start):
    container, _ = start(max_workers=10, gateway_max_workers=70)
    assert container.max_workers == 70
    assert container._worker_pool.size == 70


def test_headers_and_bodies_have_a_total_deadline(start):
    _, address = start(request_read_timeout_seconds=0.5)
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(b"POST /open/echo HTTP/1.1\r\n")
        status, headers, body = _trickle(sock, b"X-Slow: " + b"a" * 100)
        assert status == 408 and _code(body) == "request_timeout"
        assert headers["Connection"] == "close"
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(_request("/open/echo", b"ab", Content_Length=100))
        status, headers, body = _trickle(sock, b"c" * 98)
        assert status == 408 and _code(body) == "request_timeout"
        assert headers["Connection"] == "close"
    with socket.create_connection(address, timeout=BOUND) as sock:   # idle: closed, no word
        assert sock.recv(100) == b""


def test_cheap_refusals_come_before_the_body_is_read(start):
    _, address = start(request_read_timeout_seconds=BOUND * 3, max_body_bytes=100)
    refusals = [
        (_request("/open/echo", Content_Length=101), 413, "body_too_large"),
        (_request("/api/v1/echo", Content_Length=10), 401, "unauthorized"),
        (_request("/api/v1/echo", Content_Length=10, Authorization="Bearer x.y.z"), 401,
         "unauthorized"),
        (_request("/api/v1/echo", Content_Length=10,   # the handlers' rules: lifetime capped
                  Authorization=f"Bearer {issue_token(SECRET, 's1', expires_in=13 * 3600)}"),
         401, "unauthorized"),
        (_request("/open/echo", Transfer_Encoding="gzip"), 400,
         "unsupported_transfer_encoding"),
    ]
    for head, status, code in refusals:
        with socket.create_connection(address, timeout=BOUND) as sock:
            sock.sendall(head)   # and never the body: the answer must not wait for it
            answer = _answer(sock)
            assert (answer[0], _code(answer[2])) == (status, code), head
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(_request("/api/v1/echo", b"{}", Content_Length=2, Authorization=_bearer()))
        assert _answer(sock)[0] == 200


def test_a_client_still_sending_sees_the_refusal_not_a_reset(start):
    _, address = start(max_body_bytes=100)
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(_request("/open/echo", Content_Length=300_000))
        sock.sendall(b"x" * 300_000)
        assert _answer(sock)[0] == 413


def test_chunked_bodies_are_read_within_the_limit(start):
    _, address = start(max_body_bytes=100)
    chunked = {"Transfer_Encoding": "chunked"}
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(_request("/open/echo", b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
                              **chunked))
        assert _answer(sock)[:3:2] == (200, b"hello world")
        sock.sendall(_request("/open/echo", b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n",
                              **chunked))   # the same connection: the body was all read
        assert _answer(sock)[:3:2] == (200, b"abc")
    for body, status, code in ((b"65\r\n" + b"x" * 101 + b"\r\n0\r\n\r\n", 413,
                                "body_too_large"),
                               (b"zz\r\nhello\r\n0\r\n\r\n", 400, "malformed_body"),
                               (b"0x5\r\nhello\r\n0\r\n\r\n", 400, "malformed_body")):
        with socket.create_connection(address, timeout=BOUND) as sock:
            sock.sendall(_request("/open/echo", body, **chunked))
            answer = _answer(sock)
            assert (answer[0], _code(answer[2])) == (status, code), body


def test_expect_100_continue_is_answered_before_the_body(start):
    _, address = start()
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(_request("/open/echo", Content_Length=5, Expect="100-continue"))
        sock.settimeout(BOUND)
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        assert _answer(sock)[:3:2] == (200, b"hello")


def test_chunked_reading_stops_at_the_limit():
    stream = io.BytesIO(b"40\r\n" + b"a" * 64 + b"\r\n" + b"40\r\n" + b"b" * 64 + b"\r\n0\r\n\r\n")
    with pytest.raises(BodyRefused) as refused:
        _read_chunked(stream, 100)
    assert refused.value.status == 413
    assert stream.tell() <= 4 + 64 + 2 + 4   # the second chunk's data was never read
    endless = io.BytesIO(b"1" * 10_000)   # a chunk-size line that never ends
    with pytest.raises(BodyRefused):
        _read_chunked(endless, 100)
    assert endless.tell() <= 1024


def test_the_body_rules_of_the_gateway_routes():
    settings = Settings(max_body_bytes=1000, max_photo_bytes=5000, max_voice_bytes=3000)
    filing = body_rules("/api/v1/complaints", settings)
    assert (filing.limit, filing.bearer, filing.enabled) == (1000, True, True)
    upload = body_rules("/api/v1/complaints/<string:complaint_id>/attachments", settings)
    assert (upload.limit, upload.bearer, upload.length_required) == (5000, True, True)
    assert not body_rules("/api/v1/categories", settings).bearer
    assert not body_rules("/<path:unknown_path>", settings).reads_body
    assert not body_rules("/", settings).reads_body
    for url in ("/open311/v2/requests.<string:fmt>", "/wechat", "/hotline/calls/events"):
        assert not body_rules(url, settings).enabled, url
    on = settings.with_changes(open311_api_keys=("app:key",), wechat_token="t",
                               hotline_webhook_secrets=("s",))
    for url in ("/open311/v2/requests.<string:fmt>", "/wechat", "/hotline/calls/events"):
        rules = body_rules(url, on)
        assert rules.enabled and not rules.bearer, url



def test_a_body_in_a_framing_the_server_does_not_take_closes_the_connection(start):
    # The bytes after the headers cannot be told from a next request: answering, then
    # reading them as one would smuggle a request (or garble the next answer).
    _, address = start()
    smuggled = _request("/open/echo", b"hidden", Content_Length=6)
    with socket.create_connection(address, timeout=BOUND) as sock:
        sock.sendall(_request("/open/echo", smuggled, Transfer_Encoding="gzip"))
        status, headers, body = _answer(sock)
        assert (status, _code(body)) == (400, "unsupported_transfer_encoding")
        assert headers["Connection"] == "close"
        sock.settimeout(BOUND)
        assert sock.recv(1024) == b""   # closed: the smuggled request was never answered


def test_the_server_does_not_bind_beside_another_on_its_port(start, web_config):
    # eventlet.listen sets SO_REUSEPORT by default: the kernel would then share one port's
    # connections between this gateway and whatever else holds it (another jiesu).
    from services.common.ports import PortTaken

    host, port = web_config["WEB_SERVER_ADDRESS"].split(":")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    squatter.bind((host, int(port)))
    squatter.listen()
    try:
        with pytest.raises(PortTaken, match=f"port {port} .*JIESU_GATEWAY_PORT"):
            start()
    finally:
        squatter.close()
