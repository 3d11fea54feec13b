"""JSON in, JSON out, and one error shape for every 4xx/5xx:

    {"error": {"code": "invalid_input", "message": "content: ...", "fields": {...}}}

`code` is the specific reason (`illegal_transition`, `body_too_large`, ...), `message` says it
in words a client can show as it is, `fields` (when there is detail) says where. Every
exception becomes that shape in one place, `error_for`.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import uuid

from nameko.exceptions import UnknownService
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from gateway.auth import Unauthorized
from gateway.limits import RateLimited
from services.common.bus import BROKER_ERRORS, RpcTimeout
from services.common.errors import JiesuError
from services.common.fields import NOT_IN_A_TEXT
from services.common.settings import Settings

log = logging.getLogger("jiesu.gateway")
# The largest body the gateway reads is the setting `max_body_bytes`; the routes pass the
# configured value, and this, its default, stands in where a caller gives none (tests).
MAX_BODY_BYTES = Settings.max_body_bytes
# The deepest form the API takes (a timetable: body, milestones, one milestone) is 3 levels;
# anything near Python's recursion limit would fail later, in marshmallow or the RPC encoder.
MAX_JSON_DEPTH = 32
# The catch-all route's method: every one, so that none falls through to werkzeug's HTML
# pages (gateway/server.py gives it a rule without a method list).
EVERY_METHOD = "*"

# Refused in any string of a JSON body (keys too), as intake's `Text` fields refuse it.
FORBIDDEN_TEXT = NOT_IN_A_TEXT
BIGGEST_INTEGER = 2 ** 63 - 1   # PostgreSQL's BIGINT, the widest integer column
MAX_PATH_VALUE = 200             # ids are UUIDs or codes; the catch-all's path may be longer


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, fields=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.headers = fields, headers or {}


def json_response(body, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    mimetype="application/json")


def attachment_response(store, found: dict) -> Response:
    """A case's photo or voice message as intake described it (`found`: sha256, media_type),
    from the gateway's store: the API's download and the pages' <img> alike. Its type is the
    one read from its bytes when it was stored; the browser may not sniff another or run it."""
    from gateway.attachments import AttachmentNotFound

    try:
        data = store.open(found["sha256"])
    except (AttachmentNotFound, ValueError):
        raise HttpError(404, "not_found", "附件不存在 (attachment not found)") from None
    return Response(data, mimetype=found["media_type"], headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def error_response(status: int, code: str, message: str, fields=None, headers=None):
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return json_response({"error": error}, status, headers)


# --------------------------------------------------------------------------- JSON bodies
def read_json(request, max_bytes: int = MAX_BODY_BYTES) -> dict:
    """The request's JSON object, after the checks that cost nothing (type, charset, length)
    and before any service sees it: well formed, no key twice, not absurdly deep, numbers
    that fit, and no string holding a character that cannot be stored or shown honestly."""
    if request.mimetype != "application/json":
        raise HttpError(415, "unsupported_media_type", "请求体须为 JSON (send application/json)")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.strip().lower().replace("_", "-") not in ("utf-8",
                                                                                  "utf8"):
        raise HttpError(415, "unsupported_media_type",
                        "JSON 须以 UTF-8 编码 (send JSON as UTF-8: charset=utf-8 or none)")
    if request.content_length is not None and request.content_length > max_bytes:
        raise HttpError(413, "body_too_large", f"请求体超过 {max_bytes} 字节 (body too large)")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise HttpError(413, "body_too_large", f"请求体超过 {max_bytes} 字节 (body too large)")
    return parse_json(raw)


class _Refused(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _object(pairs):
    body = {}
    for key, value in pairs:
        if key in body:
            raise _Refused("duplicate_key", f"键重复:{_shown(key)} (the key {_shown(key)!r} "
                                            f"appears twice)")
        body[key] = value
    return body


def _no_constant(name):
    raise _Refused("malformed_json", f"JSON 不允许 {name} (NaN and Infinity are not JSON)")


def _finite(text):
    number = float(text)
    if not math.isfinite(number):
        raise _Refused("malformed_json", "数值超出范围 (number out of range)")
    return number


def _bounded(text):
    number = int(text)
    if abs(number) > BIGGEST_INTEGER:
        raise _Refused("malformed_json", "数值超出范围 (number out of range)")
    return number


def parse_json(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_object,
                          parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded)
    except _Refused as refused:
        raise HttpError(400, refused.code, refused.message) from None
    except RecursionError:
        raise HttpError(400, "too_deep", f"JSON 嵌套过深 (nested deeper than {MAX_JSON_DEPTH} "
                                         f"levels)") from None
    except UnicodeDecodeError:
        raise HttpError(400, "malformed_json", "JSON 须为 UTF-8 编码 (not valid UTF-8)") from None
    except ValueError as exc:  # JSONDecodeError, and integers too long to convert
        raise HttpError(400, "malformed_json", f"JSON 格式错误 (malformed JSON: {exc})") from None
    if not isinstance(body, dict):
        raise HttpError(400, "malformed_json", "请求体须为 JSON 对象 (expected a JSON object)")
    _check_strings_and_depth(body)
    return body


def _check_strings_and_depth(body: dict) -> None:
    """Walks the parsed body without recursion (its depth is what is being checked)."""
    pending = [(body, (), 1)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise HttpError(400, "too_deep", f"JSON 嵌套过深 (nested deeper than "
                                             f"{MAX_JSON_DEPTH} levels)")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, path + (key,))
                pending.append((item, path + (key,), depth + 1))
        elif isinstance(value, list):
            pending.extend((item, path + (str(index),), depth + 1)
                           for index, item in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, path)


def _check_text(text: str, path) -> None:
    found = FORBIDDEN_TEXT.search(text)
    if found is None:
        return
    where = ".".join(_shown(step) for step in path) or "(body)"
    problem = (f"含有不允许的字符 U+{ord(found.group()):04X} "
               f"(control, bidi or unpaired surrogate character)")
    raise HttpError(400, "invalid_input", f"{where}: {problem}", fields={where: [problem]})


def _shown(text: str) -> str:
    """`text` safe to echo back: what is refused in it written as \\uXXXX."""
    return FORBIDDEN_TEXT.sub(lambda found: f"\\u{ord(found.group()):04x}", text)[:64]


def filing_key(request) -> str:
    """The client's Idempotency-Key, so a retried POST returns the first result; without
    one, a key for this request alone, so that nameko redelivering the RPC (its worker died
    before acking) does not file twice."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return f"req-{uuid.uuid4()}"
    key = key.strip()
    if not 8 <= len(key) <= 80 or not key.isprintable():
        raise HttpError(400, "invalid_idempotency_key",
                        "Idempotency-Key 须为 8–80 个可打印字符 (8-80 printable characters)")
    return f"client-{key}"


