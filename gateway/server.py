"""The gateway's HTTP server: nameko's WebServer, made safe against slow and oversized requests.

nameko 2.14 parses a request with no socket timeout and hands it to a worker (one of the
container's `max_workers`); the entrypoint then read the body from the socket inside that
worker. Ten clients sending their bodies slowly held every worker, and even /healthz stopped
answering. Here instead:

* the request line and headers must be in within `request_read_timeout_seconds` of the
  connection being ready for a request: a total deadline, not one per read, so a byte every
  few seconds does not keep a connection for ever. Then 408, or a silent close when the
  client sent nothing at all (an idle keep-alive connection);
* before a byte of the body is read, the cheap checks: a channel that is off (404), a
  declared length over the route's limit (413), a bearer token that does not verify (401);
* the body is read whole by the connection's own greenthread, within the same timeout
  (408 after it), never more than the route's limit (chunked bodies too); only then is a
  worker spawned, so a worker never waits on the network;
* /healthz is answered here, without a worker;
* the gateway has a worker pool of its own size (`gateway_max_workers`): its workers only
  wait on RPC, so many are cheap.

A request answered without its body being read closes its connection after a short
lingering read, so that a client still sending sees the answer rather than a reset.
docs/DEPLOY.md says what the reverse proxy in front should do as well.
"""
from __future__ import annotations

import io
import json
import logging
import re
import socket
from dataclasses import dataclass
from typing import Callable

import eventlet
from eventlet import wsgi
from eventlet.support import get_errno
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from gateway import open311
from gateway.auth import Unauthorized, principal_for, public_key_from
from gateway.http import EVERY_METHOD, error_response, json_response
from services.common import ports
from services.common.health import alive
from services.common.settings import Settings

log = logging.getLogger("jiesu.gateway.server")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# After answering a request whose body was not read: how long and how much to keep reading
# (and dropping) before closing, so that the client gets to read the answer.
LINGER_SECONDS = 2.0
LINGER_BYTES = 16 * 1024 * 1024
MAX_CHUNK_LINE = 1024   # a chunk-size line, or a trailer line
MAX_TRAILERS = 32
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_CATCH_ALL = re.compile(r"/(<path:\w+>)?")
_BROKEN = wsgi.BROKEN_SOCK | wsgi.BAD_SOCK


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}},
                      ensure_ascii=False).encode("utf-8")


def _timeout_message(what: str, seconds: float) -> str:
    chinese = {"headers": "请求头", "body": "请求体"}[what]
    return f"请求超时:{seconds:g} 秒内未收到完整的{chinese} (request {what} not received " \
           f"within {seconds:g} s)"


# ------------------------------------------------------------------------- connections
class GatewayProtocol(HttpOnlyProtocol):
    """One connection. The request line and headers have one deadline; the WSGI app reads
    the body under another (GatewayWsgiApp)."""

    def setup(self):
        self._deadline = None
        self._request_started = False
        self._headers_read = False
        self._linger = False
        super().setup()

    def handle_one_request(self):
        self._deadline = eventlet.Timeout(self.server.read_timeout)
        self._request_started = self._headers_read = False
        try:
            super().handle_one_request()
        except eventlet.Timeout as exc:
            if exc is not self._deadline:
                raise
            self._headers_timed_out()
        except TimeoutError:   # one read waited the whole timeout
            if self._headers_read:
                raise   # writing the answer timed out: eventlet drops the connection
            self._headers_timed_out()
        finally:
            self._deadline.cancel()

    def _read_request_line(self):
        # Wait for the first byte apart from the rest, to tell an idle connection (closed
        # without a word) from a request that came too slowly (408).
        try:
            self._request_started = not self.rfile.closed and bool(self.rfile.peek(1))
        except OSError as exc:
            if get_errno(exc) not in _BROKEN:
                raise
        return super()._read_request_line()

    def parse_request(self):
        try:
            parsed = super().parse_request()
        finally:
            self._deadline.cancel()
        self._headers_read = True
        return parsed

    def _headers_timed_out(self):
        self.close_connection = 1
        if not self._request_started:
            return
        seconds = self.server.read_timeout
        log.info("request headers from %s not received within %g s", self.client_address[0],
                 seconds)
        body = _error_body("request_timeout", _timeout_message("headers", seconds))
        try:
            self.wfile.write(b"HTTP/1.1 408 Request Timeout\r\n"
                             b"Content-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                             % (len(body), body))
            self.wfile.flush()
        except OSError:
            return
        self._linger = True

    def get_environ(self):
        env = super().get_environ()
        env["jiesu.leave_body_unread"] = self._leave_body_unread
        return env

    def _leave_body_unread(self):
        """The answer goes out with the body (or part of it) unread: the connection cannot
        carry another request, and eventlet must not read the rest to find its end."""
        self.close_connection = 1
        self._linger = True

    def finish(self):
        if self._linger:
            self._linger_before_close()
        super().finish()

    def _linger_before_close(self):
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            drained = 0
            with eventlet.Timeout(LINGER_SECONDS, False):
                while drained < LINGER_BYTES:
                    data = self.connection.recv(64 * 1024)
                    if not data:
                        break
                    drained += len(data)
        except OSError:
            pass


# ------------------------------------------------------------------------ body rules
def _json_refusal(status, code, message, values, headers=None):
    return error_response(status, code, message, headers=headers)


def _open311_refusal(status, code, message, values, headers=None):
    return open311.error(values.get("fmt", "json"), status, message)


def _page_refusal(status, code, message, values, headers=None):
    # A person's browser shows a page, not JSON (gateway/pages/).
    from html import escape

    text = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>无法处理'
            f'</title></head><body><h1>无法处理</h1><p>{escape(message)}</p></body></html>')
    return Response(text, status=status, mimetype="text/html",
                    headers=dict({"Content-Security-Policy": "default-src 'none'"},
                                 **(headers or {})))


