"""The assessment routes on their own (gateway/office_figures.py): the gateway serving real
HTTP with rating replaced by a fake, as in test_routes.py. What each route passes on, the 400s
it answers itself (naming the field), who may call it, and rating's refusals in the one error
shape. (The xlsx with real figures: tests/integration/test_assessment_xlsx.py.)"""
from __future__ import annotations

import io
import json

import openpyxl
import pytest
import requests

from gateway.tests import test_office_analysis
from gateway.tests.test_routes import STUDENT, bearer, error_of
from services.common.errors import Conflict, InvalidInput, NotFound

OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office",
          "college": None}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics",
        "college": None}
CASE_ID = "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
EXCLUSION_ID = "0b5e7c1a-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
SHA = "ab" * 32
ROW = {"unit_id": "logistics", "unit_name": "后勤管理处", "unit_kind": "department",
       "rated": 5, "contacted": 4, "solved": 4, "satisfied": 2, "basically": 2,
       "dissatisfied": 1, "response_rate": 0.8, "resolution_rate": 0.8,
       "satisfaction_rate": 0.76, "score": 78.4, "rank": 1, "previous_rank": None,
       "rank_change": None, "dispatched": 6, "signed": 6, "replied": 6, "due": 6, "closed": 5,
       "unrated": 0, "on_time_sign_rate": 1.0, "on_time_reply_rate": 0.8333,
       "avg_sign_hours": 0.5, "avg_reply_hours": 7.25, "redo": 0, "supervised": 0,
       "overdue": 1}
ANSWER = {"period": "2026-11", "basis": "assessment", "by": "unit",
          "from": "2026-10-31T16:00:00+00:00", "to": "2026-11-30T16:00:00+00:00",
          "version": None, "frozen": False, "published_at": None,
          "groups": {"department": [ROW], "college": [], "other": []},
          "red": {"department": ["logistics"], "college": []},
          "black": {"department": [], "college": []}}
CATEGORY_ROW = {"category": "logistics", "category_name": "后勤保障",
                **{k: v for k, v in ROW.items()
                   if k not in ("unit_id", "unit_name", "unit_kind", "rank", "previous_rank",
                                "rank_change")}}
gateway = test_office_analysis.gateway   # the same fixture: a fake rating answering `answers`
EXCLUSION = {"id": EXCLUSION_ID, "complaint_id": CASE_ID, "unit_id": "logistics",
             "status": "requested", "reason": "非本单位职责", "evidence": [SHA],
             "requested_by": HEAD["id"], "requested_by_name": HEAD["name"],
             "requested_at": "2026-11-20T02:00:00+00:00", "decided_by": None,
             "decided_by_name": None, "decided_at": None, "note": None}


def test_the_assessment_passes_the_query_and_the_caller(gateway):
    url, rating = gateway(get_assessment=ANSWER)
    answer = requests.get(f"{url}/api/v1/staff/assessment", headers=bearer(HEAD),
                          params={"period": "2026-11", "basis": "full"})
    assert answer.status_code == 200 and answer.json() == ANSWER
    assert rating.calls == [("get_assessment", ("2026-11", "full", "unit", HEAD), {})]


@pytest.mark.parametrize("params, field", [
    ({}, "period"),
    ({"period": "2026-13"}, "period"),
    ({"period": "2026-1"}, "period"),
    ({"period": "2026-11", "basis": "partial"}, "basis"),
    ({"period": "2026-11", "by": "college"}, "by"),
    ({"period": "2026-11", "colour": "red"}, "colour"),
    # a month no date can be made of, or no year that means anything here (was a 500)
    ({"period": "0000-01"}, "period"),
    ({"period": "9999-12"}, "period"),
    ({"period": "1969-12"}, "period"),
    ({"period": "2100-01"}, "period"),
    ({"period": "2026-11\n"}, "period"),
    ({"period": "2026-11\x00"}, "period"),
])
def test_a_bad_query_is_400_naming_the_field_and_never_reaches_rating(gateway, params, field):
    url, rating = gateway()
    for path in ("/api/v1/staff/assessment", "/api/v1/staff/assessment.xlsx"):
        if path.endswith("xlsx") and field == "by":
            continue
        answer = requests.get(f"{url}{path}", headers=bearer(OFFICE), params=params)
        error = error_of(answer, 400, "invalid_input")
        assert field in error["fields"], error
    assert rating.calls == []


