"""Issue 10 over HTTP, against the real services: what intake is sent that it must not take
(a unit that does not exist, blank text, a phone with a newline, a communication dated in
year 1 or tomorrow, an offset past BIGINT, a lone surrogate) is a 4xx in the one error
shape, never a 200 that goes nowhere or a 500; similar cases stay within what the handler
may read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.conftest import token_for, wait_until

pytestmark = pytest.mark.e2e

PEOPLE = {
    "student": dict(sub="s-2023001", name="张三", roles=("complainant",)),
    "handler": dict(sub="u-hqc-1", name="冯涛", roles=("handler",), unit="logistics"),
    "security": dict(sub="u-bwc-1", name="蒋勇", roles=("handler",), unit="security"),
    "office": dict(sub="u-office-1", name="李晓梅", roles=("office",), unit="office"),
}
HOT_WATER = "学生公寓3号楼热水已经停了两天,洗澡很不方便,请尽快维修"


class Client:
    def __init__(self, system):
        self.url = system.url

    def _headers(self, who):
        person = dict(PEOPLE[who])
        return {"Authorization": f"Bearer {token_for(person.pop('sub'), **person)}"}

    def post(self, who, path, body):
        return requests.post(self.url + path, json=body, headers=self._headers(who), timeout=30)

    def get(self, who, path, **params):
        return requests.get(self.url + path, params=params, headers=self._headers(who),
                            timeout=30)

    def file(self, **body):
        body = {"category": "logistics", "content": HOT_WATER, "pledge": True, **body}
        reply = self.post("student", "/api/v1/complaints", body)
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    def case(self, who, case_id):
        reply = self.get(who, f"/api/v1/staff/cases/{case_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def wait_status(self, case_id, status, unit=None):
        def reached():
            case = self.case("office", case_id)
            return case["status"] == status and (unit is None or (case["assigned_unit"] or {})
                                                 .get("id") == unit)
        wait_until(reached, message=f"{case_id} reaches {status}")


@pytest.fixture
def app(start_system, databases):
    return Client(start_system(databases, layout=[["intake", "routing", "sla", "notify",
                                                   "rating", "gateway"]]))


def refused(reply, status=400):
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) <= {"code", "message", "fields"} and error["message"]
    return error


def test_a_dispatch_names_a_unit_that_exists_and_figures_too(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    returned = app.post("handler", f"/api/v1/staff/cases/{case_id}/return_case",
                        {"reason": "不属于本单位职责"})
    assert returned.status_code == 200, returned.text

    error = refused(app.post("office", f"/api/v1/staff/cases/{case_id}/dispatch",
                             {"unit_id": "no-such-unit"}))
    assert "no-such-unit" in str(error)
    assert app.case("office", case_id)["status"] == "returned"
    # the office tries again with a unit that exists, and routing assigns it there
    dispatched = app.post("office", f"/api/v1/staff/cases/{case_id}/dispatch",
                          {"unit_id": "security"})
    assert dispatched.status_code == 200, dispatched.text
    app.wait_status(case_id, "assigned", unit="security")

    refused(app.get("office", "/api/v1/staff/units/no-such-unit/figures"), 404)
    assert app.get("office", "/api/v1/staff/units/security/figures").json()["open"] == 1


def test_a_handler_sees_no_other_units_case_among_the_similar_ones(app):
    logistics_case = app.file()
    security_case = app.file(category="security")
    app.wait_status(logistics_case, "assigned", unit="logistics")
    app.wait_status(security_case, "assigned", unit="security")

    assert app.case("security", security_case)["similar"] == []
    assert [s["id"] for s in app.case("office", security_case)["similar"]] == [logistics_case]


def test_loose_and_out_of_range_input_is_refused_in_the_error_shape(app):
    for body, field in (({"content": "        "}, "content"), ({"title": " \t "}, "title"),
                        ({"contact_phone": "13912345678\n"}, "contact_phone"),
                        ({"content": "热水停了两天\ud800了"}, "content")):
        refused(app.post("student", "/api/v1/complaints",
                         {"category": "logistics", "content": HOT_WATER, "pledge": True,
                          **body}))
    for path in ("/api/v1/staff/cases", "/api/v1/staff/hotline/calls"):
        refused(app.get("office", path, offset="9223372036854775808"))
    refused(app.get("office", "/api/v1/staff/cases", due_before="0001-01-01T00:00:00+08:00"))

    case_id = app.file()
    app.wait_status(case_id, "assigned")
    assert app.post("handler", f"/api/v1/staff/cases/{case_id}/sign_for", {}).status_code == 200
    now = datetime.now(timezone.utc)
    for at in ("0001-01-01T00:00:00+08:00", (now + timedelta(days=1)).isoformat(),
               (now - timedelta(days=1)).isoformat()):
        refused(app.post("handler", f"/api/v1/staff/cases/{case_id}/communications", {
            "kind": "phone", "at": at, "with_whom": "诉求人张三", "summary": "电话沟通维修安排"}))
    assert app.case("office", case_id)["communications"] == []
    recorded = app.post("handler", f"/api/v1/staff/cases/{case_id}/communications", {
        "kind": "phone", "at": datetime.now(timezone.utc).isoformat(), "with_whom": "诉求人张三",
        "summary": "电话沟通维修安排"})
    assert recorded.status_code == 201, recorded.text
    assert app.get("office", "/healthz").status_code == 200
