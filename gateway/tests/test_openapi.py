"""The OpenAPI document stays true: every route the gateway serves is in it, and it is a
valid OpenAPI 3 document built from the schemas the services use."""
import re

from gateway.openapi import openapi_document
from gateway.service import GatewayService


def _routes():
    for name in dir(GatewayService):
        for entrypoint in getattr(getattr(GatewayService, name), "nameko_entrypoints", ()):
            url = getattr(entrypoint, "url", None)
            if url and "unknown_path" not in url:  # the catch-all 404 is not an endpoint
                yield entrypoint.method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", url)


def test_every_gateway_route_is_documented():
    paths = openapi_document()["paths"]
    for method, path in _routes():
        assert path in paths and method in paths[path], f"{method.upper()} {path} undocumented"


def test_every_documented_route_exists():
    served = set(_routes())
    for path, operations in openapi_document()["paths"].items():
        for method in operations:
            assert (method, path) in served, f"{method.upper()} {path} documented, not served"


def test_the_filing_body_comes_from_the_schema_intake_loads():
    document = openapi_document()
    filing = document["components"]["schemas"]["FileComplaint"]
    assert set(filing["required"]) == {"category", "content"}
    assert "logistics" in filing["properties"]["category"]["enum"]
    assert document["openapi"].startswith("3.")


def test_every_json_body_has_an_example_its_schema_loads():
    """The examples are requests the services accept: each goes through the marshmallow
    schema that loads it (the gateway's own fields, pledge and pledge_read, included)."""
    from gateway.openapi import ACTION_BODIES, ACTION_EXAMPLES, OPERATIONS

    document = openapi_document()
    for method, path, _summary, body, _response, _tags in OPERATIONS:
        if body is None or body == "binary":
            continue
        media = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert "example" in media, f"{method.upper()} {path} has no example"
        body().load(media["example"])
    actions = document["paths"]["/api/v1/staff/cases/{complaint_id}/{action}"]["post"]
    examples = actions["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) == set(ACTION_BODIES)
    for action, schema in ACTION_BODIES.items():
        schema().load(ACTION_EXAMPLES[action])
