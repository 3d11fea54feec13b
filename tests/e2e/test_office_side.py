"""The office's side over HTTP with the real services (issue 12): a case filed, handled, replied
and rated reaches rating's figures through the bus, a unit's 剔除 approved by the office leaves
the assessment basis but not the full one, a campaign gathers the case and puts itself on the
case's timeline, the hot topics name what the complainants wrote, and a summary is made once.
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from tests.conftest import wait_until
from tests.e2e.test_lifecycle import Client

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def app(start_system, databases):
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                              "gateway"]])
    return Client(system)


def _logistics(app, who="office", basis="assessment"):
    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    reply = app.get(who, "/api/v1/staff/assessment", period=period, basis=basis)
    assert reply.status_code == 200, reply.text
    rows = [row for row in reply.json()["groups"]["department"] if row["unit_id"] == "logistics"]
    return rows[0] if rows else None


def test_a_rated_case_reaches_the_figures_and_an_approved_exclusion_leaves_them(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    app.handle_and_reply(case_id)
    assert app.rate(case_id, "satisfied")["decision"] == "close"
    app.wait_status(case_id, "closed")

    row = wait_until(lambda: (lambda r: r if r and r["rated"] == 1 else None)(_logistics(app)),
                     timeout=60, message="the rating in the figures")
    assert (row["contacted"], row["solved"], row["satisfied"]) == (1, 1, 1)
    assert (row["response_rate"], row["resolution_rate"], row["satisfaction_rate"],
            row["score"]) == (1.0, 1.0, 1.0, 100.0)
    assert row["rank"] is None          # one 有效回访: listed, below min_rated, not ranked
    # a head sees their own unit only; a complainant learns nothing
    head = app.get("head", "/api/v1/staff/assessment", period=datetime.now(SHANGHAI)
                   .strftime("%Y-%m"), basis="assessment").json()
    assert [r["unit_id"] for rows in head["groups"].values() for r in rows] == ["logistics"]
    assert app.get("student", "/api/v1/staff/assessment").status_code == 404

    asked = app.post("head", f"/api/v1/staff/cases/{case_id}/exclusions",
                     {"reason": "诉求人反映的是市政供水停水,非学校原因"})
    assert asked.status_code == 201, asked.text
    exclusion = asked.json()
    assert app.post("head", f"/api/v1/staff/exclusions/{exclusion['id']}/decision",
                    {"decision": "approve"}).status_code == 404   # only the office decides
    decided = app.post("office", f"/api/v1/staff/exclusions/{exclusion['id']}/decision",
                       {"decision": "approve", "note": "核实属实"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"
    assert _logistics(app)["rated"] == 0
    assert _logistics(app, basis="full")["rated"] == 1
    # the request and the decision are on the case's audit trail (intake heard of them)
    wait_until(lambda: {"exclusion_request", "exclusion_decision"} <= {
        e["action"] for e in app.get("office", f"/api/v1/staff/cases/{case_id}/audit").json()},
        timeout=60, message="exclusion audited")

    workbook = app.get("office", "/api/v1/staff/assessment.xlsx",
                       period=datetime.now(SHANGHAI).strftime("%Y-%m"), basis="full")
    assert workbook.status_code == 200, workbook.text
    sheets = openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).sheetnames
    assert len(sheets) >= 3


def test_a_campaign_gathers_a_case_and_shows_on_its_timeline(app):
    case_id = app.file(content="学生公寓7号楼热水器坏了,热水时有时无,请尽快维修")
    app.wait_status(case_id, "assigned")
    today = datetime.now(SHANGHAI).date()
    topics = wait_until(lambda: (lambda r: r.json() if r.status_code == 200 and
                                 r.json()["keywords"] else None)(
        app.get("office", "/api/v1/staff/analysis/hot-topics", **{
            "from": today.isoformat(), "to": today.isoformat()})),
        timeout=60, message="hot topics")
    assert "热水" in [k["keyword"] for k in topics["keywords"]]

    created = app.post("office", "/api/v1/staff/campaigns", {
        "name": "宿舍热水专项治理", "scope": {"categories": ["logistics"], "keywords": ["热水"]},
        "lead_unit": "logistics", "target_date": (today + timedelta(days=30)).isoformat()})
    assert created.status_code == 201, created.text
    campaign = created.json()["id"]
    suggested = wait_until(lambda: [c["complaint_id"] for c in app.get(
        "office", f"/api/v1/staff/campaigns/{campaign}/suggestions").json()["cases"]],
        timeout=60, message="suggestions")
    assert case_id in suggested
    attached = app.post("office", f"/api/v1/staff/campaigns/{campaign}/cases",
                        {"complaint_ids": [case_id]})
    assert attached.status_code == 200, attached.text
    timeline = app.wait_status(case_id, "assigned")["timeline"]
    wait_until(lambda: any("纳入专项治理:宿舍热水专项治理" in line["text"]
                           for line in app.case("office", case_id)["timeline"]),
               timeout=60, message="campaign on the timeline")
    assert timeline  # the case went on being handled as before
    progress = app.get("office", f"/api/v1/staff/campaigns/{campaign}").json()
    assert progress["progress"]["cases"] == 1
    closed = app.post("office", f"/api/v1/staff/campaigns/{campaign}/close",
                      {"conclusion": "已完成7号楼热水器更换"})
    assert closed.status_code == 200, closed.text
    again = app.post("office", f"/api/v1/staff/campaigns/{campaign}/cases",
                     {"complaint_ids": [case_id]})
    assert again.status_code == 409


def test_the_office_makes_last_week_s_summary_once(app):
    last_week = (datetime.now(SHANGHAI).date() - timedelta(days=7)).isocalendar()
    period = f"{last_week.year}-W{last_week.week:02d}"
    made = app.post("office", "/api/v1/staff/summaries", {"kind": "weekly", "period": period})
    assert made.status_code in (200, 201), made.text   # the timer may have made it first
    again = app.post("office", "/api/v1/staff/summaries", {"kind": "weekly", "period": period})
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    listed = app.get("office", "/api/v1/staff/summaries").json()
    assert made.json()["id"] in [s["id"] for s in listed]
    workbook = app.get("office", f"/api/v1/staff/summaries/{made.json()['id']}.xlsx")
    assert workbook.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(workbook.content), read_only=True).sheetnames
    assert app.post("head", "/api/v1/staff/summaries",
                    {"kind": "weekly", "period": period}).status_code in (403, 404)
