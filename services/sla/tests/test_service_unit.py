import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event, load_event
from services.common.errors import Conflict, InvalidInput
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.sla.models import Deadline, metadata
from services.sla.service import SlaPolicy, SlaService

SH = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 11, 27, 15, 50, tzinfo=SH)   # Friday, before the cut-off
ASSIGNED = datetime(2026, 11, 27, 16, 5, tzinfo=SH)    # ...routed after it
COMPLAINT_ID = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def db():
    return InMemoryDatabase(metadata, clock=ManualClock(ASSIGNED))


@pytest.fixture
def service(db):
    return worker_factory(SlaService, db=db, policy=SlaPolicy(Settings()), settings=Settings())


def assigned(grade="general", complaint_id=COMPLAINT_ID):
    return build_event(
        "complaint_assigned", complaint_id, ASSIGNED, number="JS-20261127-0001",
        category="logistics", grade=grade, unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=RECEIVED)


def deadlines(db, kind="resolution"):
    with db.session() as session:
        return session.execute(select(Deadline).where(Deadline.kind == kind)).scalars().all()


def resolution_events(db):
    return [e for e in db.events("deadline_set") if e["target"] == "resolution"]


def test_an_assigned_case_gets_a_deadline_counted_from_receipt(service, db):
    service.on_complaint_assigned(assigned("general"))

    (row,) = deadlines(db)
    assert row.complaint_id == COMPLAINT_ID
    assert (row.kind, row.grade, row.unit_id, row.status) == ("resolution", "general",
                                                             "logistics", "pending")
    assert row.starts_at == RECEIVED
    # Received before the cut-off: due the same day, although routed after it.
    assert row.due_at == datetime(2026, 11, 27, 17, 30, tzinfo=SH)


def test_the_deadline_is_announced(service, db):
    service.on_complaint_assigned(assigned("simple"))

    (wire,) = resolution_events(db)
    event = load_event("deadline_set", wire)
    assert event["complaint_id"] == COMPLAINT_ID
    assert event["grade"] == "simple"
    assert event["starts_at"] == RECEIVED
    # 1h40 on Friday, the remaining 20 minutes on Monday morning.
    assert event["due_at"] == datetime(2026, 11, 30, 8, 50, tzinfo=SH)
    assert event["occurred_at"] == ASSIGNED


def test_the_working_calendar_comes_from_the_settings(db):
    service = worker_factory(SlaService, db=db, policy=SlaPolicy(
        Settings(same_day_cutoff="15:00")), settings=Settings())

    service.on_complaint_assigned(assigned("general"))

    assert deadlines(db)[0].due_at == datetime(2026, 11, 30, 17, 30, tzinfo=SH)


def test_a_redelivered_assignment_sets_one_deadline(service, db):
    event = assigned("complex")

    service.on_complaint_assigned(event)
    service.on_complaint_assigned(event)

    assert len(deadlines(db)) == 1
    assert len(resolution_events(db)) == 1


def test_get_deadlines_returns_the_cases_deadlines(service):
    service.on_complaint_assigned(assigned("complex"))
    service.on_complaint_assigned(assigned("general", complaint_id="another"))

    (shown,) = [d for d in service.get_deadlines(COMPLAINT_ID, OFFICE)
                if d["kind"] == "resolution"]

    assert shown == {
        "complaint_id": COMPLAINT_ID, "kind": "resolution", "round": 0, "grade": "complex",
        "starts_at": "2026-11-27T07:50:00+00:00",
        "due_at": "2026-12-01T09:30:00+00:00",     # Fri, Mon, Tue 17:30 in Shanghai
        "status": "pending", "state": "normal", "extensions": [], "milestone_id": "",
        "title": None,
    }


def test_get_deadlines_of_an_unknown_case_is_empty(service):
    assert service.get_deadlines("nobody", OFFICE) == []


def test_a_redo_round_gets_a_new_deadline_from_its_dispatch(db):
    service = worker_factory(SlaService, db=db, policy=SlaPolicy(Settings()), settings=Settings())
    first = assigned()
    service.on_complaint_assigned(first)
    redispatched_at = datetime.fromisoformat(first["occurred_at"]) + timedelta(days=2)
    redo = build_event("complaint_assigned", first["complaint_id"], redispatched_at,
                       number=first["number"], category=first["category"], grade="general",
                       unit=first["unit"], handler=first["handler"],
                       received_at=RECEIVED, round=1)
    service.on_complaint_assigned(redo)
    service.on_complaint_assigned(dict(redo, event_id=str(uuid.uuid4())))  # 退单 in round 1

    deadlines = [d for d in service.get_deadlines(first["complaint_id"], OFFICE)
                 if d["kind"] == "resolution"]
    assert [d["round"] for d in deadlines] == [0, 1]
    assert datetime.fromisoformat(deadlines[1]["starts_at"]) == redispatched_at
    assert len(resolution_events(db)) == 2


# ------------------------------------------------------------------ extensions and timetables
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"}
HEAD = {"id": "u-hqc-head", "name": "韩梅", "roles": ["head"], "unit": "logistics"}
DEPUTY = {"id": "u-hqc-head-2", "name": "陈立", "roles": ["head"], "unit": "logistics"}
OFFICE = {"id": "u-office-1", "name": "周敏", "roles": ["office"], "unit": "office"}
NOW = ASSIGNED                          # the db fixture's clock
CURRENT_DUE = datetime(2026, 11, 27, 17, 30, tzinfo=SH)


