"""Errors that cross service boundaries.

They are registered with nameko's `deserialize_to_instance`, so an InvalidInput raised in
intake arrives in the gateway as an InvalidInput with its field errors intact (not as a
RemoteError string), and the gateway maps it to an HTTP status. Services signal "bad input"
or "no such case" without knowing about HTTP.

What an error says is read off its one argument, the same on both sides of the RPC (nameko
rebuilds the exception from its `args`):

- a string: the message;
- field errors (marshmallow's `messages`): `fields`, and a message naming the first problem;
- a refusal `{"code": ..., "message": ..., "fields": {...}?}` (`JiesuError.refusal`): its own
  code and message, e.g. a lifecycle rule's `illegal_transition`.

Every error then has `code`, `message` and `fields` (or None): the gateway's one error shape.
"""
from __future__ import annotations

from marshmallow import ValidationError
from nameko.exceptions import deserialize_to_instance

from services.common.access import Viewer
from services.common.contracts import CallerSchema


class JiesuError(Exception):
    http_status = 500
    code = "internal_error"
    default_message = "系统错误 (internal error)"

    def __init__(self, *args):
        super().__init__(*args)
        self.code, self.message, self.fields = _read(args[0] if args else None, type(self))

    @classmethod
    def refusal(cls, code: str, message: str, fields: dict | None = None) -> "JiesuError":
        """An error with its own code and message (and optional detail), e.g. a rule of the
        case lifecycle that forbids the action."""
        detail = {"code": code, "message": message}
        if fields:
            detail["fields"] = fields
        return cls(detail)


@deserialize_to_instance
class InvalidInput(JiesuError):
    """The caller sent something the service will not accept (field errors in args[0])."""
    http_status = 400
    code = "invalid_input"
    default_message = "输入有误 (invalid input)"


@deserialize_to_instance
class NotFound(JiesuError):
    http_status = 404
    code = "not_found"
    default_message = "未找到 (not found)"


@deserialize_to_instance
class Conflict(JiesuError):
    """The request is well formed but the case's state does not allow it."""
    http_status = 409
    code = "conflict"
    default_message = "当前状态不允许此操作 (not allowed in the current state)"


EXPECTED = (InvalidInput, NotFound, Conflict)


def _read(detail, kind) -> tuple[str, str, dict | None]:
    if isinstance(detail, dict):
        if isinstance(detail.get("code"), str) and isinstance(detail.get("message"), str):
            fields = detail.get("fields")
            return detail["code"], detail["message"], fields if isinstance(fields, dict) \
                else None
        return kind.code, describe_fields(detail) or kind.default_message, detail or None
    if detail is None or detail == "":
        return kind.code, kind.default_message, None
    return kind.code, str(detail), None


def describe_fields(fields: dict) -> str:
    """The first field error as a sentence, "content: 不能为空 …", and how many more there
    are: the message a client shows when it shows nothing else."""
    problems = list(_leaves(fields))
    if not problems:
        return ""
    path, problem = problems[0]
    first = f"{path}: {problem}" if path else problem
    more = len(problems) - 1
    return f"{first};另有 {more} 处问题 ({more} more)" if more else first


def _leaves(errors, path=()):
    """(dotted path, message) for every message in marshmallow's nested error dict; the
    schema-level key `_schema` adds nothing to the path."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            step = () if key == "_schema" else (str(key),)
            yield from _leaves(value, path + step)
    elif isinstance(errors, (list, tuple)):
        for value in errors:
            yield from _leaves(value, path)
    elif errors is not None:
        yield ".".join(path), str(errors)


def load_input(schema, data):
    """`schema.load(data)`, or InvalidInput (the gateway's 400) with the field errors."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidInput(exc.messages) from None


def load_viewer(raw) -> Viewer:
    """The caller a service is told about (contracts.CallerSchema) as an access.Viewer, or
    InvalidInput."""
    return Viewer.from_dict(load_input(CallerSchema(), raw))
