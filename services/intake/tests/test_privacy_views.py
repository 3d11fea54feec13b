"""X5 at intake: what a handler, a head, a leader and the office read of a case leaks neither
an anonymous complainant's identity (their own later actions included) nor a phone number;
the office reads the contact phone whole in one place, and that read is audited (R15)."""
import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.intake.calls import WorkingHours
from services.intake.models import metadata
from services.intake.screening import ScreeningRules
from services.common.access import ANONYMOUS_LABEL
from services.intake.service import IntakeService

START = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)  # 09:00 Tuesday, Shanghai
NAME, SUB = "欧阳明月", "s-2025-7788"
STUDENT = {"id": SUB, "name": NAME, "roles": ["complainant"]}
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics"}
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
PLEDGE = "诉求人在APP提交前确认:所反映情况真实准确,如有不实愿承担相应责任。"
MOBILE, LANDLINE = "13655554321", "0531-88117897"
# Any run of the numbers' private digits, whatever separators were typed.
UNMASKED = re.compile(r"5555[ -]?4321|8811[ -]?7897")


def leaks(value) -> list[str]:
    text = json.dumps(value, ensure_ascii=False, default=str)
    found = [secret for secret in (NAME, SUB) if secret in text]
    return found + UNMASKED.findall(text)


@pytest.fixture
def clock():
    return ManualClock(START)


@pytest.fixture
def service(clock):
    return worker_factory(IntakeService, db=InMemoryDatabase(metadata, clock=clock),
                          settings=Settings(), clock=clock,
                          screening=ScreeningRules.load("config/screening.yaml"),
                          working_hours=WorkingHours(lambda day: day.weekday() < 5))


