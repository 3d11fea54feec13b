"""The gateway's HTTP plumbing (gateway/http.py): what a JSON body may be, the one error
shape with the specific code and message on top, and 405 for a path served with other
methods (issue 10: points 7, 10, 11)."""
from __future__ import annotations

import json

import pytest
from nameko.exceptions import deserialize, serialize
from werkzeug.exceptions import MethodNotAllowed, NotFound as NoRoute, RequestEntityTooLarge
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.http import (MAX_JSON_DEPTH, HttpError, allowed_methods, error_for, parse_json,
                          read_json)
from gateway.service import GatewayService
from services.common.errors import Conflict, InvalidInput, NotFound


def refused(raw) -> HttpError:
    with pytest.raises(HttpError) as caught:
        parse_json(raw if isinstance(raw, bytes) else raw.encode())
    assert caught.value.status == 400
    return caught.value


def body_of(response) -> dict:
    return json.loads(response.get_data(as_text=True))


# --------------------------------------------------------------------------- JSON bodies
def test_a_plain_body_is_parsed():
    assert parse_json('{"content": "热水停了 🔥", "n": 3, "x": 1.5, "tags": [null, true]}'
                      .encode()) == {"content": "热水停了 🔥", "n": 3, "x": 1.5,
                                     "tags": [None, True]}


@pytest.mark.parametrize("depth", [20_000, 1_000, MAX_JSON_DEPTH + 1])
def test_nesting_beyond_any_form_is_refused(depth):
    assert refused('{"a": ' + "[" * depth + "]" * depth + "}").code == "too_deep"


def test_nesting_a_form_needs_is_accepted():
    depth = MAX_JSON_DEPTH - 1
    assert parse_json(('{"a": ' + "[" * depth + "]" * depth + "}").encode())


@pytest.mark.parametrize("raw, where", [
    ('{"content": "a\\ud800b"}', "content"),
    ('{"x": {"\\udfff": 1}}', "x.\\udfff"),
    ('{"milestones": [{"title": "\\ud83d"}]}', "milestones.0.title"),
    ('{"content": "a\\u0000b"}', "content"),
    ('{"reason": "a\\u0007"}', "reason"),
    ('{"content": "x\\u202egnp.exe"}', "content"),
    ('{"location": "\\u2067楼\\u2069"}', "location"),
    ('{"c": "\\u0085"}', "c"),
])
def test_strings_with_controls_bidi_or_lone_surrogates_are_refused(raw, where):
    error = refused(raw)
    assert error.code == "invalid_input"
    assert list(error.fields) == [where] and error.message.startswith(where)
    json.dumps(error.fields, ensure_ascii=False).encode("utf-8")  # safe to send back


def test_tabs_line_breaks_and_emoji_are_text():
    assert parse_json('{"c": "第一行\\n第二行\\t\\r 😀 \\u200d"}'.encode())


@pytest.mark.parametrize("raw", ['{"pledge": false, "pledge": true}',
                                 '{"a": {"b": 1, "b": 2}}', '{"m": [{"t": 1, "t": 1}]}'])
def test_a_key_given_twice_is_refused(raw):
    assert refused(raw).code == "duplicate_key"


@pytest.mark.parametrize("raw", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
                                 '{"a": 1e999}', '{"a": ' + "9" * 5000 + "}",
                                 '{"a": 9223372036854775808}', '{"a": -9223372036854775809}'])
def test_numbers_that_do_not_fit_are_refused(raw):
    assert refused(raw).code == "malformed_json"


@pytest.mark.parametrize("raw", [b"[1]", b"null", b'"x"', b"3", b"{", b"\xff\xfe{}", b""])
def test_what_is_not_a_json_object_is_refused(raw):
    assert refused(raw).code == "malformed_json"


def request(data=b"{}", content_type="application/json", **kwargs) -> Request:
    return Request(EnvironBuilder(method="POST", data=data, content_type=content_type,
                                  **kwargs).get_environ())


@pytest.mark.parametrize("content_type", ["application/json; charset=latin-1",
                                          "application/json; charset=utf-16",
                                          "application/json;charset=ISO-8859-1",
                                          "text/plain", "application/x-www-form-urlencoded"])
