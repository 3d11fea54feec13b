"""The SLA as pure code: time limits (R7) counted in working time (X1), and the state machine
of a case's targets, their timers and their extensions (X2). No nameko, no SQLAlchemy: each
command takes the current state and returns a `Decision` (the targets as they are after it,
the timers to schedule or cancel, the events to emit as plain values); the service loads,
asks, saves and emits.

Grades: simple 即时办结 (a few working hours), general 日清日结 (end of the working day; after
the cut-off, end of the next one), complex 3日办结 (end of the third working day, the day of
filing counting as the first when it arrives before the cut-off). "general" is "complex" with
one day, so both go through `due_after_working_days`.

A target (办结 resolution, 签收 response, a timetable's milestone or staged feedback):

    status  pending ──(its step done)──> met
            pending ──(the case ends)──> cancelled
    state   normal ──(warning timer)──> warning ──(overdue, escalate)──> overdue
            any ──(extension approved)──> normal, due later, timers replaced

A timer is pending until it fires (once, whoever claims it) or its target stops running
(cancelled). An extension is requested, then approved or refused, by somebody else.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from services.common.access import CaseFacts, Viewer, may_read
from services.common.calendar import WorkingCalendar, calendar_for
from services.sla.escalation import Alert, EscalationPolicy

GRADE_ORDER = ("simple", "general", "complex")
# A target's status, and how late it runs (its state).
PENDING, MET, CANCELLED = "pending", "met", "cancelled"
NORMAL, WARNING, OVERDUE = "normal", "warning", "overdue"
# A timer's status: PENDING, then FIRED or CANCELLED.
FIRED = "fired"
# An extension's status.
REQUESTED, APPROVED, REFUSED = "requested", "approved", "refused"
ALL_KINDS = ("resolution", "response", "milestone", "feedback")
# complaint_transitioned: the actions that meet targets, and those that end the case.
MEETS = {"sign_for": ("response",), "reply": ("resolution", "response")}
STOP_ON = ("close", "screen_out", "merge")
# How far ahead an extension or a timetable's date may be set: a matter that needs longer is
# re-planned within the year, and a date centuries ahead would only be a typo (or a probe).
HORIZON = timedelta(days=366)
IN_THE_PAST = "不能早于当前时间 (must not be in the past)"
TOO_FAR = "不能晚于一年之后 (must be within a year from now)"
BEFORE_FILING = "须晚于诉求提交时间 (must be after the complaint was filed)"
NOT_LATER = "须晚于当前办理时限 (must be later than the current deadline)"
UNIT_STAFF = ("handler", "head")
OFFICE = {"id": "office", "name": "接诉即办工作办公室"}


# ====================================================================== time limits
@dataclass(frozen=True)
class TimeLimits:
    simple: timedelta = timedelta(hours=2)
    complex_days: int = 3

    def due(self, grade: str, starts_at: datetime, calendar: WorkingCalendar) -> datetime:
        if grade == "simple":
            return calendar.add_working_time(starts_at, self.simple)
        if grade == "general":
            return calendar.due_after_working_days(starts_at, 1)
        if grade == "complex":
            return calendar.due_after_working_days(starts_at, self.complex_days)
        raise ValueError(f"unknown grade {grade!r}")


@dataclass(frozen=True)
class DeadlinePolicy:
    """The time limits and the calendar they are counted in, together."""
    limits: TimeLimits
    calendar: WorkingCalendar

    def due(self, grade: str, starts_at: datetime) -> datetime:
        return self.limits.due(grade, starts_at, self.calendar)


def limits_from_settings(settings) -> TimeLimits:
    return TimeLimits(simple=timedelta(hours=settings.grade_simple_hours),
                      complex_days=settings.grade_complex_days)


class SlaPolicy:
    """Everything that turns a grade into deadlines and alerts, built once from settings."""

    def __init__(self, settings):
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

    def timers(self, target: "Target", now: datetime) -> tuple[Alert, ...]:
        """The timers a running target gets. A warning already in the past when the target
        is set would only be noise; overdue and escalation steps are kept: they fire at once
        and tell the truth."""
        return tuple(alert for alert in self.alerts(target.kind, target.starts_at,
                                                    target.due_at)
                     if not (alert.kind in ("warning", "urge") and alert.fire_at <= now))


# ====================================================================== refusals
class Unknown(Exception):
    """No such thing, or not the caller's to see (404: nobody learns which cases exist);
    the service names what was asked for."""


class Invalid(Exception):
    """Field errors, marshmallow-shaped: {field: [message]}."""

    def __init__(self, fields: dict):
        super().__init__(fields)
        self.fields = fields


class Refused(Exception):
    """Well formed, but the state does not allow it; nothing changed."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# ====================================================================== values
