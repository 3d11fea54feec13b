from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event, load_event
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.intake.calls import WorkingHours
from services.intake.models import Complaint, metadata
from services.intake.screening import ScreeningRules
from services.intake.service import IntakeService

# 09:00 in Shanghai on Tuesday 24 November 2026
START = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
STUDENT = {"id": "s2023001", "name": "张三", "roles": ["complainant"]}
OTHER = {"id": "s2023002", "name": "李四"}
PLEDGE = "诉求人在APP提交前确认:所反映情况真实准确,如有不实愿承担相应责任。"


def filing(**changes):
    body = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天",
            "title": "热水", "contact_phone": "13912345678", "location": "3号楼"}
    body.update(changes)
    return body


@pytest.fixture
def clock():
    return ManualClock(START)


@pytest.fixture
def db(clock):
    return InMemoryDatabase(metadata, clock=clock)


@pytest.fixture
def service(db, clock):
    return worker_factory(IntakeService, db=db, settings=Settings(), clock=clock,
                          screening=ScreeningRules.load("config/screening.yaml"),
                          working_hours=WorkingHours(lambda day: day.weekday() < 5))


# ------------------------------------------------------------------------ filing
def test_filing_returns_id_number_and_received_status(service):
    filed = service.file_complaint(filing(), STUDENT, "app", pledge=PLEDGE)

    assert set(filed) == {"id", "number", "status"}
    assert len(filed["id"]) == 36
    assert filed["number"] == "JS-20261124-0001"
    assert filed["status"] == "received"


def test_numbers_within_a_day_are_sequential(service):
    numbers = [service.file_complaint(filing(), STUDENT, pledge=PLEDGE)["number"] for _ in range(3)]

    assert numbers == ["JS-20261124-0001", "JS-20261124-0002", "JS-20261124-0003"]


def test_numbering_starts_again_on_the_next_local_day(service, clock):
    service.file_complaint(filing(), STUDENT, pledge=PLEDGE)
    clock.set(datetime(2026, 11, 24, 16, 5, tzinfo=timezone.utc))  # 00:05 on the 25th, local

    assert service.file_complaint(filing(), STUDENT, pledge=PLEDGE)["number"] == "JS-20261125-0001"


def test_filing_emits_exactly_one_complaint_received_with_the_filed_facts(service, db):
    filed = service.file_complaint(filing(), STUDENT, "hotline", pledge=PLEDGE)

    (wire,) = db.outbox
    event = load_event("complaint_received", wire)
    assert event["event_type"] == "complaint_received"
    assert event["complaint_id"] == filed["id"]
    assert event["number"] == filed["number"]
    assert event["occurred_at"] == START
    assert event["channel"] == "hotline"
    assert event["category"] == "logistics"
    assert event["content"] == filing()["content"]
    assert event["title"] == "热水"
    assert event["location"] == "3号楼"
    assert event["contact_phone"] == "13912345678"
    assert event["anonymous"] is False
    assert event["complainant"] == {"id": "s2023001", "name": "张三"}


def test_filing_stores_the_case_with_its_first_timeline_line(service, db):
    filed = service.file_complaint(filing(), STUDENT, "wechat", pledge=PLEDGE)

    shown = service.get_complaint(filed["id"], STUDENT)
    assert shown["received_at"] == START.isoformat()
    assert shown["channel"] == "wechat"
    assert shown["category_label"] == "后勤保障"
    assert [line["kind"] for line in shown["timeline"]] == ["received"]
    assert "来源:微信公众号" in shown["timeline"][0]["text"]


@pytest.mark.parametrize("bad, field", [
    ({"category": "parking"}, "category"),
    ({"content": "太吵"}, "content"),
    ({"contact_phone": "12345"}, "contact_phone"),
    ({"contact_phone": "139123456789"}, "contact_phone"),
    ({"priority": "high"}, "priority"),
])
def test_invalid_filing_is_refused_with_the_field_in_error(service, db, bad, field):
    with pytest.raises(InvalidInput) as refused:
        service.file_complaint(filing(**bad), STUDENT, pledge=PLEDGE)

    assert field in refused.value.args[0]
    assert db.outbox == []