def test_only_json_in_utf_8_is_read(content_type):
    with pytest.raises(HttpError) as caught:
        read_json(request(content_type=content_type))
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/json; charset=UTF8"])
def test_json_with_or_without_the_utf_8_charset_is_read(content_type):
    assert read_json(request(b'{"a": 1}', content_type)) == {"a": 1}


# ------------------------------------------------------------------- the one error shape
def test_a_refusal_says_its_own_code_and_message_on_top():
    message = "当前状态“发回重办”不能签收 (sign_for is not allowed in state redo)"
    response = error_for(Conflict({"code": "illegal_transition", "message": message}))

    assert response.status_code == 409
    assert body_of(response) == {"error": {"code": "illegal_transition", "message": message}}


def test_a_refusal_may_carry_fields():
    error = Conflict.refusal("illegal_transition", "不能签收", {"status": "redo"})
    assert body_of(error_for(error))["error"] == {
        "code": "illegal_transition", "message": "不能签收", "fields": {"status": "redo"}}


def test_field_errors_name_the_first_problem_in_the_message():
    fields = {"content": ["不能为空白 (must not be blank)"], "category": ["Missing data."]}
    response = error_for(InvalidInput(fields))

    assert response.status_code == 400
    error = body_of(response)["error"]
    assert error["code"] == "invalid_input" and error["fields"] == fields
    assert error["message"].startswith("content: 不能为空白 (must not be blank)")
    assert "1" in error["message"]  # ... and how many more there are


def test_nested_field_errors_give_their_path():
    error = InvalidInput({"milestones": {"0": {"due_at": ["日期超出范围"]}}})
    assert error.message == "milestones.0.due_at: 日期超出范围"
    assert InvalidInput({"_schema": ["须同时给出 lat 与 long"]}).message == "须同时给出 lat 与 long"


def test_a_plain_error_keeps_its_words():
    assert body_of(error_for(NotFound("complaint x not found")))["error"] == {
        "code": "not_found", "message": "complaint x not found"}
    assert body_of(error_for(Conflict()))["error"]["message"]


@pytest.mark.parametrize("error", [
    InvalidInput({"content": ["too short"]}), NotFound("no such case"), Conflict(),
    Conflict({"code": "already_decided", "message": "该延期申请已处理"}),
    Conflict.refusal("illegal_transition", "不能签收", {"status": "redo"}),
    Conflict({"idempotency_key": ["该幂等键已用于另一条诉求"]}),
])
def test_what_an_error_says_survives_the_rpc(error):
    """nameko serialises an expected exception by its args and rebuilds it from them."""
    arrived = deserialize(json.loads(json.dumps(serialize(error))))

    assert type(arrived) is type(error)
    assert (arrived.code, arrived.message, arrived.fields) == (error.code, error.message,
                                                               error.fields)


def test_the_unknown_is_a_500_without_detail():
    error = body_of(error_for(KeyError("secret detail")))["error"]
    assert error == {"code": "internal_error", "message": "系统错误 (internal error)"}


# ----------------------------------------------------------------------------- methods
@pytest.mark.parametrize("path, allowed", [
    ("/api/v1/complaints", ["GET", "HEAD", "POST"]),
    ("/api/v1/complaints/abc", ["GET", "HEAD"]),
    ("/api/v1/complaints/abc/rating", ["POST"]),
    ("/api/v1/staff/cases/abc/sign_for", ["POST"]),
    ("/api/v1/categories", ["GET", "HEAD"]),
    ("/open311/v2/requests.json", ["GET", "HEAD", "POST"]),
    ("/no/such/path", []),
    ("/api/v1/complaints/a/b/c/d", []),
])
def test_the_methods_a_path_is_served_with(path, allowed):
    assert allowed_methods(GatewayService, path) == allowed


def test_werkzeug_answers_take_the_one_shape_too():
    """For the server, when no route matches at all (a method no route names)."""
    refused = error_for(MethodNotAllowed(valid_methods=["POST", "GET"]))
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, POST")
    assert body_of(refused)["error"]["code"] == "method_not_allowed"
    assert body_of(error_for(NoRoute()))["error"]["code"] == "not_found"
    too_large = error_for(RequestEntityTooLarge())
    assert too_large.status_code == 413 and too_large.mimetype == "application/json"
    assert body_of(too_large)["error"]["code"] == "request_entity_too_large"
