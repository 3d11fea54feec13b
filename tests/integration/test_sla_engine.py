"""The SLA engine on the real broker and PostgreSQL, with a clock the test moves: warning,
urging, overdue and every escalation step fire at their time exactly once; an extension moves
the deadline and cancels the old timers; two replicas fire each timer once; a replica that
dies mid-batch loses nothing."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import func, select, text
from sqlalchemy.orm import sessionmaker

from services.common.clock import CLOCK_CONFIG_KEY, ManualClock
from services.common.contracts import build_event
from services.common.db import make_engine
from services.sla.models import Timer
from services.sla.service import SlaService
from tests.conftest import wait_until

# Monday 2026-11-23 09:00 in Shanghai: a "general" case is due at 17:30 the same day.
MONDAY_9 = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
DUE = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)
HANDLER = {"id": "u-hqc-1", "name": "冯涛"}
HEAD = {"id": "u-hqc-head", "name": "郑国强"}
LEADER = {"id": "l-vp-logistics", "name": "水长青"}


@pytest.fixture
def clock():
    return ManualClock(MONDAY_9)


@pytest.fixture
def config(service_config, clock):
    return dict(service_config, **{CLOCK_CONFIG_KEY: clock})


def _assigned(complaint_id="case-1", grade="general"):
    return build_event("complaint_assigned", complaint_id, MONDAY_9, number="JS-20261123-0001",
                       category="logistics", grade=grade,
                       unit={"id": "logistics", "name": "后勤管理处"}, handler=HANDLER,
                       received_at=MONDAY_9, unit_head=HEAD, leader=LEADER)


class Alerts:
    """A queue bound to the SLA's alerts, standing in for notify and intake."""

    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri
        self.queue = Queue("probe-sla-alerts", Exchange("sla.events", type="topic", durable=True),
                           routing_key="sla_alert", durable=True)
        with Connection(amqp_uri) as conn:
            self.queue(conn.default_channel).declare()
        self.seen = []

    def drain(self):
        with Connection(self.amqp_uri) as conn:
            bound = self.queue(conn.default_channel)
            while (message := bound.get(no_ack=True)) is not None:
                self.seen.append(json.loads(message.body))
        return self.seen

    def kinds(self):
        return [(a["target"], a["alert"], a["level"]) for a in self.drain()]

    def wait_for(self, count, message=""):
        wait_until(lambda: len(self.drain()) >= count, message=message or f"{count} alerts")
        eventlet.sleep(1.5)  # more than a poll: nothing extra may follow
        return self.kinds()


def _start(container_factory, config):
    container = container_factory(SlaService, config)
    container.start()
    return container


def test_alerts_fire_at_their_moved_time_exactly_once(container_factory, config, clock):
    alerts = Alerts(config["AMQP_URI"])
    container = _start(container_factory, config)
    with entrypoint_waiter(container, "on_complaint_assigned"):
        event_dispatcher(config)("routing", "complaint_assigned", _assigned())
    eventlet.sleep(1.5)
    assert alerts.kinds() == []  # nothing is due at 09:00

    clock.set(MONDAY_9 + timedelta(hours=1))  # 10:00: within the 2 h to sign for it
    eventlet.sleep(1.5)
    assert alerts.kinds() == []

    # 16:45: not signed for by 11:00 (head told), nor by 15:00 (office told); 75 % of the
    # 8.5 working hours passed at 15:22 (warning), 90 % at 16:39 (urging the head)
    clock.set(datetime(2026, 11, 23, 8, 45, tzinfo=timezone.utc))
    assert sorted(alerts.wait_for(4)) == sorted([
        ("response", "overdue", "head"), ("response", "escalate", "office"),
        ("resolution", "warning", "handler"), ("resolution", "urge", "head")])

    clock.set(DUE + timedelta(minutes=1))  # 17:31: overdue
    assert alerts.wait_for(5)[-1] == ("resolution", "overdue", "handler")

    # the ladder, in working time after 17:30: +1 h head (Tue 09:30), +4 h office (12:30),
    # +8 h leader (Tue 16:30)
    clock.set(datetime(2026, 11, 24, 8, 40, tzinfo=timezone.utc))  # Tue 16:40
    kinds = alerts.wait_for(8)
    assert Counter(kinds) == Counter([
        ("response", "overdue", "head"), ("response", "escalate", "office"),
        ("resolution", "warning", "handler"), ("resolution", "urge", "head"),
        ("resolution", "overdue", "handler"), ("resolution", "escalate", "head"),
        ("resolution", "escalate", "office"), ("resolution", "escalate", "leader")])
    leader_alert = [a for a in alerts.seen if a["level"] == "leader"][0]
    assert leader_alert["recipient"] == LEADER and leader_alert["number"] == "JS-20261123-0001"


def test_meeting_the_target_stops_its_clock(container_factory, config, clock):
    alerts = Alerts(config["AMQP_URI"])
    container = _start(container_factory, config)
    with entrypoint_waiter(container, "on_complaint_assigned"):
        event_dispatcher(config)("routing", "complaint_assigned", _assigned())
    for action, before, after in (("sign_for", "assigned", "signed"),
                                  ("reply", "signed", "replied")):
        transition = build_event(
            "complaint_transitioned", "case-1", MONDAY_9, number="JS-20261123-0001",
            category="logistics", action=action, from_status=before, to_status=after, round=0,
            actor=HANDLER, actor_role="handler")
        with entrypoint_waiter(container, "on_complaint_transitioned"):
            event_dispatcher(config)("intake", "complaint_transitioned", transition)
    clock.set(MONDAY_9 + timedelta(days=3))
    eventlet.sleep(2)
    assert alerts.kinds() == []


