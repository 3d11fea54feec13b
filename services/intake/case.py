"""The case (诉求件) as an aggregate: its stored row and the lifecycle's rules on it.

Every change goes through a method here, which checks the rules (services/intake/lifecycle.py,
pure), changes the row and returns the domain events that say what happened
(services/intake/events.py); they are also collected in `.events` for the repository, which
writes their effects when it saves the case. A refusal (`Refused`) changes nothing.
"""
from __future__ import annotations

import json
from datetime import datetime

from services.common.access import Actor, CaseFacts, Viewer
from services.intake import domain
from services.intake import events as ev
from services.intake.lifecycle import Case as Rules, Communication, Refused, Status
from services.intake.models import Complaint


UNRATED = "unrated"  # last_rating of a case closed as 未评价 (not an 有效回访)


class Case:
    def __init__(self, row: Complaint, communications=()):
        """`communications`: the R6 records, or a function that loads them (only the rules
        of a transition need them)."""
        self.row = row
        self._communications = communications
        self.events: list[ev.DomainEvent] = []

    @property
    def communications(self) -> tuple[Communication, ...]:
        if callable(self._communications):
            self._communications = tuple(self._communications())
        return self._communications

    @communications.setter
    def communications(self, value):
        self._communications = value

    @property
    def id(self) -> str:
        return self.row.id

    def _happened(self, *events: ev.DomainEvent) -> list[ev.DomainEvent]:
        self.events.extend(events)
        return list(events)

    # ------------------------------------------------------------------ reading
    def facts(self) -> CaseFacts:
        return facts_of(self.row)

    def rules(self) -> Rules:
        row = self.row
        return Rules(status=row.status, round=row.round, unit_id=row.unit_id,
                     lead_unit_id=row.lead_unit_id, disputed=row.disputed,
                     first_due_at=row.first_due_at, communications=self.communications,
                     instructed=row.instructed, merged_into=row.merged_into,
                     has_timetable=bool(row.timetable))

    def actor(self, viewer: Viewer) -> Actor:
        """The viewer as the case records them: the complainant by the name the case knows
        (so that an anonymous case can hide them whatever name a later token carries)."""
        if viewer.id == self.row.complainant_id:
            return Actor(viewer.id, self.row.complainant_name or viewer.id, viewer.main_role())
        return Actor.of(viewer)

    # ------------------------------------------------------------------ filing
    @classmethod
    def filed(cls, row: Complaint, at: datetime) -> "Case":
        case = cls(row)
        case._happened(ev.Filed(Actor(row.complainant_id, row.complainant_name, "complainant"),
                                at, number=row.number, channel=row.channel,
                                category=row.category, status=row.status))
        return case

    def announce(self, verdict, at: datetime):
        """Announced to the other services, or (R4) answered with the screening rule's
        template instead of being routed."""
        screened = None
        if verdict is not None:
            self.row.status = Status.SCREENED_OUT
            self.row.screened_rule, self.row.screened_kind = verdict.rule_id, verdict.kind
            screened = {"rule": verdict.rule_id, "kind": verdict.kind,
                        "channel": verdict.channel, "reply": verdict.reply}
        return self._happened(ev.Announced(ev.SYSTEM, at, screened=screened))

    def voicemail(self, recording_url: str | None, received_at, counts_from, at: datetime):
        happened = []
        if recording_url and recording_url not in self.row.content:
            # The office listens to it before classifying (the transcript may be rough).
            happened.append(ev.RecordingLeft(Actor.system("hotline"), at, url=recording_url))
        if counts_from != received_at:
            happened.append(ev.HandledFrom(ev.SYSTEM, at, counts_from=counts_from))
        return self._happened(*happened)

    def classify(self, actor: Actor, category: str, title: str | None, urgent: bool, at):
        """A voicemail becomes a case like any other once the office gives it its category."""
        self.row.category = category
        self.row.title = title or self.row.title
        self.row.urgent = urgent
        return self._happened(ev.Classified(actor, at, category=category))

    def check_classified(self, action: str) -> None:
        """A case without a category (a voicemail) may only be classified (or linked)."""
        unclassified = self.row.category is None
        if unclassified != (action == "classify") and action != "link":
            raise Refused(*domain.CLASSIFY_FIRST if unclassified else domain.ALREADY_CLASSIFIED)

    # ------------------------------------------------------------------ the lifecycle
    def transition(self, action: str, actor: Actor, at: datetime, note: str | None = None,
                   outcome: str | None = None):
        before = self.rules()
        after = before.apply(action, now=at, outcome=outcome)
        self.row.status, self.row.round = after.status, after.round
        self.row.instructed = after.instructed
        return self._happened(ev.Transitioned(
            actor, at, action=action, from_status=before.status, to_status=after.status,
            from_round=before.round, to_round=after.round, note=note, outcome=outcome))

    def reply(self, actor: Actor, outcome: str, text: str, at: datetime):
        happened = self.transition("reply", actor, at, note=text, outcome=outcome)
        self.row.reply_outcome, self.row.reply_text = outcome, text
        return happened

    def screen_out(self, actor: Actor, rule: str, kind: str, reply: str, at: datetime):
        happened = self.transition("screen_out", actor, at, note=reply)
        self.row.screened_rule, self.row.screened_kind = rule, kind
        return happened

    def communicate(self, actor: Actor, kind: str, when: datetime, with_whom: str,
                    summary: str, at: datetime):
        """R6: record a call or meeting; the first one starts the handling."""
        after = self.rules().record_communication(kind, when)
        happened = self.transition("start", actor, at) if after.status != self.row.status \
            else []
        self.communications = after.communications
        return happened + self._happened(ev.Communicated(
            actor, when, kind=kind, with_whom=with_whom, summary=summary))

    def request_dispatch(self, actor: Actor, unit_id: str | None, at: datetime):
        """Ask routing to assign it (to `unit_id`, or by the rules); routing's answer is the
        assignment. Refused here already if the case cannot be assigned now."""
        self.rules().apply("assign", now=at, unit_id=unit_id or self.row.unit_id or "by-rule")
        return self._happened(ev.DispatchRequested(actor, at, unit_id=unit_id,
                                                   previous_unit_id=self.row.unit_id))

    def instruct(self, actor: Actor, text: str, at: datetime):
        """督办: the leader's 批示; the unit that handled it handles it again under it."""
        self.rules().instruct()
        self.row.instructed, self.row.instruction = True, text
        happened = self._happened(ev.Instructed(actor, at, text=text))
        return happened + self.request_dispatch(actor, self.row.unit_id, at)

    def link(self, actor: Actor, other: "Case", at: datetime):
        if other.id == self.id:
            raise Refused("unknown_case", "关联的诉求不存在")
        return self._happened(ev.Linked(actor, at, other_id=other.id,
                                        other_number=other.row.number))

    def merge_into(self, actor: Actor, target: "Case", at: datetime):
        if target.id == self.id or target.row.status not in Status.OPEN:
            raise Refused("unknown_case", "合并目标须为另一条办理中的诉求")
        happened = self.transition("merge", actor, at,
                                   note=f"与 {target.row.number} 重复,合并办理")
        self.row.merged_into = target.id
        target._happened(ev.DuplicateMerged(actor, at, duplicate_number=self.row.number))
        return happened

    def attach(self, actor: Actor, kind: str, sha256: str, at: datetime):
        return self._happened(ev.AttachmentAdded(actor, at, kind=kind, sha256=sha256))

    def contact_phone_read(self, actor: Actor, at: datetime):
        return self._happened(ev.ContactPhoneRead(actor, at))

    # ------------------------------------------------ what the other services tell intake
    def assigned(self, event: dict):
        at, cause = event["occurred_at"], event["event_id"]
        try:
            after = self.rules().apply("assign", now=at, unit_id=event["unit"]["id"])
        except Refused as refused:  # e.g. screened out by the office meanwhile
            return self._happened(ev.AssignmentIgnored(ev.ROUTING, at, reason=refused.message,
                                                       cause_id=cause))
        row = self.row
        row.status, row.lead_unit_id, row.grade = after.status, after.lead_unit_id, event["grade"]
        row.unit_id, row.unit_name = event["unit"]["id"], event["unit"]["name"]
        row.handler_id, row.handler_name = event["handler"]["id"], event["handler"]["name"]
        row.assigned_at = at
        assisting = ()
        if event["disputed"]:
            row.disputed = True
            row.assisting_units = json.dumps(event["assisting_units"], ensure_ascii=False)
            assisting = tuple(u["name"] for u in event["assisting_units"])
        return self._happened(ev.Assigned(
            ev.ROUTING, at, unit_id=row.unit_id, unit_name=row.unit_name,
            handler_id=row.handler_id, handler_name=row.handler_name, assisting=assisting,
            cause_id=cause))

    def deadline_set(self, event: dict):
        if event["target"] == "response":
            self.row.response_due_at = event["due_at"]
            return []
        self.row.due_at = event["due_at"]
        if self.row.first_due_at is None:
            self.row.first_due_at = event["due_at"]
        # A new deadline (an extension, or a new round after 发回重办/督办): the case is on
        # time again until sla says otherwise.
        self.row.sla_state = "normal"
        return self._happened(ev.DeadlineSet(
            ev.SLA, event["occurred_at"], grade=event["grade"], due_at=event["due_at"],
            extended=event["extended"], reason=event.get("reason"), cause_id=event["event_id"]))

    def sla_alerted(self, event: dict):
        """R12: warnings, urging and escalation show on the case; its SLA state follows."""
        # Once replied, the resolution clock has stopped: a late alert does not make it overdue.
        if event["target"] == "resolution" and self.row.status in Status.OPEN - {Status.REPLIED}:
            self.row.sla_state = domain.sla_state_after(self.row.sla_state, event["alert"])
        return self._from_sla(ev.SlaAlerted, event, fact=event)

    def timetable_set(self, event: dict):
        self.row.timetable = ev.as_json(event["milestones"])
        return self._from_sla(ev.TimetableSet, event, milestones=event["milestones"])

    def milestone_updated(self, event: dict):
        steps = json.loads(self.row.timetable or "[]")
        for step in steps:
            if step["id"] == event["milestone"]["id"]:
                step["status"] = event["milestone"]["status"]
                if event["update"] == "feedback":
                    step["feedback_given"] = True
        self.row.timetable = ev.as_json(steps)
        return self._from_sla(ev.MilestoneUpdated, event, fact=event)

    def extension_noted(self, event: dict):
        return self._from_sla(ev.ExtensionNoted, event, fact=event)

    def _from_sla(self, kind, event: dict, **facts):
        return self._happened(kind(ev.SLA, event["occurred_at"], cause_id=event["event_id"],
                                   **facts))

    def rated(self, event: dict):
        """R9: the decision is rating's; the state change is ours. A 回访 the office made by
        phone is the complainant's answers (they are the rater) and is audited as the
        caller's."""
        self.row.last_rating = event["level"]
        rater = self.actor(Viewer(event["rater"]["id"], event["rater"].get("name"),
                                  ("complainant",)))
        caller = event.get("called_by") if event.get("via") == "callback" else None
        caller = Actor(caller["id"], caller.get("name"), "office") if caller else None
        note = domain.rating_note(event["level"], event["contacted"], event["solved"],
                                  event["comment"], caller.label if caller else None)
        try:
            happened = self.transition(event["decision"], rater, event["occurred_at"],
                                       note=note)
        except Refused as refused:
            # A rating the case's state no longer allows (e.g. the office merged it
            # meanwhile): recorded and ignored, not retried until it is parked.
            return self._happened(ev.RatingIgnored(Actor.system("rating"),
                                                   event["occurred_at"], reason=refused.message,
                                                   cause_id=event["event_id"]))
        if caller is None:
            return happened
        return happened + self._happened(ev.CalledBack(
            caller, event["occurred_at"], level=event["level"], rater_id=event["rater"]["id"],
            cause_id=event["event_id"]))

    def rating_expired(self, event: dict):
        """回访: nobody rated the reply within the window; the case closes as 未评价."""
        at, cause = event["occurred_at"], event["event_id"]
        if self.row.status != Status.REPLIED or self.row.round != event["round"]:
            # Rated meanwhile, or merged: the window's end no longer concerns this case.
            return self._happened(ev.RatingIgnored(Actor.system("rating"), at,
                                                   reason="评价期限已过,但该诉求已不在待评价状态",
                                                   cause_id=cause))
        self.row.last_rating = UNRATED
        return self.transition("close", Actor.system("rating"), at, note=domain.UNRATED_NOTE)

    def supervisor_assigned(self, event: dict):
        self.row.supervisor_id = event["leader"]["id"]
        self.row.supervisor_name = event["leader"]["name"]
        return self._happened(ev.SupervisorAssigned(ev.ROUTING, event["occurred_at"],
                                                    leader_name=event["leader"]["name"],
                                                    cause_id=event["event_id"]))

    def exclusion_noted(self, event: dict):
        """考核剔除 asked for or decided (rating's): the office reads it in the audit log."""
        by = event["decided_by"] if event["event_type"] == "exclusion_decided" \
            else event["requested_by"]
        # The request is the unit's (its head or handler: the event does not say which).
        role = "office" if event["event_type"] == "exclusion_decided" else "unit"
        return self._happened(ev.ExclusionNoted(Actor(by["id"], by.get("name"), role),
                                                event["occurred_at"], fact=event,
                                                cause_id=event["event_id"]))

    def campaign_changed(self, event: dict):
        """专项治理: the case's timeline shows the campaign it joined or left."""
        by = event["by"]
        return self._happened(ev.CampaignChanged(
            Actor(by["id"], by.get("name"), "office"), event["occurred_at"],
            attached=event["event_type"] == "campaign_case_attached",
            campaign_id=event["campaign_id"], campaign_name=event["campaign_name"],
            cause_id=event["event_id"]))


def facts_of(row: Complaint) -> CaseFacts:
    """What access depends on, read off a stored case."""
    assisting = tuple(u["id"] for u in json.loads(row.assisting_units or "[]"))
    return CaseFacts(row.complainant_id, row.unit_id, assisting, row.supervisor_id,
                     row.reporter_unit_id)
