"""Consumers on the real broker: an event delivered twice takes effect once (idempotent
consumer); a handler that fails is retried after a delay and parked when it keeps failing,
never silently dropped."""
from __future__ import annotations

import json

from kombu import Connection
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common.bus import ATTEMPTS_HEADER, event_handler
from services.common.contracts import build_event
from services.common.db import Database, make_engine
from services.common.clock import SystemClock
from services.common.logs import LogContext
from services.intake.models import Complaint, TimelineEntry
from services.intake.service import IntakeService
from tests.conftest import wait_until


def _seed_case(url, complaint_id="case-1"):
    engine = make_engine(url)
    with sessionmaker(engine).begin() as session:
        session.add(Complaint(id=complaint_id, number="JS-20261124-0001", status="assigned",
                              channel="app", category="logistics", content="热水停了两天",
                              anonymous=False, complainant_id="s1", filing_key="k1",
                              received_at=SystemClock().now()))
    return engine


def test_a_redelivered_event_takes_effect_once(container_factory, service_config, databases):
    engine = _seed_case(databases["intake"])
    container = container_factory(IntakeService, service_config)
    container.start()
    now = SystemClock().now()
    event = build_event("deadline_set", "case-1", now, grade="general", starts_at=now,
                        due_at=now)
    dispatch = event_dispatcher(service_config)
    for _ in range(2):  # the broker redelivers (e.g. the first ack was lost)
        with entrypoint_waiter(container, "on_deadline_set"):
            dispatch("sla", "deadline_set", event)

    with engine.connect() as conn:
        lines = conn.execute(select(func.count()).select_from(TimelineEntry.__table__)
                             .where(TimelineEntry.kind == "deadline_set")).scalar()
    assert lines == 1
    engine.dispose()


class Flaky:
    name = "flaky"
    db = Database("intake")
    log_context = LogContext()
    failures_left = {"count": 0}
    calls = []

    @event_handler("sla", "deadline_set")
    def handle(self, payload):
        self.calls.append(payload["event_id"])
        if self.failures_left["count"] != 0:
            self.failures_left["count"] -= 1
            raise RuntimeError("downstream is briefly unavailable")


def _publish(service_config, complaint_id="case-1", **overrides):
    now = SystemClock().now()
    event = build_event("deadline_set", complaint_id, now, grade="general", starts_at=now,
                        due_at=now)
    event.update(overrides)
    event_dispatcher(service_config)("sla", "deadline_set", event)
    return event


def test_a_failing_handler_is_retried_after_a_delay(container_factory, service_config):
    Flaky.calls.clear()
    Flaky.failures_left["count"] = 1
    container = container_factory(Flaky, service_config)
    container.start()
    event = _publish(service_config)
    wait_until(lambda: len(Flaky.calls) == 2, message="the retry after the failure")
    assert Flaky.calls == [event["event_id"], event["event_id"]]


def _parked(amqp_uri, queue_name):
    with Connection(amqp_uri) as conn:
        message = conn.SimpleQueue(queue_name).get(block=True, timeout=15)
        message.ack()
        return message


def test_a_handler_that_keeps_failing_parks_the_event(container_factory, service_config):
    Flaky.calls.clear()
    Flaky.failures_left["count"] = -1  # always
    container = container_factory(Flaky, service_config)
    container.start()
    event = _publish(service_config)
    parked = _parked(service_config["AMQP_URI"], "evt-sla-deadline_set--flaky.handle.parked")
    assert json.loads(parked.body)["event_id"] == event["event_id"]
    # first try + one retry per configured delay (0.2 s, 0.5 s in the test settings)
    assert parked.headers[ATTEMPTS_HEADER] == 3
    assert len(Flaky.calls) == 3


def test_an_event_that_breaks_its_contract_is_parked_at_once(container_factory,
                                                             service_config, databases):
    container = container_factory(IntakeService, service_config)
    container.start()
    _publish(service_config, due_at="not a date")
    parked = _parked(service_config["AMQP_URI"],
                     "evt-sla-deadline_set--intake.on_deadline_set.parked")
    assert parked.headers[ATTEMPTS_HEADER] == 1
    assert "due_at" in parked.headers["x-jiesu-error"]


def test_two_concurrent_deliveries_of_one_event_apply_it_once(databases):
    """The second delivery's inbox insert waits for the first transaction, then finds the
    key taken and applies nothing (PostgreSQL, READ COMMITTED)."""
    import eventlet
    import eventlet.event
    from sqlalchemy import text

    from services.common.db import unit_of_work

    engine = make_engine(databases["intake"])
    sessions = sessionmaker(engine, expire_on_commit=False)
    now = SystemClock().now()
    event = build_event("deadline_set", "case-1", now, grade="general", starts_at=now,
                        due_at=now)
    applied = []
    first_holds_the_key = eventlet.event.Event()

    def deliver(hold_seconds):
        with unit_of_work(sessions(), SystemClock(), None) as uow:
            if uow.already_applied(event, "intake.test"):
                return
            if hold_seconds:
                first_holds_the_key.send()
            uow.session.execute(text("SELECT 1"))
            eventlet.sleep(hold_seconds)  # still inside the transaction
            applied.append(hold_seconds)

    first = eventlet.spawn(deliver, 0.5)
    # not a fixed pause: on a busy machine the first insert could come after the second
    first_holds_the_key.wait()
    second = eventlet.spawn(deliver, 0)
    first.wait()
    second.wait()
    assert applied == [0.5]
    engine.dispose()
