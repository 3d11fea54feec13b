from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event, load_event
from services.common.settings import REPO_ROOT, Settings
from services.common.testing import InMemoryDatabase
from services.routing.domain import Directory
from services.routing.models import Assignment, metadata
from services.routing.service import RoutingService

RECEIVED = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
ROUTED = datetime(2026, 11, 24, 1, 0, 2, tzinfo=timezone.utc)


@pytest.fixture
def db():
    return InMemoryDatabase(metadata, clock=ManualClock(ROUTED))


@pytest.fixture
def service(db):
    return worker_factory(RoutingService, db=db, settings=Settings(),
                          directory=Directory.load(REPO_ROOT / "config" / "org.yaml"))


def received(n=1, category="logistics"):
    return build_event(
        "complaint_received", f"00000000-0000-0000-0000-{n:012d}", RECEIVED,
        number=f"JS-20261124-{n:04d}", channel="app", category=category,
        content="学生公寓3号楼热水已经停了两天", complainant={"id": "s2023001", "name": "张三"})


def assignments(db):
    with db.session() as session:
        return session.execute(select(Assignment).order_by(Assignment.complaint_id)).scalars().all()


def test_a_received_case_is_assigned_and_announced(service, db):
    event = received(category="security")

    service.on_complaint_received(event)

    (row,) = assignments(db)
    assert (row.complaint_id, row.unit_id, row.handler_id) == (event["complaint_id"], "security",
                                                               "u-bwc-1")
    assert row.grade == "simple"
    assert row.open is True
    assert row.assigned_at == ROUTED
    (wire,) = db.outbox
    announced = load_event("complaint_assigned", wire)
    assert announced["complaint_id"] == event["complaint_id"]
    assert announced["number"] == "JS-20261124-0001"
    assert announced["category"] == "security"
    assert announced["grade"] == "simple"
    assert announced["unit"] == {"id": "security", "name": "保卫处"}
    assert announced["handler"] == {"id": "u-bwc-1", "name": "蒋勇"}
    assert announced["occurred_at"] == ROUTED


def test_the_deadline_clock_starts_at_receipt_not_at_routing(service, db):
    service.on_complaint_received(received())

    assert load_event("complaint_assigned", db.outbox[0])["received_at"] == RECEIVED


def test_cases_are_spread_over_the_units_handlers(service, db):
    for n in range(1, 5):
        service.on_complaint_received(received(n))

    assert [row.handler_id for row in assignments(db)] == ["u-hqc-1", "u-hqc-2", "u-hqc-3",
                                                           "u-hqc-1"]
    assert [event["handler"]["id"] for event in db.events("complaint_assigned")] == \
        ["u-hqc-1", "u-hqc-2", "u-hqc-3", "u-hqc-1"]


def test_another_units_cases_do_not_count_as_load(service, db):
    service.on_complaint_received(received(1, category="education"))
    service.on_complaint_received(received(2, category="logistics"))

    assert [row.handler_id for row in assignments(db)] == ["u-jwc-1", "u-hqc-1"]


def test_a_redelivered_case_is_assigned_once(service, db):
    event = received()

    service.on_complaint_received(event)
    service.on_complaint_received(event)

    assert len(assignments(db)) == 1
    assert len(db.outbox) == 1


def test_a_unit_is_served_over_rpc_without_its_peoples_phones(service):
    unit = service.get_unit("logistics")

    assert unit["head"] == {"id": "u-hqc-head", "name": "郑国强"}
    assert "phone" not in unit["handlers"][0]
