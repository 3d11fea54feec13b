"""What happens to a case (R15), as domain events, and the one place that says what each one
leaves behind: its line on the timeline (what the complainant and staff read), its row in the
audit log (X6: who changed what) and the event it puts on the bus.

`Case` (services/intake/case.py) returns these from its transitions; the repository writes
their effects with `record` when it saves the case. Nothing else writes a timeline line, an
audit row or an outgoing event about a case, so the three cannot disagree.

A new kind of step is a new class here with the effects it has (`line`, `audit`, `message`,
each None by default) and a method on `Case` that returns it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from services.common.access import Actor
from services.intake import domain
from services.intake.domain import TimelineLine
from services.intake.models import AuditEntry, Complaint, TimelineEntry

ROUTING, SLA, SYSTEM = Actor.system("routing"), Actor.system("sla"), Actor.system("system")


def _iso(value):
    """JSON for the moments kept in a text column: ISO 8601, as every answer gives them."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True)
class Audit:
    action: str
    changes: dict


@dataclass(frozen=True)
class Message:
    event_type: str
    body: dict


@dataclass(frozen=True)
class DomainEvent:
    actor: Actor
    at: datetime
    # The bus event this one answers (a projection of another service's fact): its line
    # carries the id, so the timeline says where it came from.
    cause_id: str | None = field(default=None, kw_only=True)

    def line(self, tz: str) -> TimelineLine | None:
        return None

    def audit(self) -> Audit | None:
        return None

    def message(self, case: Complaint, people: Callable[[], list]) -> Message | None:
        return None


# ------------------------------------------------------------------------------ filing
@dataclass(frozen=True)
class Filed(DomainEvent):
    number: str
    channel: str
    category: str | None
    status: str

    def line(self, tz):
        return domain.received_line(self.number, self.channel, self.category)

    def audit(self):
        return Audit("file", {"status": [None, self.status]})


@dataclass(frozen=True)
class Announced(DomainEvent):
    """complaint_received: routing, notify, rating and sla take it from here, unless the
    screening rules (R4) answered it with their template (`screened`)."""
    screened: dict | None = None

    def line(self, tz):
        return domain.screened_line(self.screened["reply"]) if self.screened else None

    def message(self, case, people):
        return Message("complaint_received", dict(
            number=case.number, channel=case.channel,
            complainant={"id": case.complainant_id, "name": case.complainant_name},
            college=case.complainant_college, proactive=case.proactive,
            reporter_unit=case.reporter_unit_id, screened=self.screened,
            category=case.category, title=case.title, content=case.content,
            contact_phone=case.contact_phone, location=case.location,
            anonymous=case.anonymous, urgent=case.urgent))


@dataclass(frozen=True)
class RecordingLeft(DomainEvent):
    url: str

    def line(self, tz):
        return domain.recording_line(self.url)


@dataclass(frozen=True)
class HandledFrom(DomainEvent):
    """A voicemail left outside working hours is handled from the next working morning."""
    counts_from: datetime

    def line(self, tz):
        return domain.voicemail_line(self.counts_from, tz)


@dataclass(frozen=True)
class Classified(DomainEvent):
    category: str

    def line(self, tz):
        return domain.transition_line("classify", self.actor.label,
                                      domain.category_label(self.category))

    def audit(self):
        return Audit("classify", {"category": [None, self.category]})


# ------------------------------------------------------------------------- the lifecycle
@dataclass(frozen=True)
class Transitioned(DomainEvent):
    action: str
    from_status: str
    to_status: str
    from_round: int
    to_round: int
    note: str | None = None
    outcome: str | None = None

    def line(self, tz):
        return domain.transition_line(self.action, self.actor.label, self.note, self.outcome)

    def audit(self):
        return Audit(self.action, {"status": [self.from_status, self.to_status],
                                   "round": [self.from_round, self.to_round]})

    def message(self, case, people):
        return Message("complaint_transitioned", dict(
            number=case.number, category=case.category, action=self.action,
            from_status=self.from_status, to_status=self.to_status, round=self.to_round,
            actor={"id": self.actor.id, "name": self.actor.label}, actor_role=self.actor.role,
            unit={"id": case.unit_id, "name": case.unit_name} if case.unit_id else None,
            complainants=people(), channel=case.channel, note=self.note,
            outcome=self.outcome))