@pytest.mark.parametrize("period", ["0000-01", "9999-12", "2100-01", "2026-13", "2026-11%0A"])
def test_publishing_a_period_out_of_range_is_400_naming_it(gateway, period):
    url, rating = gateway()
    answer = requests.post(f"{url}/api/v1/staff/assessment/{period}/publish",
                           headers=bearer(OFFICE), json={})
    assert "period" in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


def test_a_complainant_is_told_there_is_no_staff_api(gateway):
    url, rating = gateway()
    for method, path in (("get", "/api/v1/staff/assessment?period=2026-11"),
                         ("get", "/api/v1/staff/assessment.xlsx?period=2026-11"),
                         ("post", "/api/v1/staff/assessment/2026-11/publish"),
                         ("get", "/api/v1/staff/exclusions"),
                         ("post", f"/api/v1/staff/cases/{CASE_ID}/exclusions"),
                         ("post", f"/api/v1/staff/exclusions/{EXCLUSION_ID}/decision")):
        answer = requests.request(method, f"{url}{path}", headers=bearer(STUDENT), json={})
        error_of(answer, 404, "not_found")
    assert rating.calls == []


def test_ratings_refusals_keep_their_status(gateway):
    url, _ = gateway(get_assessment=NotFound("未找到 (not found)"),
                     publish_assessment=Conflict({"code": "period_not_over",
                                                  "message": "考核周期尚未结束,不能发布"}),
                     request_exclusion=Conflict({"code": "exclusion_exists",
                                                 "message": "该诉求已有待审核或已批准的剔除申请"}),
                     decide_exclusion=InvalidInput({"decision": ["bad"]}))
    error_of(requests.get(f"{url}/api/v1/staff/assessment", headers=bearer(HEAD),
                          params={"period": "2026-11"}), 404, "not_found")
    error_of(requests.post(f"{url}/api/v1/staff/assessment/2026-12/publish",
                           headers=bearer(OFFICE), json={}), 409, "period_not_over")
    error_of(requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/exclusions",
                           headers=bearer(HEAD), json={"reason": "x"}), 409, "exclusion_exists")
    error_of(requests.post(f"{url}/api/v1/staff/exclusions/{EXCLUSION_ID}/decision",
                           headers=bearer(OFFICE), json={"decision": "approve"}), 400,
             "invalid_input")


def test_publishing_checks_the_period_and_passes_the_reason(gateway):
    published = {"period": "2026-11", "versions": {}}
    url, rating = gateway(publish_assessment=published)
    answer = requests.post(f"{url}/api/v1/staff/assessment/2026-11/publish",
                           headers=bearer(OFFICE), json={"reason": "补批剔除"})
    assert answer.status_code == 200 and answer.json() == published
    assert rating.calls == [("publish_assessment", ("2026-11", OFFICE, {"reason": "补批剔除"}),
                             {})]
    bad = requests.post(f"{url}/api/v1/staff/assessment/2026-99/publish",
                        headers=bearer(OFFICE), json={})
    assert "period" in error_of(bad, 400, "invalid_input")["fields"]
    extra = requests.post(f"{url}/api/v1/staff/assessment/2026-11/publish",
                          headers=bearer(OFFICE), json={"why": "x"})
    assert "why" in error_of(extra, 400, "invalid_input")["fields"]
    assert len(rating.calls) == 1


def test_exclusions_request_list_and_decide(gateway):
    decided = dict(EXCLUSION, status="approved", decided_by=OFFICE["id"])
    url, rating = gateway(request_exclusion=EXCLUSION, list_exclusions=[EXCLUSION],
                          decide_exclusion=decided)
    body = {"reason": "非本单位职责", "evidence": [SHA]}
    made = requests.post(f"{url}/api/v1/staff/cases/{CASE_ID}/exclusions",
                         headers=bearer(HEAD), json=body)
    assert made.status_code == 201 and made.json() == EXCLUSION
    assert made.headers["Location"] == f"/api/v1/staff/exclusions/{EXCLUSION_ID}"
    listed = requests.get(f"{url}/api/v1/staff/exclusions", headers=bearer(OFFICE),
                          params={"status": "requested", "limit": "10"})
    assert listed.status_code == 200 and listed.json() == [EXCLUSION]
    decision = requests.post(f"{url}/api/v1/staff/exclusions/{EXCLUSION_ID}/decision",
                             headers=bearer(OFFICE), json={"decision": "approve"})
    assert decision.status_code == 200 and decision.json() == decided
    assert [call[:2] for call in rating.calls] == [
        ("request_exclusion", (CASE_ID, HEAD, body)),
        ("list_exclusions", (OFFICE, {"status": "requested", "limit": 10, "offset": 0,
                                      "unit_id": None, "complaint_id": None})),
        ("decide_exclusion", (EXCLUSION_ID, OFFICE, {"decision": "approve", "note": None})),
    ]


