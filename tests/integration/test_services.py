"""Each service in its own container on the real broker and database: an event in, the
effect in its database and the next event out."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from kombu import Connection, Exchange, Queue
from nameko.events import EventHandler
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.common.contracts import build_event, load_event
from services.common.db import make_engine
from services.common.messaging_tables import inbox
from services.notify.models import Notification
from services.notify.service import NotifyService
from services.rating.service import RatingService
from services.routing.models import Assignment
from services.routing.service import RoutingService
from services.sla.models import Deadline
from services.sla.service import SlaService
from tests.conftest import wait_until

# A fixed working morning, not the time the suite runs: a general case filed after 15:30
# has its 2-working-hour response target the next morning, after that day's 17:30 deadline.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _received(complaint_id="case-1", category="security"):
    return build_event("complaint_received", complaint_id, NOW, number="JS-20261124-0001",
                       channel="hotline", category=category, content="校门口路灯不亮",
                       complainant={"id": "s1", "name": "学生甲"}, contact_phone="13912345678")


def _assigned(complaint_id="case-1", grade="general"):
    return build_event("complaint_assigned", complaint_id, NOW, number="JS-20261124-0001",
                       category="logistics", grade=grade, unit={"id": "logistics",
                                                               "name": "后勤管理处"},
                       handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=NOW)


def _listen(amqp_uri, source, event_type):
    queue = Queue(f"probe-{event_type}", Exchange(f"{source}.events", type="topic",
                                                  durable=True),
                  routing_key=event_type, durable=True)
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
    return queue


def _next_message(amqp_uri, queue):
    with Connection(amqp_uri) as conn:
        bound = queue(conn.default_channel)
        message = wait_until(lambda: bound.get(no_ack=True), message=f"a message on {queue}")
        return json.loads(message.body)


def _rows(url, model):
    engine = make_engine(url)
    try:
        with sessionmaker(engine)() as session:
            return session.execute(select(model)).scalars().all()
    finally:
        engine.dispose()


def _consumers(url):
    """The consumer names in a service's inbox."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(select(inbox.c.consumer)).scalars())
    finally:
        engine.dispose()


# The names each service's inbox holds for the events it has applied. A handler renamed
# would find none of its events there and apply every redelivered one again: a rename
# needs a migration of the inbox, not only a new name here.
INBOX_NAMES = {
    RoutingService: {"routing.on_complaint_received", "routing.on_dispatch_requested",
                     "routing.on_complaint_transitioned"},
    NotifyService: {"notify.on_complaint_received", "notify.on_sla_alert",
                    "notify.on_extension_requested", "notify.on_timetable_set",
                    "notify.on_milestone_updated", "notify.on_extension_decided",
                    "notify.on_complaint_transitioned", "notify.on_supervisor_assigned",
                    "notify.on_complaint_assigned", "notify.on_summary_published"},
    RatingService: {"rating.on_complaint_received", "rating.on_complaint_transitioned",
                    # the office's projections (issue 12), in rating's mixins
                    "rating.figures_received", "rating.figures_assigned",
                    "rating.figures_deadline_set", "rating.figures_transitioned",
                    "rating.figures_rated", "rating.figures_rating_expired",
                    "rating.figures_overdue", "rating.figures_extension_decided",
                    "rating.figures_supervisor_assigned", "rating.analysis_on_received",
                    "rating.analysis_on_assigned", "rating.analysis_on_transitioned",
                    "rating.analysis_on_rated", "rating.analysis_on_expired"},
}


@pytest.mark.parametrize("service", INBOX_NAMES, ids=lambda cls: cls.name)
def test_every_event_handler_keeps_its_inbox_name(service):
    # Through the class's bases too: rating's office consumers live in mixins.
    handlers = {name for cls in service.__mro__ for name, member in vars(cls).items()
                if any(isinstance(entrypoint, EventHandler)
                       for entrypoint in getattr(member, "nameko_entrypoints", ()))}
    assert {f"{service.name}.{name}" for name in handlers} == INBOX_NAMES[service]


def test_routing_assigns_a_received_case_to_a_named_handler(container_factory, service_config,
                                                           databases):
    out = _listen(service_config["AMQP_URI"], "routing", "complaint_assigned")
    container = container_factory(RoutingService, service_config)
    container.start()
    with entrypoint_waiter(container, "on_complaint_received"):
        event_dispatcher(service_config)("intake", "complaint_received", _received())

    [assignment] = _rows(databases["routing"], Assignment)
    assert (assignment.unit_id, assignment.grade) == ("security", "simple")
    assigned = load_event("complaint_assigned", _next_message(service_config["AMQP_URI"], out))
    assert assigned["unit"] == {"id": "security", "name": "保卫处"}
    assert assigned["handler"]["id"] == assignment.handler_id
    assert assigned["correlation_id"]  # carried along for the logs
    assert _consumers(databases["routing"]) == {"routing.on_complaint_received"}


def test_sla_sets_the_deadline_of_an_assigned_case(container_factory, service_config,
                                                   databases):
    out = _listen(service_config["AMQP_URI"], "sla", "deadline_set")
    container = container_factory(SlaService, service_config)
    container.start()
    with entrypoint_waiter(container, "on_complaint_assigned"):
        event_dispatcher(service_config)("routing", "complaint_assigned", _assigned())

    targets = {d.kind: d for d in _rows(databases["sla"], Deadline)}
    assert set(targets) == {"resolution", "response"}  # 办结 and 签收 time limits
    announced = {}
    for _ in range(2):
        event = load_event("deadline_set", _next_message(service_config["AMQP_URI"], out))
        announced[event["target"]] = event["due_at"]
    assert announced == {kind: d.due_at for kind, d in targets.items()}
    assert targets["response"].due_at < targets["resolution"].due_at
    with entrypoint_hook(container, "get_deadlines") as get_deadlines:
        office = {"id": "u-office-1", "name": "办公室", "roles": ["office"]}
        assert get_deadlines("case-1", office)[0]["grade"] == "general"


def test_notify_acknowledges_the_complainant_and_tells_the_handler(container_factory,
                                                                   service_config, databases):
    container = container_factory(NotifyService, service_config)
    container.start()
    dispatch = event_dispatcher(service_config)
    with entrypoint_waiter(container, "on_complaint_received"):
        dispatch("intake", "complaint_received", _received())
    with entrypoint_waiter(container, "on_complaint_assigned"):
        dispatch("routing", "complaint_assigned", _assigned())

    sent = {n.recipient_role: n for n in _rows(databases["notify"], Notification)}
    assert set(sent) == {"complainant", "handler"}
    assert sent["complainant"].channel == "sms"  # a hotline caller hears back by SMS
    assert all(n.status == "sent" for n in sent.values())
    assert _consumers(databases["notify"]) == {"notify.on_complaint_received",
                                               "notify.on_complaint_assigned"}