def test_a_filing_without_content_names_the_missing_field(service):
    body = filing()
    del body["content"]

    with pytest.raises(InvalidInput) as refused:
        service.file_complaint(body, STUDENT, pledge=PLEDGE)

    assert "content" in refused.value.args[0]


def test_a_landline_is_a_valid_contact_phone(service):
    filed = service.file_complaint(filing(contact_phone="0538-1234567"), STUDENT, pledge=PLEDGE)
    assert filed["status"] == "received"


def test_an_unknown_channel_is_refused(service, db):
    with pytest.raises(InvalidInput) as refused:
        service.file_complaint(filing(), STUDENT, "fax", pledge=PLEDGE)

    assert "channel" in refused.value.args[0]
    assert db.outbox == []


def test_a_refused_filing_does_not_use_up_a_number(service):
    with pytest.raises(InvalidInput):
        service.file_complaint(filing(category="parking"), STUDENT, pledge=PLEDGE)

    assert service.file_complaint(filing(), STUDENT, pledge=PLEDGE)["number"] == "JS-20261124-0001"


# ------------------------------------------------------------------------ reading
def test_the_filer_sees_the_case_with_the_phone_masked(service):
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)

    shown = service.get_complaint(filed["id"], STUDENT)

    assert shown["number"] == filed["number"]
    assert shown["status"] == "received"
    assert shown["contact_phone"] == "139****5678"
    assert shown["assigned_unit"] is None and shown["handler"] is None
    assert shown["deadline"] is None


def test_someone_else_is_told_the_case_does_not_exist(service):
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)

    with pytest.raises(NotFound):
        service.get_complaint(filed["id"], OTHER)


def test_an_unknown_case_is_not_found(service):
    with pytest.raises(NotFound):
        service.get_complaint("00000000-0000-0000-0000-000000000000", STUDENT)


# ------------------------------------------------------------------------ events
def assigned_event(filed, at=START + timedelta(seconds=3)):
    return build_event(
        "complaint_assigned", filed["id"], at, number=filed["number"], category="logistics",
        grade="general", unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=START)


def deadline_event(filed, at=START + timedelta(seconds=5)):
    return build_event("deadline_set", filed["id"], at, grade="general", starts_at=START,
                       due_at=datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc))


def test_an_assignment_moves_the_case_to_its_unit_and_handler(service):
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)

    service.on_complaint_assigned(assigned_event(filed))

    shown = service.get_complaint(filed["id"], STUDENT)
    assert shown["status"] == "assigned"
    assert shown["grade"] == "general"
    assert shown["assigned_unit"] == {"id": "logistics", "name": "后勤管理处"}
    assert shown["handler"] == {"id": "u-hqc-1", "name": "冯涛"}
    assert shown["timeline"][-1]["text"] == "已直派 后勤管理处,承办人 冯涛"
    assert shown["timeline"][-1]["at"] == (START + timedelta(seconds=3)).isoformat()


def test_a_deadline_is_shown_on_the_case(service):
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)
    service.on_complaint_assigned(assigned_event(filed))

    service.on_deadline_set(deadline_event(filed))

    shown = service.get_complaint(filed["id"], STUDENT)
    assert shown["deadline"] == "2026-11-24T09:30:00+00:00"
    assert [line["kind"] for line in shown["timeline"]] == ["received", "assigned",
                                                            "deadline_set"]
    assert shown["timeline"][-1]["text"] == "办理时限:日清日结,应于 2026-11-24 17:30 前办结"


def test_a_redelivered_assignment_changes_nothing(service, db):
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)
    event = assigned_event(filed)
    service.on_complaint_assigned(event)
    before = service.get_complaint(filed["id"], STUDENT)

    service.on_complaint_assigned(event)

    assert service.get_complaint(filed["id"], STUDENT) == before
    assert len(before["timeline"]) == 2
    assert len(db.outbox) == 1


