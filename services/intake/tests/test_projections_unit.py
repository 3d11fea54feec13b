"""Issue 11 (7): every event intake projects onto its cases (routing's, sla's and rating's
decisions), with no broker: what the case shows afterwards, the timeline line, the audit row,
and what intake puts on the bus in turn (nothing, but for a rating's decision). Also the
unit's figures and the lists that are read off these projections.

Event payloads are built with the contracts (build_event), as their producers build them.
"""
from datetime import datetime, timedelta, timezone

import pytest

from services.common.contracts import build_event
from services.common.errors import Conflict, NotFound
from services.intake.tests import test_actions_unit as actions
from services.intake.tests.test_actions_unit import (
    LEADER, LOGISTICS, OFFICE, SECURITY, STUDENT, assert_audited, assert_transitioned, assign,
    assigned_case, assigned_event, audit, case, file, in_progress_case, kinds, last_line,
    rated_event, replied_case, signed_case, snapshot, step, supervisor_event, transitions)

# The same service, database and clock as the actions' tests.
clock, db, routing, service = actions.clock, actions.db, actions.routing, actions.service

DUE = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)  # 17:30 in Shanghai
SECURITY_HEAD = {"id": "u-bwc-0", "name": "周强", "roles": ["head"], "unit": "security"}


def number(service, case_id):
    return case(service, case_id)["number"]


def deadline_event(service, case_id, due_at=DUE, **extra):
    return build_event("deadline_set", case_id, service.clock.now(), grade="general",
                       starts_at=service.clock.now(), due_at=due_at, **extra)


def alert_event(service, case_id, alert, target="resolution", level="handler",
                recipient=LOGISTICS):
    return build_event("sla_alert", case_id, service.clock.now(), number=number(service, case_id),
                       target=target, alert=alert, level=level,
                       recipient={"id": recipient["id"], "name": recipient["name"]},
                       due_at=DUE)


MILESTONE = {"id": "m1", "title": "采购并更换热水器",
             "due_at": datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
             "feedback_due_at": datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)}


def timetable_event(service, case_id):
    return build_event("timetable_set", case_id, service.clock.now(),
                       number=number(service, case_id), milestones=[MILESTONE],
                       set_by={"id": LOGISTICS["id"], "name": LOGISTICS["name"]})


def milestone_event(service, case_id, update, status="pending"):
    return build_event("milestone_updated", case_id, service.clock.now(),
                       number=number(service, case_id), milestone=dict(MILESTONE, status=status),
                       update=update, note="热水器已到货,周五安装",
                       by={"id": LOGISTICS["id"], "name": LOGISTICS["name"]})


def extension_event(service, case_id, event_type, status, note=None):
    decided = {"id": "u-hqc-0", "name": "韩梅"} if status != "requested" else None
    return build_event(event_type, case_id, service.clock.now(), extension_id="x-1",
                       status=status, reason="需等待配件到货", old_due_at=DUE,
                       new_due_at=DUE + timedelta(days=1), number=number(service, case_id),
                       requested_by={"id": LOGISTICS["id"], "name": LOGISTICS["name"]},
                       decided_by=decided, note=note)


def later(service, minutes=1):
    service.clock.advance(minutes=minutes)


def unchanged_outbox(db):
    """Projections put nothing on the bus: assert the outbox does not grow inside the block."""
    class Watch:
        def __enter__(self):
            self.before = len(db.outbox)

        def __exit__(self, *exc):
            if exc[0] is None:
                assert len(db.outbox) == self.before
    return Watch()


