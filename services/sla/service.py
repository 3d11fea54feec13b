"""SLA: time limits (R7) in working time (X1), warning, urging and escalation (R12),
extensions (X2). All state is in the database: a restart loses nothing, and whichever
replica claims a due timer first fires it, once. What follows from what is decided in
services/sla/domain.py; the entrypoints here load, ask the domain, save and emit."""
from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import fields

from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import func, select, update

from services.common import metrics
from services.common.db import Database, engine_of, insert_for
from services.common.errors import Conflict, InvalidInput, NotFound, load_input, load_viewer
from services.common.health import HealthMixin
from services.common.logs import LogContext, bind_complaint
from services.common.privacy import mask_phones
from services.common.providers import Built, consumes
from services.common.settings import SettingsProvider
from services.sla.domain import (FIRED, PENDING, REQUESTED, Extension, Invalid, Refused,
                                 Sla, SlaPolicy, Target, Unknown, facts_from_assigned,
                                 facts_from_supervisor, may_read_deadlines)
from services.sla.models import CaseAccess, Deadline, Timer
from services.sla.models import Extension as ExtensionRow
from services.sla.schemas import (DeadlineSchema, ExtensionDecisionSchema, ExtensionRequestSchema,
                                  ExtensionSchema, MilestoneUpdateSchema, TimetableOutSchema,
                                  TimetableSchema)

__all__ = ["SlaPolicy", "SlaService"]  # SlaPolicy: what tests hand worker_factory as `policy`
POLL_SECONDS = 1
ANSWERS = (InvalidInput, NotFound, Conflict)


def watch_queues(settings, container) -> None:
    """jiesu_sla_warning_queue{unit} and jiesu_sla_overdue{unit}, from the SLA's own table."""

    def by_state(state):
        def query():
            with engine_of(container).connect() as conn:
                return [((unit,), n) for unit, n in conn.execute(
                    select(Deadline.unit_id, func.count()).where(
                        Deadline.kind == "resolution", Deadline.status == PENDING,
                        Deadline.state == state).group_by(Deadline.unit_id)).all()]
        return query

    metrics.query_gauge("jiesu_sla_warning_queue", "Cases in warning (预警), by unit",
                        ["unit"]).source("sla", by_state("warning"))
    metrics.query_gauge("jiesu_sla_overdue", "Overdue cases, by unit",
                        ["unit"]).source("sla", by_state("overdue"))


