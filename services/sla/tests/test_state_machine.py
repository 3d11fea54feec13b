"""The SLA's state machine alone (services/sla/domain.py): targets, timers, extensions and
timetables, without a database, a broker or a worker."""
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.common.access import Viewer
from services.common.settings import Settings
from services.sla.domain import (APPROVED, CANCELLED, MET, NORMAL, OVERDUE, PENDING, REFUSED,
                                 REQUESTED, WARNING, Extension, Invalid, Refused, Sla,
                                 SlaPolicy, Target, Unknown, facts_from_assigned,
                                 facts_from_supervisor,
                                 may_read_deadlines)

SH = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=SH)
SLA = Sla(SlaPolicy(Settings()))
HANDLER = Viewer("u-hqc-1", "冯涛", ("handler",), "logistics")
HEAD = Viewer("u-hqc-head", "韩梅", ("head",), "logistics")
OTHER_UNIT = Viewer("u-bwc-1", "李强", ("handler",), "security")
OFFICE = Viewer("u-office-1", "周敏", ("office",), "office")
LEADER = {"id": "l-vp", "name": "水长青"}


def assignment(round_=0, occurred_at=MONDAY_9, **extra):
    return dict({"complaint_id": "case-1", "round": round_, "grade": "general",
                 "number": "JS-1", "category": "logistics", "occurred_at": occurred_at,
                 "received_at": MONDAY_9 - timedelta(minutes=30),
                 "unit": {"id": "logistics", "name": "后勤管理处"},
                 "handler": {"id": HANDLER.id, "name": HANDLER.name},
                 "unit_head": {"id": HEAD.id, "name": HEAD.name}, "leader": LEADER,
                 "disputed": False, "assisting_units": []}, **extra)


def targets(now=MONDAY_9):
    """The two targets of a first round, saved (with ids)."""
    decision = SLA.assign(assignment(), (), now)
    return [replace(change.target, id=n) for n, change in enumerate(decision.changes, 1)]


def resolution():
    return targets()[0]


# ------------------------------------------------------------------ assignment
def test_an_assignment_sets_and_announces_both_targets_with_their_timers():
    decision = SLA.assign(assignment(), (), MONDAY_9)

    resolution, response = (change.target for change in decision.changes)
    assert (resolution.kind, resolution.status, resolution.state) == ("resolution", PENDING,
                                                                      NORMAL)
    assert resolution.starts_at == MONDAY_9 - timedelta(minutes=30)   # from receipt
    assert resolution.due_at == datetime(2026, 11, 23, 17, 30, tzinfo=SH)
    assert response.kind == "response" and response.starts_at == MONDAY_9
    assert resolution.recipients["head"] == {"id": HEAD.id, "name": HEAD.name}
    kinds = [alert.kind for alert in decision.changes[0].timers]
    assert kinds == ["warning", "urge", "overdue", "escalate", "escalate", "escalate"]
    assert [(e.event_type, e.fields["target"]) for e in decision.events] == [
        ("deadline_set", "resolution"), ("deadline_set", "response")]
    assert decision.events[0].fields["due_at"] == resolution.due_at


def test_a_redo_round_runs_from_its_dispatch():
    later = MONDAY_9 + timedelta(days=2)

    decision = SLA.assign(assignment(round_=1, occurred_at=later), (), later)

    assert decision.changes[0].target.starts_at == later
    assert decision.changes[0].target.round == 1


def test_a_redispatch_within_the_round_keeps_the_clock_and_changes_who_hears():
    before = targets()
    new_head = {"id": "u-bwc-head", "name": "王磊"}

    decision = SLA.assign(assignment(unit={"id": "security", "name": "保卫处"},
                                     unit_head=new_head), before, MONDAY_9 + timedelta(hours=1))

    assert not decision.events
    assert all(not change.timers and not change.cancel_timers for change in decision.changes)
    assert [c.target.due_at for c in decision.changes] == [t.due_at for t in before]
    assert {c.target.unit_id for c in decision.changes} == {"security"}
    assert decision.changes[0].target.recipients["head"] == new_head


def test_warnings_already_past_are_not_scheduled_but_overdue_is():
    late = datetime(2026, 11, 23, 17, 0, tzinfo=SH)     # after the warning and the urging

    decision = SLA.assign(assignment(occurred_at=late), (), late)

    kinds = [alert.kind for alert in decision.changes[0].timers]
    assert "warning" not in kinds and "urge" not in kinds and "overdue" in kinds


# ------------------------------------------------------------------ the case moves on
@pytest.mark.parametrize("action, touched, status", [
    ("sign_for", {"response"}, MET),
    ("reply", {"resolution", "response"}, MET),
    ("close", {"resolution", "response"}, CANCELLED),
    ("merge", {"resolution", "response"}, CANCELLED),
])
def test_a_step_meets_or_stops_its_targets_and_their_timers(action, touched, status):
    at = MONDAY_9 + timedelta(hours=1)

    decision = Sla.transition(action, targets(), at)

    assert {c.target.kind for c in decision.changes} == touched
    assert all(c.target.status == status and c.cancel_timers for c in decision.changes)
    assert all(c.target.met_at == (at if status == MET else None) for c in decision.changes)
    assert not decision.events