# ------------------------------------------------------------------ complaint_assigned
def test_an_assignment_gives_the_case_its_unit_handler_and_grade(service, db):
    case_id = file(service)
    audited = len(audit(service, case_id))

    with unchanged_outbox(db):
        assign(service, case_id, grade="simple")

    shown = case(service, case_id, STUDENT)
    assert (shown["status"], shown["grade"], shown["lead_unit_id"]) == \
        ("assigned", "simple", "logistics")
    assert shown["assigned_unit"] == {"id": "logistics", "name": "后勤管理处"}
    assert shown["handler"] == {"id": "u-hqc-1", "name": "冯涛"}
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"], line["text"]) == \
        ("assigned", "routing", "已直派 后勤管理处,承办人 冯涛")
    rows = audit(service, case_id)
    assert len(rows) == audited + 1
    assert (rows[-1]["action"], rows[-1]["actor_id"], rows[-1]["actor_role"]) == \
        ("assign", "routing", "system")
    assert rows[-1]["changes"]["unit_id"] == [None, "logistics"]
    assert [c["id"] for c in service.list_cases(LOGISTICS)] == [case_id]


def test_a_disputed_assignment_names_the_lead_and_the_assisting_units(service, db):
    case_id = file(service)

    with unchanged_outbox(db):
        assign(service, case_id, assisting=("security",))

    shown = case(service, case_id)
    assert (shown["disputed"], shown["lead_unit_id"]) == (True, "logistics")
    assert shown["assisting_units"] == [{"id": "security", "name": "保卫处"}]
    assert "首接主办;协办:保卫处" in shown["timeline"][-1]["text"]
    assert [c["id"] for c in service.list_cases(OFFICE, {"view": "disputed"})] == [case_id]


def test_an_assignment_of_a_case_screened_out_meanwhile_is_recorded_and_ignored(service, db):
    case_id = file(service)
    step(service, case_id, "screen_out", OFFICE, {"rule": "litigation"})
    audited = audit(service, case_id)

    with unchanged_outbox(db):
        assign(service, case_id)

    shown = case(service, case_id)
    assert (shown["status"], shown["assigned_unit"]) == ("screened_out", None)
    assert shown["timeline"][-1]["kind"] == "assign_ignored"
    assert "派单未生效" in shown["timeline"][-1]["text"]
    assert audit(service, case_id) == audited


def test_an_event_about_an_unknown_case_fails_so_it_is_retried(service):
    ghost = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(NotFound):
        service.on_complaint_assigned(build_event(
            "complaint_assigned", ghost, service.clock.now(), number="JS-20261124-9999",
            category="logistics", grade="general", unit={"id": "logistics", "name": "后勤管理处"},
            handler={"id": "h", "name": "承办人"}, received_at=service.clock.now()))
    with pytest.raises(NotFound):
        service.on_sla_alert(build_event(
            "sla_alert", ghost, service.clock.now(), target="resolution", alert="warning",
            level="handler", due_at=DUE))


# ------------------------------------------------------------------ deadline_set
def test_a_deadline_is_shown_with_the_time_left(service, db):
    case_id = assigned_case(service)
    audited = audit(service, case_id)

    with unchanged_outbox(db):
        service.on_deadline_set(deadline_event(service, case_id))

    shown = case(service, case_id, STUDENT)
    assert shown["deadline"] == DUE.isoformat()
    assert shown["time_left_seconds"] == int((DUE - service.clock.now()).total_seconds())
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("deadline_set", "sla")
    assert line["text"] == "办理时限:日清日结,应于 2026-11-24 17:30 前办结"
    assert audit(service, case_id) == audited


def test_a_response_deadline_is_shown_apart_and_adds_no_line(service, db):
    case_id = assigned_case(service)
    lines = kinds(service, case_id)

    with unchanged_outbox(db):
        service.on_deadline_set(deadline_event(service, case_id, DUE - timedelta(hours=6),
                                               target="response"))

    shown = case(service, case_id)
    assert shown["response_deadline"] == (DUE - timedelta(hours=6)).isoformat()
    assert shown["deadline"] is None
    assert kinds(service, case_id) == lines


