"""The transactional outbox on the real PostgreSQL and RabbitMQ: an event goes out if and
only if its transaction commits, survives a broker that cannot take it, and is published
once even with two relays draining the same table."""
from __future__ import annotations

import json

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common.clock import SystemClock
from services.common.db import Database, OutboxRelay, make_engine, unit_of_work
from services.common.logs import LogContext
from services.common.messaging_tables import outbox
from services.intake.models import Complaint
from tests.conftest import wait_until


def _bind_probe_queue(amqp_uri, name="probe"):
    """A queue bound to intake's events, standing in for a consumer."""
    queue = Queue(name, Exchange("intake.events", type="topic", durable=True),
                  routing_key="#", durable=True)
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
    return queue


def _drain(amqp_uri, queue, expect: int, timeout: float = 10) -> list[dict]:
    received = []
    with Connection(amqp_uri) as conn:
        bound = queue(conn.default_channel)

        def fetch():
            while True:
                message = bound.get(no_ack=True)
                if message is None:
                    break
                received.append(json.loads(message.body))
            return len(received) >= expect
        wait_until(fetch, timeout=timeout, message=f"{expect} messages on {queue.name}")
        eventlet.sleep(0.3)  # and nothing more arrives
        fetch()
    return received


class Emitter:
    """A minimal service that changes intake's state and emits in one unit of work."""
    name = "intake"
    db = Database("intake")
    log_context = LogContext()

    @rpc
    def emit_then(self, complaint_id, fail):
        with self.db.unit_of_work() as uow:
            uow.emit("deadline_set", complaint_id, grade="simple",
                     starts_at=uow.clock.now(), due_at=uow.clock.now())
            if fail:
                raise RuntimeError("the state change failed after the emit")


def test_event_is_published_when_its_transaction_commits(container_factory, service_config,
                                                         rabbit_config):
    queue = _bind_probe_queue(rabbit_config["AMQP_URI"])
    container = container_factory(Emitter, service_config)
    container.start()
    with entrypoint_hook(container, "emit_then") as emit_then:
        emit_then("case-1", False)
    [event] = _drain(rabbit_config["AMQP_URI"], queue, expect=1)
    assert event["complaint_id"] == "case-1"
    assert event["event_type"] == "deadline_set"


def test_rolled_back_transaction_publishes_nothing(container_factory, service_config,
                                                   rabbit_config, databases):
    queue = _bind_probe_queue(rabbit_config["AMQP_URI"])
    container = container_factory(Emitter, service_config)
    container.start()
    with entrypoint_hook(container, "emit_then") as emit_then:
        with pytest.raises(RuntimeError):
            emit_then("case-rolled-back", True)
        emit_then("case-committed", False)
    events = _drain(rabbit_config["AMQP_URI"], queue, expect=1)
    assert [e["complaint_id"] for e in events] == ["case-committed"]
    engine = make_engine(databases["intake"])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 1
    engine.dispose()


def _write_outbox_rows(url, count):
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    clock = SystemClock()
    with unit_of_work(sessions(), clock, "corr") as uow:
        for index in range(count):
            uow.emit("deadline_set", f"case-{index}", grade="general",
                     starts_at=clock.now(), due_at=clock.now())
    return engine, sessions


def _config(amqp_uri):
    return {"AMQP_URI": amqp_uri}


def test_rows_wait_in_the_outbox_while_the_broker_is_unreachable(databases, rabbit_config):
    engine, sessions = _write_outbox_rows(databases["intake"], 3)
    queue = _bind_probe_queue(rabbit_config["AMQP_URI"])
    broken = OutboxRelay("intake", sessions, _config("amqp://guest:guest@127.0.0.1:1/"),
                         SystemClock())
    broken.publisher.retry_policy = {"max_retries": 0}
    with pytest.raises(Exception):
        broken.relay_once()
    with engine.connect() as conn:
        unsent = conn.execute(select(func.count()).select_from(outbox)
                              .where(outbox.c.sent_at.is_(None))).scalar()
    assert unsent == 3  # nothing marked sent, nothing lost

    OutboxRelay("intake", sessions, _config(rabbit_config["AMQP_URI"]), SystemClock()).relay_once()
    assert len(_drain(rabbit_config["AMQP_URI"], queue, expect=3)) == 3
    engine.dispose()


def test_an_event_nobody_listens_to_yet_stays_in_the_outbox(databases, rabbit_config):
    engine, sessions = _write_outbox_rows(databases["intake"], 1)
    relay = OutboxRelay("intake", sessions, _config(rabbit_config["AMQP_URI"]), SystemClock())
    relay.relay_once()  # no queue bound to intake.events: unroutable
    with engine.connect() as conn:
        row = conn.execute(select(outbox.c.sent_at, outbox.c.attempts,
                                  outbox.c.next_attempt_at)).one()
    assert row.sent_at is None and row.attempts == 1 and row.next_attempt_at is not None

    queue = _bind_probe_queue(rabbit_config["AMQP_URI"])
    with engine.begin() as conn:  # the backoff has passed
        conn.execute(outbox.update().values(next_attempt_at=None))
    relay.relay_once()
    assert len(_drain(rabbit_config["AMQP_URI"], queue, expect=1)) == 1
    engine.dispose()


def test_two_relays_publish_each_row_exactly_once(databases, rabbit_config):
    engine, sessions = _write_outbox_rows(databases["intake"], 400)
    queue = _bind_probe_queue(rabbit_config["AMQP_URI"])
    relays = [OutboxRelay("intake", sessions, _config(rabbit_config["AMQP_URI"]), SystemClock(),
                          batch_size=25) for _ in range(2)]

    def drain(relay):
        claimed = 0
        while True:
            count = relay.relay_once()
            if count == 0:
                return claimed
            claimed += count

    threads = [eventlet.spawn(drain, relay) for relay in relays]
    claimed = [thread.wait() for thread in threads]
    assert sum(claimed) == 400
    assert all(claimed), "both relays took a share (SKIP LOCKED let them work side by side)"
    events = _drain(rabbit_config["AMQP_URI"], queue, expect=400, timeout=30)
    assert sorted(e["complaint_id"] for e in events) == sorted(f"case-{i}" for i in range(400))
    engine.dispose()


def test_filing_commits_the_case_and_its_event_together(container_factory, service_config,
                                                       rabbit_config, databases):
    from services.intake.service import IntakeService

    queue = _bind_probe_queue(rabbit_config["AMQP_URI"])
    container = container_factory(IntakeService, service_config)
    container.start()
    with entrypoint_hook(container, "file_complaint") as file_complaint:
        filed = file_complaint({"category": "finance", "content": "奖学金到账时间查询一下"},
                               {"id": "s1", "name": "学生甲"}, "app",
                               pledge="诉求人承诺如实反映。")
    [event] = _drain(rabbit_config["AMQP_URI"], queue, expect=1)
    assert event["complaint_id"] == filed["id"] and event["number"] == filed["number"]
    engine = make_engine(databases["intake"])
    with sessionmaker(engine)() as session:
        assert session.get(Complaint, filed["id"]).status == "received"
    engine.dispose()
