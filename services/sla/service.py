"""SLA: time limits (R7) in working time (X1), warning, urging and escalation (R12),
extensions (X2). All state is in the database: a restart loses nothing, and whichever
replica claims a due timer first fires it, once."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer
from sqlalchemy import func, select, update

from services.common.bus import event_handler
from services.common.contracts import CallerSchema, load_event
from services.common.db import Database, engine_of
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common import metrics
from services.common.health import HealthMixin
from services.common.logs import LogContext, bind_complaint
from services.common.privacy import mask_phones
from services.common.settings import Settings, SettingsProvider
from services.common.calendar import calendar_for
from services.sla.domain import DeadlinePolicy, limits_from_settings
from services.sla.escalation import EscalationPolicy
from services.sla.models import Deadline, Extension, Timer
from services.sla.schemas import (DeadlineSchema, ExtensionDecisionSchema, ExtensionRequestSchema,
                                  ExtensionSchema, MilestoneUpdateSchema, TimetableOutSchema,
                                  TimetableSchema)

GRADE_ORDER = ("simple", "general", "complex")
POLL_SECONDS = 1
STOP_ON = ("close", "screen_out", "merge")
# How far ahead an extension or a timetable's date may be set: a matter that needs longer is
# re-planned within the year, and a date centuries ahead would only be a typo (or a probe).
HORIZON = timedelta(days=366)
IN_THE_PAST = "不能早于当前时间 (must not be in the past)"
TOO_FAR = "不能晚于一年之后 (must be within a year from now)"
BEFORE_FILING = "须晚于诉求提交时间 (must be after the complaint was filed)"


class SlaPolicy:
    """Everything that turns a grade into deadlines and alerts, built once from settings."""

    def __init__(self, settings: Settings):
        # X1: statutory holidays and 调休 from the chinesecalendar package, the years it does
        # not know yet and the school's own days from config/calendar.yaml.
        calendar = calendar_for(settings)
        self.deadlines = DeadlinePolicy(limits_from_settings(settings), calendar)
        self.calendar = calendar
        self.demo = timedelta(seconds=settings.sla_demo_seconds) \
            if settings.sla_demo_seconds > 0 else None
        self.response = dict(zip(GRADE_ORDER, (timedelta(minutes=m)
                                               for m in settings.sla_response_minutes)))
        head, office, leader = (timedelta(minutes=m) for m in settings.sla_escalation_minutes)
        ladder = (("head", head), ("office", office), ("leader", leader))
        if self.demo:  # demo: the whole ladder within a few demo periods, in wall time
            step = self.demo / 4
            ladder = (("head", step), ("office", step * 2), ("leader", step * 3))
        self.escalation = EscalationPolicy(
            warning_share=settings.sla_warning_share,
            warning_lead=timedelta(minutes=settings.sla_warning_lead_minutes)
            if not self.demo else self.demo / 10,
            urge_head_share=settings.sla_urge_head_share, ladder=ladder,
            wall_clock=bool(self.demo))

    def resolution_due(self, grade, starts_at):
        return starts_at + self.demo if self.demo else self.deadlines.due(grade, starts_at)

    def response_due(self, grade, starts_at):
        if self.demo:
            return starts_at + self.demo / 3
        return self.calendar.add_working_time(starts_at, self.response[grade])

    def alerts(self, target, starts_at, due_at):
        return self.escalation.plan(target, starts_at, due_at, self.calendar)


class SlaPolicyProvider(DependencyProvider):
    def setup(self):
        self.policy = SlaPolicy(Settings.from_container_config(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.policy


class SlaQueueMetrics(DependencyProvider):
    """jiesu_sla_warning_queue{unit} and jiesu_sla_overdue{unit}, from the SLA's own table."""

    def setup(self):
        container = self.container

        def by_state(state):
            def query():
                with engine_of(container).connect() as conn:
                    return [((unit,), n) for unit, n in conn.execute(
                        select(Deadline.unit_id, func.count()).where(
                            Deadline.kind == "resolution", Deadline.status == "pending",
                            Deadline.state == state).group_by(Deadline.unit_id)).all()]
            return query

        metrics.query_gauge("jiesu_sla_warning_queue", "Cases in warning (预警), by unit",
                            ["unit"]).source("sla", by_state("warning"))
        metrics.query_gauge("jiesu_sla_overdue", "Overdue cases, by unit",
                            ["unit"]).source("sla", by_state("overdue"))


