"""The office's console pages on their own (gateway/pages/console_office.py): the gateway
serving real HTTP with the services replaced by fakes (as in test_routes.py), a person signed
in through the development sign-in. What each page asks the services for, what a form sends
(the API's body, its JSON types), Post/Redirect/Get with the server's reason when refused,
and who may open the pages. (With the real services: tests/e2e/test_office_pages.py.)"""
from __future__ import annotations

import base64
import io
import re

from urllib.parse import urljoin

import openpyxl
import pytest
import requests
from nameko.testing.services import replace_dependencies

from gateway.pages import web
from gateway.service import GatewayService
from gateway.tests.test_office_figures import ANSWER, CATEGORY_ROW, EXCLUSION
from gateway.tests.test_routes import SECRET, FakeService
from services.common.errors import Conflict
from services.common.settings import Settings, nameko_config
from tests.pages.client import PageClient

class _LoopbackJar(requests.cookies.RequestsCookieJar):
    """Keeps the Secure session cookie as sendable over plain http on loopback: requests
    copies the session's jar into one with the default policy for each request, so
    PageClient's policy alone does not carry the cookie (reported to its owner)."""

    def extract_cookies(self, response, request):
        super().extract_cookies(response, request)
        for cookie in self:
            cookie.secure = False


class OfficeClient(PageClient):
    """PageClient whose session cookie reaches the server, redirects followed here (requests'
    own following uses a jar of its own)."""

    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.http.cookies = _LoopbackJar()

    def _follow(self, reply, follow: bool):
        while follow and reply.is_redirect:
            reply = self.http.get(urljoin(reply.url, reply.headers["Location"]), timeout=30,
                                  allow_redirects=False)
        self.last = reply
        return reply

    def get(self, path, **kwargs):
        follow = kwargs.pop("allow_redirects", True)
        return self._follow(super().get(path, allow_redirects=False, **kwargs), follow)

    token = None

    def post(self, path, data=None, csrf=None, **kwargs):
        follow = kwargs.pop("allow_redirects", True)
        csrf = csrf or self.token
        return self._follow(super().post(path, data, csrf, allow_redirects=False, **kwargs),
                            follow)


CASE_ID = "5d1c2a9e-3f4b-4c6d-8e7f-0a1b2c3d4e5f"
OTHER_ID = "6e2d3b0f-4a5c-4d7e-9f80-1b2c3d4e5f60"
ROW = {"id": CASE_ID, "number": "JS-20261124-0001", "status": "returned",
       "status_label": "已退回", "channel": "app", "category": "logistics",
       "title": "宿舍热水停了", "content": "学生公寓3号楼热水已经停了两天",
       "complainant_id": None, "complainant_name": None, "contact_phone": "139****5678",
       "anonymous": False, "proactive": False, "disputed": False, "round": 1,
       "unit_id": None, "unit_name": None, "handler_name": None,
       "received_at": "2026-11-24T02:00:00+00:00", "deadline": None, "sla_state": "normal",
       "urgent": False, "location": None, "lat": None, "long": None,
       "time_left_seconds": None}
OFFICE_CALLER = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office",
                 "college": None}