def test_an_extension_moves_the_deadline_and_clears_the_warning(service, db, clock):
    case_id = in_progress_case(service)
    service.on_deadline_set(deadline_event(service, case_id))
    service.on_sla_alert(alert_event(service, case_id, "warning"))
    assert case(service, case_id)["sla_state"] == "warning"
    later(service)

    with unchanged_outbox(db):
        service.on_deadline_set(deadline_event(service, case_id, DUE + timedelta(days=1),
                                               extended=True, reason="需等待配件到货"))

    shown = case(service, case_id)
    assert (shown["deadline"], shown["sla_state"]) == \
        ((DUE + timedelta(days=1)).isoformat(), "normal")
    line = shown["timeline"][-1]
    assert line["kind"] == "deadline_extended"
    assert "2026-11-25 17:30" in line["text"] and "需等待配件到货" in line["text"]
    # R6: past the first deadline the complainant is still called before the reply.
    clock.set(DUE + timedelta(hours=1))
    with pytest.raises(Conflict) as refused:
        service.act(case_id, "reply", LOGISTICS, {"outcome": "solved", "text": "已修好"})
    assert refused.value.args[0]["code"] == "phone_call_required"


# ------------------------------------------------------------------ sla_alert
def test_a_warning_shows_on_the_case_and_sets_its_sla_state(service, db):
    case_id = in_progress_case(service)
    audited = audit(service, case_id)

    with unchanged_outbox(db):
        service.on_sla_alert(alert_event(service, case_id, "warning"))

    shown = case(service, case_id)
    assert shown["sla_state"] == "warning"
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("sla_warning", "sla")
    assert line["text"] == "办结时限预警,已通知承办人 冯涛"
    assert audit(service, case_id) == audited
    [listed] = service.list_cases(LOGISTICS)
    assert listed["sla_state"] == "warning"


def test_the_sla_state_only_gets_worse_until_a_new_deadline(service):
    case_id = in_progress_case(service)

    service.on_sla_alert(alert_event(service, case_id, "overdue"))
    later(service)
    service.on_sla_alert(alert_event(service, case_id, "urge", level="head",
                                     recipient=SECURITY_HEAD))

    shown = case(service, case_id)
    assert shown["sla_state"] == "overdue"
    assert [line["kind"] for line in shown["timeline"][-2:]] == ["sla_overdue", "sla_urge"]
    assert "催办" in shown["timeline"][-1]["text"]


def test_an_alert_on_the_response_target_is_shown_but_leaves_the_sla_state(service):
    case_id = assigned_case(service)

    service.on_sla_alert(alert_event(service, case_id, "escalate", target="response",
                                     level="office", recipient=OFFICE))

    shown = case(service, case_id)
    assert shown["sla_state"] == "normal"
    assert shown["timeline"][-1]["kind"] == "sla_escalate"
    assert "签收时限超期升级" in shown["timeline"][-1]["text"]


def test_an_alert_after_the_case_closed_leaves_its_state(service):
    case_id = replied_case(service)
    service.on_complaint_rated(rated_event(service, case_id, "close", level="satisfied"))
    later(service)

    service.on_sla_alert(alert_event(service, case_id, "overdue"))

    shown = case(service, case_id)
    assert (shown["status"], shown["sla_state"]) == ("closed", "normal")
    assert shown["timeline"][-1]["kind"] == "sla_overdue"


# ------------------------------------------------------------------ timetable_set
def test_a_timetable_is_shown_and_allows_the_long_term_reply(service, db):
    case_id = in_progress_case(service)
    audited = audit(service, case_id)

    with unchanged_outbox(db):
        service.on_timetable_set(timetable_event(service, case_id))

    shown = case(service, case_id, STUDENT)
    [milestone] = shown["timetable"]
    assert (milestone["id"], milestone["title"], milestone["status"]) == \
        ("m1", "采购并更换热水器", "pending")
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("timetable_set", "sla")
    assert "采购并更换热水器(2026-12-01 17:30前)" in line["text"]
    assert audit(service, case_id) == audited

    replied = step(service, case_id, "reply", LOGISTICS,
                   {"outcome": "long_term", "text": "已制定时间表,分阶段解决"})
    assert (replied["status"], replied["reply_outcome"]) == ("replied", "long_term")


