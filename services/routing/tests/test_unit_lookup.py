"""Issue 10, point 9: intake asks routing whether a unit exists before it dispatches there,
and a dispatch that names no unit of the directory is refused once, clearly, not retried
into a KeyError and parked without a word."""
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory

from services.common.clock import ManualClock
from services.common.contracts import ContractError, build_event
from services.common.settings import REPO_ROOT, Settings
from services.common.testing import InMemoryDatabase
from services.routing.domain import Directory
from services.routing.models import metadata
from services.routing.service import RoutingService

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def db():
    return InMemoryDatabase(metadata, clock=ManualClock(NOW))


@pytest.fixture
def service(db):
    return worker_factory(RoutingService, db=db, settings=Settings(),
                          directory=Directory.load(REPO_ROOT / "config" / "org.yaml"))


def dispatch(unit_id):
    return build_event("dispatch_requested", "00000000-0000-0000-0000-000000000001", NOW,
                       number="JS-20261124-0001", category="logistics", unit_id=unit_id,
                       round=1, received_at=NOW, lead_unit_id="logistics")


def test_a_unit_of_the_directory_is_found_and_any_other_is_none(service):
    unit = service.get_unit("security")
    assert (unit["id"], unit["name"]) == ("security", "保卫处")
    assert unit["head"]["id"] == "u-bwc-head"
    for unknown in ("nope", "", "Security", "security\n", None, 5):
        assert service.get_unit(unknown) is None


def test_a_dispatch_to_a_unit_that_does_not_exist_is_refused_at_once_and_says_why(service, db,
                                                                                  caplog):
    with pytest.raises(ContractError) as refused:  # parked at once by the event handler
        service.on_dispatch_requested(dispatch("nope"))

    assert "'nope'" in str(refused.value) and "JS-20261124-0001" in str(refused.value)
    assert "organisation directory" in str(refused.value)
    assert db.outbox == []
    assert any("nope" in record.getMessage() and record.levelname == "ERROR"
               for record in caplog.records)


def test_a_dispatch_to_a_unit_of_the_directory_is_assigned_there(service, db):
    service.on_dispatch_requested(dispatch("security"))

    [assigned] = db.events("complaint_assigned")
    assert assigned["unit"] == {"id": "security", "name": "保卫处"}
