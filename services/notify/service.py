"""Notify: everything sent to people."""
from __future__ import annotations

import functools
import logging
import uuid
from datetime import timedelta
from typing import NamedTuple

from nameko.timer import timer
from sqlalchemy import select, update

from services.common.db import Database
from services.common import metrics
from services.common.health import HealthMixin
from services.common.logs import LogContext
from services.common.providers import Built, consumes
from services.common.rating_link import rating_url
from services.common.settings import SettingsProvider
from services.notify import domain
from services.notify.models import CaseContact, Notification, WorkgroupPost
from services.notify.senders import ChannelSenders

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
SWEEP_SECONDS = 5


def sent_after_commit(handler):
    """Send what a `@consumes` handler recorded (it returns the notifications) once its unit
    of work has committed them with the inbox record: a crash in between leaves them pending
    and the sweep sends them (at least once, never lost); a duplicate delivery returns
    nothing and sends nothing. Outside `consumes`, so that no sending waits inside the
    transaction."""
    @functools.wraps(handler)  # keeps the entrypoint `consumes` registered on the handler
    def handle_then_send(self, payload):
        recorded = handler(self, payload)
        if recorded:
            self._send_recorded(recorded)

    return handle_then_send


class NotifyService(HealthMixin):
    name = "notify"

    db = Database("notify")
    sender = Built(ChannelSenders.from_settings)
    settings = SettingsProvider()
    log_context = LogContext()

    # Each handler records its notifications in the unit of work `consumes` gives it and
    # returns them; the inbox names the consumer notify.<handler>, as it always has.
    @sent_after_commit
    @consumes("intake", "complaint_received")
    def on_complaint_received(self, event, uow):
        message = domain.screening_reply(event) if event["screened"] \
            else domain.acknowledgement(event)
        return self._record(uow, event, [message], contact=CaseContact(
            complaint_id=event["complaint_id"], complainant_id=event["complainant"]["id"],
            complainant_name=event["complainant"].get("name"), channel=event["channel"],
            phone=event.get("contact_phone")))

    @sent_after_commit
    @consumes("sla", "sla_alert",
              only_if=lambda event: domain.sla_alert_message(event) is not None)
    def on_sla_alert(self, event, uow):
        return self._record(uow, event, [domain.sla_alert_message(event)])

    @sent_after_commit
    @consumes("sla", "extension_requested")
    def on_extension_requested(self, event, uow):
        return self._record(uow, event, domain.extension_messages(event, None))

    @sent_after_commit
    @consumes("sla", "timetable_set")
    def on_timetable_set(self, event, uow):
        return self._tell_complainant(uow, event)

    @sent_after_commit
    @consumes("sla", "milestone_updated")
    def on_milestone_updated(self, event, uow):
        return self._tell_complainant(uow, event)

    def _tell_complainant(self, uow, event):
        return self._record(uow, event, domain.timetable_messages(
            event, uow.session.get(CaseContact, event["complaint_id"])))

    @sent_after_commit
    @consumes("sla", "extension_decided")
    def on_extension_decided(self, event, uow):
        return self._record(uow, event, domain.extension_messages(
            event, uow.session.get(CaseContact, event["complaint_id"])))

    @sent_after_commit
    @consumes("intake", "complaint_transitioned",
              only_if=lambda event: bool(domain.transition_messages(event)))
    def on_complaint_transitioned(self, event, uow):
        return self._record(uow, event, domain.transition_messages(event, lambda person: (
            rating_url(self.settings, event["complaint_id"], person, event["occurred_at"]))))

    @sent_after_commit
    @consumes("routing", "supervisor_assigned")
    def on_supervisor_assigned(self, event, uow):
        return self._record(uow, event, [domain.supervision_notice(event)])

    @sent_after_commit
    @consumes("routing", "complaint_assigned")
    def on_complaint_assigned(self, event, uow):
        return self._record(uow, event, [domain.assignment_notice(event)])

    @sent_after_commit
    @consumes("rating", "summary_published")
    def on_summary_published(self, event, uow):
        """A summary goes to the work group once: a second event for the same summary (a
        re-publish) finds its post and records nothing."""
        if uow.session.get(WorkgroupPost, event["complaint_id"]) is not None:
            return []
        recorded = self._record(uow, event, [domain.summary_post(
            event, self.settings.public_base_url)])
        uow.session.add(WorkgroupPost(summary_id=event["complaint_id"],
                                      notification_id=recorded[0].id, title=event["title"],
                                      charts=event["charts"]))
        recorded[0].charts = event["charts"]
        return recorded

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
            _attach_charts(uow.session, stale)
            for notification in stale:
                _mark(uow.session, notification, self._send(notification), uow.clock.now())

    # ------------------------------------------------------------------------------------
    def _record(self, uow, event, messages, contact=None) -> list[Notification]:
        """Store the event's notifications, pending, in the handler's unit of work."""
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
        return recorded

    def _send_recorded(self, recorded) -> None:
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


def _attach_charts(session, notifications) -> None:
    """A work-group post resent carries its summary's charts again."""
    posts = [n.id for n in notifications if n.channel == domain.WORKGROUP]
    if not posts:
        return
    charts = dict(session.execute(select(WorkgroupPost.notification_id, WorkgroupPost.charts)
                                  .where(WorkgroupPost.notification_id.in_(posts))).all())
    for notification in notifications:
        if notification.id in charts:
            notification.charts = charts[notification.id]


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