class SlaService(HealthMixin):
    name = "sla"

    db = Database("sla")
    policy = SlaPolicyProvider()
    settings = SettingsProvider()
    log_context = LogContext()
    queue_metrics = SlaQueueMetrics()

    # ------------------------------------------------------------------ targets
    @event_handler("routing", "complaint_assigned")
    def on_complaint_assigned(self, payload):
        event = load_event("complaint_assigned", payload)
        # The first round's clock runs from receipt, not from assignment: routing's delay is
        # the school's. A redo or a supervised round gets a new time limit from its dispatch.
        round_ = event["round"]
        starts_at = event["received_at"] if round_ == 0 else event["occurred_at"]
        recipients = json.dumps({"handler": event["handler"], "head": event["unit_head"],
                                 "office": {"id": "office", "name": "接诉即办工作办公室"},
                                 "leader": event["leader"]}, ensure_ascii=False)
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "sla.on_complaint_assigned"):
                return
            existing = uow.session.execute(select(Deadline).where(
                Deadline.complaint_id == event["complaint_id"], Deadline.round == round_,
                Deadline.kind.in_(("resolution", "response")))).scalars().all()
            if existing:
                # Re-dispatched within its round (退单): the clock does not restart, but the
                # new unit's people are the ones who hear of it from now on.
                for deadline in existing:
                    deadline.recipients, deadline.unit_id = recipients, event["unit"]["id"]
                return
            targets = (("resolution", self.policy.resolution_due(event["grade"], starts_at),
                        starts_at),
                       ("response", self.policy.response_due(event["grade"],
                                                             event["occurred_at"]),
                        event["occurred_at"]))
            for target, due_at, start in targets:
                deadline = Deadline(
                    complaint_id=event["complaint_id"], kind=target, round=round_,
                    grade=event["grade"], unit_id=event["unit"]["id"], starts_at=start,
                    due_at=due_at, status="pending", state="normal", number=event["number"],
                    category=event["category"], recipients=recipients)
                uow.session.add(deadline)
                uow.session.flush()
                self._schedule(uow, deadline)
                uow.emit("deadline_set", event["complaint_id"], grade=event["grade"],
                         starts_at=start, due_at=due_at, target=target, round=round_)

    @event_handler("intake", "complaint_transitioned")
    def on_complaint_transitioned(self, payload):
        """A target is met when its step is done (签收 for the response, the reply for the
        resolution); a case that ends stops every clock it still has running."""
        event = load_event("complaint_transitioned", payload)
        met = {"sign_for": ("response",), "reply": ("resolution", "response")}.get(
            event["action"])
        if met is None and event["action"] not in STOP_ON:
            return
        with self.db.unit_of_work() as uow:
            if uow.already_applied(event, "sla.on_complaint_transitioned"):
                return
            deadlines = uow.session.execute(select(Deadline).where(
                Deadline.complaint_id == event["complaint_id"], Deadline.status == "pending",
                Deadline.kind.in_(met or ("resolution", "response", "milestone", "feedback")))
            ).scalars().all()
            for deadline in deadlines:
                deadline.status = "met" if met else "cancelled"
                deadline.met_at = event["occurred_at"] if met else None
                _cancel_timers(uow.session, deadline.id)

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
                select(Timer).where(Timer.status == "pending", Timer.due_at <= now)
                .order_by(Timer.due_at).limit(self.settings.sla_batch_size)
                .with_for_update(skip_locked=True)).scalars().all()
            if not due:
                return 0
            deadlines = {d.id: d for d in uow.session.execute(select(Deadline).where(
                Deadline.id.in_({t.deadline_id for t in due}))).scalars()}
            for fired in due:
                deadline = deadlines[fired.deadline_id]
                fired.status, fired.fired_at = "fired", now
                if fired.kind == "warning" and deadline.state == "normal":
                    deadline.state = "warning"
                elif fired.kind in ("overdue", "escalate"):
                    deadline.state = "overdue"
                recipient = json.loads(deadline.recipients or "{}").get(fired.level)
                uow.emit("sla_alert", deadline.complaint_id, number=deadline.number,
                         target=deadline.kind, title=deadline.title, alert=fired.kind,
                         level=fired.level,
                         recipient=recipient, due_at=deadline.due_at, round=deadline.round)
            return len(due)

    def _schedule(self, uow, deadline: Deadline) -> None:
        now = uow.clock.now()
        for alert in self.policy.alerts(deadline.kind, deadline.starts_at, deadline.due_at):
            # A warning already in the past when the target is set would only be noise;
            # overdue and escalation steps are kept: they fire at once and tell the truth.
            if alert.kind in ("warning", "urge") and alert.fire_at <= now:
                continue
            uow.session.add(Timer(deadline_id=deadline.id, complaint_id=deadline.complaint_id,
                                  kind=alert.kind, level=alert.level, due_at=alert.fire_at,
                                  status="pending"))

    # ------------------------------------------------------------------ extensions (X2)
    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def request_extension(self, complaint_id, viewer, request):
        """The handler (or head) of the unit asks for more time, with a reason."""
        viewer, request = _load(CallerSchema, viewer), _load(ExtensionRequestSchema, request)
        bind_complaint(complaint_id)
        with self.db.unit_of_work() as uow:
            deadline = _current_resolution(uow.session, complaint_id)
            if deadline is None or not _in_unit(viewer, deadline, ("handler", "head")):
                raise NotFound(f"complaint {complaint_id} not found")
            new_due_at, now = request["new_due_at"], uow.clock.now()
            if new_due_at <= now or new_due_at > now + HORIZON:
                raise InvalidInput({"new_due_at": [_out_of_bounds(new_due_at, now, now,
                                                                  IN_THE_PAST)]})
            if new_due_at <= deadline.due_at:
                raise InvalidInput({"new_due_at": ["须晚于当前办理时限 (must be later than the "
                                                   "current deadline)"]})
            if uow.session.execute(select(Extension.id).where(
                    Extension.deadline_id == deadline.id, Extension.status == "requested")
            ).first():
                raise Conflict({"code": "extension_pending", "message": "已有待审批的延期申请"})
            extension = Extension(
                id=str(uuid.uuid4()), deadline_id=deadline.id, complaint_id=complaint_id,
                requested_by=viewer["id"], requested_at=uow.clock.now(),
                reason=request["reason"], old_due_at=deadline.due_at,
                new_due_at=request["new_due_at"], status="requested")
            uow.session.add(extension)
            self._emit_extension(uow, "extension_requested", extension, deadline, viewer)
        return ExtensionSchema().dump(extension)

    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def decide_extension(self, complaint_id, extension_id, viewer, decision):
        """The unit head or the office approves or refuses; an approval moves the deadline and
        replaces its timers; the complainant is told either way the clock moved."""
        viewer, decision = _load(CallerSchema, viewer), _load(ExtensionDecisionSchema, decision)
        bind_complaint(complaint_id)
        with self.db.unit_of_work() as uow:
            extension = uow.session.execute(select(Extension).where(
                Extension.id == extension_id, Extension.complaint_id == complaint_id)
                .with_for_update()).scalar_one_or_none()
            deadline = uow.session.get(Deadline, extension.deadline_id) if extension else None
            if extension is None or not (
                    "office" in viewer["roles"] or _in_unit(viewer, deadline, ("head",))):
                raise NotFound(f"extension {extension_id} not found")
            if extension.status != "requested":
                raise Conflict({"code": "already_decided", "message": "该延期申请已处理"})
            if extension.requested_by == viewer["id"]:
                # X2: asking and granting are two people's decisions, or a head could give
                # themselves any time they like.
                raise Conflict({"code": "own_extension_request",
                                "message": "不能审批本人提出的延期申请,请由接诉即办工作办公室或"
                                           "本单位其他负责人审批 (you cannot decide your own "
                                           "extension request: the office or another head "
                                           "of the unit decides)"})
            now = uow.clock.now()
            extension.status = "approved" if decision["approve"] else "refused"
            extension.decided_by, extension.decided_at = viewer["id"], now
            extension.note = decision["note"]
            if decision["approve"]:
                deadline.due_at, deadline.state = extension.new_due_at, "normal"
                _cancel_timers(uow.session, deadline.id)
                uow.session.flush()
                self._schedule(uow, deadline)
                uow.emit("deadline_set", complaint_id, grade=deadline.grade,
                         starts_at=deadline.starts_at, due_at=deadline.due_at,
                         target="resolution", round=deadline.round, extended=True,
                         reason=extension.reason)
            self._emit_extension(uow, "extension_decided", extension, deadline, viewer)
        return ExtensionSchema().dump(extension)

    # ------------------------------------------------------------------ timetables (R7)
    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def set_timetable(self, complaint_id, viewer, timetable):
        """A matter that cannot be solved soon gets a timetable: milestones with dates and a
        staged-feedback (阶段性反馈) date for each, reminded and tracked like deadlines."""
        viewer, timetable = _load(CallerSchema, viewer), _load(TimetableSchema, timetable)
        bind_complaint(complaint_id)
        with self.db.unit_of_work() as uow:
            current = _current_resolution(uow.session, complaint_id)
            if current is None or not _in_unit(viewer, current, ("handler", "head")):
                raise NotFound(f"complaint {complaint_id} not found")
            if uow.session.execute(select(Deadline.id).where(
                    Deadline.complaint_id == complaint_id, Deadline.kind == "milestone",
                    Deadline.status == "pending")).first():
                raise Conflict({"code": "timetable_exists", "message": "已有进行中的时间表"})
            now = uow.clock.now()
            filed_at = uow.session.execute(select(func.min(Deadline.starts_at)).where(
                Deadline.complaint_id == complaint_id, Deadline.kind == "resolution")).scalar()
            errors = {}
            for index, step in enumerate(timetable["milestones"]):
                wrong = {field: [_out_of_bounds(step[field], now, filed_at, BEFORE_FILING)]
                         for field in ("due_at", "feedback_due_at") if step[field] is not None
                         and not filed_at < step[field] <= now + HORIZON}
                if wrong:
                    errors[index] = wrong
            if errors:
                raise InvalidInput({"milestones": errors})
            milestones = []
            for step in timetable["milestones"]:
                milestone_id = str(uuid.uuid4())
                dates = [("milestone", step["due_at"])]
                if step["feedback_due_at"]:
                    dates.append(("feedback", step["feedback_due_at"]))
                for kind, due_at in dates:
                    deadline = Deadline(
                        complaint_id=complaint_id, kind=kind, round=current.round,
                        milestone_id=milestone_id, title=step["title"], grade=current.grade,
                        unit_id=current.unit_id, starts_at=now, due_at=due_at,
                        status="pending", state="normal", number=current.number,
                        category=current.category, recipients=current.recipients)
                    uow.session.add(deadline)
                    uow.session.flush()
                    self._schedule(uow, deadline)
                milestones.append(dict(step, id=milestone_id, status="pending"))
            uow.emit("timetable_set", complaint_id, number=current.number,
                     milestones=milestones, set_by={"id": viewer["id"], "name": viewer["name"]})
        return TimetableOutSchema().dump({"complaint_id": complaint_id,
                                          "milestones": milestones})

    @rpc(expected_exceptions=(InvalidInput, NotFound, Conflict))
    def update_milestone(self, complaint_id, milestone_id, viewer, update):
        """Staged feedback given (the feedback date is met) or the milestone reached."""
        viewer, update = _load(CallerSchema, viewer), _load(MilestoneUpdateSchema, update)
        bind_complaint(complaint_id)
        kinds = ("feedback",) if update["update"] == "feedback" else ("milestone", "feedback")
        with self.db.unit_of_work() as uow:
            steps = uow.session.execute(select(Deadline).where(
                Deadline.complaint_id == complaint_id, Deadline.milestone_id == milestone_id)
                .with_for_update()).scalars().all()
            if not steps or not _in_unit(viewer, steps[0], ("handler", "head")):
                raise NotFound(f"milestone {milestone_id} not found")
            now = uow.clock.now()
            for step in steps:
                if step.kind in kinds and step.status == "pending":
                    step.status, step.met_at = "met", now
                    _cancel_timers(uow.session, step.id)
            milestone = next(s for s in steps if s.kind == "milestone")
            feedback = next((s for s in steps if s.kind == "feedback"), None)
            uow.emit("milestone_updated", complaint_id, number=milestone.number,
                     milestone={"id": milestone_id, "title": milestone.title,
                                "due_at": milestone.due_at,
                                "feedback_due_at": feedback.due_at if feedback else None,
                                "status": milestone.status},
                     update=update["update"], note=update["note"],
                     by={"id": viewer["id"], "name": viewer["name"]})
        return {"milestone_id": milestone_id, "status": milestone.status}

    def _emit_extension(self, uow, event_type, extension, deadline, viewer):
        recipients = json.loads(deadline.recipients or "{}")
        uow.emit(event_type, extension.complaint_id, extension_id=extension.id,
                 status=extension.status, reason=extension.reason,
                 old_due_at=extension.old_due_at, new_due_at=extension.new_due_at,
                 number=deadline.number, note=extension.note,
                 requested_by={"id": extension.requested_by, "name": None},
                 decided_by={"id": viewer["id"], "name": viewer["name"]}
                 if event_type == "extension_decided" else None,
                 unit_head=recipients.get("head"))

    # ------------------------------------------------------------------ reading
    @rpc
    def get_deadlines(self, complaint_id):
        """Every target of a case with its state, and the extensions asked for. Staff read
        it (the gateway's deadlines view): numbers typed into a reason or a title masked (X5)."""
        with self.db.session() as session:
            rows = session.execute(select(Deadline).where(
                Deadline.complaint_id == complaint_id)
                .order_by(Deadline.round, Deadline.id)).scalars().all()
            extensions = session.execute(select(Extension).where(
                Extension.complaint_id == complaint_id).order_by(Extension.requested_at)
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


def _load(schema, raw):
    try:
        return schema().load(raw)
    except ValidationError as exc:
        raise InvalidInput(exc.messages)


def _out_of_bounds(moment, now, earliest, too_early: str) -> str:
    """Why `moment` is not in (earliest, now + HORIZON]."""
    return too_early if moment <= earliest else TOO_FAR


def _in_unit(viewer: dict, deadline: Deadline, roles) -> bool:
    return any(r in viewer["roles"] for r in roles) and viewer.get("unit") == deadline.unit_id


def _current_resolution(session, complaint_id):
    return session.execute(select(Deadline).where(
        Deadline.complaint_id == complaint_id, Deadline.kind == "resolution",
        Deadline.status == "pending").order_by(Deadline.round.desc())
        .with_for_update()).scalars().first()


def _cancel_timers(session, deadline_id: int) -> None:
    session.execute(update(Timer).where(Timer.deadline_id == deadline_id,
                                        Timer.status == "pending").values(status="cancelled"))