@pytest.mark.parametrize("path, body, field", [
    (f"/api/v1/staff/cases/{CASE_ID}/exclusions", {}, "reason"),
    (f"/api/v1/staff/cases/{CASE_ID}/exclusions", {"reason": ""}, "reason"),
    (f"/api/v1/staff/cases/{CASE_ID}/exclusions", {"reason": "x", "evidence": ["abc"]},
     "evidence"),
    (f"/api/v1/staff/exclusions/{EXCLUSION_ID}/decision", {"decision": "maybe"}, "decision"),
    (f"/api/v1/staff/exclusions/{EXCLUSION_ID}/decision", {}, "decision"),
    (f"/api/v1/staff/cases/{CASE_ID}/exclusions", {"reason": "   "}, "reason"),
    (f"/api/v1/staff/cases/{CASE_ID}/exclusions", {"reason": "x", "evidence": [SHA + "\n"]},
     "evidence"),
])
def test_a_bad_exclusion_body_is_400(gateway, path, body, field):
    url, rating = gateway()
    answer = requests.post(f"{url}{path}", headers=bearer(OFFICE), json=body)
    assert field in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


def test_a_bad_exclusion_filter_is_400(gateway):
    url, rating = gateway()
    answer = requests.get(f"{url}/api/v1/staff/exclusions", headers=bearer(OFFICE),
                          params={"status": "maybe"})
    assert "status" in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


@pytest.mark.parametrize("params, field", [
    ({"unit_id": "logi\x00stics"}, "unit_id"),
    ({"complaint_id": "\x00"}, "complaint_id"),
    ({"complaint_id": "a\x1bb"}, "complaint_id"),
    ({"unit_id": ""}, "unit_id"),
    ({"unit_id": "u" * 65}, "unit_id"),
    ({"limit": "0"}, "limit"),
    ({"offset": "-1"}, "offset"),
])
def test_an_exclusion_filter_no_id_can_match_is_400_naming_it(gateway, params, field):
    """A NUL in an id was a 500 (PostgreSQL refuses it in a string)."""
    url, rating = gateway()
    answer = requests.get(f"{url}/api/v1/staff/exclusions", headers=bearer(OFFICE),
                          params=params)
    assert field in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


@pytest.mark.parametrize("body", [{"reason": "非本单位\u0000职责"}, {"reason": "\ud800"},
                                  {"reason": "非本单位职责", "note\u0000": 1}])
def test_a_nul_or_half_a_surrogate_in_a_body_is_400(gateway, body):
    url, rating = gateway()
    for path in (f"/api/v1/staff/cases/{CASE_ID}/exclusions",
                 f"/api/v1/staff/exclusions/{EXCLUSION_ID}/decision",
                 "/api/v1/staff/assessment/2026-11/publish"):
        answer = requests.post(f"{url}{path}", headers={**bearer(OFFICE),
                                                        "Content-Type": "application/json"},
                               data=json.dumps(body).encode())
        error_of(answer, 400, "invalid_input")
    assert rating.calls == []


def test_the_workbook_is_streamed_with_the_ledger_in_pages(gateway):
    case = {"complaint_id": CASE_ID, "number": "JS-1", "received_at": "2026-11-03T02:00:00+00:00",
            "channel": "app", "category": "logistics", "unit_name": "后勤管理处",
            "status": "closed", "anonymous": True, "complainant_name": "张三",
            "complainant_id": "s2023001", "contact_phone": "138****5678",
            "title": "张三的热水 13812345678", "contacted": True, "solved": True,
            "level": "satisfied", "rated_at": "2026-11-05T02:00:00+00:00"}
    url, rating = gateway(get_assessment=dict(ANSWER, categories=[CATEGORY_ROW]),
                          assessment_ledger=[case])
    answer = requests.get(f"{url}/api/v1/staff/assessment.xlsx", headers=bearer(OFFICE),
                          params={"period": "2026-11"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(answer.content), read_only=True)
    assert book.sheetnames == ["汇总", "单位", "类别", "案件台账"]
    ledger = list(book["案件台账"].iter_rows(values_only=True))
    text = repr(ledger)
    assert "13812345678" not in text and "张三" not in text and "s2023001" not in text
    assert [call[0] for call in rating.calls] == ["get_assessment", "get_assessment",
                                                 "assessment_ledger"]
