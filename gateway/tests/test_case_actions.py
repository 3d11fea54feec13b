"""The case page's actions (gateway/pages/case_actions.py): what each viewer is offered in each
state, against the services' own rules (the lifecycle's table is read here, in a test, since
the gateway itself may not import services.intake)."""
from __future__ import annotations

import importlib

import pytest

from gateway.pages.case_actions import (FROM_STATES, allowed_actions, instructed_this_round,
                                        may_decide, pending_extensions)

# Loaded, not imported: lint-imports keeps the gateway package (its tests too) off the
# services; the comparison is what keeps the two tables from drifting apart.
TRANSITIONS = importlib.import_module("services.intake.lifecycle").TRANSITIONS

HANDLER = {"id": "u-hqc-1", "roles": ["handler"], "unit": "logistics"}
HEAD = {"id": "u-hqc-head", "roles": ["head"], "unit": "logistics"}
OTHER_UNIT = {"id": "u-bwc-1", "roles": ["handler"], "unit": "security"}
OFFICE = {"id": "u-office-1", "roles": ["office"], "unit": "office"}
LEADER = {"id": "l-vp-logistics", "roles": ["leader"]}
UNIT_ONLY = {"sign_for", "start", "communicate", "reply", "return_case", "request_extension",
             "set_timetable", "update_milestone"}


def case(status="assigned", **extra):
    return {"id": "c1", "status": status, "category": "logistics",
            "assigned_unit": {"id": "logistics", "name": "后勤处"}, "disputed": False,
            "lead_unit_id": "logistics", "timetable": None, "timeline": [], **extra}


def test_the_states_are_the_lifecycle_s():
    for action, states in FROM_STATES.items():
        # the office's 派单 asks routing for the assignment the lifecycle calls assign
        rule = "assign" if action == "dispatch" else action
        assert states == set(TRANSITIONS[rule][0]), action


@pytest.mark.parametrize("status, expected", [
    ("assigned", {"sign_for", "communicate", "return_case", "request_extension",
                  "set_timetable"}),
    ("signed", {"start", "communicate", "reply", "return_case", "request_extension",
                "set_timetable"}),
    ("in_progress", {"communicate", "reply", "request_extension", "set_timetable"}),
    ("replied", set()),
    ("closed", set()),
    ("returned", set()),
])
def test_the_unit_that_holds_the_case(status, expected):
    assert allowed_actions(case(status), HANDLER) == expected
    assert allowed_actions(case(status), HEAD) == expected


def test_another_unit_and_the_leader_do_nothing_to_a_case_they_do_not_hold():
    assert allowed_actions(case("assigned"), OTHER_UNIT) == set()
    assert allowed_actions(case("signed"), LEADER) == set()
    assert allowed_actions(case("signed", assigned_unit=None), HANDLER) == set()


def test_the_office_never_gets_the_unit_s_actions():
    for status in ("assigned", "signed", "in_progress"):
        assert not allowed_actions(case(status), OFFICE) & UNIT_ONLY


def test_the_lead_unit_of_a_disputed_case_cannot_return_it():
    disputed = case("assigned", disputed=True, lead_unit_id="logistics")
    assert "return_case" not in allowed_actions(disputed, HANDLER)
    assisting_lead = case("assigned", disputed=True, lead_unit_id="security")
    assert "return_case" in allowed_actions(assisting_lead, HANDLER)


def test_a_voicemail_is_classified_before_anything_else():
    voicemail = case("received", category=None, assigned_unit=None)
    assert allowed_actions(voicemail, OFFICE) == {"classify", "link"}
    assert allowed_actions(voicemail, HANDLER) == set()


@pytest.mark.parametrize("status, expected", [
    ("received", {"screen_out", "dispatch", "merge", "link"}),
    ("assigned", {"screen_out", "merge", "link"}),
    ("returned", {"screen_out", "dispatch", "merge", "link"}),
    ("signed", {"merge", "link"}),
    ("replied", {"callback", "link"}),
    ("redo", {"dispatch", "link"}),
    ("closed", {"link"}),
])
def test_the_office(status, expected):
    assert allowed_actions(case(status), OFFICE) == expected


def test_a_supervised_case_waits_for_its_leader_s_instruction():
    supervised = case("supervised", supervisor={"id": "l-vp-logistics", "name": "水长青"},
                      timeline=[{"kind": "supervise"}])
    assert allowed_actions(supervised, LEADER) == {"instruct"}
    assert allowed_actions(supervised, {"id": "l-vp-teaching", "roles": ["leader"]}) == set()
    assert "dispatch" not in allowed_actions(supervised, OFFICE)
    instructed = dict(supervised, timeline=[{"kind": "supervise"}, {"kind": "instruct"}])
    assert allowed_actions(instructed, LEADER) == set()
    assert "dispatch" in allowed_actions(instructed, OFFICE)
    # a second round of supervision needs a new instruction
    again = dict(supervised, timeline=[{"kind": "supervise"}, {"kind": "instruct"},
                                       {"kind": "supervise"}])
    assert not instructed_this_round(again)
    assert allowed_actions(again, LEADER) == {"instruct"}


def test_a_timetable_s_pending_milestone_is_updated_and_no_second_one_is_set():
    planned = case("in_progress", timetable=[{"id": "m1", "status": "pending"}])
    allowed = allowed_actions(planned, HANDLER)
    assert "update_milestone" in allowed and "set_timetable" not in allowed
    done = case("in_progress", timetable=[{"id": "m1", "status": "met"}])
    assert {"set_timetable"} <= allowed_actions(done, HANDLER)
    assert "update_milestone" not in allowed_actions(done, HANDLER)


def _deadlines(requested_by):
    return [{"kind": "response", "round": 0, "extensions": []},
            {"kind": "resolution", "round": 0, "extensions": [
                {"id": "e1", "status": "refused", "requested_by": "u-hqc-1"},
                {"id": "e2", "status": "requested", "requested_by": requested_by}]}]


def test_extensions_one_pending_at_a_time_decided_by_somebody_else():
    deadlines = _deadlines("u-hqc-1")
    assert [e["id"] for e in pending_extensions(deadlines)] == ["e2"]
    handler = allowed_actions(case("signed"), HANDLER, deadlines)
    assert "request_extension" not in handler and "decide_extension" not in handler
    assert "decide_extension" in allowed_actions(case("signed"), HEAD, deadlines)
    assert "decide_extension" in allowed_actions(case("signed"), OFFICE, deadlines)
    # the head who asked does not decide their own request
    own = _deadlines("u-hqc-head")
    assert "decide_extension" not in allowed_actions(case("signed"), HEAD, own)
    assert not may_decide(pending_extensions(own)[0], case("signed"), HEAD)
    # another unit's head decides nothing here
    other_head = {"id": "u-bwc-head", "roles": ["head"], "unit": "security"}
    assert "decide_extension" not in allowed_actions(case("signed"), other_head, deadlines)
    assert "request_extension" in allowed_actions(case("signed"), HANDLER, [])