@pytest.fixture
def console(container_factory, web_config, tmp_path):
    """The gateway with fakes (intake, rating answering `answers`), development sign-in on;
    gives (a PageClient signed in as `person`, fake intake, fake rating)."""
    def start(person="u-office-1", intake=None, rating=None):
        settings = Settings(jwt_secret=SECRET, log_json=False, dev_login=True,
                            attachments_dir=str(tmp_path / "attachments"))
        container = container_factory(GatewayService, nameko_config(
            settings, WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"]))
        intake, rating = intake or FakeService(), rating or FakeService()
        intake.answers.setdefault("list_cases", [])   # the board the sign-in lands on
        replace_dependencies(container, intake=intake, sla=FakeService(), rating=rating)
        container.start()
        port = web_config["WEB_SERVER_ADDRESS"].rsplit(":", 1)[1]
        client = OfficeClient(f"http://127.0.0.1:{port}")
        client.console_login(person)
        client.token = client.csrf()   # the session's token, for every form
        intake.calls.clear()
        rating.calls.clear()
        return client, intake, rating
    return start


def _caller(call) -> dict:
    return {key: call[key] for key in ("id", "roles", "unit")}


def test_a_board_lists_the_view_s_cases_with_links_to_the_case_page(console):
    client, intake, _ = console(intake=FakeService(list_cases=[ROW]))
    page = client.get("/console/office/?view=returned")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == web.CONTENT_SECURITY_POLICY
    assert f'href="/console/cases/{CASE_ID}"' in page.text and "JS-20261124-0001" in page.text
    (method, (caller, query), _), = intake.calls
    assert method == "list_cases" and query == {"view": "returned", "sort": "received"}
    assert _caller(caller) == {"id": "u-office-1", "roles": ["office"], "unit": "office"}
    for view in ("redo", "disputed", "unclassified", "screened_out", "supervised"):
        assert client.get(f"/console/office/?view={view}").status_code == 200
        assert intake.calls[-1][1][1]["view"] == view
    assert client.get("/console/office/?view=inbox").status_code == 200   # not a board
    assert intake.calls[-1][1][1]["view"] == "returned"


def test_a_handler_finds_no_office_page(console):
    client, intake, _ = console("u-hqc-1")
    for path in ("/console/office/", "/console/office/hotline", "/console/office/assessment",
                 "/console/office/summaries", "/console/office/campaigns"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/console/office/cases/{CASE_ID}/dispatch",
                       {"unit_id": "logistics"}, allow_redirects=False).status_code == 404
    assert intake.calls == []


def test_dispatch_sends_the_api_s_body_and_comes_back_to_the_case(console):
    client, intake, _ = console(intake=FakeService(list_cases=[], act={"id": CASE_ID}))
    client.get("/console/office/")
    answer = client.post(f"/console/office/cases/{CASE_ID}/dispatch",
                         {"unit_id": "logistics"}, allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == f"/console/cases/{CASE_ID}"
    method, (case_id, action, _caller_, body), _ = intake.calls[-1]
    assert (method, case_id, action, body) == ("act", CASE_ID, "dispatch",
                                               {"unit_id": "logistics"})
    assert "已派单" in client.get("/console/office/").text
    client.post(f"/console/office/cases/{CASE_ID}/dispatch", {"unit_id": ""},
                allow_redirects=False)
    assert intake.calls[-1][1][3] == {"unit_id": None}   # by the rules


def test_a_refused_action_shows_the_server_s_reason(console):
    refused = Conflict({"code": "illegal_transition", "message": "已签收的诉求不能再派单"})
    client, intake, _ = console(intake=FakeService(list_cases=[], act=refused))
    client.get("/console/office/")
    answer = client.post(f"/console/office/cases/{CASE_ID}/dispatch", {"unit_id": "logistics"},
                         allow_redirects=False)
    assert answer.status_code == 303
    page = client.get("/console/office/")
    assert "派单未成功:已签收的诉求不能再派单" in page.text and "flash-error" in page.text


def test_classify_and_link_and_merge_bodies(console):
    client, intake, _ = console(intake=FakeService(list_cases=[], act={"id": CASE_ID}))
    client.get("/console/office/")
    client.post(f"/console/office/cases/{CASE_ID}/classify",
                {"category": "logistics", "title": "", "urgent": "1"}, allow_redirects=False)
    assert intake.calls[-1][1][1:2] + (intake.calls[-1][1][3],) == (
        "classify", {"category": "logistics", "title": None, "urgent": True})
    client.post(f"/console/office/cases/{CASE_ID}/link", {"other_id": OTHER_ID},
                allow_redirects=False)
    assert intake.calls[-1][1][3] == {"other_id": OTHER_ID}
    merged = client.post(f"/console/office/cases/{CASE_ID}/merge", {"into": OTHER_ID},
                         allow_redirects=False)
    assert intake.calls[-1][1][3] == {"into": OTHER_ID}
    assert merged.headers["Location"] == f"/console/cases/{OTHER_ID}"


def test_a_bad_form_never_reaches_the_service(console):
    client, intake, rating = console(intake=FakeService(list_cases=[]))
    client.get("/console/office/")
    client.post(f"/console/office/cases/{CASE_ID}/classify", {"category": "canteen"},
                allow_redirects=False)
    client.post(f"/console/office/cases/{CASE_ID}/callback", {"level": "satisfied"},
                allow_redirects=False)
    assert [c for c in intake.calls if c[0] != "list_cases"] == [] and rating.calls == []
    page = client.get("/console/office/")
    assert "分类未提交:类别" in page.text and "电话回访未提交" in page.text


def test_the_callback_records_the_answers_with_rating(console):
    client, _, rating = console(rating=FakeService(record_callback={"id": "r1"}))
    client.get("/console/office/exclusions")
    client.post(f"/console/office/cases/{CASE_ID}/callback",
                {"contacted": "1", "solved": "0", "level": "dissatisfied", "comment": "",
                 "called_at": "2026-11-25T10:30"}, allow_redirects=False)
    method, (case_id, _who, body), _ = rating.calls[-1]
    assert (method, case_id) == ("record_callback", CASE_ID)
    assert body == {"contacted": True, "solved": False, "level": "dissatisfied",
                    "comment": None, "called_at": "2026-11-25T10:30:00+08:00"}


def test_the_case_partial_offers_only_the_allowed_forms():
    case = {"id": CASE_ID, "number": "JS-1", "status": "returned", "category": "logistics",
            "assigned_unit": None, "grade": None, "links": [],
            "similar": [{"id": OTHER_ID, "number": "JS-2", "status": "assigned", "score": 0.8,
                         "probable_duplicate": True}]}
    template = web.environment().get_template("console/office/_case_actions.html")
    text = template.render(case=case, allowed={"dispatch", "link", "merge"}, csrf_token="t",
                           units={"logistics": "后勤管理处"},
                           CATEGORIES={}, GRADES={})
    assert 'id="dispatch-form"' in text and "后勤管理处" in text
    assert 'id="classify-form"' not in text and 'id="callback-form"' not in text
    assert f'name="into" value="{OTHER_ID}"' in text and "疑似重复" in text
    assert len(re.findall(r'name="csrf_token" value="t"', text)) == text.count("<form")
    replied = template.render(case=dict(case, status="replied", similar=[]),
                              allowed={"callback", "link"}, csrf_token="t")
    assert 'id="callback-form"' in replied and 'id="dispatch-form"' not in replied


def test_the_operator_files_for_the_caller_once_the_pledge_is_read(console):
    call = {"call_id": "c-1", "state": "answered", "caller": "139****5678",
            "operator": "op-7", "answered_at": "2026-11-24T02:00:00+00:00", "ended_at": None,
            "script": "请您确认:本人承诺所反映情况真实", "complaints": []}
    intake = FakeService(list_calls=[call], get_call=call,
                         file_for_caller={"id": CASE_ID, "number": "JS-9", "status": "received"})
    client, _, _ = console(intake=intake)
    page = client.get("/console/office/hotline?call=c-1")
    assert page.status_code == 200 and "请您确认:本人承诺所反映情况真实" in page.text
    key = re.search(r'name="filing_key" value="([0-9a-f]{32})"', page.text).group(1)
    form = {"category": "logistics", "content": "食堂二楼的空调坏了一周了", "filing_key": key}
    refused = client.post("/console/office/hotline/calls/c-1/complaints", form)
    assert refused.status_code == 400 and "须向来电人宣读如实反映承诺" in refused.text
    assert not [c for c in intake.calls if c[0] == "file_for_caller"]
    filed = client.post("/console/office/hotline/calls/c-1/complaints",
                        dict(form, pledge_read="1"), allow_redirects=False)
    assert filed.status_code == 303 and filed.headers["Location"] == f"/console/cases/{CASE_ID}"
    method, (call_id, body, _who, pledge_read, filing_key), _ = intake.calls[-1]
    assert (method, call_id, pledge_read, filing_key) == ("file_for_caller", "c-1", True,
                                                          f"page-{key}")
    assert body["category"] == "logistics" and body["anonymous"] is False \
        and body["title"] is None


def test_an_exclusion_is_decided_from_the_list(console):
    rating = FakeService(list_exclusions=[EXCLUSION],
                         decide_exclusion=dict(EXCLUSION, status="approved"))
    client, _, _ = console(rating=rating)
    page = client.get("/console/office/exclusions")
    assert "非本单位职责" in page.text and 'value="approve"' in page.text
    answer = client.post(f"/console/office/exclusions/{EXCLUSION['id']}/decision",
                         {"decision": "approve", "note": "核实属实"}, allow_redirects=False)
    assert answer.headers["Location"] == "/console/office/exclusions"
    assert rating.calls[-1][0] == "decide_exclusion"
    assert rating.calls[-1][1][0] == EXCLUSION["id"]
    assert rating.calls[-1][1][2] == {"decision": "approve", "note": "核实属实"}
    back = client.post(f"/console/office/exclusions/{EXCLUSION['id']}/decision",
                       {"decision": "refuse", "case": CASE_ID}, allow_redirects=False)
    assert back.headers["Location"] == f"/console/cases/{CASE_ID}"


def test_the_assessment_page_and_its_workbook(console):
    def assessment(period, basis, by, caller):
        return dict(ANSWER, by=by, categories=[CATEGORY_ROW]) if by == "category" else ANSWER
    rating = FakeService(assessment_ledger=[])
    rating.get_assessment = assessment
    client, _, _ = console(rating=rating)
    page = client.get("/console/office/assessment?period=2026-11")
    assert page.status_code == 200 and "后勤管理处" in page.text and "76.00%" in page.text
    assert client.get("/console/office/assessment?period=2026-13").status_code == 400
    book = client.get("/console/office/assessment.xlsx?period=2026-11&basis=full")
    assert book.status_code == 200 and book.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats")
    assert len(openpyxl.load_workbook(io.BytesIO(book.content)).sheetnames) >= 3


def test_a_summary_chart_is_the_png_rating_drew(console):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    rating = FakeService(get_summary_chart={"png": base64.b64encode(png).decode(),
                                            "md5": "abc"})
    client, _, _ = console(rating=rating)
    answer = client.get("/console/office/summaries/s-1/charts/rates.png")
    assert answer.status_code == 200 and answer.content == png
    assert rating.calls[-1][0] == "get_summary_chart" and rating.calls[-1][1][1:] == (
        "s-1", "rates")


def test_the_analysis_campaign_and_summary_pages_render(console):
    seasonal = {"end": "2026-11", "unit": None, "months": ["2026-10", "2026-11"],
                "categories": ["logistics"], "labels": {"logistics": "后勤保障"},
                "counts": {"logistics": [3, 5]}, "totals": [3, 5]}
    hot = {"from": "2026-11-01", "to": "2026-11-30", "documents": 8, "keywords": [
        {"keyword": "热水", "count": 5, "weight": 1.2,
         "mom": {"before": 2, "change": 3, "ratio": 1.5}, "yoy": {"before": 0, "change": 5,
                                                                  "ratio": None},
         "by_category": [{"category": "logistics", "count": 5}],
         "by_unit": [{"unit_id": "logistics", "count": 5}]}]}
    progress = {"cases": 1, "open": 1, "closed": 0, "satisfaction_rate": None,
                "response_rate": None, "resolution_rate": None}
    campaign = {"id": "k-1", "name": "热水专项治理", "status": "open", "status_label": "进行中",
                "lead_unit": {"id": "logistics", "name": "后勤管理处"},
                "target_date": "2026-12-31", "overdue": False, "conclusion": None,
                "scope": {"categories": ["logistics"], "keywords": ["热水"], "units": [],
                          "from": None, "to": None}, "progress": progress,
                "milestone_summary": {"total": 0, "done": 0}, "milestones": [],
                "cases": []}
    summary = {"id": "s-1", "kind": "weekly", "period": "2026-W48", "title": "第48周汇总",
               "generated_at": "2026-11-30T01:00:00+00:00", "trigger": "request",
               "charts": [{"name": "rates", "title": "三率"}], "content": {
                   "previous_period": "2026-W47",
                   "received": {"count": 3, "previous": 1, "change": 2, "ratio": 2.0,
                                "by_channel": [], "by_category": []},
                   "closed": {"count": 1, "previous": 0, "change": 1, "ratio": None},
                   "assessment": {"groups": {}, "red": {}, "black": {}},
                   "overdue": {"total": 0, "by_unit": []},
                   "due_soon": {"total": 0, "by_unit": []}, "supervised": [],
                   "hot_topics": [], "meeting": {}}}
    rating = FakeService(analysis_hot_topics=hot, analysis_seasonal=seasonal,
                         campaign_list=[campaign], campaign_get=campaign,
                         campaign_suggestions={"cases": [{
                             "complaint_id": CASE_ID, "number": "JS-1", "title": "热水",
                             "category": "logistics", "unit_name": "后勤管理处",
                             "reasons": ["scope"]}]},
                         list_summaries=[summary], get_summary=summary)
    client, _, _ = console(rating=rating)
    page = client.get("/console/office/analysis")
    assert page.status_code == 200 and "热水" in page.text and "seasonal.png" in page.text
    assert client.get("/console/office/campaigns").status_code == 200
    one = client.get("/console/office/campaigns/k-1")
    assert one.status_code == 200 and 'name="complaint_ids"' in one.text
    client.post("/console/office/campaigns/k-1/cases", {"complaint_ids": CASE_ID},
                allow_redirects=False)
    assert rating.calls[-1][0] == "campaign_attach" and rating.calls[-1][1][2] == {
        "complaint_ids": [CASE_ID], "note": None}
    assert client.get("/console/office/summaries").status_code == 200
    shown = client.get("/console/office/summaries/s-1")
    assert shown.status_code == 200 and "/console/office/summaries/s-1/charts/rates.png" \
        in shown.text
    book = client.get("/console/office/summaries/s-1.xlsx")
    assert book.status_code == 200 and book.content[:2] == b"PK"