@dataclass(frozen=True)
class Communicated(DomainEvent):
    """R6: a call or meeting with the complainant, dated when it took place (`at`)."""
    kind: str
    with_whom: str
    summary: str

    def line(self, tz):
        return domain.communication_line(self.kind, self.with_whom, self.summary,
                                         self.actor.label)

    def audit(self):
        return Audit("communicate", {"communication": [None, self.kind]})


@dataclass(frozen=True)
class DispatchRequested(DomainEvent):
    """The office (or a leader's 批示) sends the case (back) to a unit, or to the rules."""
    unit_id: str | None
    previous_unit_id: str | None

    def line(self, tz):
        return domain.transition_line("dispatch", self.actor.label,
                                      f"转办 {self.unit_id or '按规则派单'}")

    def audit(self):
        return Audit("dispatch", {"unit_id": [self.previous_unit_id, self.unit_id]})

    def message(self, case, people):
        return Message("dispatch_requested", dict(
            number=case.number, category=case.category, unit_id=self.unit_id,
            round=case.round, received_at=case.received_at, lead_unit_id=case.lead_unit_id))


@dataclass(frozen=True)
class Instructed(DomainEvent):
    text: str

    def line(self, tz):
        return domain.transition_line("instruct", self.actor.label, self.text)

    def audit(self):
        return Audit("instruct", {"instruction": [None, self.text]})


@dataclass(frozen=True)
class Linked(DomainEvent):
    """X3 举一反三: the office links a similar case (no other service acts on links)."""
    other_id: str
    other_number: str

    def line(self, tz):
        return domain.transition_line("link", self.actor.label,
                                      f"关联类似诉求 {self.other_number}")

    def audit(self):
        return Audit("link", {"link": [None, self.other_id]})


@dataclass(frozen=True)
class DuplicateMerged(DomainEvent):
    """On the case a duplicate was merged into (the duplicate itself is Transitioned)."""
    duplicate_number: str

    def line(self, tz):
        return domain.transition_line(
            "merge", self.actor.label,
            f"合并重复诉求 {self.duplicate_number}(其诉求人同样收到办理进展)")


@dataclass(frozen=True)
class AttachmentAdded(DomainEvent):
    kind: str
    sha256: str

    def line(self, tz):
        return TimelineLine("attachment", f"添加{domain.KIND_LABELS[self.kind]}附件",
                            self.actor.label)

    def audit(self):
        return Audit("attach", {"attachment": [None, self.sha256]})


@dataclass(frozen=True)
class ContactPhoneRead(DomainEvent):
    """The office read the complainant's phone number whole (to call them back)."""

    def audit(self):
        return Audit("view_contact_phone", {"note": "查看联系电话"})


# ------------------------------------------------------- what other services tell intake
@dataclass(frozen=True)
class Assigned(DomainEvent):
    unit_id: str
    unit_name: str
    handler_id: str
    handler_name: str
    assisting: tuple[str, ...] = ()   # the assisting units' names, when disputed

    def line(self, tz):
        line = domain.assigned_line(self.unit_name, self.handler_name)
        if not self.assisting:
            return line
        return TimelineLine(line.kind, f"{line.text}(首接主办;协办:{'、'.join(self.assisting)})",
                            line.actor)

    def audit(self):
        return Audit("assign", {"unit_id": [None, self.unit_id],
                                "handler_id": [None, self.handler_id]})


@dataclass(frozen=True)
class AssignmentIgnored(DomainEvent):
    reason: str

    def line(self, tz):
        return TimelineLine("assign_ignored", f"派单未生效:{self.reason}", "routing")


@dataclass(frozen=True)
class RatingIgnored(DomainEvent):
    reason: str

    def line(self, tz):
        return TimelineLine("rating_ignored", f"评价未生效:{self.reason}", "rating")