def test_a_redelivered_deadline_changes_nothing(service):
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)
    event = deadline_event(filed)
    service.on_deadline_set(event)
    before = service.get_complaint(filed["id"], STUDENT)

    service.on_deadline_set(event)

    assert service.get_complaint(filed["id"], STUDENT) == before
    assert len(before["timeline"]) == 2


def test_a_repeated_assignment_of_an_assigned_case_is_accepted(service, db):
    # Routing may re-send an assignment as a new event; it must not be an illegal transition.
    filed = service.file_complaint(filing(), STUDENT, pledge=PLEDGE)
    service.on_complaint_assigned(assigned_event(filed))

    service.on_complaint_assigned(assigned_event(filed, at=START + timedelta(minutes=1)))

    with db.session() as session:
        complaint = session.execute(select(Complaint)).scalar_one()
        assert complaint.status == "assigned"


def test_an_event_about_an_unknown_case_fails_so_it_is_retried(service):
    ghost = {"id": "00000000-0000-0000-0000-000000000000", "number": "JS-20261124-9999"}

    with pytest.raises(NotFound):
        service.on_complaint_assigned(assigned_event(ghost))


# ------------------------------------------------------------------ idempotent filing
def test_the_same_filing_key_files_once(service, db):
    first = service.file_complaint(filing(), STUDENT, "app", "client-abc12345", pledge=PLEDGE)
    again = service.file_complaint(filing(), STUDENT, "app", "client-abc12345", pledge=PLEDGE)

    assert again == first
    assert len(db.events("complaint_received")) == 1


def test_the_same_key_from_another_complainant_is_another_filing(service, db):
    mine = service.file_complaint(filing(), STUDENT, "app", "client-abc12345", pledge=PLEDGE)
    theirs = service.file_complaint(filing(), OTHER, "app", "client-abc12345", pledge=PLEDGE)

    assert mine["id"] != theirs["id"]
    assert len(db.events("complaint_received")) == 2


def test_a_key_reused_for_different_content_is_a_conflict(service, db):
    service.file_complaint(filing(), STUDENT, "app", "client-abc12345", pledge=PLEDGE)

    with pytest.raises(Conflict) as refused:
        service.file_complaint(filing(content="图书馆空调坏了,请尽快修理"), STUDENT, "app",
                               "client-abc12345", pledge=PLEDGE)
    assert "idempotency_key" in refused.value.args[0]
    assert len(db.events("complaint_received")) == 1


# ------------------------------------------------------------------ the pledge (R3)
def test_a_filing_without_the_pledge_is_refused_and_a_units_report_needs_none(service, db):
    for pledge in (None, "", "   "):
        with pytest.raises(InvalidInput) as refused:
            service.file_complaint(filing(), STUDENT, "app", pledge=pledge)
        assert "pledge" in refused.value.args[0]
    assert db.events("complaint_received") == []
    staff = {"id": "u-1", "name": "王老师", "roles": ["handler"], "unit": "logistics"}
    assert service.file_complaint(filing(), staff, "staff")["status"] == "received"
    filed = service.file_complaint(filing(), STUDENT, "app", pledge=PLEDGE)
    assert service.get_complaint(filed["id"], STUDENT)["pledge"] == PLEDGE


# ------------------------------------------------------------------ the hotline
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}


def call_event(event_id, kind, at="2026-11-24T10:00:00+08:00", call_id="call-1", **extra):
    return {"event_id": event_id, "call_id": call_id, "type": kind, "at": at,
            "caller": "139-1234-5678", **extra}