@dataclass(frozen=True)
class Emit:
    """An event to publish: its type, its case and its own fields (the envelope is the
    service's)."""
    event_type: str
    complaint_id: str
    fields: Mapping


@dataclass(frozen=True)
class Target:
    """One time limit of a case, as the SLA tracks it."""
    complaint_id: str
    kind: str                       # resolution | response | milestone | feedback
    round: int
    grade: str
    unit_id: str
    starts_at: datetime
    due_at: datetime
    status: str = PENDING
    state: str = NORMAL
    met_at: datetime | None = None
    number: str | None = None
    category: str | None = None
    title: str | None = None        # a timetable step's
    milestone_id: str = ""
    # Who hears of it when it runs late (R12): {level: {id, name}}, from the assignment.
    recipients: Mapping = field(default_factory=dict)
    id: int | None = None           # None until saved

    def handled_by(self, viewer: Viewer, roles: Iterable[str] = UNIT_STAFF) -> bool:
        return viewer.has(*roles) and viewer.unit == self.unit_id

    def meet(self, at: datetime) -> "Target":
        return replace(self, status=MET, met_at=at)

    def cancel(self) -> "Target":
        return replace(self, status=CANCELLED, met_at=None)

    def fire(self, alert: str, level: str) -> tuple["Target", Emit]:
        """A timer of this target fired: how late it now runs, and who hears of it."""
        state = self.state
        if alert == "warning" and state == NORMAL:
            state = WARNING
        elif alert in ("overdue", "escalate"):
            state = OVERDUE
        return replace(self, state=state), Emit("sla_alert", self.complaint_id, dict(
            number=self.number, target=self.kind, title=self.title, alert=alert, level=level,
            recipient=self.recipients.get(level), due_at=self.due_at, round=self.round))

    def announced(self, **extra) -> Emit:
        return Emit("deadline_set", self.complaint_id, dict(
            grade=self.grade, starts_at=self.starts_at, due_at=self.due_at, target=self.kind,
            round=self.round, **extra))


@dataclass(frozen=True)
class Extension:
    """X2: more time asked for, with a reason; decided by somebody else."""
    id: str
    deadline_id: int
    complaint_id: str
    requested_by: str
    requested_at: datetime
    reason: str
    old_due_at: datetime
    new_due_at: datetime
    status: str = REQUESTED
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None

    def told(self, event_type: str, target: Target, decider: Viewer | None = None) -> Emit:
        return Emit(event_type, self.complaint_id, dict(
            extension_id=self.id, status=self.status, reason=self.reason,
            old_due_at=self.old_due_at, new_due_at=self.new_due_at, number=target.number,
            note=self.note, requested_by={"id": self.requested_by, "name": None},
            decided_by={"id": decider.id, "name": decider.name} if decider else None,
            unit_head=target.recipients.get("head")))


@dataclass(frozen=True)
class Change:
    """A target after a command; `cancel_timers`: its pending timers stop first; `timers`:
    the ones it gets from now on."""
    target: Target
    timers: tuple[Alert, ...] = ()
    cancel_timers: bool = False


@dataclass(frozen=True)
class Decision:
    changes: tuple[Change, ...] = ()
    events: tuple[Emit, ...] = ()
    extension: Extension | None = None
    answer: Mapping | None = None    # what the command answers its caller, beyond the above