# ------------------------------------------------------------------ milestone_updated
def test_staged_feedback_and_a_finished_step_show_on_the_timetable(service, db):
    case_id = in_progress_case(service)
    service.on_timetable_set(timetable_event(service, case_id))
    later(service)

    with unchanged_outbox(db):
        service.on_milestone_updated(milestone_event(service, case_id, "feedback"))

    shown = case(service, case_id, STUDENT)
    [milestone] = shown["timetable"]
    assert (milestone["status"], milestone["feedback_given"]) == ("pending", True)
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("milestone_feedback", "冯涛")
    assert line["text"] == "阶段性反馈(采购并更换热水器):热水器已到货,周五安装"

    later(service)
    service.on_milestone_updated(milestone_event(service, case_id, "done", status="done"))
    shown = case(service, case_id, STUDENT)
    assert shown["timetable"][0]["status"] == "done"
    assert shown["timeline"][-1]["kind"] == "milestone_done"
    assert "阶段完成" in shown["timeline"][-1]["text"]


# ------------------------------------------------------------------ extensions
def test_an_extension_request_is_shown_and_changes_no_deadline(service, db):
    case_id = in_progress_case(service)
    service.on_deadline_set(deadline_event(service, case_id))
    audited = audit(service, case_id)

    with unchanged_outbox(db):
        service.on_extension_requested(extension_event(service, case_id, "extension_requested",
                                                       "requested"))

    shown = case(service, case_id)
    assert shown["deadline"] == DUE.isoformat()
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("extension_requested", "sla")
    assert line["text"] == "申请延期至 2026-11-25 17:30:需等待配件到货"
    assert audit(service, case_id) == audited


@pytest.mark.parametrize("status, text", [
    ("approved", "同意延期至 2026-11-25 17:30(配件周三到货)"),
    ("refused", "不同意延期至 2026-11-25 17:30(配件周三到货)"),
])
def test_an_extension_decision_is_shown(service, db, status, text):
    case_id = in_progress_case(service)
    service.on_deadline_set(deadline_event(service, case_id))

    with unchanged_outbox(db):
        service.on_extension_decided(extension_event(service, case_id, "extension_decided",
                                                     status, note="配件周三到货"))

    shown = case(service, case_id)
    assert shown["deadline"] == DUE.isoformat()  # the new deadline comes as deadline_set
    assert (shown["timeline"][-1]["kind"], shown["timeline"][-1]["text"]) == \
        ("extension_decided", text)


# ------------------------------------------------------------------ complaint_rated
def test_a_satisfied_rating_closes_the_case(service, db):
    case_id = replied_case(service)
    later(service)

    service.on_complaint_rated(rated_event(service, case_id, "close", level="satisfied",
                                           comment="修得很快"))

    shown = case(service, case_id, STUDENT)
    assert (shown["status"], shown["round"], shown["last_rating"]) == ("closed", 0, "satisfied")
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("close", "张三")
    assert "满意" in line["text"] and "修得很快" in line["text"]
    row = assert_audited(service, case_id, "close", "complainant", ["replied", "closed"])
    assert row["actor_id"] == "s2023001"
    event = transitions(db)[-1]
    assert_transitioned(event, "close", "replied", "closed", STUDENT, "complainant")


