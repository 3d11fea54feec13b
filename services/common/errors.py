"""Errors that cross service boundaries.

They are registered with nameko's `deserialize_to_instance`, so an InvalidInput raised in
intake arrives in the gateway as an InvalidInput with its field errors intact (not as a
RemoteError string), and the gateway maps it to an HTTP status. Services signal "bad input"
or "no such case" without knowing about HTTP.
"""
from nameko.exceptions import deserialize_to_instance


class JiesuError(Exception):
    http_status = 500
    code = "internal_error"


@deserialize_to_instance
class InvalidInput(JiesuError):
    """The caller sent something the service will not accept (field errors in args[0])."""
    http_status = 400
    code = "invalid_input"


@deserialize_to_instance
class NotFound(JiesuError):
    http_status = 404
    code = "not_found"


@deserialize_to_instance
class Conflict(JiesuError):
    """The request is well formed but the case's state does not allow it."""
    http_status = 409
    code = "conflict"


EXPECTED = (InvalidInput, NotFound, Conflict)