def _wechat_refusal(status, code, message, values, headers=None):
    # WeChat's servers get the channel's plain-text answers; an oversized body has always
    # been "bad request" to them.
    status = status if status in (404, 408) else 400
    return Response({404: "not found", 408: "request timeout"}.get(status, "bad request"),
                    status=status, mimetype="text/plain")


@dataclass(frozen=True)
class BodyRules:
    """What the connection checks for one route before and while it reads a body."""
    limit: int
    reads_body: bool = True
    enabled: bool = True
    bearer: bool = False
    length_required: bool = False   # a chunked body is refused (411) rather than read
    too_large: tuple[str, str] = ("body_too_large", "请求体超过 {limit} 字节 (body too large)")
    off_message: str = "未找到 (not found)"
    refuse: Callable[..., Response] = _json_refusal


def body_rules(url: str, settings: Settings) -> BodyRules:
    limit = settings.max_body_bytes
    if _CATCH_ALL.fullmatch(url):   # no route: the entrypoint answers 404/405 without a body
        return BodyRules(limit, reads_body=False)
    if url.startswith("/open311/"):
        return BodyRules(limit, enabled=any(settings.open311_api_keys),
                         too_large=("too_large", "request larger than {limit} bytes"),
                         off_message="Open311 is not enabled here", refuse=_open311_refusal)
    if url == "/wechat":
        return BodyRules(limit, enabled=bool(settings.wechat_token), refuse=_wechat_refusal)
    if url.startswith("/hotline/"):
        return BodyRules(limit, enabled=any(settings.hotline_webhook_secrets),
                         too_large=("too_large", "事件过大 (event too large)"),
                         off_message="热线未接入 (the hotline webhook is off)")
    if url.startswith(("/h5/", "/console/")):
        if url == "/h5/file":   # the H5's filing form carries its photos (compressed)
            return BodyRules(settings.max_photo_bytes * settings.max_attachments
                             + settings.max_body_bytes,
                             too_large=("too_large", "提交的内容超过 {limit} 字节,请减少照片后重试"),
                             refuse=_page_refusal)
        return BodyRules(limit, too_large=("too_large", "提交的内容超过 {limit} 字节"),
                         refuse=_page_refusal)
    # Imported here: the document imports the office's route modules, which import this one.
    from gateway.openapi import PUBLIC

    bearer = url.startswith("/api/v1/") and url not in PUBLIC
    if url.startswith("/api/v1/") and url.endswith("/attachments"):
        return BodyRules(max(settings.max_photo_bytes, settings.max_voice_bytes), bearer=bearer,
                         length_required=True,
                         too_large=("too_large", "附件超过 {limit} 字节 (attachment too large)"))
    return BodyRules(limit, bearer=bearer)


class BodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def read_body(stream, limit: int) -> bytes:
    """The whole body of the request `stream` (eventlet's wsgi.input), read from the
    connection: at most `limit` bytes of it, chunked or not. The caller bounds the time."""
    if stream.should_send_hundred_continue:   # the client waits for it before sending
        stream.send_hundred_continue_response()
        stream.is_hundred_continue_response_sent = True
    if stream.chunked_input:
        body = _read_chunked(stream.rfile, limit)
        stream.chunk_length = 0   # consumed: eventlet must not look for more
        return body
    length = stream.content_length or 0
    body = stream.rfile.read(length) if length else b""
    stream.position = len(body)
    if len(body) < length:
        raise BodyRefused(400, "incomplete_body", "请求体不完整 (the body ended early)")
    return body


def _read_chunked(rfile, limit: int) -> bytes:
    body = bytearray()
    while True:
        size = _chunk_size(rfile.readline(MAX_CHUNK_LINE))
        if size == 0:
            break
        if len(body) + size > limit:
            raise BodyRefused(413, "too_large", "body too large")
        data = rfile.read(size)
        if len(data) < size:
            raise BodyRefused(400, "incomplete_body", "请求体不完整 (the body ended early)")
        body += data
        if rfile.readline(MAX_CHUNK_LINE) not in (b"\r\n", b"\n"):
            raise _malformed_chunks()
    for _ in range(MAX_TRAILERS):
        line = rfile.readline(MAX_CHUNK_LINE)
        if line in (b"\r\n", b"\n"):
            return bytes(body)
        if not line.endswith(b"\n"):
            raise _malformed_chunks()
    raise _malformed_chunks()


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(digits):
        raise _malformed_chunks()
    return int(digits, 16)


def _malformed_chunks() -> BodyRefused:
    return BodyRefused(400, "malformed_body", "分块传输格式错误 (malformed chunked body)")


# --------------------------------------------------------------------------- the app
class GatewayWsgiApp(WsgiApp):
    def __init__(self, server):
        super().__init__(server)
        self.rules = {}

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/healthz" and environ["REQUEST_METHOD"] in ("GET", "HEAD"):
            return json_response(alive())(environ, start_response)
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
        except HTTPException as exc:
            self._skip_body(environ)
            return exc(environ, start_response)
        refusal = self._take_body(environ, provider, values)
        if refusal is not None:
            return refusal(environ, start_response)
        request = Request(environ, shallow=True)
        request.path_values = values
        return provider.handle_request(request)(environ, start_response)

    def _rules(self, provider) -> BodyRules:
        if provider not in self.rules:
            self.rules[provider] = body_rules(provider.url, self.server.settings)
        return self.rules[provider]

    def _take_body(self, environ, provider, values) -> Response | None:
        """None when the request may go to a worker (its body, if any, in memory); else
        the refusal to send instead."""
        rules = self._rules(provider)
        method = environ["REQUEST_METHOD"]
        encoding = environ.get("HTTP_TRANSFER_ENCODING", "").strip().lower()
        if encoding not in ("", "chunked"):   # eventlet would take the body as empty
            # Where such a body ends is unknown: what follows must not be read as a request.
            environ["jiesu.leave_body_unread"]()
            self._skip_body(environ)
            return _json_refusal(400, "unsupported_transfer_encoding",
                                 f"不支持的 Transfer-Encoding: {encoding}", values)
        if method not in BODY_METHODS or not rules.reads_body:
            self._skip_body(environ)
            return None
        refusal = self._before_body(environ, rules, values)
        if refusal is not None:
            self._skip_body(environ)
            return refusal
        seconds = self.server.read_timeout
        deadline = eventlet.Timeout(seconds)
        try:
            body = read_body(environ["eventlet.input"], rules.limit)
        except (eventlet.Timeout, TimeoutError) as exc:   # the deadline, or one read's
            if isinstance(exc, eventlet.Timeout) and exc is not deadline:
                raise
            log.info("request body for %s from %s not received within %g s",
                     environ["PATH_INFO"], environ.get("REMOTE_ADDR"), seconds)
            return self._refuse(environ, rules, values, 408, "request_timeout",
                                _timeout_message("body", seconds))
        except BodyRefused as refused:
            if refused.status == 413:
                return self._refuse(environ, rules, values, 413, *self._too_large(rules))
            return self._refuse(environ, rules, values, refused.status, refused.code,
                                refused.message)
        except OSError:   # the client went away
            return self._refuse(environ, rules, values, 400, "incomplete_body",
                                "请求体不完整 (the body ended early)")
        finally:
            deadline.cancel()
        environ["wsgi.input"] = io.BytesIO(body)
        # werkzeug reads a terminated input whole, chunked or not (else a chunked body would
        # look empty to it); the headers stay as the client sent them.
        environ["wsgi.input_terminated"] = True
        return None

    def _before_body(self, environ, rules: BodyRules, values) -> Response | None:
        if not rules.enabled:
            return rules.refuse(404, "not_found", rules.off_message, values)
        length = environ.get("CONTENT_LENGTH")
        if rules.length_required and length is None and _chunked(environ):
            return rules.refuse(411, "length_required", "须提供 Content-Length", values)
        if length and int(length) > rules.limit:
            return rules.refuse(413, *self._too_large(rules), values)
        if rules.bearer:
            try:
                principal_for(environ.get("HTTP_AUTHORIZATION"), self.server.settings,
                              self.server.public_key)
            except Unauthorized as exc:
                return rules.refuse(401, "unauthorized", str(exc), values,
                                    headers={"WWW-Authenticate": 'Bearer realm="jiesu"'})
        return None

    @staticmethod
    def _too_large(rules: BodyRules) -> tuple[str, str]:
        code, message = rules.too_large
        return code, message.format(limit=rules.limit)

    def _refuse(self, environ, rules, values, status, code, message) -> Response:
        environ["jiesu.leave_body_unread"]()
        return rules.refuse(status, code, message, values)

    @staticmethod
    def _skip_body(environ):
        """Nobody reads this request's body: a worker must not wait on the network for it."""
        if environ.get("CONTENT_LENGTH", "0") not in ("", "0") or _chunked(environ):
            environ["jiesu.leave_body_unread"]()
        environ["wsgi.input"] = io.BytesIO(b"")
        environ["wsgi.input_terminated"] = True


