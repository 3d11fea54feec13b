from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.testing import InMemoryDatabase

metadata = sa.MetaData()
counters = sa.Table("counters", metadata,
                    sa.Column("name", sa.String(20), primary_key=True),
                    sa.Column("value", sa.Integer, nullable=False))

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


class Boom(Exception):
    pass


@pytest.fixture
def db():
    database = InMemoryDatabase(metadata, clock=ManualClock(NOW))
    with database.unit_of_work() as uow:
        uow.session.execute(counters.insert().values(name="cases", value=0))
    return database


def value(db) -> int:
    with db.session() as session:
        return session.execute(sa.select(counters.c.value)).scalar_one()


def bump_and_emit(uow, complaint_id="c-1"):
    uow.session.execute(counters.update().values(value=counters.c.value + 1))
    return uow.emit("deadline_set", complaint_id, grade="simple", starts_at=NOW,
                    due_at=NOW + timedelta(hours=2))


def an_event(complaint_id="c-1"):
    return build_event("deadline_set", complaint_id, NOW, grade="simple", starts_at=NOW,
                       due_at=NOW + timedelta(hours=2))


def test_a_committed_unit_of_work_keeps_its_change_and_its_event(db):
    with db.unit_of_work() as uow:
        wire = bump_and_emit(uow)

    assert value(db) == 1
    assert db.outbox == [wire]
    assert wire["correlation_id"] == "test-correlation"
    assert wire["occurred_at"] == NOW.isoformat()


def test_events_are_kept_in_commit_order(db):
    for complaint_id in ("c-1", "c-2", "c-3"):
        with db.unit_of_work() as uow:
            bump_and_emit(uow, complaint_id)

    assert [event["complaint_id"] for event in db.events("deadline_set")] == ["c-1", "c-2", "c-3"]


def test_a_failing_unit_of_work_keeps_neither_its_change_nor_its_event(db):
    # The outbox guarantee: no event is ever published for a change that did not happen.
    with pytest.raises(Boom):
        with db.unit_of_work() as uow:
            bump_and_emit(uow)
            raise Boom()

    assert value(db) == 0
    assert db.outbox == []


def test_an_event_emitted_before_the_change_also_rolls_back(db):
    with pytest.raises(Boom):
        with db.unit_of_work() as uow:
            uow.emit("deadline_set", "c-1", grade="simple", starts_at=NOW,
                     due_at=NOW + timedelta(hours=2))
            uow.session.execute(counters.update().values(value=counters.c.value + 1))
            raise Boom()

    assert value(db) == 0
    assert db.outbox == []


def test_a_failure_after_an_earlier_commit_leaves_that_commit_alone(db):
    with db.unit_of_work() as uow:
        bump_and_emit(uow, "c-1")
    with pytest.raises(Boom):
        with db.unit_of_work() as uow:
            bump_and_emit(uow, "c-2")
            raise Boom()

    assert value(db) == 1
    assert [event["complaint_id"] for event in db.outbox] == ["c-1"]


def test_an_event_is_new_to_a_consumer_only_once(db):
    event = an_event()

    with db.unit_of_work() as uow:
        assert uow.already_applied(event, "sla.on_x") is False
    with db.unit_of_work() as uow:
        assert uow.already_applied(event, "sla.on_x") is True
        assert uow.already_applied(event, "notify.on_x") is False


def test_the_inbox_record_rolls_back_with_its_effect(db):
    # Otherwise a handler that failed half-way would skip the event on its retry.
    event = an_event()
    with pytest.raises(Boom):
        with db.unit_of_work() as uow:
            uow.already_applied(event, "sla.on_x")
            raise Boom()

    with db.unit_of_work() as uow:
        assert uow.already_applied(event, "sla.on_x") is False


def apply(db, event):
    """An idempotent consumer, written as the services write theirs."""
    with db.unit_of_work() as uow:
        if uow.already_applied(event, "test.apply"):
            return
        bump_and_emit(uow, event["complaint_id"])


def test_a_redelivered_event_has_no_second_effect(db):
    event = an_event()

    apply(db, event)
    apply(db, event)

    assert value(db) == 1
    assert len(db.outbox) == 1


def test_emit_refuses_an_event_that_breaks_its_contract(db):
    from services.common.contracts import ContractError

    with pytest.raises(ContractError):
        with db.unit_of_work() as uow:
            uow.session.execute(counters.update().values(value=5))
            uow.emit("deadline_set", "c-1", grade="simple")

    assert value(db) == 0
    assert db.outbox == []


def test_a_failed_statement_does_not_carry_its_parameters():
    # X5: an exception's text reaches logs and tracebacks; the values bound into it (names,
    # phone numbers, complaint texts) must not.
    from sqlalchemy import text
    from sqlalchemy.exc import StatementError

    from services.common.db import make_engine

    engine = make_engine("sqlite:///:memory:")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": 13655554321})
        try:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": 13655554321})
        except StatementError as exc:
            assert "13655554321" not in str(exc)
        else:
            raise AssertionError("the duplicate key was accepted")