def ask(service, new_due_at, viewer=HANDLER):
    when = new_due_at if isinstance(new_due_at, str) else new_due_at.isoformat()
    return service.request_extension(COMPLAINT_ID, viewer,
                                     {"reason": "需采购配件", "new_due_at": when})


def field_errors(raised) -> dict:
    return raised.value.args[0]


def test_an_extension_within_a_year_is_asked_for(service):
    service.on_complaint_assigned(assigned("general"))

    asked = ask(service, NOW + timedelta(days=366))

    assert asked["status"] == "requested"


@pytest.mark.parametrize("new_due_at, reason", [
    (NOW + timedelta(days=367), "一年"),
    (datetime(2099, 12, 31, tzinfo=SH), "一年"),
    # Beyond the years any API takes (services.common.fields.Moment): the first took 6.5 s
    # to approve, the last ones are not even representable in UTC (a 500 where compared).
    (datetime(3000, 1, 1, tzinfo=SH), "out of range"),
    ("9999-12-31T23:59:59+08:00", "out of range"),
    ("9999-12-31T23:59:59-05:00", "out of range"),
    ("0001-01-01T00:00:00+08:00", "out of range"),
], ids=lambda value: str(value)[:10])
def test_an_extension_too_far_ahead_or_out_of_range_is_refused(service, db, new_due_at,
                                                               reason):
    service.on_complaint_assigned(assigned("general"))

    with pytest.raises(InvalidInput) as raised:
        ask(service, new_due_at)

    assert reason in str(field_errors(raised)["new_due_at"])
    assert not db.events("extension_requested")


def test_an_extension_to_a_moment_already_past_is_refused(service, db):
    service.on_complaint_assigned(assigned("general"))
    db.clock.set(CURRENT_DUE + timedelta(days=2))     # the case is overdue

    with pytest.raises(InvalidInput) as raised:
        ask(service, CURRENT_DUE + timedelta(days=1))  # later than the deadline, but past

    assert "past" in str(field_errors(raised)["new_due_at"])


def test_the_head_who_asked_cannot_approve_it(service, db):
    service.on_complaint_assigned(assigned("general"))
    asked = ask(service, NOW + timedelta(days=2), viewer=HEAD)

    with pytest.raises(Conflict) as raised:
        service.decide_extension(COMPLAINT_ID, asked["id"], HEAD, {"approve": True})

    assert raised.value.args[0]["code"] == "own_extension_request"
    assert "本人" in raised.value.args[0]["message"]
    assert not db.events("extension_decided")
    assert deadlines(db)[0].due_at == CURRENT_DUE


@pytest.mark.parametrize("decider", [DEPUTY, OFFICE], ids=["another head", "the office"])
def test_a_heads_request_is_decided_by_another_head_or_the_office(service, db, decider):
    service.on_complaint_assigned(assigned("general"))
    asked = ask(service, NOW + timedelta(days=2), viewer=HEAD)

    decided = service.decide_extension(COMPLAINT_ID, asked["id"], decider, {"approve": True})

    assert decided["status"] == "approved" and decided["decided_by"] == decider["id"]
    assert deadlines(db)[0].due_at == NOW + timedelta(days=2)


def test_a_handlers_request_is_approved_by_the_head(service, db):
    service.on_complaint_assigned(assigned("general"))
    asked = ask(service, NOW + timedelta(days=2))

    assert service.decide_extension(COMPLAINT_ID, asked["id"], HEAD,
                                    {"approve": True})["status"] == "approved"


def timetable(*steps):
    return {"milestones": [dict({"title": f"第{n}步"}, **step)
                           for n, step in enumerate(steps, 1)]}


def test_a_timetable_within_a_year_is_set(service, db):
    service.on_complaint_assigned(assigned("complex"))

    shown = service.set_timetable(COMPLAINT_ID, HANDLER, timetable(
        {"due_at": (NOW + timedelta(days=30)).isoformat(),
         "feedback_due_at": (NOW + timedelta(days=14)).isoformat()},
        {"due_at": (NOW + timedelta(days=366)).isoformat()}))

    assert len(shown["milestones"]) == 2
    assert len(deadlines(db, "milestone")) == 2 and len(deadlines(db, "feedback")) == 1


@pytest.mark.parametrize("field, value, reason", [
    ("due_at", (NOW + timedelta(days=367)).isoformat(), "一年"),
    ("due_at", "2099-12-31T00:00:00+08:00", "一年"),
    ("due_at", "9999-12-31T00:00:00+08:00", "out of range"),    # answered 500
    ("feedback_due_at", (NOW + timedelta(days=400)).isoformat(), "一年"),
    ("due_at", (RECEIVED - timedelta(minutes=1)).isoformat(), "filed"),
    ("feedback_due_at", "2001-01-01T00:00:00+08:00", "filed"),
    ("due_at", "9999-12-31T23:59:59-05:00", "out of range"),
    ("feedback_due_at", "0001-01-01T00:00:00+08:00", "out of range"),
])
def test_a_milestone_before_filing_or_too_far_ahead_is_refused(service, db, field, value,
                                                               reason):
    service.on_complaint_assigned(assigned("complex"))
    second = {"due_at": (NOW + timedelta(days=60)).isoformat()}
    second[field] = value

    with pytest.raises(InvalidInput) as raised:
        service.set_timetable(COMPLAINT_ID, HANDLER, timetable(
            {"due_at": (NOW + timedelta(days=30)).isoformat()}, second))

    errors = field_errors(raised)["milestones"]
    assert list(errors) in ([1], ["1"])          # the second step, named
    assert reason in str(errors)
    assert not deadlines(db, "milestone") and not db.events("timetable_set")
