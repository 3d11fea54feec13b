"""The gateway's routes on their own: the GatewayService container serving real HTTP, with
intake, sla and rating replaced by fakes (nameko's replace_dependencies) that record what they
are asked and answer or refuse as a service would. So a route's status codes, its error
shape, who may call it and exactly what it passes on are tested without running a service.
"""
from __future__ import annotations

import pytest
import requests
from nameko.testing.services import replace_dependencies

from gateway import pledges
from gateway.auth import issue_token
from gateway.service import GatewayService
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.settings import Settings, nameko_config

SECRET = "routes-test-secret-0123456789abcdef"
CASE_ID = "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
FILING = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天"}
STUDENT = {"id": "s2023001", "name": "张三", "roles": ["complainant"], "unit": None,
           "college": None}
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics",
           "college": None}


class FakeService:
    """Stands in for a service's RPC proxy: each call is recorded as (method, args); the
    answer is `answers[method]`, raised when it is an exception."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls = []

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args, **kwargs):
            self.calls.append((method, args, kwargs))
            answer = self.answers.get(method)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return call


@pytest.fixture
def gateway(container_factory, web_config, tmp_path):
    """Starts the gateway with the given fakes; gives (base URL, fake intake, fake sla)."""
    def start(intake=None, sla=None, rating=None):
        settings = Settings(jwt_secret=SECRET, log_json=False,
                            attachments_dir=str(tmp_path / "attachments"))
        container = container_factory(GatewayService, nameko_config(
            settings, WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"]))
        intake, sla = intake or FakeService(), sla or FakeService()
        replace_dependencies(container, intake=intake, sla=sla, rating=rating or FakeService())
        container.start()
        return f"http://{web_config['WEB_SERVER_ADDRESS']}", intake, sla
    return start


def bearer(person: dict) -> dict:
    token = issue_token(SECRET, person["id"], person["name"], roles=person["roles"],
                        **({"unit": person["unit"]} if person["unit"] else {}))
    return {"Authorization": f"Bearer {token}"}


def error_of(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code, error
    return error


def test_filing_passes_the_body_the_complainant_and_the_app_s_pledge(gateway):
    url, intake, _ = gateway(FakeService(file_complaint={
        "id": CASE_ID, "number": "JS-20261124-0001", "status": "received"}))
    answer = requests.post(f"{url}/api/v1/complaints", json=dict(FILING, pledge=True),
                           headers={**bearer(STUDENT), "Idempotency-Key": "filing-0001"})
    assert answer.status_code == 201
    assert answer.headers["Location"] == f"/api/v1/complaints/{CASE_ID}"
    assert answer.json()["number"] == "JS-20261124-0001"
    [(method, args, _)] = intake.calls
    assert method == "file_complaint"
    assert args == (FILING, STUDENT, "app", "client-filing-0001", pledges.APP)


def test_a_filing_the_public_schema_refuses_never_reaches_intake(gateway):
    url, intake, _ = gateway()
    answer = requests.post(f"{url}/api/v1/complaints", headers=bearer(STUDENT), json={
        "category": "canteen", "content": "短", "priority": "high", "pledge": True})
    error = error_of(answer, 400, "invalid_input")
    assert set(error["fields"]) == {"category", "content", "priority"}
    assert intake.calls == []


def test_a_missing_pledge_is_intake_s_to_refuse(gateway):
    """The gateway passes no pledge when the box is not ticked; intake refuses the filing."""
    url, intake, _ = gateway(FakeService(file_complaint=InvalidInput(
        {"pledge": ["须承诺所反映情况真实准确"]})))
    answer = requests.post(f"{url}/api/v1/complaints", json=FILING, headers=bearer(STUDENT))
    assert set(error_of(answer, 400, "invalid_input")["fields"]) == {"pledge"}
    [(_, args, _)] = intake.calls
    assert args[4] is None


def test_reading_a_case_asks_intake_as_the_caller(gateway):
    url, intake, _ = gateway(FakeService(get_complaint={"id": CASE_ID, "status": "assigned"}))
    answer = requests.get(f"{url}/api/v1/complaints/{CASE_ID}", headers=bearer(STUDENT))
    assert answer.status_code == 200 and answer.json()["id"] == CASE_ID
    assert intake.calls == [("get_complaint", (CASE_ID, STUDENT), {})]


def test_without_a_token_nothing_is_asked(gateway):
    url, intake, _ = gateway()
    answer = requests.get(f"{url}/api/v1/complaints/{CASE_ID}")
    error_of(answer, 401, "unauthorized")
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="jiesu"'
    assert intake.calls == []


def test_a_staff_action_passes_the_action_the_viewer_and_the_body(gateway):
    url, intake, _ = gateway(FakeService(act={"id": CASE_ID, "status": "replied"}))
    body = {"outcome": "solved", "text": "热水器已于今日修复"}
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/reply", json=body,
                           headers=bearer(HANDLER))
    assert answer.status_code == 200 and answer.json()["status"] == "replied"
    assert intake.calls == [("act", (CASE_ID, "reply", HANDLER, body), {})]


def test_a_complainant_does_not_learn_that_the_staff_api_exists(gateway):
    url, intake, _ = gateway()
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/sign_for",
                           headers=bearer(STUDENT))
    error_of(answer, 404, "not_found")
    assert intake.calls == []


def test_a_staff_list_passes_the_query_it_validated(gateway):
    url, intake, _ = gateway(FakeService(list_cases=[]))
    answer = requests.get(f"{url}/api/v1/staff/cases", params={"view": "all", "limit": "5"},
                          headers=bearer(HANDLER))
    assert answer.status_code == 200 and answer.json() == []
    assert intake.calls == [("list_cases", (HANDLER, {"view": "all", "limit": "5"}), {})]
    refused = requests.get(f"{url}/api/v1/staff/cases", params={"view": "everything"},
                           headers=bearer(HANDLER))
    assert set(error_of(refused, 400, "invalid_input")["fields"]) == {"view"}
    assert len(intake.calls) == 1


@pytest.mark.parametrize("refusal, status, code", [
    (NotFound(f"complaint {CASE_ID} not found"), 404, "not_found"),
    (Conflict.refusal("illegal_transition", "当前状态“已答复”不能签收"), 409,
     "illegal_transition"),
    (InvalidInput({"reason": ["不能为空白 (must not be blank)"]}), 400, "invalid_input"),
])
def test_intake_s_refusals_become_the_one_error_shape(gateway, refusal, status, code):
    url, _, _ = gateway(FakeService(act=refusal))
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/sign_for",
                           headers=bearer(HANDLER))
    error = error_of(answer, status, code)
    assert error["message"] == refusal.message
    assert error.get("fields") == refusal.fields


def test_deadlines_are_sla_s_answer_to_the_viewer(gateway):
    """sla decides who may read a case's deadlines (NotFound to anybody else): intake is
    not asked first."""
    url, intake, sla = gateway(sla=FakeService(get_deadlines=[]))
    answer = requests.get(f"{url}/api/v1/staff/cases/{CASE_ID}/deadlines",
                          headers=bearer(HANDLER))
    assert answer.status_code == 200 and answer.json() == []
    assert sla.calls == [("get_deadlines", (CASE_ID, HANDLER), {})]
    assert intake.calls == []


# ------------------------------------------------------------------ 回访 (issue 12, section 1)
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office",
          "college": None}
ANSWERS = {"level": "basically", "contacted": True, "solved": False, "comment": "还没修好"}


def test_a_rating_passes_the_three_answers_to_rating(gateway):
    rating = FakeService(rate={"id": "r-1", "decision": "close"})
    url, _, _ = gateway(rating=rating)
    answer = requests.post(f"{url}/api/v1/complaints/{CASE_ID}/rating", json=ANSWERS,
                           headers=bearer(STUDENT))
    assert answer.status_code == 201
    assert rating.calls == [("rate", (CASE_ID, STUDENT, ANSWERS), {})]


@pytest.mark.parametrize("body", [
    {"level": "satisfied"}, {"level": "satisfied", "contacted": True},
    {"level": "satisfied", "contacted": 1, "solved": True},
    {"level": "satisfied", "contacted": True, "solved": None},
    {"level": "satisfied", "contacted": "true", "solved": True}])
def test_a_rating_without_both_yes_no_answers_never_reaches_rating(gateway, body):
    rating = FakeService()
    url, _, _ = gateway(rating=rating)
    answer = requests.post(f"{url}/api/v1/complaints/{CASE_ID}/rating", json=body,
                           headers=bearer(STUDENT))
    error_of(answer, 400, "invalid_input")
    assert rating.calls == []


def test_the_office_records_a_phone_callback_as_who_called(gateway):
    rating = FakeService(record_callback={"id": "r-1", "via": "callback"})
    url, _, _ = gateway(rating=rating)
    body = dict(ANSWERS, called_at="2026-11-26T15:00:00+08:00")
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/callback", json=body,
                           headers=bearer(OFFICE))
    assert answer.status_code == 201 and answer.json()["via"] == "callback"
    assert rating.calls == [("record_callback", (CASE_ID, OFFICE, body), {})]


def test_a_complainant_does_not_learn_that_the_callback_route_exists(gateway):
    rating = FakeService()
    url, _, _ = gateway(rating=rating)
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/callback", json=ANSWERS,
                           headers=bearer(STUDENT))
    error_of(answer, 404, "not_found")
    assert rating.calls == []


@pytest.mark.parametrize("refusal, status, code", [
    (NotFound(f"complaint {CASE_ID} not found"), 404, "not_found"),   # not the office
    (Conflict({"code": "not_open_for_rating", "message": "该诉求当前不在待评价状态"}), 409,
     "not_open_for_rating")])
def test_rating_s_refusals_of_a_callback_become_the_one_error_shape(gateway, refusal, status,
                                                                     code):
    url, _, _ = gateway(rating=FakeService(record_callback=refusal))
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/callback", json=ANSWERS,
                           headers=bearer(HANDLER))
    error_of(answer, status, code)


def test_a_callback_body_is_checked_before_rating_is_asked(gateway):
    rating = FakeService()
    url, _, _ = gateway(rating=rating)
    answer = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/callback",
                           json=dict(ANSWERS, called_at="yesterday", by="someone"),
                           headers=bearer(OFFICE))
    assert set(error_of(answer, 400, "invalid_input")["fields"]) == {"called_at", "by"}
    assert rating.calls == []
