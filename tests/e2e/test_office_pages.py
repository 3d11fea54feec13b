"""The office's console with the real services (issue 13): a case the unit returned is on the
退回 board and the office dispatches it again through the page; a 剔除 is decided on the
exclusions page; the assessment page and its workbook; a summary generated and read; a
handler finds no office page. Cases are made through the API (tests/e2e/test_lifecycle.py's
Client), the pages are used over HTTP as a browser without script would."""
from __future__ import annotations

import io
import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from gateway.tests.test_office_pages import OfficeClient
from tests.conftest import wait_until
from tests.e2e.test_lifecycle import Client

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def app(start_system, databases):
    # Page sessions in Redis, as with replicas (db 13: this suite's own).
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                              "gateway"]],
                          JIESU_GATEWAY_STATE_URL=os.environ.get("JIESU_TEST_REDIS_URL",
                                                                 "redis://127.0.0.1:6379/13"))
    return Client(system)


def _signed_in(app, person: str) -> OfficeClient:
    client = OfficeClient(app.url)
    client.console_login(person)
    client.token = client.csrf()
    return client


def test_a_returned_case_is_on_the_board_and_dispatched_again_through_the_page(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    app.act("handler", case_id, "return_case", reason="该事项不属于本单位职责范围")
    number = app.wait_status(case_id, "returned")["number"]

    office = _signed_in(app, "u-office-1")
    board = office.get("/console/office/?view=returned")
    assert board.status_code == 200 and number in board.text
    assert f'href="/console/cases/{case_id}"' in board.text
    assert "Content-Security-Policy" in board.headers
    assert number not in office.get("/console/office/?view=redo").text

    done = office.post(f"/console/office/cases/{case_id}/dispatch", {"unit_id": "logistics"},
                       allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == f"/console/cases/{case_id}"
    app.wait_status(case_id, "assigned")
    assert number not in office.get("/console/office/?view=returned").text
    # the flash said so; a second dispatch of an assigned case is refused with the reason
    again = office.post(f"/console/office/cases/{case_id}/dispatch", {"unit_id": "logistics"},
                        allow_redirects=False)
    assert again.status_code == 303
    page = office.get("/console/office/")
    assert "已派单" in page.text and "派单未成功" in page.text

    handler = _signed_in(app, "u-hqc-1")
    assert handler.get("/console/office/").status_code == 404
    assert handler.get("/console/office/assessment").status_code == 404


def test_an_exclusion_decided_the_assessment_and_its_workbook_and_a_summary(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    app.handle_and_reply(case_id)
    app.rate(case_id, "satisfied")
    app.wait_status(case_id, "closed")

    def asked():
        reply = app.post("head", f"/api/v1/staff/cases/{case_id}/exclusions",
                         {"reason": "诉求人反映的是市政供水停水,非学校原因"})
        return reply.json() if reply.status_code == 201 else None
    exclusion = wait_until(asked, timeout=60, message="rating knows the case")

    office = _signed_in(app, "u-office-1")
    page = office.get("/console/office/exclusions")
    assert page.status_code == 200 and "市政供水停水" in page.text
    decided = office.post(f"/console/office/exclusions/{exclusion['id']}/decision",
                          {"decision": "approve", "note": "核实属实"}, allow_redirects=False)
    assert decided.status_code == 303
    assert "已同意剔除" in office.get("/console/office/exclusions?status=approved").text
    listed = app.get("office", "/api/v1/staff/exclusions", complaint_id=case_id).json()
    assert [e["status"] for e in listed] == ["approved"]

    period = datetime.now(SHANGHAI).strftime("%Y-%m")
    assessment = office.get(f"/console/office/assessment?period={period}&basis=full")
    assert assessment.status_code == 200 and "考核排名" in assessment.text
    book = office.get(f"/console/office/assessment.xlsx?period={period}&basis=full")
    assert book.status_code == 200, book.text[:300]
    assert len(openpyxl.load_workbook(io.BytesIO(book.content), read_only=True)
               .sheetnames) >= 3

    last_week = (datetime.now(SHANGHAI).date() - timedelta(days=7)).isocalendar()
    period = f"{last_week[0]}-W{last_week[1]:02d}"
    made = office.post("/console/office/summaries", {"kind": "weekly", "period": period},
                       allow_redirects=False)
    assert made.status_code == 303, made.text[:500]
    summary = office.get(made.headers["Location"])
    assert summary.status_code == 200 and "受理总量" in summary.text
    assert "已生成" in summary.text or "已存在" in summary.text
    assert office.get(made.headers["Location"] + ".xlsx").status_code == 200
    assert period in office.get("/console/office/summaries").text
