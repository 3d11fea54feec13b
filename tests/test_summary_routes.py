"""The summaries' routes (issue 12 §3) with rating faked: what each passes on, its statuses
(201 made, 200 existed, 4xx with a reason), and the workbook, opened with openpyxl: its
sheets, headers and numbers equal to the JSON's, and no whole phone number anywhere. Here,
outside the gateway, because the summary served is made by rating's own content code, which
the gateway's tests may not import."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone

import openpyxl
import pytest
import requests

from gateway.tests import test_routes
from gateway.tests.test_routes import FakeService, bearer, error_of
from services.common.errors import Conflict, InvalidInput, NotFound
from services.rating import summaries
from services.rating.summaries import SummaryInputs, summary_period

SUMMARY_ID = "7a1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office",
          "college": None}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics",
        "college": None}
STUDENT = {"id": "s2023001", "name": "张三", "roles": ["complainant"], "unit": None,
           "college": None}
PHONE = re.compile(r"1[3-9]\d{9}")
gateway = test_routes.gateway   # the gateway with rating faked (a fixture)


def unit_row(unit_id, name, kind, rated, score, rank, rates):
    return dict(unit_id=unit_id, unit_name=name, unit_kind=kind, rated=rated, contacted=rated,
                solved=rated, satisfied=rated, basically=0, dissatisfied=0,
                response_rate=rates[0], resolution_rate=rates[1], satisfaction_rate=rates[2],
                score=score, rank=rank)


def a_summary() -> dict:
    """A summary as rating answers it, made by rating's own content code."""
    week = summary_period("weekly", "2026-W48")
    now = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)
    case = {"complaint_id": "c-1", "number": "JS-20261125-0001",
            "title": "宿舍热水停了,联系13912345678", "unit_id": "logistics",
            "unit_name": "后勤管理处", "handler_name": "冯涛", "due_at": now - timedelta(hours=3)}
    inputs = SummaryInputs(
        received={"total": 12, "by_channel": {"app": 8, "hotline": 4},
                  "by_category": {"logistics": 9, "education": 3}},
        previous_received={"total": 10, "by_channel": {"app": 10},
                           "by_category": {"logistics": 10}},
        closed=9, previous_closed=6,
        assessment={"period": "2026-W48", "basis": "assessment", "version": None,
                    "frozen": False, "groups": {
                        "department": [
                            unit_row("logistics", "后勤管理处", "department", 6, 92.5, 1,
                                     (1.0, 0.8333, 0.95)),
                            unit_row("security", "保卫处", "department", 5, 80.0, 2,
                                     (0.8, 0.8, 0.8)),
                            unit_row("finance", "财务处", "department", 2, 60.0, None,
                                     (0.5, 0.5, 0.7))],
                        "college": []}},
        overdue=[case], due_soon=[dict(case, number="JS-2", due_at=now + timedelta(hours=5))],
        supervised=[dict(case, number="JS-3", instructed=True, leader_id="u-leader-1")],
        hot_topics=[{"keyword": "热水", "count": 5, "mom": None}],
        meeting={"redone": [dict(case, number="JS-4")]},
        per_day=[(date(2026, 11, 23), "logistics", 3)])
    content = summaries.build_content(week, inputs)
    return {"id": SUMMARY_ID, "kind": "weekly", "period": "2026-W48", "title": content["title"],
            "from": content["from"], "to": content["to"], "trigger": "schedule",
            "generated_by": "system", "generated_at": now.isoformat(), "content": content,
            "markdown": summaries.render_markdown(content),
            "digest": summaries.render_markdown(content, digest=True),
            "charts": [{"name": "rates", "title": "各单位三率", "md5": "0" * 32, "bytes": 10}]}


def test_the_office_generates_a_summary_201_then_200_when_it_existed(gateway):
    made = dict(a_summary(), created=True)
    rating = FakeService(generate_summary=made)
    url, _, _ = gateway(rating=rating)
    body = {"kind": "weekly", "period": "2026-W48"}
    answer = requests.post(f"{url}/api/v1/staff/summaries", json=body, headers=bearer(OFFICE))
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/api/v1/staff/summaries/{SUMMARY_ID}"
    assert rating.calls == [("generate_summary", (OFFICE, body), {})]
    rating.answers["generate_summary"] = dict(made, created=False)
    again = requests.post(f"{url}/api/v1/staff/summaries", json=body, headers=bearer(OFFICE))
    assert again.status_code == 200 and again.json()["created"] is False


@pytest.mark.parametrize("body, field", [
    ({"kind": "daily", "period": "2026-11"}, "kind"), ({"kind": "weekly"}, "period"),
    ({"kind": "weekly", "period": "2026-W48", "extra": 1}, "extra"),
    ({"kind": "weekly", "period": ""}, "period")])
def test_a_bad_generate_body_is_400_with_the_field_before_rating_is_asked(gateway, body, field):
    rating = FakeService()
    url, _, _ = gateway(rating=rating)
    answer = requests.post(f"{url}/api/v1/staff/summaries", json=body, headers=bearer(OFFICE))
    assert field in error_of(answer, 400, "invalid_input")["fields"]
    assert rating.calls == []


