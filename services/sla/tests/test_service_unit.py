import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event, load_event
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

    (shown,) = [d for d in service.get_deadlines(COMPLAINT_ID) if d["kind"] == "resolution"]

    assert shown == {
        "complaint_id": COMPLAINT_ID, "kind": "resolution", "round": 0, "grade": "complex",
        "starts_at": "2026-11-27T07:50:00+00:00",
        "due_at": "2026-12-01T09:30:00+00:00",     # Fri, Mon, Tue 17:30 in Shanghai
        "status": "pending", "state": "normal", "extensions": [], "milestone_id": "",
        "title": None,
    }


def test_get_deadlines_of_an_unknown_case_is_empty(service):
    assert service.get_deadlines("nobody") == []


def test_a_redo_round_gets_a_new_deadline_from_its_dispatch(db):
    from datetime import timedelta

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

    deadlines = [d for d in service.get_deadlines(first["complaint_id"])
                 if d["kind"] == "resolution"]
    assert [d["round"] for d in deadlines] == [0, 1]
    assert datetime.fromisoformat(deadlines[1]["starts_at"]) == redispatched_at
    assert len(resolution_events(db)) == 2
