"""The units' console with the real services (issue 13): a case filed through the API reaches
the handler's inbox; the handler signs for it, records a call and replies through the case
page's forms, and a refused action reads the service's reason; the head's live fragment
counts it; another unit's handler gets the 404 page; no page shows the phone unmasked."""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import wait_until
from tests.e2e.test_lifecycle import Client
from tests.pages.client import PageClient

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = "13912345678"


@pytest.fixture
def system(start_system, databases):
    # Page sessions in Redis, as with replicas (db 12: this suite's own).
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                            "gateway"]],
                        JIESU_GATEWAY_STATE_URL=os.environ.get("JIESU_TEST_REDIS_URL",
                                                               "redis://127.0.0.1:6379/12"))


class _LoopbackSession(requests.Session):
    """requests merges the session's cookies into a fresh jar with the default policy for
    each request, so the Secure session cookie is never sent over the test's plain http
    (PageClient's permissive policy is lost); the Cookie header is made again from the
    session's own jar, whose policy allows it."""

    def prepare_request(self, request):
        prepared = super().prepare_request(request)
        if "Cookie" not in prepared.headers:
            prepared.prepare_cookies(self.cookies)
        return prepared


def _pages(system) -> PageClient:
    client = PageClient(system.url)
    policy = client.http.cookies.get_policy()
    client.http = _LoopbackSession()
    client.http.cookies.set_policy(policy)
    return client


def _status(page) -> str:
    found = re.search(r'data-status="([a-z_]+)"', page.text)
    assert found, page.text[:1000]
    return found.group(1)


def test_a_handler_works_a_case_through_the_pages(system):
    api = Client(system)
    case_id = api.file(contact_phone=PHONE)
    number = api.wait_status(case_id, "assigned")["number"]

    handler = _pages(system)
    handler.console_login("u-hqc-1")
    inbox = wait_until(lambda: (lambda page: page if number in page.text else None)(
        handler.get("/console/")), timeout=30, message="the case in 冯涛's inbox")
    assert inbox.status_code == 200 and inbox.headers["Content-Security-Policy"]
    assert f'href="/console/cases/{case_id}"' in inbox.text
    assert PHONE not in inbox.text

    path = f"/console/cases/{case_id}"
    page = handler.get(path)
    assert page.status_code == 200 and _status(page) == "assigned"
    assert PHONE not in page.text and "139****5678" in page.text
    assert f'action="{path}/sign_for"' in page.text
    assert f'action="{path}/reply"' not in page.text   # not offered before 签收

    # the service refuses a reply to a case not signed for: its reason on the page
    refused = handler.post(f"{path}/reply", {"outcome": "solved", "text": "已修好"})
    assert refused.status_code == 200 and refused.url.endswith(path)
    assert "flash-error" in refused.text and "不能答复" in refused.text
    assert _status(refused) == "assigned"

    signed = handler.post(f"{path}/sign_for", {})
    assert "已签收" in signed.text and _status(signed) == "signed"
    assert f'action="{path}/reply"' in signed.text

    # with seconds: a call in the minute the case was filed is not before its filing
    now = datetime.now(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S")
    called = handler.post(f"{path}/communicate", {
        "kind": "phone", "at": now, "with_whom": "诉求人", "summary": "电话告知维修安排"})
    assert called.status_code == 200, re.findall(r'class="field-error"[^>]*>([^<]*)', called.text)
    assert "已记录沟通" in called.text and _status(called) == "in_progress"
    assert "电话告知维修安排" in called.text

    missing = handler.post(f"{path}/reply", {"outcome": "solved", "text": ""})
    assert missing.status_code == 400 and 'id="err-reply-text"' in missing.text

    replied = handler.post(f"{path}/reply", {"outcome": "solved",
                                             "text": "已更换热水器,恢复供水"})
    assert "已答复" in replied.text and _status(replied) == "replied"
    assert api.case("office", case_id)["status"] == "replied"
    assert PHONE not in replied.text

    # the head's live view counts the unit's cases, as a fragment without the layout
    head = _pages(system)
    head.console_login("u-hqc-head")
    unit = head.get("/console/unit")
    assert unit.status_code == 200 and 'id="unit-live"' in unit.text
    assert 'hx-get="/console/unit/live"' in unit.text
    live = head.get("/console/unit/live")
    assert live.status_code == 200 and "<html" not in live.text
    replied_count = re.search(r'id="state-replied"[^>]*>(\d+)<', live.text)
    assert replied_count and int(replied_count.group(1)) >= 1, live.text[:2000]
    assert re.search(r'id="count-open">(\d+)<', live.text)
    assert handler.get("/console/unit/live").status_code == 404   # heads only

    # another unit's handler: no such case
    stranger = _pages(system)
    stranger.console_login("u-bwc-1")
    assert stranger.get(path).status_code == 404
    assert number not in stranger.get("/console/").text

    # more time asked for on the page, decided by the head on the unit's list
    second = api.file(content="学生公寓5号楼洗衣机坏了三台,请尽快维修更换")
    api.wait_status(second, "assigned")
    other = f"/console/cases/{second}"
    handler.get(other)
    handler.post(f"{other}/sign_for", {})
    later = datetime.now(SHANGHAI).replace(microsecond=0) + timedelta(days=30)
    asked = handler.post(f"{other}/request_extension", {
        "reason": "需采购新洗衣机", "new_due_at": later.strftime("%Y-%m-%dT%H:%M")})
    assert "已提交延期申请" in asked.text, re.findall(r'class="field-error"[^>]*>([^<]*)',
                                                 asked.text)
    waiting = head.get("/console/extensions")
    assert waiting.status_code == 200 and "需采购新洗衣机" in waiting.text
    decision = re.search(rf'action="(/console/cases/{second}/extensions/[^"]+/decision)"',
                         waiting.text)
    assert decision, waiting.text[:2000]
    approved = head.post(decision.group(1), {"approve": "1", "note": "同意",
                                             "next": "/console/extensions"})
    assert approved.url.endswith("/console/extensions") and "已批准延期" in approved.text
    assert "需采购新洗衣机" not in approved.text

    # the unit's 三率 page and a proactive report (R10)
    assert head.get("/console/unit/figures").status_code == 200
    form = handler.get("/console/reports/new")
    assert form.status_code == 200 and 'id="report-form"' in form.text
    filed = handler.post("/console/reports", {
        "category": "logistics", "content": "巡查发现食堂二楼排风扇噪音很大", "title": "排风扇噪音",
        "filing_key": re.search(r'name="filing_key" value="([^"]+)"', form.text).group(1)})
    assert "已上报" in filed.text and "/console/cases/" in filed.url