def test_rating_s_refusals_keep_their_status_and_reason(gateway):
    rating = FakeService(generate_summary=Conflict.refusal(
        "period_not_finished", "2026-12 尚未结束,结束后才能生成汇总"))
    url, _, _ = gateway(rating=rating)
    answer = requests.post(f"{url}/api/v1/staff/summaries",
                           json={"kind": "monthly", "period": "2026-12"}, headers=bearer(OFFICE))
    assert "尚未结束" in error_of(answer, 409, "period_not_finished")["message"]
    rating.answers["generate_summary"] = InvalidInput({"period": ["not a week"]})
    answer = requests.post(f"{url}/api/v1/staff/summaries",
                           json={"kind": "weekly", "period": "2026-48"}, headers=bearer(OFFICE))
    error_of(answer, 400, "invalid_input")
    rating.answers["get_summary"] = NotFound("summary not found")
    error_of(requests.get(f"{url}/api/v1/staff/summaries/{SUMMARY_ID}", headers=bearer(HEAD)),
             404, "not_found")


def test_a_complainant_does_not_learn_the_routes_exist(gateway):
    rating = FakeService()
    url, _, _ = gateway(rating=rating)
    error_of(requests.get(f"{url}/api/v1/staff/summaries", headers=bearer(STUDENT)), 404,
             "not_found")
    error_of(requests.get(f"{url}/api/v1/staff/summaries"), 401, "unauthorized")
    assert rating.calls == []


def test_the_list_passes_its_query_and_refuses_a_bad_one(gateway):
    rating = FakeService(list_summaries=[])
    url, _, _ = gateway(rating=rating)
    answer = requests.get(f"{url}/api/v1/staff/summaries?kind=monthly&limit=5",
                          headers=bearer(HEAD))
    assert answer.status_code == 200 and answer.json() == []
    assert rating.calls == [("list_summaries", (HEAD, {"kind": "monthly", "limit": 5}), {})]
    for query in ("kind=daily", "limit=0", "limit=x", "page=2"):
        error_of(requests.get(f"{url}/api/v1/staff/summaries?{query}", headers=bearer(HEAD)),
                 400, "invalid_input")


def test_a_chart_is_served_as_png(gateway):
    import base64
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 20
    rating = FakeService(get_summary_chart={"name": "rates", "title": "各单位三率",
                                            "md5": "ab" * 16,
                                            "png": base64.b64encode(png).decode()})
    url, _, _ = gateway(rating=rating)
    answer = requests.get(f"{url}/api/v1/staff/summaries/{SUMMARY_ID}/charts/rates.png",
                          headers=bearer(OFFICE))
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"
    assert answer.content == png
    assert rating.calls == [("get_summary_chart", (OFFICE, SUMMARY_ID, "rates"), {})]


def test_the_workbook_opens_with_the_api_s_numbers_and_no_whole_phone(gateway):
    summary = a_summary()
    rating = FakeService(get_summary=summary)
    url, _, _ = gateway(rating=rating)
    as_json = requests.get(f"{url}/api/v1/staff/summaries/{SUMMARY_ID}", headers=bearer(HEAD))
    assert as_json.status_code == 200 and as_json.json()["id"] == SUMMARY_ID
    answer = requests.get(f"{url}/api/v1/staff/summaries/{SUMMARY_ID}.xlsx", headers=bearer(HEAD))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "2026-W48" in answer.headers["Content-Disposition"]
    assert rating.calls[-1] == ("get_summary", (HEAD, SUMMARY_ID), {})

    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["汇总", "单位", "预警催办", "督办", "调度会"]
    counts = book["汇总"]
    assert [c.value for c in counts[1]] == ["项目", "本期", "上期", "增减", "环比"]
    assert counts.freeze_panes == "A2"
    rows = {r[0]: r[1:] for r in counts.iter_rows(min_row=2, values_only=True) if r[0]}
    content = as_json.json()["content"]
    assert rows["受理总量"] == (12, 10, 2, 0.2) == (
        content["received"]["count"], content["received"]["previous"],
        content["received"]["change"], content["received"]["ratio"])
    assert rows["办结量"] == (9, 6, 3, 0.5)
    assert rows["渠道:24小时热线"][:2] == (4, 0)
    assert counts["E2"].number_format == "0.00%"

    units = book["单位"]
    assert [c.value for c in units[1]][:4] == ["单位类型", "单位名称", "有效回访", "响应率"]
    table = [r for r in units.iter_rows(min_row=2, values_only=True) if r[0]]
    expected = content["assessment"]["groups"]["department"]
    assert [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in table] == [
        (e["unit_name"], e["rated"], e["response_rate"], e["resolution_rate"],
         e["satisfaction_rate"], e["score"]) for e in expected]
    assert [(r[7], r[8]) for r in table] == [(1, "红榜"), (2, "黑榜"), ("未排名", None)]
    assert units["D2"].number_format == "0.00%"
    assert len(units._charts) == 1    # the native 三率 chart

    items = [r for r in book["预警催办"].iter_rows(min_row=2, values_only=True)]
    assert [(r[0], r[1], r[4]) for r in items] == [
        ("预警(已超期)", "JS-20261125-0001", "冯涛"), ("催办(24工作小时内到期)", "JS-2", "冯涛")]
    assert [r[6] for r in book["督办"].iter_rows(min_row=2, values_only=True)] == ["已批示"]
    assert [r[:2] for r in book["调度会"].iter_rows(min_row=2, values_only=True)] == \
        [("发回重办", "JS-4")]
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert not (isinstance(value, str) and PHONE.search(value)), value
