"""Issue 10, points 3 and 4 (X5, R15): a complainant who files anonymously, with phone numbers
in what they type, goes through the whole lifecycle; then every response the unit's handler
and head can fetch, every notice sent to staff and every log line the system wrote is searched
for their name, their id and any phone number left whole. The office still sees who they are,
and reads the contact phone whole in one place, its case view, with an audited read."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from services.common.privacy import mask_phones
from tests.conftest import token_for, wait_until

pytestmark = pytest.mark.e2e

NAME, SUB = "欧阳明月", "s-2025-7788"
MOBILE, LANDLINE = "13655554321", "0531-88117897"
PEOPLE = {
    "complainant": dict(sub=SUB, name=NAME, roles=("complainant",),
                        college="college-information"),
    "neighbour": dict(sub="s-2025-0001", name="路人", roles=("complainant",)),
    "handler": dict(sub="u-hqc-1", name="冯涛", roles=("handler",), unit="logistics"),
    "head": dict(sub="u-hqc-head", name="郑国强", roles=("head",), unit="logistics"),
    "office": dict(sub="u-office-1", name="李晓梅", roles=("office",), unit="office"),
}
VIEWS = ("inbox", "all", "screened_out", "returned", "disputed", "redo", "supervised",
         "proactive", "unclassified")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
# The private digits of the two numbers, whatever separators were typed between them.
OUR_DIGITS = re.compile(r"5555[ -]?4321|8811[ -]?7897")


def leaks(text: str) -> list[str]:
    """The complainant's name or id, our numbers' digits, or any phone left whole."""
    found = [secret for secret in (NAME, SUB) if secret in text]
    found += OUR_DIGITS.findall(text)
    if mask_phones(text) != text:
        found.append("an unmasked phone number")
    return found


class Client:
    def __init__(self, url):
        self.url = url

    def headers(self, who, **extra):
        person = dict(PEOPLE[who])
        return {"Authorization": f"Bearer {token_for(person.pop('sub'), **person)}", **extra}

    def get(self, who, path, **params):
        return requests.get(self.url + path, params=params, headers=self.headers(who),
                            timeout=30)

    def post(self, who, path, body=None, expect=(200, 201)):
        reply = requests.post(self.url + path, json=body or {}, headers=self.headers(who),
                              timeout=30)
        assert reply.status_code in expect, (path, reply.status_code, reply.text)
        return reply.json()


@pytest.fixture
def system(start_system, databases, tmp_path):
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating"],
                                           ["gateway"]],
                        JIESU_ATTACHMENTS_DIR=str(tmp_path / "attachments"))


def test_no_staff_response_notice_or_log_line_names_or_numbers_the_complainant(
        system, tmp_path):
    app = Client(system.url)
    case = "/api/v1/staff/cases/{}"

    # --- filed anonymously from the app, numbers in the title, the content and the contact
    filed = app.post("complainant", "/api/v1/complaints", {
        "category": "logistics", "title": "热水停了,请回电 136 5555 4321",
        "content": f"学生公寓3号楼热水已经停了两天。手机 +86 {MOBILE},宿舍座机 (0531)88117897",
        "contact_phone": LANDLINE, "anonymous": True, "pledge": True})
    case_id = filed["id"]
    wait_until(lambda: app.get("handler", case.format(case_id)).json().get("status")
               == "assigned", timeout=30, message="assigned")  # 404 until it is the unit's
    due = wait_until(lambda: app.get("handler", case.format(case_id)).json()["deadline"],
                     timeout=30, message="deadline set")

    # --- the unit handles it: signs for it, phones, asks for more time, replies
    app.post("handler", case.format(case_id) + "/sign_for")
    app.post("handler", case.format(case_id) + "/communications", {
        "kind": "phone", "at": datetime.now(timezone.utc).isoformat(), "with_whom": "诉求人",
        "summary": f"已拨打 {MOBILE} 与诉求人沟通,约定明早维修"})
    extension = app.post("handler", case.format(case_id) + "/extensions", {
        "reason": f"需等待厂家(电话 {LANDLINE})送配件",
        "new_due_at": (datetime.fromisoformat(due) + timedelta(days=1)).isoformat()})
    app.post("head", case.format(case_id) + f"/extensions/{extension['id']}/decision",
             {"approve": True, "note": "同意,请直接联系 136-5555-4321 确认上门时间"})
    app.post("handler", case.format(case_id) + "/reply", {
        "outcome": "solved", "text": f"已更换热水器;如再停水请拨打 {LANDLINE} 或 136 5555 4321"})

    # --- the complainant attaches a photo and rates: their own actions
    uploaded = requests.post(f"{app.url}/api/v1/complaints/{case_id}/attachments", data=JPEG,
                             headers=app.headers("complainant", **{
                                 "Content-Type": "application/octet-stream",
                                 "X-Filename": "photo.jpg"}), timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    app.post("complainant", f"/api/v1/complaints/{case_id}/rating",
             {"level": "satisfied", "contacted": True, "solved": True,
              "comment": f"修好了,谢谢!有事打{MOBILE}"})
    wait_until(lambda: app.get("handler", case.format(case_id)).json()["status"] == "closed",
               timeout=30, message="closed")

    # --- someone else files something similar, openly
    other_id = app.post("neighbour", "/api/v1/complaints", {
        "category": "logistics", "content": "学生公寓3号楼热水停了两天,洗澡很不方便",
        "pledge": True})["id"]
    wait_until(lambda: app.get("handler", case.format(other_id)).json().get("status")
               == "assigned", timeout=30, message="the other case assigned")

    # --- the office sees who it is, and the contact phone whole in its case view, audited
    office_view = app.get("office", case.format(case_id)).json()
    assert office_view["complainant_id"] == SUB and office_view["complainant_name"] == NAME
    assert office_view["contact_phone"] == LANDLINE
    assert NAME in [line["actor"] for line in office_view["timeline"]]
    audit = app.get("office", case.format(case_id) + "/audit").json()
    assert "view_contact_phone" in [entry["action"] for entry in audit]
    assert audit[-1]["actor_id"] == "u-office-1"
    # ... and nowhere else: its lists and the audit itself show the numbers masked
    office_reads = {"audit": audit}
    office_reads.update({f"list:{view}": app.get("office", "/api/v1/staff/cases", view=view)
                         .json() for view in VIEWS})
    for what, body in office_reads.items():
        text = json.dumps(body, ensure_ascii=False)
        assert OUR_DIGITS.findall(text) == [] and mask_phones(text) == text, what

    # --- everything the unit's handler and head can fetch
    fetched = {}
    for who in ("handler", "head"):
        fetched[f"{who} case"] = app.get(who, case.format(case_id))
        fetched[f"{who} audit"] = app.get(who, case.format(case_id) + "/audit")
        fetched[f"{who} deadlines"] = app.get(who, case.format(case_id) + "/deadlines")
        fetched[f"{who} similar"] = app.get(who, case.format(other_id))
        fetched[f"{who} figures"] = app.get(who, "/api/v1/staff/units/logistics/figures")
        for view in VIEWS:
            fetched[f"{who} list {view}"] = app.get(who, "/api/v1/staff/cases", view=view)
            fetched[f"{who} list {view} received"] = app.get(
                who, "/api/v1/staff/cases", view=view, sort="received", state="closed")
    handler_view = fetched["handler case"].json()
    assert handler_view["contact_phone"] is None and handler_view["complainant_id"] is None
    actors = {line["kind"]: line["actor"] for line in handler_view["timeline"]}
    assert actors["attachment"] == "匿名诉求人" and actors["close"] == "匿名诉求人"
    assert case_id in [c["id"] for c in fetched["handler list all"].json()]
    assert case_id in [s["id"] for s in fetched["handler similar"].json()["similar"]]
    assert fetched["handler deadlines"].json()[0]["extensions"]
    for what, reply in fetched.items():
        assert reply.status_code in (200, 404), (what, reply.status_code)
        assert leaks(reply.text) == [], what

    # --- every notice sent to staff
    def staff_notices():
        rows = system.query("notify", "SELECT recipient_role, recipient_id, recipient_name, "
                                      "address, template, text FROM notifications "
                                      "WHERE recipient_role <> 'complainant'")
        return rows if "extension_requested" in [row.template for row in rows] else None
    notices = wait_until(staff_notices, timeout=30, message="the head told of the extension")
    for notice in notices:
        assert leaks(json.dumps(list(notice), ensure_ascii=False)) == [], notice.template

    # --- and every line the system logged (the notices to the complainant among them)
    wait_until(lambda: system.query("notify", "SELECT 1 FROM notifications WHERE template = "
                                              "'complaint_closed' AND status = 'sent'"),
               timeout=30, message="the closing notice sent")
    logs = sorted(Path(tmp_path, "logs").glob("*.log"))
    assert logs
    lines = [line for path in logs for line in path.read_text("utf-8").splitlines()]
    assert any(case_id in line for line in lines)  # the logs do speak of the case
    assert any("136****4321" in line for line in lines)  # and of the reply, masked
    leaking = [(line[:300], leaks(line)) for line in lines if leaks(line)]
    assert leaking == []
