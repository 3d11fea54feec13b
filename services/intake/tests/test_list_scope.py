"""The list/read rule (docs/LIFECYCLE.md, "Who sees what"): whoever you are, the cases in your
list are exactly the cases you may open. Property-based: random cases (units, assisting units,
reporting units, supervisors, complainants) and random people in every role."""
import json
import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st
from nameko.testing.services import worker_factory

from services.common.clock import ManualClock
from services.common.errors import NotFound
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.intake.models import Complaint, metadata
from services.intake.service import IntakeService

START = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
# Few of each, so that cases and people meet often; one id with JSON's special characters.
UNITS = ("logistics", "security", "finance", 'odd"unit\\')
PEOPLE = ("s1", "s2", "u1", "l1")
ROLES = ("complainant", "handler", "head", "office", "leader")

maybe = st.none().__or__
cases = st.lists(st.fixed_dictionaries({
    "complainant_id": st.sampled_from(PEOPLE),
    "unit_id": maybe(st.sampled_from(UNITS)),
    "assisting": st.lists(st.sampled_from(UNITS), max_size=2, unique=True),
    "reporter_unit_id": maybe(st.sampled_from(UNITS)),
    "supervisor_id": maybe(st.sampled_from(PEOPLE)),
    "status": st.sampled_from(("received", "assigned", "replied", "closed", "merged")),
}), max_size=12)
viewers = st.fixed_dictionaries({
    "id": st.sampled_from(PEOPLE),
    "roles": st.lists(st.sampled_from(ROLES), min_size=1, max_size=2, unique=True),
    "unit": maybe(st.sampled_from(UNITS)),
})


def _store(db, drawn):
    with db.unit_of_work() as uow:
        for n, case in enumerate(drawn):
            uow.session.add(Complaint(
                id=str(uuid.uuid4()), number=f"JS-20261124-{n:04d}", status=case["status"],
                channel="staff" if case["reporter_unit_id"] else "app", category="logistics",
                content="热水停了两天", complainant_id=case["complainant_id"],
                filing_key=str(n), received_at=START - timedelta(minutes=n),
                unit_id=case["unit_id"], reporter_unit_id=case["reporter_unit_id"],
                proactive=bool(case["reporter_unit_id"]), supervisor_id=case["supervisor_id"],
                disputed=bool(case["assisting"]), round=0,
                assisting_units=json.dumps([{"id": u, "name": u} for u in case["assisting"]],
                                           ensure_ascii=False) if case["assisting"] else None))
    with db.session() as session:
        return [row.id for row in session.query(Complaint)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=cases, viewer=viewers)
def test_a_list_holds_exactly_the_cases_its_reader_may_open(drawn, viewer):
    clock = ManualClock(START)
    db = InMemoryDatabase(metadata, clock=clock)
    service = worker_factory(IntakeService, db=db, settings=Settings(), clock=clock)
    ids = _store(db, drawn)

    listed = {case["id"] for case in service.list_cases(viewer, {"view": "all", "limit": 500})}
    openable = set()
    for case_id in ids:
        try:
            service.get_complaint(case_id, viewer)
        except NotFound:
            continue
        openable.add(case_id)

    assert listed == openable