@pytest.mark.parametrize("action", ["start", "return_case", "order_redo", "supervise"])
def test_other_steps_leave_the_clocks_alone(action):
    assert not Sla.concerns(action)


def test_a_target_already_met_is_not_met_again():
    met = [t.meet(MONDAY_9) for t in targets()]

    assert not Sla.transition("close", met, MONDAY_9 + timedelta(days=1)).changes


# ------------------------------------------------------------------ timers fire
def test_a_warning_puts_the_target_in_warning_and_tells_the_handler():
    target, alert = resolution().fire("warning", "handler")

    assert target.state == WARNING
    assert alert.event_type == "sla_alert"
    assert alert.fields["recipient"] == {"id": HANDLER.id, "name": HANDLER.name}
    assert (alert.fields["alert"], alert.fields["level"]) == ("warning", "handler")


def test_overdue_and_escalation_make_it_overdue_and_a_late_warning_does_not_undo_it():
    target, _ = resolution().fire("overdue", "handler")
    target, _ = target.fire("warning", "handler")
    target, alert = target.fire("escalate", "office")

    assert target.state == OVERDUE
    assert alert.fields["recipient"] == {"id": "office", "name": "接诉即办工作办公室"}


def test_urging_tells_the_head_without_changing_the_state():
    target, alert = resolution().fire("urge", "head")

    assert target.state == NORMAL and alert.fields["recipient"]["id"] == HEAD.id


# ------------------------------------------------------------------ extensions (X2)
def ask(current=None, viewer=HANDLER, new_due_at=None, pending=False, now=MONDAY_9):
    current = current or resolution()
    return Sla.request_extension(current, viewer, {
        "reason": "需采购配件", "new_due_at": new_due_at or current.due_at + timedelta(days=2)},
        pending, now)


def test_the_unit_asks_for_more_time():
    decision = ask()

    assert decision.extension.status == REQUESTED and decision.extension.deadline_id == 1
    assert not decision.changes
    (told,) = decision.events
    assert told.event_type == "extension_requested"
    assert told.fields["unit_head"]["id"] == HEAD.id


@pytest.mark.parametrize("kwargs, refusal", [
    ({"viewer": OTHER_UNIT}, Unknown),
    ({"viewer": OFFICE}, Unknown),
    ({"new_due_at": MONDAY_9 - timedelta(hours=1)}, Invalid),
    ({"new_due_at": MONDAY_9 + timedelta(days=367)}, Invalid),
    ({"new_due_at": datetime(2026, 11, 23, 17, 0, tzinfo=SH)}, Invalid),   # before the due
    ({"pending": True}, Refused),
])
def test_an_extension_is_refused(kwargs, refusal):
    with pytest.raises(refusal):
        ask(**kwargs)


def test_no_target_no_extension():
    with pytest.raises(Unknown):
        Sla.request_extension(None, HANDLER, {}, False, MONDAY_9)


def asked(by=HANDLER):
    return ask(viewer=by).extension


def decide(extension, viewer=HEAD, approve=True, target=None):
    return SLA.decide_extension(extension, target or resolution(), viewer,
                                {"approve": approve, "note": "同意"}, MONDAY_9)


def test_an_approval_moves_the_deadline_and_replaces_its_timers():
    overdue = replace(resolution(), state=OVERDUE)
    extension = asked()

    decision = decide(extension, target=overdue)

    (change,) = decision.changes
    assert change.target.due_at == extension.new_due_at and change.target.state == NORMAL
    assert change.cancel_timers and change.timers
    assert decision.extension.status == APPROVED and decision.extension.decided_by == HEAD.id
    assert [e.event_type for e in decision.events] == ["deadline_set", "extension_decided"]
    assert decision.events[0].fields["extended"] is True
    assert decision.events[0].fields["reason"] == "需采购配件"


def test_a_refusal_changes_no_deadline():
    decision = decide(asked(), approve=False)

    assert not decision.changes and decision.extension.status == REFUSED
    assert [e.event_type for e in decision.events] == ["extension_decided"]


@pytest.mark.parametrize("extension, viewer, refusal", [
    (None, HEAD, Unknown),
    ("handler's", HANDLER, Unknown),          # a handler does not decide
    ("handler's", OTHER_UNIT, Unknown),
    ("head's", HEAD, Refused),                # not one's own
    ("decided", OFFICE, Refused),
])
def test_a_decision_is_refused(extension, viewer, refusal):
    extension = {None: None, "handler's": asked(), "head's": asked(HEAD),
                 "decided": replace(asked(), status=APPROVED)}[extension]

    with pytest.raises(refusal):
        decide(extension, viewer)


def test_the_office_decides_any_units_request():
    assert decide(asked(HEAD), OFFICE).extension.status == APPROVED