def test_a_first_dissatisfied_rating_orders_the_case_redone(service, db):
    case_id = replied_case(service)
    later(service)

    service.on_complaint_rated(rated_event(service, case_id, "order_redo"))

    shown = case(service, case_id)
    assert (shown["status"], shown["round"], shown["last_rating"]) == \
        ("redo", 1, "dissatisfied")
    assert shown["timeline"][-1]["kind"] == "order_redo"
    assert "不满意" in shown["timeline"][-1]["text"]
    assert assert_audited(service, case_id, "order_redo", "complainant",
                          ["replied", "redo"])["changes"]["round"] == [0, 1]
    assert_transitioned(transitions(db)[-1], "order_redo", "replied", "redo", STUDENT,
                        "complainant", round_=1)
    assert [c["id"] for c in service.list_cases(OFFICE, {"view": "redo"})] == [case_id]

    # The office sends it back to a unit; the second round is handled like the first.
    step(service, case_id, "dispatch", OFFICE, {"unit_id": "logistics"})
    assert db.events("dispatch_requested")[-1]["round"] == 1
    assign(service, case_id, round_=1)
    assert step(service, case_id, "sign_for", LOGISTICS)["round"] == 1


def test_a_dissatisfied_rating_under_supervision_goes_to_the_leader(service, db):
    case_id = replied_case(service)
    later(service)

    service.on_complaint_rated(rated_event(service, case_id, "supervise"))

    shown = case(service, case_id)
    assert (shown["status"], shown["round"]) == ("supervised", 2)
    assert_transitioned(transitions(db)[-1], "supervise", "replied", "supervised", STUDENT,
                        "complainant", round_=2)
    assert [c["id"] for c in service.list_cases(OFFICE, {"view": "supervised"})] == [case_id]


def test_an_anonymous_raters_name_is_hidden_from_the_unit(service):
    case_id = file(service, anonymous=True)
    assign(service, case_id)
    for action, params in (("sign_for", {}), ("start", {}),
                           ("reply", {"outcome": "solved", "text": "已修好"})):
        step(service, case_id, action, LOGISTICS, params)

    service.on_complaint_rated(rated_event(service, case_id, "close", level="basically"))

    assert last_line(service, case_id, LOGISTICS)["actor"] == "匿名诉求人"
    assert last_line(service, case_id, OFFICE)["actor"] == "张三"


# ------------------------------------------------------------------ supervisor_assigned
def test_the_supervising_leader_is_named_and_may_read_the_case(service, db):
    case_id = replied_case(service)
    service.on_complaint_rated(rated_event(service, case_id, "supervise"))
    with pytest.raises(NotFound):
        case(service, case_id, LEADER)
    audited = audit(service, case_id)
    later(service)

    with unchanged_outbox(db):
        service.on_supervisor_assigned(supervisor_event(service, case_id))

    shown = case(service, case_id, LEADER)
    assert shown["supervisor"] == {"id": "l-01", "name": "王校长"}
    line = shown["timeline"][-1]
    assert (line["kind"], line["actor"]) == ("supervisor_assigned", "routing")
    assert "王校长" in line["text"]
    assert audit(service, case_id) == audited
    assert [c["id"] for c in service.list_cases(LEADER, {"view": "supervised"})] == [case_id]


# ------------------------------------------------------------------ redelivery
REDELIVERED = {
    "on_complaint_assigned": (file, assigned_event),
    "on_deadline_set": (assigned_case, deadline_event),
    "on_sla_alert": (in_progress_case, lambda s, c: alert_event(s, c, "warning")),
    "on_timetable_set": (in_progress_case, timetable_event),
    "on_milestone_updated": (in_progress_case, lambda s, c: milestone_event(s, c, "feedback")),
    "on_extension_requested": (in_progress_case, lambda s, c: extension_event(
        s, c, "extension_requested", "requested")),
    "on_extension_decided": (in_progress_case, lambda s, c: extension_event(
        s, c, "extension_decided", "approved")),
    "on_complaint_rated": (replied_case, lambda s, c: rated_event(s, c, "close",
                                                                 level="satisfied")),
    "on_supervisor_assigned": (replied_case, supervisor_event),
}


