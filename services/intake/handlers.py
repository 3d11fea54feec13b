"""Intake's commands: functions that take a unit of work, a command and what they need from the
service (`Env`), load the case through the repository, ask it to change (services/intake/
case.py: the rules, the domain events) and save it. Entrypoints (service.py) only load the
input, call one of these and dump the answer.

Adding an action: a params schema in schemas.ACTION_SCHEMAS, who may take it in
services/common/access.ACTION_ROLES, a method on `Case` returning its domain event (with its
effects in events.py), and one line in ACTIONS below.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.common import metrics
from services.common.access import Actor, Viewer, may_act, may_read
from services.common.contracts import FIRST_ROUND
from services.common.db import insert_for
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.logs import bind_complaint
from services.common.providers import consumes
from services.common.settings import Settings
from services.intake import calls, domain
from services.intake.case import Case
from services.intake.lifecycle import Refused, Status
from services.intake.models import Complaint, HotlineCall
from services.intake.repository import Cases, find_filing

# A communication is dated by the person who records it, from their own clock: allow theirs
# to run a little ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class Env:
    """What the handlers use of the service: its settings, the R4 screening rules, the office's
    working hours (for voicemail), and routing's directory (does a unit exist?)."""
    settings: Settings
    screening: object = None
    working_hours: object = None
    unit_exists: Callable[[str], bool] = field(default=lambda unit_id: True)

    @property
    def tz(self) -> str:
        return self.settings.timezone


# ---------------------------------------------------------------------------- commands
@dataclass(frozen=True)
class FileComplaint:
    filing: dict
    complainant: dict
    channel: str
    filing_key: str
    pledge: str | None
    call_id: str | None = None


@dataclass(frozen=True)
class Act:
    complaint_id: str
    action: str
    viewer: Viewer
    params: dict


@dataclass(frozen=True)
class AddAttachment:
    complaint_id: str
    viewer: Viewer
    attachment: dict


# ---------------------------------------------------------------------------- filing
def check_filing(command: FileComplaint) -> None:
    """Who may file on which channel: unit staff alone file proactive reports (R10), and every
    other channel's filing carries the complainant's pledge (R3)."""
    if command.channel not in domain.CHANNEL_LABELS:
        raise InvalidInput({"channel": [f"unknown channel {command.channel!r}"]})
    if command.channel == "staff" and not (command.complainant["unit"] and Viewer.from_dict(
            command.complainant).has("handler", "head", "office")):
        raise NotFound("only unit staff file proactive reports")
    if command.channel != "staff" and not command.pledge:
        raise InvalidInput({"pledge": [domain.PLEDGE_REQUIRED]})


def file_complaint(uow, command: FileComplaint, env: Env) -> Complaint | None:
    """The new case, or None if this complainant filed with this key before. A filing without
    a category (a hotline voicemail) waits for the office to classify it: nothing is announced
    until then, so nothing routes it."""
    cases = Cases(uow, env.tz)
    complainant, now = command.complainant, uow.clock.now()
    if cases.find_filing(complainant["id"], command.filing_key) is not None:
        return None
    complaint_id = str(uuid.uuid4())
    bind_complaint(complaint_id)
    day = domain.local_day(now, env.tz)
    number = domain.complaint_number(env.settings.complaint_number_prefix, day,
                                     cases.next_number_in_day(day))
    proactive = command.channel == "staff"
    case = cases.add(Complaint(
        id=complaint_id, number=number, status=Status.RECEIVED, channel=command.channel,
        complainant_id=complainant["id"], complainant_name=complainant["name"],
        complainant_college=complainant["college"], filing_key=command.filing_key,
        received_at=now, proactive=proactive, pledge=command.pledge, call_id=command.call_id,
        reporter_unit_id=complainant["unit"] if proactive else None, round=FIRST_ROUND,
        disputed=False, instructed=False, **command.filing), now)
    if case.row.category is not None:
        case.announce(env.screening.screen(case.row.title, case.row.content), now)
    cases.save()
    metrics.RECEIVED.labels(command.channel, case.row.category or domain.UNCLASSIFIED).inc()
    return case.row