def test_an_answered_call_offers_filing_and_the_operator_files_for_the_caller(service, db):
    assert service.record_call_event(call_event("e1", "ringing"))["outcome"] == "nothing"
    offer = service.record_call_event(call_event("e2", "answered", operator="op-7"))
    assert (offer["outcome"], offer["caller"]) == ("offer", "139****5678")
    assert service.record_call_event(call_event("e2", "answered", operator="op-7")) == \
        {"outcome": "duplicate", "call_id": "call-1"}
    with pytest.raises(InvalidInput):
        service.file_for_caller("call-1", filing(), OFFICE, pledge_read=False)
    with pytest.raises(NotFound):
        service.file_for_caller("call-1", filing(), STUDENT, pledge_read=True)
    with pytest.raises(NotFound):
        service.file_for_caller("call-unknown", filing(), OFFICE, pledge_read=True)

    filed = service.file_for_caller("call-1", filing(contact_phone=None), OFFICE,
                                    pledge_read=True, filing_key="client-op-0001")
    again = service.file_for_caller("call-1", filing(contact_phone=None), OFFICE,
                                    pledge_read=True, filing_key="client-op-0001")
    assert again == filed
    case = service.get_complaint(filed["id"], OFFICE)
    assert (case["channel"], case["call_id"], case["contact_phone"]) == \
        ("hotline", "call-1", "139****5678")
    assert case["complainant_id"].startswith("hotline:") and "13912345678" not in \
        case["complainant_id"]
    assert "李晓梅" in case["pledge"]
    [received] = db.events("complaint_received")
    assert (received["channel"], received["contact_phone"]) == ("hotline", "13912345678")
    assert service.get_call("call-1", OFFICE)["complaints"] == [filed]


def test_answered_calls_nobody_filed_for_are_listed_for_the_office(service):
    for call in ("call-a", "call-b"):
        service.record_call_event(call_event(f"{call}-1", "answered", call_id=call,
                                             operator="op-7"))
    service.record_call_event(call_event("call-c-1", "ringing", call_id="call-c"))
    service.record_call_event(call_event("vm-1", "voicemail", call_id="call-vm",
                                         transcript="图书馆空调漏水,请派人看看"))
    unfiled = service.list_calls(OFFICE, {"unfiled": "true"})
    assert sorted(c["call_id"] for c in unfiled) == ["call-a", "call-b"]
    assert {c["caller"] for c in unfiled} == {"139****5678"}

    service.file_for_caller("call-a", filing(), OFFICE, pledge_read=True)
    assert [c["call_id"] for c in service.list_calls(OFFICE, {"unfiled": True})] == ["call-b"]
    assert len(service.list_calls(OFFICE)) == 4
    with pytest.raises(NotFound):
        service.list_calls(STUDENT)
    with pytest.raises(InvalidInput):
        service.list_calls(OFFICE, {"unfiled": "maybe"})


def test_a_voicemail_is_a_case_without_category_until_the_office_classifies_it(service, db):
    service.record_call_event(call_event("v1", "ringing", "2026-11-27T22:00:00+08:00"))
    left = service.record_call_event(call_event(
        "v2", "voicemail", "2026-11-27T22:01:00+08:00", transcript="图书馆空调漏水,请派人看看"))
    assert left["outcome"] == "voicemail"
    assert left["counts_from"] == "2026-11-30T08:30:00+08:00"
    case_id = left["complaint"]["id"]
    assert db.events("complaint_received") == []          # nothing announced yet
    assert [c["id"] for c in service.list_cases(OFFICE, {"view": "unclassified"})] == [case_id]
    with pytest.raises(Conflict) as refused:
        service.act(case_id, "screen_out", OFFICE, {"rule": "legal-litigation"})
    assert refused.value.args[0]["code"] == "classify_first"
    with pytest.raises(NotFound):
        service.act(case_id, "classify", STUDENT, {"category": "logistics"})

    classified = service.act(case_id, "classify", OFFICE, {"category": "logistics",
                                                            "title": "图书馆空调漏水"})
    assert (classified["category"], classified["title"]) == ("logistics", "图书馆空调漏水")
    [received] = db.events("complaint_received")
    assert (received["complaint_id"], received["category"], received["channel"]) == \
        (case_id, "logistics", "hotline")
    with pytest.raises(Conflict) as again:
        service.act(case_id, "classify", OFFICE, {"category": "security"})
    assert again.value.args[0]["code"] == "already_classified"
    # the CTI's retry of the voicemail files nothing more
    assert service.record_call_event(call_event(
        "v2", "voicemail", "2026-11-27T22:01:00+08:00",
        transcript="图书馆空调漏水,请派人看看"))["outcome"] == "duplicate"
    assert len(service.list_cases(OFFICE, {"view": "all"})) == 1