@pytest.mark.parametrize("handler", list(REDELIVERED))
def test_a_redelivered_event_changes_nothing(service, db, handler):
    build_case, build_event_for = REDELIVERED[handler]
    case_id = build_case(service)
    event = build_event_for(service, case_id)
    getattr(service, handler)(event)
    before = snapshot(service, db, case_id)

    getattr(service, handler)(event)

    assert snapshot(service, db, case_id) == before


# ------------------------------------------------------------------ unit figures (R13)
def test_unit_figures_count_the_units_cases_by_state(service):
    file(service)  # not yet assigned: no unit counts it
    signed_case(service)
    replied_case(service)
    overdue = in_progress_case(service)
    service.on_deadline_set(deadline_event(service, overdue))
    service.clock.set(DUE + timedelta(minutes=1))
    service.on_sla_alert(alert_event(service, overdue, "overdue"))

    figures = service.unit_figures("logistics", LOGISTICS)

    assert figures["by_state"] == {"signed": 1, "replied": 1, "in_progress": 1}
    assert (figures["open"], figures["overdue"]) == (3, 1)
    with pytest.raises(NotFound):
        service.unit_figures("logistics", SECURITY)


def test_unit_figures_count_what_the_unit_received_and_closed_today(service):
    """The head's live view (issue 13): since midnight in Shanghai, whatever the clock's
    UTC date; the next day starts from zero again."""
    replied_case(service)
    closing = replied_case(service)
    later(service)
    service.on_complaint_rated(rated_event(service, closing, "close", level="satisfied"))

    figures = service.unit_figures("logistics", LOGISTICS)
    assert (figures["received_today"], figures["closed_today"]) == (2, 1)

    service.clock.set(service.clock.now() + timedelta(days=1))
    figures = service.unit_figures("logistics", LOGISTICS)
    assert (figures["received_today"], figures["closed_today"]) == (0, 0)


# Issue 11: overdue is the SLA state, not a deadline the reply already met.
def test_a_case_replied_on_time_is_not_overdue_when_its_old_deadline_passes(service):
    on_time = in_progress_case(service)
    service.on_deadline_set(deadline_event(service, on_time))
    step(service, on_time, "reply", LOGISTICS, {"outcome": "solved", "text": "已修好"})
    late = in_progress_case(service)
    service.on_deadline_set(deadline_event(service, late))
    service.on_sla_alert(alert_event(service, late, "overdue"))
    service.clock.set(DUE + timedelta(hours=1))

    figures = service.unit_figures("logistics", OFFICE)

    assert figures["by_state"] == {"replied": 1, "in_progress": 1}
    assert figures["overdue"] == 1


# ------------------------------------------------------------------ who lists what
def proactive_case(service):
    return file(service, who=SECURITY_HEAD, channel="staff")


def test_an_assisting_unit_and_a_reporting_unit_may_open_the_case(service):
    disputed = file(service)
    assign(service, disputed, assisting=("security",))
    reported = proactive_case(service)

    assert case(service, disputed, SECURITY)["id"] == disputed
    shown = case(service, reported, SECURITY)
    assert (shown["proactive"], shown["channel"]) == (True, "staff")
    assign(service, reported)
    assert case(service, reported, SECURITY)["assigned_unit"]["id"] == "logistics"


# Issue 11: a handler lists what they may open, the cases their unit assists on too.
def test_an_assisting_unit_lists_the_disputed_case(service):
    disputed = file(service)
    assign(service, disputed, assisting=("security",))

    assert [c["id"] for c in service.list_cases(SECURITY)] == [disputed]
    assert [c["id"] for c in service.list_cases(SECURITY, {"view": "disputed"})] == [disputed]


# Issue 11: the reporting unit lists its own proactive report, whoever handles it.
def test_the_reporting_unit_lists_its_proactive_report(service):
    reported = proactive_case(service)

    assert [c["id"] for c in service.list_cases(SECURITY)] == [reported]
    assign(service, reported)
    assert [c["id"] for c in service.list_cases(SECURITY, {"view": "proactive"})] == [reported]