def file_once(db, command: FileComplaint, env: Env) -> Complaint:
    """Filing is idempotent per (complainant, key): RPC is at-least-once and clients retry, so
    the same key returns the first filing, not a second case; the same key for another text
    is a Conflict."""
    try:
        with db.unit_of_work() as uow:
            complaint = file_complaint(uow, command, env)
    except IntegrityError:
        complaint = None  # the same key committed concurrently: answer with that one
    if complaint is not None:
        return complaint
    with db.session() as session:
        complaint = find_filing(session, command.complainant["id"], command.filing_key)
        if complaint is None:  # pragma: no cover - the key vanished: a bug, not input
            raise RuntimeError(f"filing {command.filing_key} is neither new nor known")
        if (complaint.category, complaint.content) != (command.filing["category"],
                                                       command.filing["content"]):
            raise Conflict({"idempotency_key": [
                "该幂等键已用于另一条诉求 (this key was used for a different complaint)"]})
        bind_complaint(complaint.id)
        return complaint


# ---------------------------------------------------------------------------- the hotline
def caller(number: str, env: Env) -> dict:
    """A hotline caller as a complainant: a pseudonym, never the number, identifies them
    (staff lists show complainant ids); the number is kept as the contact phone."""
    return {"id": domain.caller_pseudonym(number, env.settings.caller_pseudonym_key),
            "name": None, "roles": ["complainant"], "unit": None, "college": None}


def record_call_event(uow, event: "calls.CallEvent", env: Env) -> dict:
    """One event of a hotline call, applied once per event id: the answer says what followed
    (`duplicate`, `nothing`, `offer`: the operator may file for the caller, `voicemail`: a
    case was filed from the message)."""
    now = uow.clock.now()
    # The row exists (a call's first events may arrive at once), then is locked: the events
    # of one call are applied one after the other.
    uow.session.execute(insert_for(uow.session, HotlineCall.__table__).values(
        call_id=event.call_id, log="{}", updated_at=now)
        .on_conflict_do_nothing(index_elements=["call_id"]))
    row = uow.session.execute(select(HotlineCall).where(
        HotlineCall.call_id == event.call_id).with_for_update()).scalar_one()
    stored = json.loads(row.log)
    log = calls.CallLog.from_dict(stored, env.working_hours) if stored \
        else calls.CallLog(event.call_id, env.working_hours)
    if event.event_id in log.applied:
        return {"outcome": "duplicate", "call_id": event.call_id}
    action = log.apply(event)
    answer = {"outcome": "nothing", "call_id": event.call_id,
              "reason": getattr(action, "reason", None)}
    if isinstance(action, calls.OfferFiling):
        answer = {"outcome": "offer", "call_id": event.call_id, "operator": action.operator,
                  "caller": str(action.caller), "script": action.script}
    elif isinstance(action, calls.FileVoicemail):
        complaint = _file_voicemail(uow, action, env)
        row.complaint_id = complaint.id
        answer = {"outcome": "voicemail", "call_id": event.call_id, "complaint": complaint,
                  "counts_from": action.counts_from.isoformat()}
    row.state, row.log = log.state, json.dumps(log.as_dict(), ensure_ascii=False)
    row.updated_at = now
    return answer


def _file_voicemail(uow, action: "calls.FileVoicemail", env: Env) -> Complaint:
    number = action.caller.number
    filing = {"category": None, "title": None, "content": action.content, "location": None,
              "contact_phone": domain.reachable_phone(number), "anonymous": False,
              "urgent": False}
    person, key = caller(number, env), f"call:{action.call_id}"
    complaint = file_complaint(uow, FileComplaint(filing, person, "hotline", key, action.pledge,
                                                  action.call_id), env)
    if complaint is None:  # the call's row was lost but its case was not: find it
        return find_filing(uow.session, person["id"], key)
    cases = Cases(uow, env.tz)
    case = cases.locked_or_fail(complaint.id)
    case.voicemail(action.recording_url, action.received_at, action.counts_from,
                   uow.clock.now())
    cases.save()
    return complaint


