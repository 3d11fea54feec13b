"""The OpenAPI document stays true to the gateway: every route it serves is in it, it is a
valid OpenAPI 3 document built from the gateway's public schemas, every example is a body
those schemas load, and every error an operation can answer is listed. That the services
answer what it documents is tests/test_public_schemas.py's (it runs them)."""
from __future__ import annotations

import re

from jsonschema import Draft7Validator, FormatChecker

from gateway.openapi import (ACTION_PREFIX, ACTIONS, ERRORS, OPERATIONS, PUBLIC,
                             RESPONSE_SCHEMAS, openapi_document)
from gateway.pages.web import PAGE_PREFIXES
from gateway.service import STAFF_ACTIONS, GatewayService

ACTION_ROUTE = "/api/v1/staff/cases/{complaint_id}/{action}"


def _routes():
    for name in dir(GatewayService):
        if name == "no_such_route":  # the catch-all 404/405 is not an endpoint
            continue
        for entrypoint in getattr(getattr(GatewayService, name), "nameko_entrypoints", ()):
            url = getattr(entrypoint, "url", None)
            if url and not url.startswith(PAGE_PREFIXES):   # pages are HTML, not the API
                for method in entrypoint.method.lower().split(","):
                    yield method, re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", url)


def _documented(method, path):
    """The documented paths a served route stands for: the action route is one path per
    action, so that each action has its own body."""
    if path == ACTION_ROUTE:
        return [(method, ACTION_PREFIX + action) for action in STAFF_ACTIONS]
    return [(method, path)]


def test_every_gateway_route_is_documented():
    paths = openapi_document()["paths"]
    for method, path in _routes():
        for method_, path_ in _documented(method, path):
            assert path_ in paths and method_ in paths[path_], \
                f"{method_.upper()} {path_} undocumented"


def test_every_documented_route_exists():
    served = {pair for method, path in _routes() for pair in _documented(method, path)}
    for path, operations in openapi_document()["paths"].items():
        for method in operations:
            assert (method, path) in served, f"{method.upper()} {path} documented, not served"


def test_the_filing_body_comes_from_the_public_schema():
    document = openapi_document()
    filing = document["components"]["schemas"]["FileComplaint"]
    assert set(filing["required"]) == {"category", "content"}
    assert "logistics" in filing["properties"]["category"]["enum"]
    assert document["openapi"].startswith("3.")


def test_every_json_body_has_an_example_its_schema_loads():
    """The examples are requests the services accept: each goes through the marshmallow
    schema that loads it (the gateway's own fields, pledge and pledge_read, included)."""
    document = openapi_document()
    for method, path, _summary, body, _response, _tags in OPERATIONS:
        content = document["paths"][path][method].get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        media = content["application/json"]
        assert "example" in media, f"{method.upper()} {path} has no example"
        body().load(media["example"])


def test_each_action_has_its_own_path_and_body():
    """One path per action (the served route takes the action as a path segment): a body
    is documented once, for the action that takes it, and an action without parameters
    needs no body."""
    document = openapi_document()
    assert set(ACTIONS) == set(STAFF_ACTIONS)
    for action in STAFF_ACTIONS:
        operation = document["paths"][ACTION_PREFIX + action]["post"]
        body = operation["requestBody"]
        assert list(body["content"]) == ["application/json"]
        schema = body["content"]["application/json"]["schema"]
        assert "oneOf" not in schema and "$ref" in schema
        assert body["required"] is (action not in ("sign_for", "start", "dispatch"))
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/Complaint"}


def test_the_pledges_must_be_true():
    """`pledge: false` is refused by the gateway (R3), so the document allows only true."""
    document = openapi_document()
    filing = validator(document, document["paths"]["/api/v1/complaints"]["post"][
        "requestBody"]["content"]["application/json"]["schema"])
    body = {"category": "logistics", "content": "宿舍楼道灯坏了一周了"}
    assert filing.is_valid(dict(body, pledge=True))
    assert not filing.is_valid(dict(body, pledge=False))
    assert not filing.is_valid(body)
    operator = document["components"]["schemas"]["OperatorFiling"]
    assert operator["properties"]["pledge_read"]["enum"] == [True]


def test_responses_are_closed_and_list_their_keys():
    schemas = openapi_document()["components"]["schemas"]
    for name, (_schema, optional) in RESPONSE_SCHEMAS.items():
        assert schemas[name]["additionalProperties"] is False, name
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]) - optional


def test_every_error_an_operation_can_answer_is_documented():
    document = openapi_document()
    responses = document["components"]["responses"]
    for status, (name, _text, headers) in ERRORS.items():
        assert responses[name]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/Error"}
        assert set(responses[name].get("headers", {})) == set(headers)
    assert "405" in document["info"]["description"]
    paths = document["paths"]
    for method, path, _summary, body, _response, _tags in OPERATIONS:
        answers = paths[path][method]["responses"]
        if path.startswith("/api/") and path not in PUBLIC:
            assert {"400", "401", "404", "503"} <= set(answers), path
        if body is not None and path.startswith(("/api/", "/hotline/")):
            assert {"400", "408", "413", "415"} <= set(answers), f"{method} {path}"
    assert "411" in paths["/api/v1/complaints/{complaint_id}/attachments"]["post"]["responses"]
    for method, path in (("post", "/api/v1/complaints"), ("post", "/api/v1/staff/reports"),
                         ("post", "/api/v1/complaints/{complaint_id}/attachments")):
        assert "429" in paths[path][method]["responses"]
        assert "Location" in paths["/api/v1/complaints"]["post"]["responses"]["201"]["headers"]
    assert "429" in paths["/open311/v2/requests.{fmt}"]["post"]["responses"]
    assert paths["/open311/v2/requests.{fmt}"]["post"]["responses"]["400"]["content"][
        "application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/Open311Error"}


# ------------------------------------------------- validating an answer against the document
# (tests/test_public_schemas.py checks the services' answers with these)

def _nullable(schema):
    """OpenAPI 3.0's `nullable` as JSON Schema, so that jsonschema can check a response."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _nullable(value) for key, value in schema.items()
                 if key not in ("nullable", "example", "readOnly")}
    if schema.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _date_time(value) -> bool:
    return not isinstance(value, str) or RFC3339.match(value) is not None


def validator(document, schema) -> Draft7Validator:
    return Draft7Validator({"allOf": [_nullable(schema)],
                            "components": _nullable(document["components"])},
                           format_checker=FORMATS)


def conforms(document, method, path, status, answer):
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    errors = sorted(validator(document, schema).iter_errors(answer), key=str)
    assert not errors, f"{method.upper()} {path} {status}: " + "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])
    return answer