def _chunked(environ) -> bool:
    return environ.get("HTTP_TRANSFER_ENCODING", "").strip().lower() == "chunked"


# ------------------------------------------------------------------------ the server
class GatewayWebServer(WebServer):
    def setup(self):
        self.settings = Settings.from_container_config(self.container.config)
        self.read_timeout = self.settings.request_read_timeout_seconds
        self.public_key = public_key_from(self.settings.jwt_public_key)
        workers = self.settings.gateway_max_workers
        if workers and workers != self.container.max_workers:
            # The gateway's own pool size (the services keep `max_workers`): nameko sizes
            # every container's pool from the one config of the process.
            self.container.max_workers = workers
            self.container._worker_pool.resize(workers)

    def start(self):
        # As nameko's, but without SO_REUSEPORT (eventlet.listen's default): a second gateway
        # on this port must fail to start, not share the connections with the first.
        if not self._starting:
            self._starting = True
            address, port = self.bind_addr
            self._sock = ports.listen(address, port, ports.GATEWAY)
            self._sock.settimeout(None)   # as nameko: kombu's socket timeout must not leak in
            self._serv = self.get_wsgi_server(self._sock, self.get_wsgi_app())
            self._gt = self.container.spawn_managed_thread(self.run)

    def get_wsgi_app(self):
        return GatewayWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=GatewayProtocol, debug=False):
        server = wsgi.Server(sock, sock.getsockname(), wsgi_app, protocol=protocol, debug=debug,
                             log=logging.getLogger("nameko.web.server"),
                             # each read and write, as a backstop to the deadlines above
                             socket_timeout=self.read_timeout)
        server.read_timeout = self.read_timeout
        return server


class HttpEntrypoint(HttpRequestHandler):
    server = GatewayWebServer()

    def get_url_rule(self):
        # "*": every method, even one no library names (PROPFIND): the catch-all route then
        # answers it in the error shape, 405 with the path's own Allow, never werkzeug's page.
        if self.method == EVERY_METHOD:
            return Rule(self.url, methods=None)
        return super().get_url_rule()


http = HttpEntrypoint.decorator
