"""The 分析研判 and 专项治理 routes on their own (gateway/office_analysis.py): the gateway serving
real HTTP with rating replaced by a fake, as in test_routes.py. What each route passes on, the
400s it answers itself (with the field that is wrong), and rating's refusals in the one error
shape."""
from __future__ import annotations

import base64

import pytest
import requests
from nameko.testing.services import replace_dependencies

from gateway.service import GatewayService
from gateway.tests.test_routes import SECRET, STUDENT, FakeService, bearer, error_of
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.settings import Settings, nameko_config

OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office",
          "college": None}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics",
        "college": None}
CAMPAIGN_ID = "0b5e7c1a-2d3f-4a5b-8c9d-0e1f2a3b4c5d"
CASE_ID = "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def gateway(container_factory, web_config, tmp_path):
    """The gateway with a fake rating answering `answers`; gives (base URL, fake rating)."""
    def start(**answers):
        settings = Settings(jwt_secret=SECRET, log_json=False,
                            attachments_dir=str(tmp_path / "attachments"))
        container = container_factory(GatewayService, nameko_config(
            settings, WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"]))
        rating = FakeService(**answers)
        replace_dependencies(container, intake=FakeService(), sla=FakeService(), rating=rating)
        container.start()
        return f"http://{web_config['WEB_SERVER_ADDRESS']}", rating
    return start


def test_hot_topics_pass_the_validated_query_and_the_caller(gateway):
    url, rating = gateway(analysis_hot_topics={"keywords": []})
    answer = requests.get(f"{url}/api/v1/staff/analysis/hot-topics", headers=bearer(HEAD),
                          params={"from": "2026-11-01", "to": "2026-11-30",
                                  "category": "logistics"})
    assert answer.status_code == 200 and answer.json() == {"keywords": []}
    assert rating.calls == [("analysis_hot_topics", (HEAD, {
        "from": "2026-11-01", "to": "2026-11-30", "category": "logistics"}), {})]


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
    ({"from": "2026-11-01"}, "to"),
    ({"from": "2026-13-01", "to": "2026-11-30"}, "from"),
    ({"from": "0001-01-01", "to": "2026-11-30"}, "from"),
    ({"from": "2026-11-01", "to": "2026-11-30", "category": "canteen"}, "category"),
    ({"from": "2026-11-01", "to": "2026-11-30", "top": "0"}, "top"),
    ({"from": "2026-11-01", "to": "2026-11-30", "colour": "red"}, "colour"),
    ({"from": ["2026-11-01", "2026-11-02"], "to": "2026-11-30"}, "from"),
])
def test_bad_dates_and_ranges_are_400_with_the_field_and_never_reach_rating(gateway, params,
                                                                            field):
    url, rating = gateway()
    answer = requests.get(f"{url}/api/v1/staff/analysis/hot-topics", headers=bearer(OFFICE),
                          params=params)
    assert field in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


def test_a_range_too_long_is_rating_s_400(gateway):
    url, _ = gateway(analysis_hot_topics=InvalidInput({"to": ["时间范围不能超过 366 天"]}))
    answer = requests.get(f"{url}/api/v1/staff/analysis/hot-topics", headers=bearer(OFFICE),
                          params={"from": "2024-01-01", "to": "2026-11-30"})
    assert "366" in error_of(answer, 400, "invalid_input")["fields"]["to"][0]


def test_a_complainant_does_not_learn_that_analysis_exists(gateway):
    url, rating = gateway()
    for path in ("/analysis/seasonal", "/analysis/problems", "/campaigns"):
        error_of(requests.get(f"{url}/api/v1/staff{path}", headers=bearer(STUDENT)), 404,
                 "not_found")
    assert rating.calls == []


def test_seasonal_json_and_png(gateway):
    url, rating = gateway(analysis_seasonal={"months": []},
                          analysis_seasonal_png={"png": base64.b64encode(PNG).decode(),
                                                 "reason": None})
    assert requests.get(f"{url}/api/v1/staff/analysis/seasonal", headers=bearer(OFFICE),
                        params={"end": "2026-11"}).json() == {"months": []}
    drawn = requests.get(f"{url}/api/v1/staff/analysis/seasonal.png", headers=bearer(OFFICE),
                         params={"months": "12"})
    assert drawn.headers["Content-Type"] == "image/png" and drawn.content == PNG
    assert rating.calls[1] == ("analysis_seasonal_png", (OFFICE, {"months": "12"}), {})
    error_of(requests.get(f"{url}/api/v1/staff/analysis/seasonal", headers=bearer(OFFICE),
                          params={"end": "2026-13"}), 400, "invalid_input")


def test_seasonal_png_without_a_font_is_503_with_the_reason(gateway):
    url, _ = gateway(analysis_seasonal_png={"png": None, "reason": "图表需要中文字体"})
    answer = requests.get(f"{url}/api/v1/staff/analysis/seasonal.png", headers=bearer(OFFICE))
    assert error_of(answer, 503, "chart_unavailable")["message"] == "图表需要中文字体"
    assert answer.headers["Retry-After"]