def assigned(filed, at):
    return build_event(
        "complaint_assigned", filed["id"], at, number=filed["number"], category="logistics",
        grade="general", unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": HANDLER["id"], "name": HANDLER["name"]}, received_at=START)


def walk_the_case(service, clock, anonymous=True):
    """Filed with phones in every free text, handled, replied, attached to and rated."""
    filed = service.file_complaint({
        "category": "logistics", "title": "请回电 136 5555 4321",
        "content": f"3号楼热水停了两天。我是{NAME},手机{MOBILE},宿舍电话 {LANDLINE}",
        "contact_phone": LANDLINE, "location": "学生公寓3号楼", "anonymous": anonymous},
        STUDENT, "app", pledge=PLEDGE)
    service.on_complaint_assigned(assigned(filed, clock.advance(seconds=3)))
    clock.advance(minutes=5)
    service.act(filed["id"], "sign_for", HANDLER)
    clock.advance(minutes=5)
    service.act(filed["id"], "communicate", HANDLER, {
        "kind": "phone", "at": (clock.now() - timedelta(minutes=1)).isoformat(),
        "with_whom": "诉求人", "summary": f"已拨打 +86 {MOBILE} 说明维修安排"})
    clock.advance(minutes=5)
    service.act(filed["id"], "reply", HANDLER, {
        "outcome": "solved", "text": "已更换热水器;如再停水请拨打(0531)88117897"})
    clock.advance(minutes=1)
    service.add_attachment(filed["id"], STUDENT, {
        "sha256": "a" * 64, "media_type": "image/jpeg", "kind": "photo", "size": 1234})
    service.on_complaint_rated(build_event(
        "complaint_rated", filed["id"], clock.advance(minutes=1), level="satisfied", round=0,
        decision="close", rater={"id": SUB, "name": NAME},
        comment=f"修好了,有事打{MOBILE}"))
    return filed["id"]


def staff_reads(service, case_id, viewer):
    reads = {"case": service.get_complaint(case_id, viewer)}
    for view in ("inbox", "all", "disputed", "redo", "supervised", "proactive"):
        reads[f"list:{view}"] = service.list_cases(viewer, {"view": view})
    reads["figures"] = service.unit_figures("logistics", viewer)
    return reads


@pytest.mark.parametrize("viewer", [HANDLER, HEAD], ids=["handler", "head"])
def test_the_unit_reads_no_identity_and_no_phone_of_an_anonymous_complainant(
        service, clock, viewer):
    case_id = walk_the_case(service, clock)

    reads = staff_reads(service, case_id, viewer)

    assert case_id in [c["id"] for c in reads["list:all"]]
    for name, read in reads.items():
        assert leaks(read) == [], name
    case = reads["case"]
    by_kind = {line["kind"]: line for line in case["timeline"]}
    # the complainant's own actions are shown, by whom they were done is not
    assert by_kind["attachment"]["actor"] == ANONYMOUS_LABEL
    assert by_kind["close"]["actor"] == ANONYMOUS_LABEL
    assert case["complainant_id"] is None and case["complainant_name"] is None
    assert case["contact_phone"] is None
    # what the staff typed is still there, with the number masked
    assert "136****4321" in case["communications"][0]["summary"]
    assert case["reply_text"] == "已更换热水器;如再停水请拨打0531-****7897"
    assert f"我是{ANONYMOUS_LABEL}" in case["content"]


def test_a_case_filed_openly_shows_who_filed_it_but_still_no_phone(service, clock):
    case_id = walk_the_case(service, clock, anonymous=False)

    case = service.get_complaint(case_id, HANDLER)

    assert case["complainant_name"] == NAME
    assert case["contact_phone"] == "0531-****7897"
    assert UNMASKED.findall(json.dumps(case, ensure_ascii=False, default=str)) == []
    listed = service.list_cases(HANDLER, {"view": "all"})
    assert listed[0]["contact_phone"] == "0531-****7897"
    assert UNMASKED.findall(json.dumps(listed, ensure_ascii=False)) == []


def test_the_office_sees_who_it_is_but_numbers_masked_except_where_it_calls_back(
        service, clock):
    case_id = walk_the_case(service, clock)

    case = service.get_complaint(case_id, OFFICE)
    assert case["complainant_name"] == NAME and case["complainant_id"] == SUB
    by_kind = {line["kind"]: line for line in case["timeline"]}
    assert by_kind["attachment"]["actor"] == NAME
    assert case["contact_phone"] == "0531-****7897"
    assert UNMASKED.findall(json.dumps(case, ensure_ascii=False, default=str)) == []
    audit = service.audit_log(case_id, OFFICE)
    assert "view_contact_phone" not in [entry["action"] for entry in audit]
    assert UNMASKED.findall(json.dumps(audit, ensure_ascii=False)) == []

    # The one place: the office's case view, to call the complainant back; audited.
    clock.advance(minutes=1)
    to_call = service.get_complaint(case_id, OFFICE, reveal_contact=True)

    assert to_call["contact_phone"] == LANDLINE
    last = service.audit_log(case_id, OFFICE)[-1]
    assert (last["action"], last["actor_id"], last["actor_role"]) == (
        "view_contact_phone", OFFICE["id"], "office")
    assert last["changes"] == {"note": "查看联系电话"}
    assert last["at"] == clock.now().isoformat()


@pytest.mark.parametrize("viewer", [HANDLER, HEAD, STUDENT], ids=["handler", "head", "student"])
def test_only_the_office_can_have_the_contact_phone_whole(service, clock, viewer):
    case_id = walk_the_case(service, clock, anonymous=False)

    shown = service.get_complaint(case_id, viewer, reveal_contact=True)

    assert shown["contact_phone"] == "0531-****7897"
    assert "view_contact_phone" not in [e["action"] for e in service.audit_log(case_id, OFFICE)]


def test_the_complainant_reads_their_own_case_as_they_wrote_it(service, clock):
    case_id = walk_the_case(service, clock)

    mine = service.get_complaint(case_id, STUDENT)

    assert MOBILE in mine["content"] and NAME in mine["content"]
    assert mine["complainant_name"] == NAME
    assert "(0531)88117897" in mine["reply_text"]
    assert service.list_cases(STUDENT, {"view": "all"})[0]["content"] == mine["content"]
