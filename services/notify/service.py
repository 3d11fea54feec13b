"""Notify: everything sent to people."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import NamedTuple

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import select, update

from services.common.bus import event_handler
from services.common.contracts import load_event
from services.common.db import Database
from services.common import metrics
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.settings import Settings, SettingsProvider
from services.notify import domain
from services.notify.models import CaseContact, Notification
from services.notify.schemas import NotificationSchema
from services.notify.senders import ChannelSenders

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
SWEEP_SECONDS = 5


class SenderProvider(DependencyProvider):
    def setup(self):
        self.sender = ChannelSenders.from_settings(
            Settings.from_container_config(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.sender


class NotifyService(HealthMixin):
    name = "notify"

    db = Database("notify")
    sender = SenderProvider()
    settings = SettingsProvider()
    log_context = LogContext()

    @event_handler("intake", "complaint_received")
    def on_complaint_received(self, payload):
        event = load_event("complaint_received", payload)
        message = domain.screening_reply(event) if event["screened"] \
            else domain.acknowledgement(event)
        self._record_and_send(event, "notify.on_complaint_received", [message],
                              contact=CaseContact(
                                  complaint_id=event["complaint_id"],
                                  complainant_id=event["complainant"]["id"],
                                  complainant_name=event["complainant"].get("name"),
                                  channel=event["channel"],
                                  phone=event.get("contact_phone")))

    @event_handler("sla", "sla_alert")
    def on_sla_alert(self, payload):
        event = load_event("sla_alert", payload)
        message = domain.sla_alert_message(event)
        if message is not None:
            self._record_and_send(event, "notify.on_sla_alert", [message])

    @event_handler("sla", "extension_requested")
    def on_extension_requested(self, payload):
        event = load_event("extension_requested", payload)
        self._record_and_send(event, "notify.on_extension_requested",
                              domain.extension_messages(event, None))

    @event_handler("sla", "timetable_set")
    def on_timetable_set(self, payload):
        self._tell_complainant(load_event("timetable_set", payload), "notify.on_timetable_set")

    @event_handler("sla", "milestone_updated")
    def on_milestone_updated(self, payload):
        self._tell_complainant(load_event("milestone_updated", payload),
                               "notify.on_milestone_updated")

    def _tell_complainant(self, event, consumer):
        with self.db.session() as session:
            messages = domain.timetable_messages(event, session.get(CaseContact,
                                                                     event["complaint_id"]))
        if messages:
            self._record_and_send(event, consumer, messages)

    @event_handler("sla", "extension_decided")
    def on_extension_decided(self, payload):
        event = load_event("extension_decided", payload)
        with self.db.session() as session:
            contact = session.get(CaseContact, event["complaint_id"])
            messages = domain.extension_messages(event, contact)
        self._record_and_send(event, "notify.on_extension_decided", messages)

    @event_handler("intake", "complaint_transitioned")
    def on_complaint_transitioned(self, payload):
        event = load_event("complaint_transitioned", payload)
        messages = domain.transition_messages(event)
        if messages:
            self._record_and_send(event, "notify.on_complaint_transitioned", messages)

    @event_handler("routing", "supervisor_assigned")
    def on_supervisor_assigned(self, payload):
        event = load_event("supervisor_assigned", payload)
        self._record_and_send(event, "notify.on_supervisor_assigned",
                              [domain.supervision_notice(event)])

    @event_handler("routing", "complaint_assigned")
    def on_complaint_assigned(self, payload):
        event = load_event("complaint_assigned", payload)
        self._record_and_send(event, "notify.on_complaint_assigned",
                              [domain.assignment_notice(event)])

    @timer(interval=SWEEP_SECONDS)
    def resend_pending(self):
        """Deliver what a crash or a failing channel left pending."""
        cutoff = self.db.clock.now() - timedelta(seconds=self.settings.notify_resend_after_seconds)
        with self.db.unit_of_work() as uow:
            stale = uow.session.execute(
                select(Notification).where(Notification.status == "pending",
                                           Notification.created_at <= cutoff)
                .order_by(Notification.created_at).limit(100)
                .with_for_update(skip_locked=True)).scalars().all()
            for notification in stale:
                _mark(uow.session, notification, self._send(notification), uow.clock.now())

    @rpc
    def list_notifications(self, complaint_id):
        with self.db.session() as session:
            rows = session.execute(select(Notification).where(
                Notification.complaint_id == complaint_id)
                .order_by(Notification.created_at, Notification.recipient_role)).scalars().all()
            return NotificationSchema(many=True).dump(rows)

    # ------------------------------------------------------------------------------------
    def _record_and_send(self, event, consumer, messages, contact=None):
        recorded = []  # stays empty when this delivery turns out to be a duplicate
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, consumer):
                return
            if contact is not None:
                uow.session.merge(contact)
                uow.session.flush()  # the acknowledgement's SMS looks the phone up below

            def phone_of(person_id):
                return uow.session.execute(
                    select(CaseContact.phone).where(CaseContact.complainant_id == person_id,
                                                    CaseContact.phone.is_not(None))
                    .limit(1)).scalar()
            recorded = [Notification(
                id=str(uuid.uuid4()), complaint_id=event["complaint_id"],
                event_id=event["event_id"], status="pending", attempts=0,
                created_at=uow.clock.now(),
                **dict(vars(domain.as_sent(message)), address=message.address
                       or domain.address_for(message, phone_of))) for message in messages]
            uow.session.add_all(recorded)
        if not recorded:
            return
        # Sent after the commit: a crash before the marks are stored leaves them pending,
        # and the sweep sends them again (at least once, never lost).
        outcomes = [(notification, self._send(notification)) for notification in recorded]
        with self.db.unit_of_work() as uow:
            for notification, error in outcomes:
                _mark(uow.session, notification, error, uow.clock.now())

    def _send(self, notification) -> "Failure | None":
        """Deliver one notification; how it failed, or None when it went out."""
        try:
            self.sender.send(notification)
        except Exception as exc:
            log.warning("sending %s to %s failed: %r", notification.template,
                        notification.recipient_role, exc)
            return Failure(repr(exc)[:500], bool(getattr(exc, "permanent", False)))
        return None


class Failure(NamedTuple):
    error: str
    permanent: bool = False   # no resend can succeed (no address, the user unsubscribed)


def _mark(session, notification, failure: Failure | None, now) -> None:
    """Store the outcome of one attempt with a single UPDATE (no reload of the row)."""
    attempts = notification.attempts + 1
    (metrics.NOTIFICATIONS_SENT if failure is None else metrics.NOTIFICATIONS_FAILED).labels(
        notification.channel).inc()
    if failure is None:
        values = {"status": "sent", "sent_at": now}
    else:
        given_up = failure.permanent or attempts >= MAX_ATTEMPTS
        values = {"status": "failed" if given_up else "pending", "last_error": failure.error}
    session.execute(update(Notification).where(Notification.id == notification.id)
                    .values(attempts=attempts, **values))