# ------------------------------------------------------------------------ methods (405)
@functools.cache
def _routes(service_cls) -> Map:
    """The service's routes (all but the catch-all), to tell "no such path" from "not with
    this method"."""
    rules = []
    for name in dir(service_cls):
        for entrypoint in getattr(getattr(service_cls, name, None), "nameko_entrypoints", ()):
            method, url = getattr(entrypoint, "method", None), getattr(entrypoint, "url", None)
            if method and url and method != EVERY_METHOD:
                rules.append(Rule(url, methods=method.split(",")))
    return Map(rules)


def allowed_methods(service_cls, path: str) -> list[str]:
    """The methods some route of the service answers at `path`; [] when none does."""
    try:
        _routes(service_cls).bind("gateway").match(path, method="-")
    except MethodNotAllowed as exc:
        return sorted(exc.valid_methods or ())
    except NotFound:
        return []
    return []


def route_error(service_cls, request, path: str) -> HttpError:
    """405 with Allow when the path exists under other methods, else 404."""
    allowed = allowed_methods(service_cls, path)
    if allowed:
        return method_not_allowed(allowed)
    return HttpError(404, "not_found", f"没有这个地址 (no such path: {path[:200]})")


def method_not_allowed(allowed) -> HttpError:
    allow = ", ".join(allowed)
    return HttpError(405, "method_not_allowed",
                     f"此地址不支持该方法,可用:{allow} (method not allowed; allowed: {allow})",
                     headers={"Allow": allow})


def _check_path_values(values: dict) -> None:
    """An id in the path with a control character (a NUL cannot even be compared in
    PostgreSQL) or longer than any id names nothing: 404 before any service is asked."""
    for value in values.values():
        if isinstance(value, str) and (len(value) > MAX_PATH_VALUE
                                       or FORBIDDEN_TEXT.search(value)):
            raise HttpError(404, "not_found", "未找到 (not found)")


# ----------------------------------------------------------------- the one error mapping
def error_for(exc: Exception, where: str = "gateway") -> Response:
    """Every failure as the one error shape: the error's own code and message on top."""
    if isinstance(exc, HttpError):
        return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)
    if isinstance(exc, MethodNotAllowed):  # werkzeug's, for a method no route names
        return error_for(method_not_allowed(sorted(exc.valid_methods or ())))
    if isinstance(exc, HTTPException):     # werkzeug's other answers (a server's, not a route's)
        code = "not_found" if isinstance(exc, NotFound) else \
            "_".join((exc.name or "error").lower().split())
        return error_response(exc.code or 500, code, exc.description or exc.name or code)
    if isinstance(exc, Unauthorized):
        return error_response(401, "unauthorized", str(exc),
                              headers={"WWW-Authenticate": 'Bearer realm="jiesu"'})
    if isinstance(exc, JiesuError):
        return error_response(exc.http_status, exc.code, exc.message, exc.fields)
    if isinstance(exc, RateLimited):
        return error_response(429, "rate_limited", f"请求过于频繁,请稍后再试 ({exc})",
                              headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, (RpcTimeout, UnknownService)):
        log.error("upstream timeout: %s", exc)
        return error_response(503, "upstream_timeout", "服务繁忙,请稍后重试 (try again later)",
                              headers={"Retry-After": "5"})
    if isinstance(exc, BROKER_ERRORS):  # RabbitMQ unreachable: the gateway's /readyz says so
        log.error("broker unavailable: %s", exc)
        return error_response(503, "service_unavailable",
                              "服务暂时不可用,请稍后重试 (a dependency is down, try again later)",
                              headers={"Retry-After": "5"})
    log.error("unhandled error in %s", where, exc_info=exc)
    return error_response(500, "internal_error", "系统错误 (internal error)")


def api(handler):
    """Wraps a gateway entrypoint: every failure becomes the one error shape, never a bare
    500 page. Domain errors keep their status; the unknown is logged and reported as 500."""
    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        try:
            _check_path_values(kwargs)
            return handler(self, request, *args, **kwargs)
        except Exception as exc:
            return error_for(exc, handler.__name__)
    return wrapper