def test_an_extension_moves_the_deadline_and_cancels_the_old_timers(container_factory, config,
                                                                    clock, databases):
    alerts = Alerts(config["AMQP_URI"])
    container = _start(container_factory, config)
    with entrypoint_waiter(container, "on_complaint_assigned"):
        event_dispatcher(config)("routing", "complaint_assigned", _assigned())
    new_due = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.utc)  # Wednesday 17:30
    handler = {"id": HANDLER["id"], "roles": ["handler"], "unit": "logistics"}
    head = {"id": HEAD["id"], "roles": ["head"], "unit": "logistics"}
    with entrypoint_hook(container, "request_extension") as request_extension, \
            entrypoint_hook(container, "decide_extension") as decide_extension:
        asked = request_extension("case-1", handler, {"reason": "需采购配件,厂家周三到货",
                                                      "new_due_at": new_due.isoformat()})
        decided = decide_extension("case-1", asked["id"], head, {"approve": True,
                                                                 "note": "同意"})
    assert decided["status"] == "approved"

    clock.set(DUE + timedelta(hours=2))  # past the old deadline: nothing of it fires
    eventlet.sleep(1.5)
    assert ("resolution", "overdue", "handler") not in alerts.kinds()
    assert ("resolution", "warning", "handler") not in alerts.kinds()

    clock.set(new_due + timedelta(minutes=1))
    kinds = alerts.wait_for(2)
    assert kinds.count(("resolution", "overdue", "handler")) == 1
    engine = make_engine(databases["sla"])
    with engine.connect() as conn:
        cancelled = conn.execute(text("SELECT count(*) FROM timers WHERE status = 'cancelled'"))
        assert cancelled.scalar() >= 4
    engine.dispose()


def _seed_due_timers(url, count, due_at):
    engine = make_engine(url)
    with engine.begin() as conn:
        deadline_id = conn.execute(text(
            "INSERT INTO deadlines (complaint_id, kind, round, grade, unit_id, starts_at, "
            "due_at, status, state, recipients) VALUES ('bulk', 'resolution', 0, 'general', "
            "'logistics', :t, :t, 'pending', 'normal', :r) RETURNING id"),
            {"t": due_at, "r": json.dumps({"handler": HANDLER})}).scalar()
        conn.execute(text(
            "INSERT INTO timers (deadline_id, complaint_id, kind, level, due_at, status) "
            "SELECT :d, 'bulk', 'escalate', 'handler', :t - (n || ' seconds')::interval, "
            "'pending' FROM generate_series(1, :count) AS n"),
            {"d": deadline_id, "t": due_at, "count": count})
    return engine


def test_two_replicas_fire_each_timer_exactly_once(container_factory, config, clock, databases):
    engine = _seed_due_timers(databases["sla"], 600, MONDAY_9)
    alerts = Alerts(config["AMQP_URI"])
    config = dict(config, JIESU=dict(config["JIESU"], sla_batch_size=50))
    first, second = (_start(container_factory, config) for _ in range(2))
    kinds = alerts.wait_for(600, "600 alerts")
    assert len(kinds) == 600
    with sessionmaker(engine)() as session:
        by_status = dict(session.execute(select(Timer.status, func.count())
                                         .group_by(Timer.status)).all())
    assert by_status == {"fired": 600}
    assert first.started and second.started
    engine.dispose()


def test_a_replica_that_dies_mid_batch_loses_nothing(container_factory, config, clock,
                                                     databases, monkeypatch):
    """A replica that dies half-way through every batch it claims (here: its 20th alert
    raises, then it is killed) commits nothing: its claimed timers go back to the pool and
    the survivor fires each of them once."""
    from services.common import db as common_db

    engine = _seed_due_timers(databases["sla"], 120, MONDAY_9)
    alerts = Alerts(config["AMQP_URI"])
    real_emit = common_db.UnitOfWork.emit
    calls = {"n": 0}

    def emit_then_die(self, event_type, *args, **kwargs):
        if event_type == "sla_alert":
            calls["n"] += 1
            if calls["n"] >= 20:
                raise RuntimeError("the replica dies mid-batch")
        return real_emit(self, event_type, *args, **kwargs)

    monkeypatch.setattr(common_db.UnitOfWork, "emit", emit_then_die)
    dying = _start(container_factory, dict(config, JIESU=dict(config["JIESU"],
                                                              sla_batch_size=40)))
    wait_until(lambda: calls["n"] >= 20, message="the dying replica claimed a batch")
    dying.kill()
    monkeypatch.setattr(common_db.UnitOfWork, "emit", real_emit)
    with sessionmaker(engine)() as session:
        assert session.execute(select(func.count()).where(Timer.status == "fired")).scalar() == 0
    assert alerts.kinds() == []

    _start(container_factory, config)
    kinds = alerts.wait_for(120, "all 120 alerts from the survivor")
    assert len(kinds) == 120
    with sessionmaker(engine)() as session:
        assert session.execute(select(func.count()).where(Timer.status == "fired")).scalar() \
            == 120
    engine.dispose()