@dataclass(frozen=True)
class DeadlineSet(DomainEvent):
    grade: str
    due_at: datetime
    extended: bool = False
    reason: str | None = None

    def line(self, tz):
        if self.extended:
            return domain.extension_line(self.due_at, self.reason, tz)
        return domain.deadline_line(self.grade, self.due_at, tz)


@dataclass(frozen=True)
class SlaAlerted(DomainEvent):
    """R12: a warning, urging or escalation sla sent about the case (`fact`: its event)."""
    fact: dict

    def line(self, tz):
        return domain.alert_line(self.fact)


@dataclass(frozen=True)
class TimetableSet(DomainEvent):
    """R7: the timetable of a matter that takes long to solve."""
    milestones: list

    def line(self, tz):
        return domain.timetable_line(self.milestones, tz)


@dataclass(frozen=True)
class MilestoneUpdated(DomainEvent):
    fact: dict

    def line(self, tz):
        return domain.milestone_line(self.fact)


@dataclass(frozen=True)
class ExtensionNoted(DomainEvent):
    """An extension the unit asked for, or the office's decision on it."""
    fact: dict

    def line(self, tz):
        return domain.extension_request_line(self.fact, tz)


@dataclass(frozen=True)
class SupervisorAssigned(DomainEvent):
    leader_name: str

    def line(self, tz):
        return TimelineLine("supervisor_assigned",
                            f"纳入督办,由分管校领导 {self.leader_name} 批示办理", "routing")


@dataclass(frozen=True)
class CalledBack(DomainEvent):
    """回访 by phone: the office member who called the complainant and recorded their answers
    (the actor); the rating itself is the Transitioned that follows it."""
    level: str
    rater_id: str

    def audit(self):
        return Audit("callback", {"rating": [None, self.level], "complainant": self.rater_id})


@dataclass(frozen=True)
class ExclusionNoted(DomainEvent):
    """考核剔除: a unit asked that the case be left out of its assessment, or the office
    decided; for the office's eyes only (the audit log: the timeline is the complainant's
    too)."""
    fact: dict

    def audit(self):
        fact = self.fact
        if fact["status"] == "requested":
            return Audit("exclusion_request", {
                "exclusion": [None, "requested"], "exclusion_id": fact["exclusion_id"],
                "unit_id": fact["unit"]["id"], "reason": fact["reason"],
                "evidence": list(fact.get("evidence") or [])})
        return Audit("exclusion_decision", {
            "exclusion": ["requested", fact["status"]], "exclusion_id": fact["exclusion_id"],
            "unit_id": fact["unit"]["id"], "note": fact.get("note")})


@dataclass(frozen=True)
class CampaignChanged(DomainEvent):
    """专项治理: the office attached the case to a campaign, or took it out."""
    attached: bool
    campaign_id: str
    campaign_name: str

    def line(self, tz):
        return domain.campaign_line(self.attached, self.campaign_name, self.actor.label)

    def audit(self):
        change = [None, self.campaign_id] if self.attached else [self.campaign_id, None]
        return Audit("campaign_attach" if self.attached else "campaign_detach",
                     {"campaign": change, "campaign_name": self.campaign_name})


# ------------------------------------------------------------------------- the writer
def record(uow, case: Complaint, events: list[DomainEvent], tz: str,
           people: Callable[[], list]) -> None:
    """Write every effect of `events` on `case` in the caller's unit of work."""
    for event in events:
        line = event.line(tz)
        if line is not None:
            # Added on its own, not through `case.timeline`, which would load every line.
            uow.session.add(TimelineEntry(complaint_id=case.id, at=event.at, kind=line.kind,
                                          text=line.text, actor=line.actor,
                                          event_id=event.cause_id))
        audit = event.audit()
        if audit is not None:
            uow.session.add(AuditEntry(complaint_id=case.id, at=uow.clock.now(),
                                       actor_id=event.actor.id, actor_role=event.actor.role,
                                       action=audit.action,
                                       changes=json.dumps(audit.changes, ensure_ascii=False,
                                                          default=_iso)))
        message = event.message(case, people)
        if message is not None:
            uow.emit(message.event_type, case.id, **message.body)


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_iso)
