"""The whole case lifecycle over HTTP with the real services (issue: lifecycle and staff
workflow): (a) the plain walk to closed, (b) the two strikes to 督办, (c) a disputed case,
(d) a legal-channel case, (e) who may see and do what."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.conftest import token_for, wait_until

pytestmark = pytest.mark.e2e

PEOPLE = {
    "student": dict(sub="s-2023001", name="张三", roles=("complainant",),
                    college="college-information"),
    "stranger": dict(sub="s-2023999", name="路人", roles=("complainant",)),
    "handler": dict(sub="u-hqc-1", name="冯涛", roles=("handler",), unit="logistics"),
    "head": dict(sub="u-hqc-head", name="郑国强", roles=("head",), unit="logistics"),
    "security": dict(sub="u-bwc-1", name="蒋勇", roles=("handler",), unit="security"),
    "other_head": dict(sub="u-cwc-head", name="施建平", roles=("head",), unit="finance"),
    "office": dict(sub="u-office-1", name="李晓梅", roles=("office",), unit="office"),
    "leader": dict(sub="l-vp-logistics", name="水长青", roles=("leader",)),
    "other_leader": dict(sub="l-vp-teaching", name="柏文", roles=("leader",)),
}
HOT_WATER = "学生公寓3号楼热水已经停了两天,洗澡很不方便,请尽快维修"


class Client:
    def __init__(self, system):
        self.url = system.url
        self.system = system

    def _headers(self, who):
        person = dict(PEOPLE[who])
        return {"Authorization": f"Bearer {token_for(person.pop('sub'), **person)}"}

    def post(self, who, path, body=None):
        return requests.post(self.url + path, json=body if body is not None else {},
                             headers=self._headers(who), timeout=30)

    def get(self, who, path, **params):
        return requests.get(self.url + path, params=params, headers=self._headers(who),
                            timeout=30)

    def file(self, who="student", **body):
        body.setdefault("category", "logistics")
        body.setdefault("content", HOT_WATER)
        body.setdefault("pledge", True)
        reply = self.post(who, "/api/v1/complaints", body)
        assert reply.status_code == 201, reply.text
        return reply.json()["id"]

    def case(self, who, case_id):
        api = "complaints" if who in ("student", "stranger") else "staff/cases"
        reply = self.get(who, f"/api/v1/{api}/{case_id}")
        assert reply.status_code == 200, reply.text
        return reply.json()

    def act(self, who, case_id, action, expect=200, **body):
        reply = self.post(who, f"/api/v1/staff/cases/{case_id}/{action}", body)
        assert reply.status_code == expect, reply.text
        return reply.json()

    def communicate(self, who, case_id, kind="phone"):
        reply = self.post(who, f"/api/v1/staff/cases/{case_id}/communications", {
            "kind": kind, "at": datetime.now(timezone.utc).isoformat(),
            "with_whom": "诉求人张三", "summary": "已与诉求人沟通维修安排"})
        assert reply.status_code == 201, reply.text
        return reply.json()

    def rate(self, case_id, level, who="student"):
        reply = self.post(who, f"/api/v1/complaints/{case_id}/rating",
                          {"level": level, "contacted": True, "solved": level != "dissatisfied",
                           "comment": "评价说明"})
        assert reply.status_code == 201, reply.text
        return reply.json()

    def wait_status(self, case_id, status, who="office", **also):
        def reached():
            body = self.case(who, case_id)
            ok = body["status"] == status and all(body.get(k) == v for k, v in also.items())
            return body if ok else None
        return wait_until(reached, message=f"{case_id} {status} {also}")

    def handle_and_reply(self, case_id, outcome="solved"):
        self.act("handler", case_id, "sign_for")
        self.communicate("handler", case_id, "phone")
        return self.act("handler", case_id, "reply", outcome=outcome, text="已更换热水器,恢复供水")


@pytest.fixture
def app(start_system, databases):
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                              "gateway"]])
    return Client(system)


def test_a_filed_signed_phoned_replied_rated_satisfied_closed(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    replied = app.handle_and_reply(case_id)
    assert replied["status"] == "replied"
    assert app.rate(case_id, "satisfied")["decision"] == "close"
    closed = app.wait_status(case_id, "closed")
    kinds = [line["kind"] for line in closed["timeline"]]
    for kind in ("received", "assigned", "deadline_set", "sign_for", "communicate", "start",
                 "reply", "close"):
        assert kind in kinds, kinds
    # the complainant sees the phone record and the reply in their own view
    mine = app.get("student", f"/api/v1/complaints/{case_id}").json()
    assert mine["communications"][0]["kind"] == "phone"
    assert mine["reply_text"] == "已更换热水器,恢复供水"
    # and may not rate twice
    again = app.post("student", f"/api/v1/complaints/{case_id}/rating",
                     {"level": "satisfied", "contacted": True, "solved": True})
    assert again.status_code == 409
    # every action is in the audit trail, for the office only
    audit = app.get("office", f"/api/v1/staff/cases/{case_id}/audit").json()
    assert [e["action"] for e in audit][:1] == ["file"]
    assert {"sign_for", "communicate", "reply", "close"} <= {e["action"] for e in audit}
    assert app.get("handler", f"/api/v1/staff/cases/{case_id}/audit").status_code == 404


def test_the_office_records_a_phone_callback_for_a_complainant_who_did_not_rate(app):
    """回访 by phone (issue 12): only the office may record it (others: 404), only while the
    rating is open (409), and the timeline and the audit log say who called."""
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    answers = {"level": "satisfied", "contacted": True, "solved": True}
    # not replied yet (once rating has heard of the case, a 409; before, it knows of none)
    wait_until(lambda: app.post("office", f"/api/v1/staff/cases/{case_id}/callback",
                                answers).status_code == 409, timeout=60, message="409")
    app.handle_and_reply(case_id)
    for who in ("handler", "head", "leader", "student"):
        refused = app.post(who, f"/api/v1/staff/cases/{case_id}/callback", answers)
        assert refused.status_code == 404, (who, refused.text)

    called = wait_until(lambda: (lambda answer: answer if answer.status_code == 201 else None)(
        app.post("office", f"/api/v1/staff/cases/{case_id}/callback", answers)),
        timeout=60, message="callback recorded")
    assert (called.json()["via"], called.json()["called_by"]) == ("callback", "u-office-1")

    closed = app.wait_status(case_id, "closed")
    assert closed["timeline"][-1]["text"] == "办结:电话回访(李晓梅):满意(已联系,已解决)"
    audit = app.get("office", f"/api/v1/staff/cases/{case_id}/audit").json()
    assert ("callback", "u-office-1") in {(e["action"], e["actor_id"]) for e in audit}
    again = app.post("office", f"/api/v1/staff/cases/{case_id}/callback", answers)
    assert again.status_code == 409
    own = app.post("student", f"/api/v1/complaints/{case_id}/rating", answers)
    assert own.status_code == 409


def test_dissatisfied_twice_goes_to_redo_then_supervision_and_closes(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    app.handle_and_reply(case_id)
    assert app.rate(case_id, "dissatisfied")["decision"] == "order_redo"
    app.wait_status(case_id, "redo")
    redo_list = app.get("office", "/api/v1/staff/cases", view="redo").json()
    assert case_id in [c["id"] for c in redo_list]
    app.act("office", case_id, "dispatch", unit_id="logistics")
    app.wait_status(case_id, "assigned", round=1)
    app.handle_and_reply(case_id)
    assert app.rate(case_id, "dissatisfied")["decision"] == "supervise"
    supervised = app.wait_status(case_id, "supervised", round=2,
                                 supervisor={"id": "l-vp-logistics", "name": "水长青"})
    assert supervised["supervisor"]["name"] == "水长青"
    # the unit cannot move it until the leader has written the 批示
    app.act("office", case_id, "dispatch", expect=409)
    leader_view = app.get("leader", "/api/v1/staff/cases", view="supervised").json()
    assert [c["id"] for c in leader_view] == [case_id]
    assert app.get("other_leader", f"/api/v1/staff/cases/{case_id}").status_code == 404
    app.act("leader", case_id, "instruct", text="请后勤管理处三日内彻底解决热水问题并回访")
    app.wait_status(case_id, "assigned", round=2)
    app.handle_and_reply(case_id)
    assert app.rate(case_id, "basically")["decision"] == "close"
    closed = app.wait_status(case_id, "closed")
    assert closed["instruction"].startswith("请后勤管理处")
    # the redo and the supervised round each got a time limit of their own
    rounds = wait_until(lambda: sorted(r for (r,) in app.system.query(
        "sla", "SELECT round FROM deadlines WHERE complaint_id = :id AND kind = 'resolution'",
        id=case_id))
        if len(app.system.query("sla", "SELECT id FROM deadlines WHERE complaint_id = :id "
                                "AND kind = 'resolution'",
                                id=case_id)) == 3 else None)
    assert rounds == [0, 1, 2]


def test_a_disputed_case_stays_with_the_first_receiving_unit(app):
    case_id = app.file(content="宿舍楼下路灯坏了,找后勤管理处说归保卫处管,保卫处又说归后勤管理处,"
                               "互相推诿")
    body = app.wait_status(case_id, "assigned")
    assert body["disputed"] is True
    assert body["lead_unit_id"] == "logistics"
    assert {"id": "security", "name": "保卫处"} in body["assisting_units"]
    refused = app.post("handler", f"/api/v1/staff/cases/{case_id}/return_case",
                       {"reason": "不归我们管"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "lead_unit_cannot_return"
    # the assisting unit reads along but does not handle
    assert app.get("security", f"/api/v1/staff/cases/{case_id}").status_code == 200
    assert app.post("security", f"/api/v1/staff/cases/{case_id}/sign_for").status_code == 404
    disputed = app.get("office", "/api/v1/staff/cases", view="disputed").json()
    assert case_id in [c["id"] for c in disputed]


def test_a_legal_channel_case_gets_its_template_and_never_reaches_a_unit(app):
    case_id = app.file(content="学校拖欠我的劳务费,我准备向法院起诉,请告诉我怎么办")
    body = app.wait_status(case_id, "screened_out", who="student")
    assert "诉讼" in body["timeline"][-1]["text"]
    screened = app.get("office", "/api/v1/staff/cases", view="screened_out").json()
    assert case_id in [c["id"] for c in screened]

    def told():
        rows = app.system.query("notify", "SELECT template FROM notifications "
                                          "WHERE complaint_id = :id", id=case_id)
        return rows or None
    assert [t for (t,) in wait_until(told)] == ["complaint_screened_out"]
    assert app.system.query("routing", "SELECT complaint_id FROM assignments "
                                       "WHERE complaint_id = :id", id=case_id) == []
    assert app.case("office", case_id)["assigned_unit"] is None


def test_a_proactive_report_is_marked_and_listed(app):
    reply = app.post("handler", "/api/v1/staff/reports",
                     {"category": "security", "content": "巡查发现图书馆后门消防通道被杂物堵塞"})
    assert reply.status_code == 201, reply.text
    case_id = reply.json()["id"]
    body = app.case("office", case_id)
    assert body["proactive"] is True and body["channel"] == "staff"
    assert case_id in [c["id"] for c in app.get("office", "/api/v1/staff/cases",
                                                view="proactive").json()]
    # a complainant cannot file "proactive" reports
    assert app.post("student", "/api/v1/staff/reports",
                    {"category": "security", "content": "随便写写的内容"}).status_code == 404


def test_anonymity_hides_the_complainant_from_the_unit_but_not_the_office(app):
    case_id = app.file(anonymous=True, contact_phone="13912345678")
    app.wait_status(case_id, "assigned")
    unit_view = app.case("handler", case_id)
    assert unit_view["complainant_id"] is None and unit_view["contact_phone"] is None
    office_view = app.case("office", case_id)
    assert office_view["complainant_id"] == "s-2023001"
    # the office's case view is where it calls back from: the number whole, the read audited
    assert office_view["contact_phone"] == "13912345678"
    audit = app.get("office", f"/api/v1/staff/cases/{case_id}/audit").json()
    assert "view_contact_phone" in [entry["action"] for entry in audit]
    listed = {c["id"]: c for c in app.get("office", "/api/v1/staff/cases").json()}
    assert listed[case_id]["contact_phone"] == "139****5678"  # masked everywhere else
    listed = app.get("handler", "/api/v1/staff/cases").json()
    assert all(c["complainant_id"] is None for c in listed if c["id"] == case_id)


def test_the_unit_head_sees_the_units_queue_and_figures(app):
    first, second = app.file(), app.file(category="finance", content="奖学金什么时候发放到卡上?")
    app.wait_status(first, "assigned")
    app.wait_status(second, "assigned")
    inbox = app.get("head", "/api/v1/staff/cases").json()
    assert [c["id"] for c in inbox] == [first]
    figures = app.get("head", "/api/v1/staff/units/logistics/figures").json()
    assert figures["by_state"] == {"assigned": 1} and figures["open"] == 1
    assert app.get("head", "/api/v1/staff/units/finance/figures").status_code == 404


# ------------------------------------------------------------------------ (e) the matrix
READERS = {"student": True, "stranger": False, "handler": True, "head": True,
           "security": False, "other_head": False, "office": True, "leader": False,
           "other_leader": False}
ACTORS = {  # action -> who may take it on an assigned logistics case
    "sign_for": {"handler", "head"}, "start": {"handler", "head"},
    "return_case": {"handler", "head"}, "reply": {"handler", "head"},
    "screen_out": {"office"}, "dispatch": {"office"}, "link": {"office"},
    "merge": {"office"}, "instruct": set(),
}
BODIES = {"return_case": {"reason": "测试"}, "reply": {"outcome": "solved", "text": "测试答复"},
          "screen_out": {"rule": "litigation"}, "dispatch": {}, "link": {"other_id": "x"},
          "merge": {"into": "x"}, "instruct": {"text": "测试批示"}}


def test_every_role_against_every_read_and_action_endpoint(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    for who, may in READERS.items():
        staff = app.get(who, f"/api/v1/staff/cases/{case_id}").status_code
        own = app.get(who, f"/api/v1/complaints/{case_id}").status_code
        audit = app.get(who, f"/api/v1/staff/cases/{case_id}/audit").status_code
        if who in ("student", "stranger"):
            assert staff == 404, who  # the staff API does not exist for complainants
            assert own == (200 if may else 404), who
        else:
            assert staff == (200 if may else 404), who
            assert own == (200 if may else 404), who
        assert audit == (200 if who == "office" else 404), who
        rating = app.post(who, f"/api/v1/complaints/{case_id}/rating",
                          {"level": "satisfied", "contacted": True, "solved": True})
        assert rating.status_code == (409 if who == "student" else 404), (who, rating.text)
    for action, actors in ACTORS.items():
        for who in PEOPLE:
            reply = app.post(who, f"/api/v1/staff/cases/{case_id}/{action}", BODIES.get(action))
            if who in actors:
                assert reply.status_code != 404, (action, who, reply.text)
            else:
                assert reply.status_code == 404, (action, who, reply.text)
            assert reply.status_code < 500, (action, who, reply.text)
    # nothing the refused requests tried has changed the case
    assert app.case("office", case_id)["status"] in ("assigned", "signed", "in_progress",
                                                     "replied", "returned", "screened_out")


# ------------------------------------------------------------- X3 similar cases and merging
def test_similar_cases_are_shown_and_a_merged_duplicate_loses_nothing(app):
    first = app.file()
    second = app.file(who="stranger", content="学生公寓3号楼的热水已经停了两天了,洗澡很不方便")
    app.wait_status(first, "assigned")
    app.wait_status(second, "assigned")
    similar = app.case("office", first)["similar"]
    assert similar and similar[0]["id"] == second and similar[0]["score"] >= 0.5
    app.act("office", first, "link", other_id=second)
    assert {"other_id": first, "kind": "similar"} in app.case("office", second)["links"]

    merged = app.act("office", second, "merge", into=first)
    assert merged["status"] == "merged" and merged["merged_into"] == first
    app.handle_and_reply(first)

    def both_told():
        rows = app.system.query("notify", "SELECT recipient_id FROM notifications WHERE "
                                          "complaint_id = :id AND template = 'complaint_replied'",
                                id=first)
        return sorted(r for (r,) in rows) if len(rows) == 2 else None
    assert wait_until(both_told) == ["s-2023001", "s-2023999"]
    # the merged case's complainant rates too (counted), the filer's rating decides
    wait_until(lambda: app.post("stranger", f"/api/v1/complaints/{first}/rating",
                                {"level": "basically", "contacted": True,
                                 "solved": True}).status_code == 201,
               message="the co-complainant may rate")
    assert app.rate(first, "satisfied")["decision"] == "close"
    app.wait_status(first, "closed")


# ------------------------------------------------------------------------ X4 attachments
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
AMR = b"#!AMR\n" + b"\x3c" * 64


def _upload(app, who, case_id, data, name="photo.jpg"):
    return requests.post(f"{app.url}/api/v1/complaints/{case_id}/attachments", data=data,
                         headers={**app._headers(who), "Content-Type": "application/octet-stream",
                                  "X-Filename": name}, timeout=30)


def test_photos_and_voice_are_attached_and_checked(app):
    case_id = app.file()
    photo = _upload(app, "student", case_id, JPEG)
    assert photo.status_code == 201, photo.text
    assert photo.json()["media_type"] == "image/jpeg" and photo.json()["kind"] == "photo"
    voice = _upload(app, "student", case_id, AMR, "voice.amr")
    assert voice.status_code == 201 and voice.json()["kind"] == "voice"
    # the same photo again is the same attachment (content-addressed)
    assert _upload(app, "student", case_id, JPEG).status_code == 201
    body = app.case("student", case_id)
    assert sorted(a["kind"] for a in body["attachments"]) == ["photo", "voice"]
    fetched = app.get("student", photo.json()["url"])
    assert fetched.status_code == 200 and fetched.content == JPEG
    assert fetched.headers["Content-Type"] == "image/jpeg"
    # a page named .jpg is not a photo; a stranger can neither attach nor read
    fake = _upload(app, "student", case_id, b"<html><script>alert(1)</script></html>")
    assert fake.status_code == 415 and fake.json()["error"]["code"] == "unsupported_type"
    assert _upload(app, "stranger", case_id, JPEG).status_code == 404
    assert app.get("stranger", photo.json()["url"]).status_code == 404
    too_big = _upload(app, "student", case_id, b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024))
    assert too_big.status_code == 413


# --------------------------------------------------------------------- X2 extensions, R12
def test_an_extension_is_asked_approved_and_shown_to_the_complainant(app):
    case_id = app.file()
    app.wait_status(case_id, "assigned")
    before = wait_until(lambda: (body := app.case("handler", case_id))["deadline"] and body)
    assert before["sla_state"] == "normal" and before["time_left_seconds"] > 0
    targets = app.get("handler", f"/api/v1/staff/cases/{case_id}/deadlines").json()
    assert {t["kind"] for t in targets} == {"resolution", "response"}
    new_due = (datetime.fromisoformat(before["deadline"]) + timedelta(days=2)).isoformat()
    asked = app.post("handler", f"/api/v1/staff/cases/{case_id}/extensions",
                     {"reason": "需采购配件,厂家两天后到货", "new_due_at": new_due})
    assert asked.status_code == 201, asked.text
    # only the unit head or the office decides; another unit does not even see it
    decision = f"/api/v1/staff/cases/{case_id}/extensions/{asked.json()['id']}/decision"
    assert app.post("handler", decision, {"approve": True}).status_code == 404
    assert app.post("other_head", decision, {"approve": True}).status_code == 404
    approved = app.post("head", decision, {"approve": True, "note": "同意"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = app.post("head", decision, {"approve": False})
    assert again.status_code == 409

    def extended():
        mine = app.get("student", f"/api/v1/complaints/{case_id}").json()
        return mine if mine["deadline"] == datetime.fromisoformat(new_due).astimezone(
            timezone.utc).isoformat() else None
    mine = wait_until(extended, message="the complainant sees the new deadline")
    assert any(line["kind"] == "deadline_extended" and "厂家" in line["text"]
               for line in mine["timeline"])
    told = wait_until(lambda: app.system.query(
        "notify", "SELECT recipient_role, template FROM notifications WHERE complaint_id = :id "
                  "AND template IN ('extension_approved', 'extension_granted')", id=case_id)
        or None)
    # The complainant in their words, the handler in a staff notice.
    assert sorted(told) == [("complainant", "extension_approved"), ("handler", "extension_granted")]


def test_the_unit_inbox_lists_cases_by_time_left(app):
    general = app.file()
    urgent = app.file(urgent=True, content="实验楼二楼走廊有明火冒烟,请立即处理")
    for case_id in (general, urgent):
        wait_until(lambda: app.case("office", case_id)["deadline"])
    inbox = app.get("handler", "/api/v1/staff/cases", sort="due").json()
    # Soonest deadline first (which of the two that is depends on the time of day: an urgent
    # case filed at 15:45 runs into the next morning, a same-day one ends at 17:30).
    deadlines = [c["deadline"] for c in inbox if c["id"] in (general, urgent)]
    assert len(deadlines) == 2 and deadlines == sorted(deadlines)
    assert all(c["sla_state"] == "normal" for c in inbox)
    assert app.case("office", urgent)["grade"] == "simple"
    assert app.case("office", general)["grade"] == "general"