class SlaService(HealthMixin):
    name = "sla"

    db = Database("sla")
    policy = Built(SlaPolicy)
    settings = SettingsProvider()
    log_context = LogContext()
    queue_metrics = Built(watch_queues)

    # ------------------------------------------------------------------ who may read a case
    @consumes("routing", "supervisor_assigned")
    def on_supervisor_assigned(self, event, uow):
        _remember(uow.session, event["complaint_id"], facts_from_supervisor(event))

    # ------------------------------------------------------------------ targets
    @consumes("routing", "complaint_assigned")
    def on_complaint_assigned(self, event, uow):
        _remember(uow.session, event["complaint_id"], facts_from_assigned(event))
        existing = _targets(uow.session, Deadline.complaint_id == event["complaint_id"],
                            Deadline.round == event["round"],
                            Deadline.kind.in_(("resolution", "response")))
        _save(uow, Sla(self.policy).assign(event, existing, uow.clock.now()))

    @consumes("intake", "complaint_transitioned",
              only_if=lambda event: Sla.concerns(event["action"]))
    def on_complaint_transitioned(self, event, uow):
        pending = _targets(uow.session, Deadline.complaint_id == event["complaint_id"],
                           Deadline.status == PENDING,
                           Deadline.kind.in_(Sla.kinds_touched(event["action"])))
        _save(uow, Sla.transition(event["action"], pending, event["occurred_at"]))

    # ------------------------------------------------------------------ the poller
    @timer(interval=POLL_SECONDS)
    def fire_due_timers(self):
        """Fire what is due, in batches; every replica runs this, the claim decides who
        fires what (FOR UPDATE SKIP LOCKED), and firing commits with its events."""
        while self.fire_batch() == self.settings.sla_batch_size:
            pass

    def fire_batch(self) -> int:
        with self.db.unit_of_work() as uow:
            now = uow.clock.now()
            due = uow.session.execute(
                select(Timer).where(Timer.status == PENDING, Timer.due_at <= now)
                .order_by(Timer.due_at).limit(self.settings.sla_batch_size)
                .with_for_update(skip_locked=True)).scalars().all()
            targets = {target.id: target for target in _targets(
                uow.session, Deadline.id.in_({t.deadline_id for t in due}))} if due else {}
            for fired in due:
                fired.status, fired.fired_at = FIRED, now
                targets[fired.deadline_id], alert = targets[fired.deadline_id].fire(
                    fired.kind, fired.level)
                _emit(uow, alert)
            for target in targets.values():
                _stored(uow.session, Deadline, target)
            return len(due)

    # ------------------------------------------------------------------ extensions (X2)
    @rpc(expected_exceptions=ANSWERS)
    def request_extension(self, complaint_id, viewer, request):
        """The handler (or head) of the unit asks for more time, with a reason."""
        viewer, request = load_viewer(viewer), _load(ExtensionRequestSchema, request)
        bind_complaint(complaint_id)
        with _answering(f"complaint {complaint_id} not found"), self.db.unit_of_work() as uow:
            current = _current_resolution(uow.session, complaint_id)
            asked = current is not None and _exists(
                uow.session, ExtensionRow, ExtensionRow.deadline_id == current.id,
                ExtensionRow.status == REQUESTED)
            decided = Sla.request_extension(current, viewer, request, asked, uow.clock.now())
            _save(uow, decided)
        return ExtensionSchema().dump(decided.extension)

    @rpc(expected_exceptions=ANSWERS)
    def decide_extension(self, complaint_id, extension_id, viewer, decision):
        """The unit head or the office approves or refuses; an approval moves the deadline and
        replaces its timers; the complainant is told either way the clock moved."""
        viewer, decision = load_viewer(viewer), _load(ExtensionDecisionSchema, decision)
        bind_complaint(complaint_id)
        with _answering(f"extension {extension_id} not found"), self.db.unit_of_work() as uow:
            asked = _value(Extension, uow.session.execute(select(ExtensionRow).where(
                ExtensionRow.id == extension_id, ExtensionRow.complaint_id == complaint_id)
                .with_for_update()).scalar_one_or_none())
            target = _value(Target, asked and uow.session.get(Deadline, asked.deadline_id))
            decided = Sla(self.policy).decide_extension(asked, target, viewer, decision,
                                                        uow.clock.now())
            _save(uow, decided)
        return ExtensionSchema().dump(decided.extension)

    # ------------------------------------------------------------------ timetables (R7)
    @rpc(expected_exceptions=ANSWERS)
    def set_timetable(self, complaint_id, viewer, timetable):
        """A matter that cannot be solved soon gets a timetable (its milestones and their
        staged-feedback dates), reminded and tracked like deadlines."""
        viewer, timetable = load_viewer(viewer), _load(TimetableSchema, timetable)
        bind_complaint(complaint_id)
        with _answering(f"complaint {complaint_id} not found"), self.db.unit_of_work() as uow:
            has_one = _exists(uow.session, Deadline, Deadline.complaint_id == complaint_id,
                              Deadline.kind == "milestone", Deadline.status == PENDING)
            filed_at = uow.session.execute(select(func.min(Deadline.starts_at)).where(
                Deadline.complaint_id == complaint_id, Deadline.kind == "resolution")).scalar()
            decided = Sla(self.policy).set_timetable(
                _current_resolution(uow.session, complaint_id), viewer, timetable, has_one,
                filed_at, uow.clock.now())
            _save(uow, decided)
        return TimetableOutSchema().dump(decided.answer)

    @rpc(expected_exceptions=ANSWERS)
    def update_milestone(self, complaint_id, milestone_id, viewer, update):
        """Staged feedback given (the feedback date is met) or the milestone reached."""
        viewer, update = load_viewer(viewer), _load(MilestoneUpdateSchema, update)
        bind_complaint(complaint_id)
        with _answering(f"milestone {milestone_id} not found"), self.db.unit_of_work() as uow:
            steps = _targets(uow.session, Deadline.complaint_id == complaint_id,
                             Deadline.milestone_id == milestone_id, lock=True)
            decided = Sla.update_milestone(steps, viewer, update, uow.clock.now())
            _save(uow, decided)
        return dict(decided.answer)

    # ------------------------------------------------------------------ reading
    @rpc(expected_exceptions=(InvalidInput, NotFound))
    def get_deadlines(self, complaint_id, viewer):
        """Every target of a case with its state, and the extensions asked for, to whoever
        may read the case (services.common.access; anybody else: NotFound). Numbers typed
        into a reason or a title masked (X5)."""
        viewer = load_viewer(viewer)
        with self.db.session() as session:
            if not may_read_deadlines(viewer, _columns(session.get(CaseAccess, complaint_id))):
                raise NotFound(f"complaint {complaint_id} not found")
            return _shown(session, complaint_id)


