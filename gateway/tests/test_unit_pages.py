"""The units' console routes (gateway/pages/console_unit.py) on a worker with fake services:
what each page shows, which RPC each form calls with which body, and how a refusal reads."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from gateway.pages import web
from gateway.pages.console_unit import flat_errors, form_body, local_moment
from gateway.service import GatewayService
from services.common.errors import Conflict, NotFound

HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics",
           "college": None, "unit_name": "后勤管理处"}
HEAD = dict(HANDLER, id="u-hqc-head", name="郑国强", roles=["head"])
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
LEADER = {"id": "l-vp-logistics", "name": "水长青", "roles": ["leader"], "unit": None}


def summary(number, sla_state="normal", status="assigned", **extra):
    return {"id": f"id-{number}", "number": number, "status": status, "category": "logistics",
            "title": None, "content": "学生公寓3号楼热水已经停了两天", "unit_id": "logistics",
            "handler_name": "冯涛", "received_at": "2026-12-01T01:00:00+00:00",
            "deadline": "2026-12-03T01:00:00+00:00", "sla_state": sla_state,
            "time_left_seconds": 3600, "urgent": False, "proactive": False,
            "disputed": False, **extra}


def complaint(status="assigned", **extra):
    return {"id": "c1", "number": "20261201-0001", "status": status, "channel": "app",
            "category": "logistics", "title": None, "content": "热水停了,电话139****5678",
            "location": "3号楼", "contact_phone": "139****5678", "anonymous": False,
            "complainant_id": "s-2023001", "complainant_name": "张三",
            "received_at": "2026-12-01T01:00:00+00:00", "grade": "general",
            "assigned_unit": {"id": "logistics", "name": "后勤管理处"},
            "handler": {"id": "u-hqc-1", "name": "冯涛"},
            "deadline": "2026-12-03T01:00:00+00:00", "round": 0, "disputed": False,
            "lead_unit_id": "logistics", "assisting_units": [], "reply_outcome": None,
            "reply_text": None, "instruction": None, "supervisor": None, "merged_into": None,
            "sla_state": "normal", "response_deadline": None, "timetable": None,
            "timeline": [{"at": "2026-12-01T01:00:00+00:00", "kind": "received",
                          "text": "受理", "actor": "张三"}],
            "time_left_seconds": 3600, "communications": [], "attachments": [], **extra}


class FakeIntake:
    def __init__(self, case=None, cases=(), refuse=None):
        self.case, self.cases, self.refuse = case or complaint(), list(cases), refuse
        self.calls = []

    def get_complaint(self, complaint_id, viewer, reveal_contact=False):
        self.calls.append(("get_complaint", complaint_id, reveal_contact))
        if complaint_id != self.case["id"]:
            raise NotFound(f"complaint {complaint_id} not found")
        return self.case

    def list_cases(self, viewer, query=None):
        self.calls.append(("list_cases", query))
        return self.cases

    def act(self, complaint_id, action, viewer, params=None):
        self.calls.append(("act", complaint_id, action, viewer["id"], params))
        if self.refuse:
            raise Conflict({"code": "illegal_transition", "message": self.refuse})
        return self.case

    def unit_figures(self, unit_id, viewer):
        return {"unit_id": unit_id, "by_state": {"assigned": 2, "signed": 1}, "open": 3,
                "overdue": 1, "at": "2026-12-01T02:00:00+00:00"}

    def file_complaint(self, filing, complainant, channel="app", key=None, pledge=None):
        self.calls.append(("file_complaint", filing, complainant["id"], channel, key))
        return {"id": "c9", "number": "20261201-0009", "status": "received"}


class FakeSla:
    def __init__(self, deadlines=None):
        self.deadlines, self.calls = deadlines or [], []

    def get_deadlines(self, complaint_id, viewer):
        return self.deadlines

    def request_extension(self, complaint_id, viewer, body):
        self.calls.append(("request_extension", complaint_id, body))

    def decide_extension(self, complaint_id, extension_id, viewer, body):
        self.calls.append(("decide_extension", complaint_id, extension_id, body))


@pytest.fixture
def make():
    def build(person=HANDLER, intake=None, sla=None):
        sessions = web.PageSessions(1800, 43200)
        service = worker_factory(
            GatewayService, intake=intake or FakeIntake(), sla=sla or FakeSla(),
            settings=SimpleNamespace(dev_login=False, page_session_max_seconds=43200),
            page_sessions=sessions, limits=SimpleNamespace(check=lambda *args: None))
        session = sessions.create(web.CONSOLE, dict(person))
        return service, session
    return build


def call(service, session, route, method="GET", path="/console/", form=None, **values):
    if form is not None:
        form = dict(form, csrf_token=session["csrf"])
    environ = EnvironBuilder(method=method, path=path, data=form, base_url="http://localhost",
                             headers={"Cookie": f"jiesu_console={session['id']}"}).get_environ()
    return getattr(service, route)(Request(environ), **values)


def flashes(service, session):
    return service.page_sessions.get(session["id"], web.CONSOLE)["flash"]


def test_the_inbox_lists_the_unit_s_cases_with_their_sla_colours(make):
    intake = FakeIntake(cases=[summary("N-1", "overdue"), summary("N-2", "warning"),
                               summary("N-3")])
    service, session = make(intake=intake)
    page = call(service, session, "console_home", path="/console/?view=inbox&state=&category=")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"] == web.CONTENT_SECURITY_POLICY
    assert 'class="sla-overdue"' in text and "超期" in text and "预警" in text and "正常" in text
    assert text.index("N-1") < text.index("N-2") < text.index("N-3")
    assert 'href="/console/cases/id-N-1"' in text
    assert intake.calls[-1] == ("list_cases", {"view": "inbox"})


def test_a_bad_filter_is_said_not_a_failure(make):
    service, session = make()
    page = call(service, session, "console_home", path="/console/?state=nonsense")
    assert page.status_code == 400 and "筛选条件有误" in page.get_data(as_text=True)


@pytest.mark.parametrize("person, home", [(OFFICE, "/console/office/"),
                                          (LEADER, "/console/leader/")])
def test_the_office_and_leaders_have_their_own_home(make, person, home):
    service, session = make(person)
    page = call(service, session, "console_home")
    assert page.status_code == 303 and page.headers["Location"] == home


def test_the_case_page_offers_what_the_state_allows(make):
    service, session = make()
    page = call(service, session, "console_case", path="/console/cases/c1", complaint_id="c1")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'action="/console/cases/c1/sign_for"' in text
    assert 'action="/console/cases/c1/communicate"' in text
    assert 'action="/console/cases/c1/reply"' not in text     # not signed yet
    assert "13912345678" not in text and "139****5678" in text
    # the office reads the same page masked too (no reveal here) and gets no unit forms
    office_intake = FakeIntake()
    service, session = make(OFFICE, intake=office_intake)
    text = call(service, session, "console_case", path="/console/cases/c1",
                complaint_id="c1").get_data(as_text=True)
    assert "/sign_for" not in text
    assert ("get_complaint", "c1", False) in office_intake.calls


def test_a_case_the_viewer_may_not_see_is_the_404_page(make):
    service, session = make()
    page = call(service, session, "console_case", path="/console/cases/nope",
                complaint_id="nope")
    assert page.status_code == 404 and "未找到" in page.get_data(as_text=True)


def test_a_form_calls_the_api_s_rpc_and_redirects_with_a_flash(make):
    intake = FakeIntake()
    service, session = make(intake=intake)
    done = call(service, session, "console_case_action", "POST", "/console/cases/c1/sign_for",
                {}, complaint_id="c1", action="sign_for")
    assert done.status_code == 303 and done.headers["Location"] == "/console/cases/c1"
    assert intake.calls[-1] == ("act", "c1", "sign_for", "u-hqc-1", {})
    assert flashes(service, session) == [{"text": "已签收", "kind": "success"}]


def test_a_refused_action_shows_the_service_s_reason(make):
    reason = "当前状态“已派单”不能答复 (cannot reply a case that is assigned)"
    service, session = make(intake=FakeIntake(refuse=reason))
    done = call(service, session, "console_case_action", "POST", "/console/cases/c1/reply",
                {"outcome": "solved", "text": "已修好热水器"}, complaint_id="c1",
                action="reply")
    assert done.status_code == 303
    assert flashes(service, session) == [{"text": reason, "kind": "error"}]


def test_a_communication_s_local_time_is_beijing_time_and_errors_sit_by_their_fields(make):
    intake = FakeIntake()
    service, session = make(intake=intake)
    form = {"kind": "phone", "at": "2026-12-01T09:30", "with_whom": "诉求人",
            "summary": "电话告知维修安排"}
    call(service, session, "console_case_action", "POST", "/console/cases/c1/communicate",
         form, complaint_id="c1", action="communicate")
    assert intake.calls[-1][-1]["at"] == "2026-12-01T09:30:00+08:00"
    wrong = call(service, session, "console_case_action", "POST",
                 "/console/cases/c1/communicate", dict(form, summary=""), complaint_id="c1",
                 action="communicate")
    text = wrong.get_data(as_text=True)
    assert wrong.status_code == 400
    assert 'id="err-communicate-summary"' in text and "诉求人" in text   # typed values kept


def test_an_extension_is_asked_for_and_decided(make):
    sla = FakeSla()
    service, session = make(sla=sla)
    call(service, session, "console_case_action", "POST",
         "/console/cases/c1/request_extension",
         {"reason": "需采购配件", "new_due_at": "2026-12-10T18:00"}, complaint_id="c1",
         action="request_extension")
    assert sla.calls[-1] == ("request_extension", "c1", {
        "reason": "需采购配件", "new_due_at": "2026-12-10T18:00:00+08:00"})
    service, session = make(HEAD, sla=sla)
    back = call(service, session, "console_extension_decision", "POST",
                "/console/cases/c1/extensions/e1/decision",
                {"approve": "1", "note": "", "next": "/console/extensions"},
                complaint_id="c1", extension_id="e1")
    assert back.headers["Location"] == "/console/extensions"
    assert sla.calls[-1] == ("decide_extension", "c1", "e1", {"approve": True, "note": None})


def test_the_head_s_live_fragment_has_no_layout(make):
    intake = FakeIntake(cases=[summary("N-1", "overdue", status="signed"),
                               summary("N-2", "warning"), summary("N-3", status="replied")])
    service, session = make(HEAD, intake=intake)
    fragment = call(service, session, "console_unit_live", path="/console/unit/live")
    text = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in text
    assert 'id="count-open">3<' in text and 'id="count-overdue">1<' in text
    assert 'data-testid="load">2<' in text          # 冯涛 handles two (the replied one waits)
    page = call(service, session, "console_unit", path="/console/unit")
    assert 'hx-get="/console/unit/live"' in page.get_data(as_text=True)
    service, session = make(HANDLER, intake=intake)
    assert call(service, session, "console_unit_live", path="/console/unit/live"
                ).status_code == 404


def test_a_proactive_report_is_filed_on_the_staff_channel(make):
    intake = FakeIntake()
    service, session = make(intake=intake)
    filed = call(service, session, "console_report", "POST", "/console/reports",
                 {"category": "logistics", "content": "食堂二楼排风扇噪音很大", "title": "",
                  "contact_phone": "", "location": "", "urgent": "on",
                  "filing_key": "0123456789abcdef"})
    assert filed.status_code == 303 and filed.headers["Location"] == "/console/cases/c9"
    _, body, who, channel, key = intake.calls[-1]
    assert (who, channel, key) == ("u-hqc-1", "staff", "page-0123456789abcdef")
    assert body["urgent"] is True and body["title"] is None and body["anonymous"] is False


def test_form_strings():
    assert local_moment("2026-12-01T09:30") == "2026-12-01T09:30:00+08:00"
    assert local_moment("") is None and local_moment("tomorrow") == "tomorrow"
    steps = form_body("set_timetable", {"milestones.0.title": "采购", "milestones.0.due_at":
                                        "2026-12-20T12:00", "milestones.1.title": ""})
    assert steps == {"milestones": [{"title": "采购", "due_at": "2026-12-20T12:00:00+08:00",
                                     "feedback_due_at": None}]}
    assert flat_errors({"milestones": {0: {"title": ["Missing data for required field."]}}}) \
        == {"milestones.0.title": "必填"}