def for_caller(row: HotlineCall | None, call_id: str, filing: dict, operator: Viewer,
               filing_key: str | None, env: Env, now: datetime) -> FileComplaint:
    """The filing an office operator makes for a caller of an answered call: their reading of
    the pledge (calls.PLEDGE_SCRIPT) is what the case records as the pledge."""
    if row is None or row.state not in (calls.ANSWERED, calls.ENDED):
        raise NotFound(f"no answered call {call_id}")
    number = json.loads(row.log)["caller"]
    filing["contact_phone"] = filing["contact_phone"] or domain.reachable_phone(number)
    pledge = calls.pledge_record(operator.name or operator.id, now, env.tz)
    return FileComplaint(filing, caller(number, env), "hotline",
                         filing_key or f"call:{call_id}:{uuid.uuid4()}", pledge, call_id)


# ---------------------------------------------------------------------------- staff actions
def act(uow, command: Act, env: Env) -> None:
    """A staff action on a case. Refused → Conflict (409), and nothing changes; a case the
    viewer may not act on does not exist for them (NotFound)."""
    cases = Cases(uow, env.tz)
    case = cases.locked(command.complaint_id)
    if case is None or not may_read(command.viewer, case.facts()) \
            or not may_act(command.viewer, command.action, case.facts()):
        raise NotFound(f"complaint {command.complaint_id} not found")
    bind_complaint(case.id)
    now = uow.clock.now()
    try:
        case.check_classified(command.action)
        ACTIONS[command.action](cases, case, case.actor(command.viewer), command.params, env,
                                now)
    except Refused as refused:
        raise Conflict({"code": refused.code, "message": refused.message})
    _observe_handling(command.action, case.row, now)
    cases.save()


def _classify(cases, case, actor, params, env, now):
    case.classify(actor, params["category"], params.get("title"), params["urgent"], now)
    case.announce(env.screening.screen(case.row.title, case.row.content), now)


def _communicate(cases, case, actor, params, env, now):
    case.communicate(actor, params["kind"], params["at"], params["with_whom"],
                     params["summary"], now)
    _check_communication_date(params["at"], case.row, now)
    cases.add_communication(case, actor.id, now, kind=params["kind"], at=params["at"],
                            with_whom=params["with_whom"], summary=params["summary"])


def _screen_out(cases, case, actor, params, env, now):
    reply = env.screening.template_for(params["rule"])
    if reply is None:
        raise Refused("unknown_rule", f"没有规则 {params['rule']}")
    case.screen_out(actor, params["rule"], env.screening.kind_of(params["rule"]), reply, now)


def _dispatch(cases, case, actor, params, env, now):
    # Checked now: 400 for a unit routing does not know (it could not assign there, and the
    # case would stay where it is without a word), whatever the case's state; 409 if the state
    # does not allow it. The assignment itself arrives from routing, which names the handler.
    unit_id = params.get("unit_id")
    if unit_id is not None and not env.unit_exists(unit_id):
        raise InvalidInput({"unit_id": [
            f"没有这个单位 (no such unit in the organisation directory: {unit_id!r})"]})
    case.request_dispatch(actor, unit_id, now)


def _link(cases, case, actor, params, env, now):
    other = cases.get(params["other_id"])
    if other is None:
        raise Refused("unknown_case", "关联的诉求不存在")
    case.link(actor, other, now)
    cases.add_link(case, other, "similar", actor.id, now)


def _merge(cases, case, actor, params, env, now):
    target = cases.get(params["into"])
    if target is None:
        raise Refused("unknown_case", "合并目标须为另一条办理中的诉求")
    case.merge_into(actor, target, now)
    cases.add_link(case, target, "duplicate", actor.id, now)


def _step(action: str, note: str | None = None):
    """A lifecycle step whose only parameter, if any, is the note it records."""
    def take(cases, case, actor, params, env, now):
        case.transition(action, actor, now, note=params[note] if note else None)
    return take


def _reply(cases, case, actor, params, env, now):
    case.reply(actor, params["outcome"], params["text"], now)


def _instruct(cases, case, actor, params, env, now):
    case.instruct(actor, params["text"], now)