# ====================================================================== the commands
class Sla:
    """The SLA's decisions on a case's targets, given its policy."""

    def __init__(self, policy: SlaPolicy):
        self.policy = policy

    def _running(self, target: Target, now: datetime) -> Change:
        return Change(target, self.policy.timers(target, now))

    def assign(self, event: Mapping, existing: Iterable[Target], now: datetime) -> Decision:
        """complaint_assigned: a round's 办结 and 签收 targets. The first round's clock runs
        from receipt, not from assignment: routing's delay is the school's. A redo or a
        supervised round gets a new time limit from its dispatch."""
        recipients = {"handler": event["handler"], "head": event["unit_head"],
                      "office": OFFICE, "leader": event["leader"]}
        existing = tuple(existing)
        if existing:
            # Re-dispatched within its round (退单): the clock does not restart, but the new
            # unit's people are the ones who hear of it from now on.
            return Decision(tuple(Change(replace(target, recipients=recipients,
                                                 unit_id=event["unit"]["id"]))
                                  for target in existing))
        grade, assigned_at = event["grade"], event["occurred_at"]
        starts_at = event["received_at"] if event["round"] == 0 else assigned_at
        common = dict(complaint_id=event["complaint_id"], round=event["round"], grade=grade,
                      unit_id=event["unit"]["id"], number=event["number"],
                      category=event["category"], recipients=recipients)
        targets = (Target(kind="resolution", starts_at=starts_at,
                          due_at=self.policy.resolution_due(grade, starts_at), **common),
                   Target(kind="response", starts_at=assigned_at,
                          due_at=self.policy.response_due(grade, assigned_at), **common))
        return Decision(tuple(self._running(target, now) for target in targets),
                        tuple(target.announced() for target in targets))

    @staticmethod
    def concerns(action: str) -> bool:
        """Whether a complaint_transitioned step touches the clocks at all."""
        return action in MEETS or action in STOP_ON

    @staticmethod
    def kinds_touched(action: str) -> tuple[str, ...]:
        return MEETS.get(action, ALL_KINDS)

    @staticmethod
    def transition(action: str, pending: Iterable[Target], at: datetime) -> Decision:
        """A target is met when its step is done (签收 for the response, the reply for the
        resolution); a case that ends stops every clock it still has running."""
        met = action in MEETS
        return Decision(tuple(
            Change(target.meet(at) if met else target.cancel(), cancel_timers=True)
            for target in pending if target.status == PENDING
            and target.kind in Sla.kinds_touched(action)))

    # ------------------------------------------------------------------ extensions (X2)
    @staticmethod
    def request_extension(current: Target | None, viewer: Viewer, request: Mapping,
                          one_pending: bool, now: datetime) -> Decision:
        """The handler (or head) of the unit asks for more time, with a reason."""
        if current is None or not current.handled_by(viewer):
            raise Unknown()
        new_due_at = request["new_due_at"]
        if new_due_at <= now or new_due_at > now + HORIZON:
            raise Invalid({"new_due_at": [out_of_bounds(new_due_at, now, IN_THE_PAST)]})
        if new_due_at <= current.due_at:
            raise Invalid({"new_due_at": [NOT_LATER]})
        if one_pending:
            raise Refused("extension_pending", "已有待审批的延期申请")
        extension = Extension(
            id=str(uuid.uuid4()), deadline_id=current.id, complaint_id=current.complaint_id,
            requested_by=viewer.id, requested_at=now, reason=request["reason"],
            old_due_at=current.due_at, new_due_at=new_due_at)
        return Decision(events=(extension.told("extension_requested", current),),
                        extension=extension)

    def decide_extension(self, extension: Extension | None, target: Target | None,
                         viewer: Viewer, decision: Mapping, now: datetime) -> Decision:
        """The unit head or the office approves or refuses; an approval moves the deadline and
        replaces its timers; the complainant is told either way the clock moved."""
        if extension is None or not (viewer.has("office") or target.handled_by(viewer,
                                                                               ("head",))):
            raise Unknown()
        if extension.status != REQUESTED:
            raise Refused("already_decided", "该延期申请已处理")
        if extension.requested_by == viewer.id:
            # X2: asking and granting are two people's decisions, or a head could give
            # themselves any time they like.
            raise Refused("own_extension_request",
                          "不能审批本人提出的延期申请,请由接诉即办工作办公室或本单位其他负责人审批 "
                          "(you cannot decide your own extension request: the office or "
                          "another head of the unit decides)")
        decided = replace(extension, status=APPROVED if decision["approve"] else REFUSED,
                          decided_by=viewer.id, decided_at=now, note=decision["note"])
        if not decision["approve"]:
            return Decision(events=(decided.told("extension_decided", target, viewer),),
                            extension=decided)
        moved = replace(target, due_at=decided.new_due_at, state=NORMAL)
        return Decision(
            (Change(moved, self.policy.timers(moved, now), cancel_timers=True),),
            (moved.announced(extended=True, reason=decided.reason),
             decided.told("extension_decided", moved, viewer)),
            extension=decided)

    # ------------------------------------------------------------------ timetables (R7)
    def set_timetable(self, current: Target | None, viewer: Viewer, timetable: Mapping,
                      has_one: bool, filed_at: datetime | None, now: datetime) -> Decision:
        """A matter that cannot be solved soon gets a timetable: milestones with dates and a
        staged-feedback (阶段性反馈) date for each, reminded and tracked like deadlines."""
        if current is None or not current.handled_by(viewer):
            raise Unknown()
        if has_one:
            raise Refused("timetable_exists", "已有进行中的时间表")
        errors = {}
        for index, step in enumerate(timetable["milestones"]):
            wrong = {name: [out_of_bounds(step[name], filed_at, BEFORE_FILING)]
                     for name in ("due_at", "feedback_due_at") if step[name] is not None
                     and not filed_at < step[name] <= now + HORIZON}
            if wrong:
                errors[index] = wrong
        if errors:
            raise Invalid({"milestones": errors})
        changes, milestones = [], []
        for step in timetable["milestones"]:
            milestone_id = str(uuid.uuid4())
            dates = [("milestone", step["due_at"])]
            if step["feedback_due_at"]:
                dates.append(("feedback", step["feedback_due_at"]))
            for kind, due_at in dates:
                changes.append(self._running(replace(
                    current, id=None, kind=kind, milestone_id=milestone_id, title=step["title"],
                    starts_at=now, due_at=due_at, status=PENDING, state=NORMAL, met_at=None),
                    now))
            milestones.append(dict(step, id=milestone_id, status=PENDING))
        return Decision(tuple(changes), (Emit("timetable_set", current.complaint_id, dict(
            number=current.number, milestones=milestones,
            set_by={"id": viewer.id, "name": viewer.name})),),
            answer={"complaint_id": current.complaint_id, "milestones": milestones})

    @staticmethod
    def update_milestone(steps: Iterable[Target], viewer: Viewer, update: Mapping,
                         now: datetime) -> Decision:
        """Staged feedback given (the feedback date is met) or the milestone reached."""
        steps = tuple(steps)
        if not steps or not steps[0].handled_by(viewer):
            raise Unknown()
        kinds = ("feedback",) if update["update"] == "feedback" else ("milestone", "feedback")
        after = tuple(step.meet(now) if step.kind in kinds and step.status == PENDING
                      else step for step in steps)
        milestone = next(s for s in after if s.kind == "milestone")
        feedback = next((s for s in after if s.kind == "feedback"), None)
        return Decision(
            tuple(Change(new, cancel_timers=True) for old, new in zip(steps, after)
                  if new is not old),
            (Emit("milestone_updated", milestone.complaint_id, dict(
                number=milestone.number,
                milestone={"id": milestone.milestone_id, "title": milestone.title,
                           "due_at": milestone.due_at,
                           "feedback_due_at": feedback.due_at if feedback else None,
                           "status": milestone.status},
                update=update["update"], note=update["note"],
                by={"id": viewer.id, "name": viewer.name})),),
            answer={"milestone_id": milestone.milestone_id, "status": milestone.status})


