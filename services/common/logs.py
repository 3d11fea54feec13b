"""JSON logs that carry the complaint id and the correlation id across services.

The correlation id rides in nameko's context data (`worker_ctx.data`), which nameko copies
into the headers of every RPC call and event a worker makes, and the outbox stores it with
each event; `LogContext` puts it and the complaint id into context variables for the worker's
greenthread, and `ContextFilter` stamps them on every record.
"""
from __future__ import annotations

import contextvars
import logging
import sys
import uuid

from nameko.extensions import DependencyProvider

from services.common.privacy import mask_phones, masked_deep

correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None)
complaint_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "complaint_id", default=None)

CORRELATION_KEY = "correlation_id"

# What every LogRecord has; anything else on a record came as `extra=` and is masked too.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "service", "correlation_id", "complaint_id"}
_TRACEBACKS = logging.Formatter()


def mask_phone(text: str) -> str:
    """Mainland mobiles and landlines never reach a log in full (X5): 136****4321,
    0531-****7897 (services/common/privacy.py)."""
    return mask_phones(text)


def _masked_extra(value):
    if isinstance(value, (str, dict, list, tuple)):
        return masked_deep(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = str(value)
        return value if mask_phones(shown) == shown else mask_phones(shown)
    if value is None or isinstance(value, bool):
        return value
    return mask_phones(str(value))


class ContextFilter(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id_var.get()
        record.complaint_id = complaint_id_var.get()
        # Render first, then mask: a phone can hide in any argument (a dict, an int).
        record.msg = mask_phones(record.getMessage())
        record.args = None
        # The traceback too, with the exception's text (a SQL error quotes its parameters):
        # rendered here and masked, and the raw exc_info dropped so that no formatter
        # renders it again from the original.
        if record.exc_info:
            record.exc_text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_phones(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phones(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS:
                setattr(record, key, _masked_extra(value))
        return True


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json:
        from pythonjsonlogger.json import JsonFormatter
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(service)s %(correlation_id)s "
            "%(complaint_id)s %(message)s",
            json_ensure_ascii=False,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(service)s [%(correlation_id)s %(complaint_id)s] "
            "%(name)s: %(message)s"))
    handler.addFilter(ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kombu/amqp chatter at INFO drowns the domain lines; urllib3 at DEBUG would log the
    # URLs of WeChat's API, which carry the AppSecret and the access_token
    for noisy in ("kombu", "amqp", "nameko", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def bind_complaint(complaint_id: str | None) -> None:
    complaint_id_var.set(complaint_id)


class LogContext(DependencyProvider):
    """Gives every worker a correlation id (inherited from the caller when there is one) and
    binds it, with the complaint id of an event being handled, to the log context."""

    def get_dependency(self, worker_ctx):
        # nameko injects dependencies before it calls worker_setup; bind here so that the
        # other providers' worker_setup already log with the ids.
        correlation_id = worker_ctx.data.get(CORRELATION_KEY) or uuid.uuid4().hex
        worker_ctx.data[CORRELATION_KEY] = correlation_id
        correlation_id_var.set(correlation_id)
        complaint_id = None
        if worker_ctx.args and isinstance(worker_ctx.args[0], dict):
            complaint_id = worker_ctx.args[0].get("complaint_id")
        complaint_id_var.set(complaint_id)
        return correlation_id

    def worker_teardown(self, worker_ctx):
        correlation_id_var.set(None)
        complaint_id_var.set(None)
