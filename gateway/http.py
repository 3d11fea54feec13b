"""JSON in, JSON out, and one error shape for every 4xx/5xx:

    {"error": {"code": "invalid_input", "message": "...", "fields": {...}}}
"""
from __future__ import annotations

import functools
import json
import logging
import uuid

from nameko.exceptions import UnknownService
from werkzeug.wrappers import Response

from gateway.auth import Unauthorized
from gateway.limits import RateLimited
from services.common.bus import RpcTimeout
from services.common.errors import JiesuError

log = logging.getLogger("jiesu.gateway")
MAX_BODY_BYTES = 64 * 1024


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str, fields=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.headers = fields, headers or {}


def json_response(body, status: int = 200, headers=None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    mimetype="application/json")


def error_response(status: int, code: str, message: str, fields=None, headers=None):
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return json_response({"error": error}, status, headers)


def read_json(request, max_bytes: int = MAX_BODY_BYTES) -> dict:
    if request.content_length is not None and request.content_length > max_bytes:
        raise HttpError(413, "body_too_large", f"请求体超过 {max_bytes} 字节 (body too large)")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise HttpError(413, "body_too_large", f"请求体超过 {max_bytes} 字节 (body too large)")
    if not request.mimetype == "application/json":
        raise HttpError(415, "unsupported_media_type", "请求体须为 JSON (send application/json)")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, "malformed_json", f"JSON 格式错误 (malformed JSON: {exc})") from None
    if not isinstance(body, dict):
        raise HttpError(400, "malformed_json", "请求体须为 JSON 对象 (expected a JSON object)")
    return body


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


def api(handler):
    """Wraps a gateway entrypoint: every failure becomes the one error shape, never a bare
    500 page. Domain errors keep their status; the unknown is logged and reported as 500."""
    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        try:
            return handler(self, request, *args, **kwargs)
        except HttpError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)
        except Unauthorized as exc:
            return error_response(401, "unauthorized", str(exc),
                                  headers={"WWW-Authenticate": 'Bearer realm="jiesu"'})
        except JiesuError as exc:
            fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else None
            message = "输入有误 (invalid input)" if fields else (str(exc.args[0]) if exc.args
                                                             else exc.code)
            return error_response(exc.http_status, exc.code, message, fields)
        except RateLimited as exc:
            return error_response(429, "rate_limited", f"请求过于频繁,请稍后再试 ({exc})",
                                  headers={"Retry-After": str(exc.retry_after)})
        except (RpcTimeout, UnknownService) as exc:
            log.error("upstream timeout: %s", exc)
            return error_response(503, "upstream_timeout", "服务繁忙,请稍后重试 (try again later)",
                                  headers={"Retry-After": "5"})
        except Exception:
            log.exception("unhandled error in %s", handler.__name__)
            return error_response(500, "internal_error", "系统错误 (internal error)")
    return wrapper
