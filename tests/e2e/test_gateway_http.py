"""The gateway's HTTP contract against the running system: clear 4xx answers in one shape
for bad input and bad credentials, never a 500 or a hang, and nothing filed."""
from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import auth, token_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def system(start_system, databases):
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                            "gateway"]])


def _post(system, body=None, headers=None, data=None):
    return requests.post(f"{system.url}/api/v1/complaints", json=body, data=data,
                         headers=headers, timeout=30)


def _error(reply, status, code):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code and error["message"]
    return error


def test_field_errors_come_back_as_400(system):
    error = _error(_post(system, {"category": "canteen", "content": "短", "contact_phone": "12",
                                  "priority": "high"}, auth("s1")), 400, "invalid_input")
    assert set(error["fields"]) == {"category", "content", "contact_phone", "priority"}
    _error(_post(system, {"content": "没有类别的诉求内容"}, auth("s1")), 400, "invalid_input")


def test_a_filing_without_the_ticked_pledge_is_refused(system):
    """R3: the app form's pledge must be ticked; nothing is filed without it."""
    for pledge in ({}, {"pledge": False}, {"pledge": "yes"}):
        error = _error(_post(system, {"category": "logistics", "content": "宿舍楼道灯坏了一周了",
                                      **pledge}, auth("s1")), 400, "invalid_input")
        assert set(error["fields"]) == {"pledge"}
    assert system.query("intake", "SELECT id FROM complaints") == []
    filed = _post(system, {"category": "logistics", "content": "宿舍楼道灯坏了一周了",
                           "pledge": True}, auth("s1"))
    assert filed.status_code == 201
    case = system.get(filed.json()["id"], "s1").json()
    assert "真实" in case["pledge"] and "APP" in case["pledge"]


def test_malformed_bodies_are_refused(system):
    headers = {**auth("s1"), "Content-Type": "application/json"}
    _error(_post(system, data=b"{not json", headers=headers), 400, "malformed_json")
    _error(_post(system, data=b"[1, 2]", headers=headers), 400, "malformed_json")
    _error(_post(system, data="category=logistics",
                 headers={**auth("s1"), "Content-Type": "application/x-www-form-urlencoded"}),
           415, "unsupported_media_type")
    _error(_post(system, data=b'{"content": "' + b"x" * 70_000 + b'"}', headers=headers),
           413, "body_too_large")


def test_missing_or_bad_tokens_get_401(system):
    body = {"category": "logistics", "content": "宿舍楼道灯坏了一周了"}
    for headers in ({}, {"Authorization": "Basic czE6cHc="}, {"Authorization": "Bearer x.y.z"},
                    {"Authorization": f"Bearer {token_for('s1', now=time.time() - 7200)}"}):
        reply = _post(system, body, headers)
        _error(reply, 401, "unauthorized")
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    forged = token_for("s1")[:-4] + "AAAA"
    _error(_post(system, body, {"Authorization": f"Bearer {forged}"}), 401, "unauthorized")
    _error(requests.get(f"{system.url}/api/v1/complaints/whatever", timeout=30), 401,
           "unauthorized")


def test_nothing_was_filed_by_refused_requests(system):
    _post(system, {"category": "canteen", "content": "短"}, auth("s1"))
    _post(system, {"category": "logistics", "content": "宿舍楼道灯坏了一周了"}, {})
    assert system.query("intake", "SELECT id FROM complaints") == []


def test_an_unknown_case_is_404_and_categories_are_listed(system):
    _error(system.get("00000000-0000-0000-0000-000000000000"), 404, "not_found")
    categories = requests.get(f"{system.url}/api/v1/categories", timeout=30).json()
    assert len(categories) == 10
    assert {"code": "logistics", "label": "后勤保障"} in categories


def test_too_many_filings_get_429_with_retry_after(start_system, databases):
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                              "gateway"]],
                          JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE=2)
    body = {"category": "logistics", "content": "宿舍楼道灯坏了一周了", "pledge": True}
    replies = [_post(system, body, auth("s-eager")) for _ in range(3)]
    assert [r.status_code for r in replies] == [201, 201, 429]
    error = _error(replies[2], 429, "rate_limited")
    assert error["message"]
    assert int(replies[2].headers["Retry-After"]) >= 1
    assert _post(system, body, auth("s-calm")).status_code == 201  # others are not affected
    assert len(system.query("intake", "SELECT id FROM complaints")) == 3


def test_unknown_paths_get_the_one_error_shape(system):
    for method, path in (("get", "/api/v1/nothing-here"), ("post", "/api/v1/complaints/x/y/z"),
                         ("delete", "/no/such/thing")):
        reply = requests.request(method, system.url + path, timeout=30)
        _error(reply, 404, "not_found")
    assert requests.get(f"{system.url}/api/v1/categories", timeout=30).status_code == 200
