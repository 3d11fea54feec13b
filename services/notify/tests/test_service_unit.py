from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.notify.models import Notification, metadata
from services.notify.service import MAX_ATTEMPTS, NotifyService

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)
SETTINGS = Settings(notify_resend_after_seconds=30)


class FakeSender:
    """Records what it was asked to send; fails while `failing` is set."""

    def __init__(self, failing=False):
        self.failing = failing
        self.sent = []

    def send(self, notification):
        if self.failing:
            raise ConnectionError("sms gateway unreachable")
        self.sent.append((notification.recipient_role, notification.recipient_id,
                          notification.channel, notification.text))


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def db(clock):
    return InMemoryDatabase(metadata, clock=clock)


@pytest.fixture
def sender():
    return FakeSender()


@pytest.fixture
def service(db, sender):
    return worker_factory(NotifyService, db=db, sender=sender, settings=SETTINGS)


def received(channel="hotline"):
    return build_event(
        "complaint_received", "c-1", NOW, number="JS-20261124-0001", channel=channel,
        category="logistics", content="学生公寓3号楼热水已经停了两天",
        complainant={"id": "s2023001", "name": "张三"}, contact_phone="13912345678")


def assigned():
    return build_event(
        "complaint_assigned", "c-1", NOW, number="JS-20261124-0001", category="logistics",
        grade="general", unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=NOW)


def notifications(db):
    with db.session() as session:
        return session.execute(select(Notification)).scalars().all()


def test_a_received_case_is_acknowledged_once_and_sent(service, db, sender):
    event = received("hotline")

    service.on_complaint_received(event)

    (row,) = notifications(db)
    assert (row.complaint_id, row.event_id) == ("c-1", event["event_id"])
    assert (row.recipient_role, row.recipient_id, row.channel) == ("complainant", "s2023001",
                                                                  "sms")
    assert row.template == "complaint_acknowledged"
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)
    assert sender.sent == [("complainant", "s2023001", "sms", row.text)]


def test_an_assignment_notifies_the_handler(service, db, sender):
    service.on_complaint_assigned(assigned())

    (row,) = notifications(db)
    assert (row.recipient_role, row.recipient_id, row.status) == ("handler", "u-hqc-1", "sent")
    assert len(sender.sent) == 1


def test_a_failed_send_stays_pending_with_the_error(db, clock):
    service = worker_factory(NotifyService, db=db, sender=FakeSender(failing=True),
                             settings=SETTINGS)

    service.on_complaint_received(received())

    (row,) = notifications(db)
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert "sms gateway unreachable" in row.last_error


def test_the_sweep_delivers_what_was_left_pending(db, clock):
    sender = FakeSender(failing=True)
    service = worker_factory(NotifyService, db=db, sender=sender, settings=SETTINGS)
    service.on_complaint_received(received())
    sender.failing = False

    clock.advance(seconds=SETTINGS.notify_resend_after_seconds + 1)
    service.resend_pending()

    (row,) = notifications(db)
    assert (row.status, row.attempts) == ("sent", 2)
    assert row.sent_at == clock.now()
    assert len(sender.sent) == 1


def test_the_sweep_leaves_fresh_pending_messages_to_their_first_attempt(db, clock):
    # A message written a moment ago may still be on its way out of its own worker.
    sender = FakeSender(failing=True)
    service = worker_factory(NotifyService, db=db, sender=sender, settings=SETTINGS)
    service.on_complaint_received(received())
    sender.failing = False

    clock.advance(seconds=SETTINGS.notify_resend_after_seconds - 1)
    service.resend_pending()

    (row,) = notifications(db)
    assert (row.status, row.attempts) == ("pending", 1)
    assert sender.sent == []


def test_a_message_that_keeps_failing_is_given_up(db, clock):
    service = worker_factory(NotifyService, db=db, sender=FakeSender(failing=True),
                             settings=SETTINGS)
    service.on_complaint_received(received())

    for _ in range(MAX_ATTEMPTS + 2):
        clock.advance(seconds=SETTINGS.notify_resend_after_seconds + 1)
        service.resend_pending()

    (row,) = notifications(db)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)


def test_a_message_no_resend_can_deliver_is_given_up_at_once(db, clock):
    """A hotline caller's case reached notify without a phone to text: resending is futile."""
    from services.notify.sms import LoggingSmsSender
    from services.notify.senders import ChannelSenders, LoggingSender

    senders = ChannelSenders({"sms": LoggingSmsSender()}, LoggingSender())
    service = worker_factory(NotifyService, db=db, sender=senders, settings=SETTINGS)
    event = received()
    event["complainant"]["id"] = "hotline:5f2c"
    event["contact_phone"] = None
    service.on_complaint_received(event)

    (row,) = notifications(db)
    assert (row.channel, row.address, row.status, row.attempts) == ("sms", None, "failed", 1)
    assert "no phone number" in row.last_error


def test_a_redelivered_event_is_notified_once(service, db, sender):
    event = received()

    service.on_complaint_received(event)
    service.on_complaint_received(event)

    assert len(notifications(db)) == 1
    assert len(sender.sent) == 1


def test_a_cases_messages_are_recorded_with_their_outcome(service, db):
    service.on_complaint_received(received("app"))
    service.on_complaint_assigned(assigned())

    assert sorted((n.recipient_role, n.channel, n.status) for n in notifications(db)) == [
        ("complainant", "app", "sent"), ("handler", "app", "sent")]