# action -> what it does (each one: the case's method, and what the action adds around it)
ACTIONS = {
    "classify": _classify, "sign_for": _step("sign_for"), "start": _step("start"),
    "return_case": _step("return_case", note="reason"), "reply": _reply,
    "communicate": _communicate, "screen_out": _screen_out, "dispatch": _dispatch,
    "instruct": _instruct, "link": _link, "merge": _merge,
}


def _check_communication_date(at, complaint: Complaint, now) -> None:
    """R6: a communication record says when the complainant was talked to; it cannot be
    later than now, nor earlier than the case (the schema bounds the year already). A form
    gives the time to the minute: a call in the minute the case came in is not before it."""
    if at > now + CLOCK_SKEW:
        raise InvalidInput({"at": ["沟通时间不能是未来的时间 (a communication cannot be dated in "
                                   "the future)"]})
    if at < complaint.received_at.replace(second=0, microsecond=0):
        raise InvalidInput({"at": ["沟通时间不能早于诉求受理时间 (a communication cannot be dated "
                                   "before the case was filed)"]})


def _observe_handling(action: str, complaint: Complaint, now) -> None:
    unit = complaint.unit_id or ""
    if action == "sign_for" and complaint.assigned_at:
        metrics.TIME_TO_SIGN.labels(unit).observe((now - complaint.assigned_at).total_seconds())
    elif action == "reply":
        metrics.TIME_TO_REPLY.labels(unit).observe((now - complaint.received_at).total_seconds())


# ---------------------------------------------------------------------------- attachments
def add_attachment(uow, command: AddAttachment, env: Env) -> None:
    """X4: record a photo or voice message the gateway has stored (by its SHA-256) on a case
    the viewer may read; adding the same one twice records it once."""
    cases = Cases(uow, env.tz)
    case = cases.locked(command.complaint_id)
    if case is None or not may_read(command.viewer, case.facts()):
        raise NotFound(f"complaint {command.complaint_id} not found")
    attachment, now = command.attachment, uow.clock.now()
    if cases.has_attachment(case, attachment["sha256"]):
        return
    if cases.count_attachments(case) >= env.settings.max_attachments:
        raise Conflict({"code": "too_many",
                        "message": f"每条诉求最多 {env.settings.max_attachments} 个附件"})
    actor = case.actor(command.viewer)
    cases.add_attachment(case, actor.id, now, **attachment)
    case.attach(actor, attachment["kind"], attachment["sha256"], now)
    cases.save()


def read_contact_phone(uow, complaint_id: str, viewer: Viewer, env: Env) -> None:
    """R15: the office read a complainant's phone number whole; that read is audited."""
    cases = Cases(uow, env.tz)
    case = cases.get(complaint_id)
    case.contact_phone_read(Actor.of(viewer), uow.clock.now())
    cases.save()


# ------------------------------------------------------- what the other services tell intake
# event type -> the Case method that applies it (each one a projection of another service's
# fact onto the case).
PROJECTIONS = {
    "complaint_assigned": Case.assigned,
    "deadline_set": Case.deadline_set,
    "sla_alert": Case.sla_alerted,
    "timetable_set": Case.timetable_set,
    "milestone_updated": Case.milestone_updated,
    "extension_requested": Case.extension_noted,
    "extension_decided": Case.extension_noted,
    "complaint_rated": Case.rated,
    "rating_expired": Case.rating_expired,
    "supervisor_assigned": Case.supervisor_assigned,
    "exclusion_requested": Case.exclusion_noted,
    "exclusion_decided": Case.exclusion_noted,
    "campaign_case_attached": Case.campaign_changed,
    "campaign_case_detached": Case.campaign_changed,
}


def project(uow, event: dict, env: Env) -> None:
    cases = Cases(uow, env.tz)
    case = cases.locked_or_fail(event["complaint_id"])
    PROJECTIONS[event["event_type"]](case, event)
    cases.save()


def projection(source: str, event_type: str):
    """The service's entrypoint for `source`'s `event_type`: applied to its case, once per
    event (its consumer is named intake.on_<event_type>)."""
    def apply(self, event, uow):
        project(uow, event, self.env)
    apply.__name__ = apply.__qualname__ = f"on_{event_type}"
    return consumes(source, event_type)(apply)