def out_of_bounds(moment: datetime, earliest: datetime, too_early: str) -> str:
    """Why `moment`, refused, is not in (earliest, now + HORIZON]."""
    return too_early if moment <= earliest else TOO_FAR


# ====================================================================== who may read
def facts_from_assigned(event: Mapping) -> dict:
    """complaint_assigned: the unit that holds it; a disputed case's assisting units read
    along (kept from an earlier dispute, as intake does); the first assignment also says who
    filed it and, for R10 (filed by unit staff), their unit."""
    facts = {"unit_id": event["unit"]["id"]}
    if event.get("complainant"):
        facts.update(complainant_id=event["complainant"]["id"],
                     reporting_unit_id=event.get("reporter_unit"))
    if event["disputed"]:
        facts["assisting_unit_ids"] = [unit["id"] for unit in event["assisting_units"]]
    return facts


def facts_from_supervisor(event: Mapping) -> dict:
    """supervisor_assigned: the leader who supervises it (督办)."""
    return {"supervisor_id": event["leader"]["id"]}


def case_facts(known: Mapping | None) -> CaseFacts:
    """The projection's row as services.common.access reads a case; a case the SLA never
    heard of is nobody's (only the office reads every case)."""
    known = known or {}
    # Nobody's id is None: an unknown complainant is nobody (not a caller with an empty id).
    return CaseFacts(known.get("complainant_id"), known.get("unit_id"),
                     tuple(known.get("assisting_unit_ids") or ()), known.get("supervisor_id"),
                     known.get("reporting_unit_id"))


def may_read_deadlines(viewer: Viewer, known: Mapping | None) -> bool:
    return may_read(viewer, case_facts(known))
