"""Every transition of the case, allowed and refused, and the regulation's rules on them."""
from datetime import datetime, timedelta, timezone

import pytest

from services.intake.lifecycle import (TRANSITIONS, Case, Communication, Refused, Status)

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
ALL_STATES = list(Status.LABELS)


def case(status, **kw):
    kw.setdefault("unit_id", "logistics")
    kw.setdefault("lead_unit_id", "logistics")
    return Case(status=status, **kw)


def args(action):
    return {"unit_id": "logistics"} if action == "assign" else \
        {"outcome": "solved"} if action == "reply" else {}


@pytest.mark.parametrize("action, source", [
    (action, source) for action, (sources, _) in TRANSITIONS.items() for source in sources])
def test_every_allowed_transition_leads_to_its_target(action, source):
    before = case(source, instructed=True)
    after = before.apply(action, now=NOW, **args(action))
    assert after.status == TRANSITIONS[action][1]


@pytest.mark.parametrize("action, source", [
    (action, source) for action, (sources, _) in TRANSITIONS.items()
    for source in ALL_STATES if source not in sources])
def test_every_other_transition_is_refused_and_changes_nothing(action, source):
    before = case(source, instructed=True)
    with pytest.raises(Refused) as refused:
        before.apply(action, now=NOW, **args(action))
    assert refused.value.code == "illegal_transition"
    assert before.status == source  # frozen: the case object is untouched


def test_an_unknown_action_is_refused():
    with pytest.raises(Refused):
        case(Status.ASSIGNED).apply("teleport", now=NOW)


def test_the_walk_from_received_to_closed():
    c = Case(status=Status.RECEIVED)
    c = c.apply("assign", now=NOW, unit_id="logistics")
    assert c.lead_unit_id == "logistics"
    c = c.apply("sign_for", now=NOW)
    c = c.record_communication("phone", NOW)
    assert c.status == Status.IN_PROGRESS  # the first call starts the handling
    c = c.apply("reply", now=NOW, outcome="solved")
    assert c.apply("close", now=NOW).status == Status.CLOSED


def test_redo_then_supervision_raise_the_round():
    replied = case(Status.REPLIED)
    redo = replied.apply("order_redo", now=NOW)
    assert (redo.status, redo.round) == (Status.REDO, 1)
    again = redo.apply("assign", now=NOW, unit_id="logistics").apply("sign_for", now=NOW) \
        .apply("reply", now=NOW, outcome="explained")
    supervised = again.apply("supervise", now=NOW)
    assert (supervised.status, supervised.round, supervised.instructed) == \
        (Status.SUPERVISED, 2, False)


def test_a_supervised_case_waits_for_the_leaders_instruction():
    supervised = case(Status.SUPERVISED, round=2)
    with pytest.raises(Refused) as refused:
        supervised.apply("assign", now=NOW, unit_id="logistics")
    assert refused.value.code == "instruction_required"
    assert supervised.instruct().apply("assign", now=NOW, unit_id="logistics").status == \
        Status.ASSIGNED


def test_only_a_supervised_case_takes_an_instruction():
    with pytest.raises(Refused):
        case(Status.IN_PROGRESS).instruct()


def test_assignment_needs_a_unit():
    with pytest.raises(Refused) as refused:
        Case(status=Status.RECEIVED).apply("assign", now=NOW)
    assert refused.value.code == "unit_required"


# --------------------------------------------------------------------------------- R8
def test_the_first_receiving_unit_stays_lead_after_a_redispatch():
    c = Case(status=Status.RECEIVED).apply("assign", now=NOW, unit_id="logistics")
    c = c.apply("return_case", now=NOW).apply("assign", now=NOW, unit_id="security")
    assert (c.unit_id, c.lead_unit_id) == ("security", "logistics")


def test_the_lead_unit_of_a_disputed_case_cannot_return_it():
    disputed = case(Status.ASSIGNED, disputed=True)
    with pytest.raises(Refused) as refused:
        disputed.apply("return_case", now=NOW)
    assert refused.value.code == "lead_unit_cannot_return"


def test_a_unit_may_return_a_case_that_is_not_disputed():
    assert case(Status.ASSIGNED).apply("return_case", now=NOW).status == Status.RETURNED


# --------------------------------------------------------------------------------- R6
def test_a_reply_needs_an_outcome():
    with pytest.raises(Refused) as refused:
        case(Status.IN_PROGRESS).apply("reply", now=NOW)
    assert refused.value.code == "outcome_required"


def test_policy_unsolvable_needs_a_face_to_face_meeting_first():
    c = case(Status.IN_PROGRESS, communications=(Communication("phone", NOW, 0),))
    with pytest.raises(Refused) as refused:
        c.apply("reply", now=NOW, outcome="policy_unsolvable")
    assert refused.value.code == "face_to_face_required"
    met = c.record_communication("face_to_face", NOW)
    assert met.apply("reply", now=NOW, outcome="policy_unsolvable").status == Status.REPLIED


def test_a_meeting_from_an_earlier_round_does_not_count():
    c = case(Status.IN_PROGRESS, round=1, communications=(Communication("face_to_face", NOW, 0),))
    with pytest.raises(Refused):
        c.apply("reply", now=NOW, outcome="policy_unsolvable")


def test_past_the_first_deadline_a_phone_call_is_required():
    late = case(Status.IN_PROGRESS, first_due_at=NOW - timedelta(hours=1))
    with pytest.raises(Refused) as refused:
        late.apply("reply", now=NOW, outcome="solved")
    assert refused.value.code == "phone_call_required"
    called = late.record_communication("phone", NOW)
    assert called.apply("reply", now=NOW, outcome="solved").status == Status.REPLIED


def test_within_the_deadline_no_call_is_required():
    on_time = case(Status.IN_PROGRESS, first_due_at=NOW + timedelta(hours=1))
    assert on_time.apply("reply", now=NOW, outcome="solved").status == Status.REPLIED


def test_communications_are_recorded_only_while_handling():
    with pytest.raises(Refused):
        case(Status.CLOSED).record_communication("phone", NOW)
    with pytest.raises(Refused):
        case(Status.IN_PROGRESS).record_communication("email", NOW)