def test_problems_pass_an_empty_query(gateway):
    url, rating = gateway(analysis_problems={"common": [], "repeated": []})
    assert requests.get(f"{url}/api/v1/staff/analysis/problems",
                        headers=bearer(HEAD)).status_code == 200
    assert rating.calls == [("analysis_problems", (HEAD, {}), {})]


CREATE = {"name": "学生公寓热水专项治理", "lead_unit": "logistics", "target_date": "2026-12-31",
          "scope": {"categories": ["logistics"], "keywords": ["热水"]}}


def test_creating_a_campaign_answers_201_with_its_location(gateway):
    url, rating = gateway(campaign_create={"id": CAMPAIGN_ID, "status": "open"})
    answer = requests.post(f"{url}/api/v1/staff/campaigns", headers=bearer(OFFICE), json=CREATE)
    assert answer.status_code == 201
    assert answer.headers["Location"] == f"/api/v1/staff/campaigns/{CAMPAIGN_ID}"
    assert rating.calls == [("campaign_create", (OFFICE, CREATE), {})]


@pytest.mark.parametrize("change, field", [
    ({"name": ""}, "name"), ({"scope": {"categories": ["canteen"]}}, "scope"),
    ({"target_date": "someday"}, "target_date"), ({"owner": "me"}, "owner"),
    ({"scope": {"from": "2026-12-01", "to": "2026-11-01"}}, "scope"),
])
def test_a_bad_campaign_is_400_before_rating_is_asked(gateway, change, field):
    url, rating = gateway()
    answer = requests.post(f"{url}/api/v1/staff/campaigns", headers=bearer(OFFICE),
                           json=dict(CREATE, **change))
    assert field in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


def test_campaign_routes_pass_the_ids_and_bodies(gateway):
    url, rating = gateway(campaign_list=[], campaign_get={}, campaign_suggestions={},
                          campaign_attach={}, campaign_detach={}, campaign_add_milestone={},
                          campaign_close={})
    base = f"{url}/api/v1/staff/campaigns"
    headers = bearer(OFFICE)
    assert requests.get(base, headers=headers, params={"status": "open"}).status_code == 200
    assert requests.get(f"{base}/{CAMPAIGN_ID}", headers=headers).status_code == 200
    assert requests.get(f"{base}/{CAMPAIGN_ID}/suggestions", headers=headers).status_code == 200
    assert requests.post(f"{base}/{CAMPAIGN_ID}/cases", headers=headers,
                         json={"complaint_ids": [CASE_ID]}).status_code == 200
    assert requests.post(f"{base}/{CAMPAIGN_ID}/cases/{CASE_ID}/detach",
                         headers=headers).status_code == 200
    assert requests.post(f"{base}/{CAMPAIGN_ID}/milestones", headers=headers,
                         json={"title": "更换热水器", "done": True}).status_code == 201
    assert requests.post(f"{base}/{CAMPAIGN_ID}/close", headers=headers,
                         json={"conclusion": "已整改"}).status_code == 200
    assert rating.calls == [
        ("campaign_list", (OFFICE, {"status": "open"}), {}),
        ("campaign_get", (CAMPAIGN_ID, OFFICE), {}),
        ("campaign_suggestions", (CAMPAIGN_ID, OFFICE), {}),
        ("campaign_attach", (CAMPAIGN_ID, OFFICE, {"complaint_ids": [CASE_ID]}), {}),
        ("campaign_detach", (CAMPAIGN_ID, CASE_ID, OFFICE, {}), {}),
        ("campaign_add_milestone", (CAMPAIGN_ID, OFFICE, {"title": "更换热水器", "done": True}),
         {}),
        ("campaign_close", (CAMPAIGN_ID, OFFICE, {"conclusion": "已整改"}), {}),
    ]


@pytest.mark.parametrize("body, field", [({}, "complaint_ids"), ({"complaint_ids": []},
                                                                  "complaint_ids"),
                                         ({"complaint_ids": [CASE_ID], "note": ""}, "note")])
def test_a_bad_attachment_is_400(gateway, body, field):
    url, rating = gateway()
    answer = requests.post(f"{url}/api/v1/staff/campaigns/{CAMPAIGN_ID}/cases",
                           headers=bearer(OFFICE), json=body)
    assert field in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


@pytest.mark.parametrize("refusal, status, code", [
    (Conflict.refusal("campaign_closed", "专项治理已结束"), 409, "campaign_closed"),
    (NotFound("campaign not found"), 404, "not_found"),
])
def test_rating_s_refusals_become_the_one_error_shape(gateway, refusal, status, code):
    url, _ = gateway(campaign_close=refusal)
    answer = requests.post(f"{url}/api/v1/staff/campaigns/{CAMPAIGN_ID}/close",
                           headers=bearer(OFFICE), json={"conclusion": "已整改"})
    error_of(answer, status, code)