# ---------------------------------------------------------------------- loading and saving
def _load(schema, raw):
    return load_input(schema(), raw)


@contextmanager
def _answering(not_found: str):
    """The domain's refusals as the errors that cross the RPC."""
    try:
        yield
    except Unknown:
        raise NotFound(not_found) from None
    except Invalid as invalid:
        raise InvalidInput(invalid.fields) from None
    except Refused as refused:
        raise Conflict({"code": refused.code, "message": refused.message}) from None


def _value(cls, row):
    """A row as the domain's value (None for no row)."""
    if row is None:
        return None
    values = {f.name: getattr(row, f.name) for f in fields(cls)}
    if cls is Target:
        values["recipients"] = json.loads(row.recipients or "{}")
    return cls(**values)


def _stored(session, model, value):
    """The row of `value` (a new one if it has none yet), brought up to date."""
    row = (session.get(model, value.id) if value.id is not None else None) or model()
    for f in fields(value):
        if f.name != "id" or value.id is not None:
            setattr(row, f.name, getattr(value, f.name))
    if model is Deadline:
        row.recipients = json.dumps(dict(value.recipients), ensure_ascii=False)
    if row not in session:
        session.add(row)
    return row


def _save(uow, decision) -> None:
    for change in decision.changes:
        row = _stored(uow.session, Deadline, change.target)
        uow.session.flush()  # a new target's id, for its timers
        if change.cancel_timers:
            uow.session.execute(update(Timer).where(
                Timer.deadline_id == row.id, Timer.status == PENDING).values(status="cancelled"))
        uow.session.add_all(Timer(deadline_id=row.id, complaint_id=row.complaint_id,
                                  kind=alert.kind, level=alert.level, due_at=alert.fire_at,
                                  status=PENDING) for alert in change.timers)
    if decision.extension is not None:
        _stored(uow.session, ExtensionRow, decision.extension)
    for event in decision.events:
        _emit(uow, event)


def _emit(uow, event) -> None:
    uow.emit(event.event_type, event.complaint_id, **event.fields)


def _targets(session, *where, lock: bool = False) -> list[Target]:
    statement = select(Deadline).where(*where).order_by(Deadline.id)
    return [_value(Target, row) for row in session.execute(
        statement.with_for_update() if lock else statement).scalars()]


def _exists(session, model, *where) -> bool:
    return session.execute(select(model.id).where(*where).limit(1)).first() is not None


def _current_resolution(session, complaint_id) -> Target | None:
    return _value(Target, session.execute(select(Deadline).where(
        Deadline.complaint_id == complaint_id, Deadline.kind == "resolution",
        Deadline.status == PENDING).order_by(Deadline.round.desc())
        .with_for_update()).scalars().first())


def _remember(session, complaint_id: str, facts: dict) -> None:
    """Upsert what an event says about who may read the case (events arrive in any order)."""
    session.execute(insert_for(session, CaseAccess).values(complaint_id=complaint_id, **facts)
                    .on_conflict_do_update(index_elements=["complaint_id"], set_=facts))


def _columns(row) -> dict | None:
    return None if row is None else {c.key: getattr(row, c.key)
                                     for c in CaseAccess.__table__.columns}


def _shown(session, complaint_id) -> list[dict]:
    rows = session.execute(select(Deadline).where(Deadline.complaint_id == complaint_id)
                           .order_by(Deadline.round, Deadline.id)).scalars().all()
    extensions = session.execute(select(ExtensionRow).where(
        ExtensionRow.complaint_id == complaint_id).order_by(ExtensionRow.requested_at)
    ).scalars().all()
    by_deadline = {}
    for extension in extensions:
        by_deadline.setdefault(extension.deadline_id, []).append(extension)
    dumped = DeadlineSchema(many=True).dump(rows)
    for row, shown in zip(rows, dumped):
        shown["extensions"] = ExtensionSchema(many=True).dump(by_deadline.get(row.id, []))
        shown["title"] = mask_phones(shown["title"]) if shown["title"] else None
        for extension in shown["extensions"]:
            extension["reason"] = mask_phones(extension["reason"])
            extension["note"] = mask_phones(extension.get("note"))
    return dumped
