"""Intake: the case (诉求件) from filing onwards."""
from __future__ import annotations

import uuid

from marshmallow import ValidationError
from nameko.rpc import rpc
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import selectinload

from services.common.bus import event_handler
from services.common.clock import ClockProvider
from services.common.contracts import load_event
from services.common.db import Database
from services.common.health import HealthMixin
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.logs import LogContext, bind_complaint
from services.common.settings import SettingsProvider
from services.intake import domain
from services.intake.models import Complaint, DailyCounter, TimelineEntry
from services.intake.schemas import ComplainantSchema, ComplaintSchema, FileComplaintSchema, \
    FiledSchema


class IntakeService(HealthMixin):
    name = "intake"

    db = Database("intake")
    clock = ClockProvider()
    log_context = LogContext()
    settings = SettingsProvider()

    # ------------------------------------------------------------------ RPC
    @rpc(expected_exceptions=(InvalidInput, Conflict))
    def file_complaint(self, filing, complainant, channel="app", filing_key=None):
        """File a complaint. `filing_key` makes filing idempotent: RPC is at-least-once (a
        request whose worker died before acking is delivered again) and clients retry, so
        the same key from the same complainant returns the first filing, not a second case."""
        try:
            filing = FileComplaintSchema().load(filing)
            complainant = ComplainantSchema().load(complainant)
        except ValidationError as exc:
            raise InvalidInput(exc.messages)
        if channel not in domain.CHANNEL_LABELS:
            raise InvalidInput({"channel": [f"unknown channel {channel!r}"]})
        filing_key = filing_key or str(uuid.uuid4())
        try:
            complaint = self._file(filing, complainant, channel, filing_key)
        except IntegrityError:
            complaint = None  # the same key committed concurrently: answer with that one
        if complaint is None:
            complaint = self._filed_before(complainant["id"], filing_key, filing)
        return FiledSchema().dump(complaint)

    def _file(self, filing, complainant, channel, filing_key):
        settings = self.settings
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            if _find_filing(uow.session, complainant["id"], filing_key) is not None:
                return None
            complaint_id = str(uuid.uuid4())
            bind_complaint(complaint_id)
            day = domain.local_day(now, settings.timezone)
            number = domain.complaint_number(settings.complaint_number_prefix, day,
                                             _next_in_day(uow.session, day))
            complaint = Complaint(
                id=complaint_id, number=number, status=domain.Status.RECEIVED, channel=channel,
                complainant_id=complainant["id"], complainant_name=complainant["name"],
                filing_key=filing_key, received_at=now, **filing)
            uow.session.add(complaint)
            _append(uow.session, complaint_id,
                    domain.received_line(number, channel, filing["category"]), now)
            uow.session.flush()  # a duplicate key fails here, before anything is emitted
            uow.emit("complaint_received", complaint_id, number=number, channel=channel,
                     complainant={"id": complainant["id"], "name": complainant["name"]},
                     **filing)
        return complaint

    def _filed_before(self, complainant_id, filing_key, filing):
        with self.db.session() as session:
            complaint = _find_filing(session, complainant_id, filing_key)
            if complaint is None:  # pragma: no cover - the key vanished: a bug, not input
                raise RuntimeError(f"filing {filing_key} is neither new nor known")
            if (complaint.category, complaint.content) != (filing["category"], filing["content"]):
                raise Conflict({"idempotency_key": [
                    "该幂等键已用于另一条诉求 (this key was used for a different complaint)"]})
            bind_complaint(complaint.id)
            return complaint

    @rpc(expected_exceptions=(NotFound,))
    def get_complaint(self, complaint_id, viewer):
        """The case as `viewer` may see it. A case the viewer may not see does not exist for
        them (NotFound), so nobody learns which numbers are taken."""
        viewer = ComplainantSchema().load(viewer)
        with self.db.session() as session:
            complaint = session.execute(
                select(Complaint).options(selectinload(Complaint.timeline))
                .where(Complaint.id == str(complaint_id))).scalar_one_or_none()
            if complaint is None or not _may_read(complaint, viewer):
                raise NotFound(f"complaint {complaint_id} not found")
            return ComplaintSchema().dump(complaint)

    # --------------------------------------------------------------- events
    @event_handler("routing", "complaint_assigned")
    def on_complaint_assigned(self, payload):
        event = load_event("complaint_assigned", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_complaint_assigned"):
                return
            complaint = _locked(uow.session, event["complaint_id"])
            complaint.status = domain.status_after_assignment(complaint.status)
            complaint.grade = event["grade"]
            complaint.unit_id, complaint.unit_name = event["unit"]["id"], event["unit"]["name"]
            complaint.handler_id = event["handler"]["id"]
            complaint.handler_name = event["handler"]["name"]
            complaint.assigned_at = event["occurred_at"]
            line = domain.assigned_line(event["unit"]["name"], event["handler"]["name"])
            _append(uow.session, complaint.id, line, event["occurred_at"], event["event_id"])

    @event_handler("sla", "deadline_set")
    def on_deadline_set(self, payload):
        event = load_event("deadline_set", payload)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "intake.on_deadline_set"):
                return
            complaint = _locked(uow.session, event["complaint_id"])
            complaint.due_at = event["due_at"]
            line = domain.deadline_line(event["grade"], event["due_at"], self.settings.timezone)
            _append(uow.session, complaint.id, line, event["occurred_at"], event["event_id"])


def _find_filing(session, complainant_id: str, filing_key: str) -> Complaint | None:
    return session.execute(select(Complaint).where(
        Complaint.complainant_id == complainant_id, Complaint.filing_key == filing_key)
    ).scalar_one_or_none()


def _may_read(complaint: Complaint, viewer: dict) -> bool:
    # Staff roles arrive with the lifecycle issue; until then a case is its filer's alone.
    return complaint.complainant_id == viewer["id"]


def _locked(session, complaint_id: str) -> Complaint:
    complaint = session.execute(
        select(Complaint).where(Complaint.id == complaint_id).with_for_update()
    ).scalar_one_or_none()
    if complaint is None:
        # Events about a case come after the case's own commit; if it is missing the event
        # is corrupt or from another installation: fail so it is retried, then parked.
        raise NotFound(f"complaint {complaint_id} is not known to intake")
    return complaint


def _append(session, complaint_id: str, line: domain.TimelineLine, at, event_id=None) -> None:
    # Added on its own, not through `complaint.timeline`, which would load every line first.
    session.add(TimelineEntry(complaint_id=complaint_id, at=at, kind=line.kind, text=line.text,
                              actor=line.actor, event_id=event_id))


def _next_in_day(session, day) -> int:
    """The day's next sequence number, atomically: the upsert holds the day's row lock until
    commit, so concurrent filings get distinct numbers on PostgreSQL and SQLite alike."""
    dialect = session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(DailyCounter)
    statement = insert.values(day=day, value=1).on_conflict_do_update(
        index_elements=[DailyCounter.day], set_={"value": DailyCounter.value + 1}
    ).returning(DailyCounter.value)
    return session.execute(statement).scalar_one()