# ------------------------------------------------------------------ timetables (R7)
def timetable(*steps):
    return {"milestones": [dict({"title": f"第{n}步", "feedback_due_at": None}, **step)
                           for n, step in enumerate(steps, 1)]}


def test_a_timetable_tracks_each_step_and_its_feedback_like_a_deadline():
    current = resolution()

    decision = SLA.set_timetable(current, HANDLER, timetable(
        {"due_at": MONDAY_9 + timedelta(days=30),
         "feedback_due_at": MONDAY_9 + timedelta(days=14)},
        {"due_at": MONDAY_9 + timedelta(days=60)}), False, current.starts_at, MONDAY_9)

    assert [c.target.kind for c in decision.changes] == ["milestone", "feedback", "milestone"]
    assert all(c.target.id is None and c.timers for c in decision.changes)
    assert decision.changes[0].target.milestone_id == decision.changes[1].target.milestone_id
    (event,) = decision.events
    assert event.event_type == "timetable_set" and len(event.fields["milestones"]) == 2
    assert decision.answer["milestones"] == event.fields["milestones"]


@pytest.mark.parametrize("viewer, has_one, due_at, refusal", [
    (OTHER_UNIT, False, MONDAY_9 + timedelta(days=3), Unknown),
    (HANDLER, True, MONDAY_9 + timedelta(days=3), Refused),
    (HANDLER, False, MONDAY_9 - timedelta(days=3), Invalid),
    (HANDLER, False, MONDAY_9 + timedelta(days=400), Invalid),
])
def test_a_timetable_is_refused(viewer, has_one, due_at, refusal):
    current = resolution()

    with pytest.raises(refusal):
        SLA.set_timetable(current, viewer, timetable({"due_at": due_at}), has_one,
                          current.starts_at, MONDAY_9)


def milestone_steps():
    current = resolution()
    decision = SLA.set_timetable(current, HANDLER, timetable(
        {"due_at": MONDAY_9 + timedelta(days=30),
         "feedback_due_at": MONDAY_9 + timedelta(days=14)}), False, current.starts_at, MONDAY_9)
    return [replace(c.target, id=n) for n, c in enumerate(decision.changes, 10)]


@pytest.mark.parametrize("update, met", [("feedback", {"feedback"}),
                                         ("done", {"milestone", "feedback"})])
def test_feedback_meets_its_date_and_done_meets_the_step(update, met):
    later = MONDAY_9 + timedelta(days=3)

    decision = Sla.update_milestone(milestone_steps(), HANDLER,
                                    {"update": update, "note": "配件已到货"}, later)

    assert {c.target.kind for c in decision.changes} == met
    assert all(c.target.status == MET and c.target.met_at == later and c.cancel_timers
               for c in decision.changes)
    (event,) = decision.events
    assert event.fields["milestone"]["status"] == (MET if update == "done" else PENDING)
    assert decision.answer["status"] == event.fields["milestone"]["status"]


def test_another_units_milestone_is_unknown():
    with pytest.raises(Unknown):
        Sla.update_milestone(milestone_steps(), OTHER_UNIT, {"update": "done", "note": "x"},
                             MONDAY_9)


# ------------------------------------------------------------------ who reads the deadlines
def test_the_facts_of_a_case_come_from_its_assignments_and_its_supervisor():
    known = {}
    known.update(facts_from_assigned(assignment(
        disputed=True, assisting_units=[{"id": "security", "name": "保卫处"}],
        complainant={"id": "s-1", "name": None}, reporter_unit=None)))
    known.update(facts_from_assigned(assignment()))     # not disputed: assisting units kept
    known.update(facts_from_supervisor({"leader": LEADER}))

    assert known == {"complainant_id": "s-1", "reporting_unit_id": None,
                     "unit_id": "logistics", "assisting_unit_ids": ["security"],
                     "supervisor_id": "l-vp"}
    readers = [Viewer("s-1", roles=("complainant",)), HANDLER, OTHER_UNIT, OFFICE,
               Viewer("l-vp", roles=("leader",))]
    assert all(may_read_deadlines(viewer, known) for viewer in readers)
    assert not may_read_deadlines(Viewer("s-2", roles=("complainant",)), known)
    assert not may_read_deadlines(Viewer("l-other", roles=("leader",)), known)


def test_a_case_never_heard_of_is_the_offices_only():
    assert may_read_deadlines(OFFICE, None)
    assert not may_read_deadlines(HANDLER, None)
    assert not may_read_deadlines(Viewer("", roles=("complainant",)), {"unit_id": "x"})


def test_values_are_frozen():
    with pytest.raises(AttributeError):
        resolution().status = MET
    with pytest.raises(AttributeError):
        Extension("e", 1, "c", "u", MONDAY_9, "r", MONDAY_9, MONDAY_9).status = APPROVED
    assert isinstance(resolution(), Target)


def test_the_state_machine_needs_no_framework():
    code = ("import sys, services.sla.domain; print(sorted({m.split('.')[0] for m in "
            "sys.modules} & {'nameko', 'sqlalchemy', 'marshmallow', 'eventlet'}))")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[3])
    assert ran.stdout.strip() == "[]"
