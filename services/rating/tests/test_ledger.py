"""services/rating/ledger.py without a broker or a database: how each event changes a case's
projection and which roll-up counters move, on which day and for which unit."""
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from services.common.calendar import WorkingCalendar
from services.common.contracts import build_event, load_event
from services.rating.assessment import AssessmentRules
from services.rating.ledger import Context, Move, Unit, apply, net, rating_day

SH = ZoneInfo("Asia/Shanghai")
RULES = AssessmentRules()
CAL = WorkingCalendar()
UNITS = {"logistics": Unit("logistics", "后勤管理处", "department"),
         "law": Unit("law", "法学院", "college")}


def at(*args):
    return datetime(*args, tzinfo=SH)


def ctx(now=None, frozen=None):
    return Context(RULES, lambda a, b: CAL.working_time_between(a, b).total_seconds(), UNITS,
                   frozen or {}, now or at(2026, 11, 30, 12, 0))


def fact():
    return SimpleNamespace(**{name: None for name in (
        "complaint_id number title channel category grade received_at anonymous "
        "complainant_id complainant_name contact_phone_masked location unit_id unit_name "
        "unit_kind handler_id handler_name status round dispatched_at sign_due_at signed_at "
        "reply_due_at replied_at closed_at closed_as redo_count return_count supervised "
        "leader_id instructed disputed overdue final_level contacted solved rated_at excluded "
        "due_round updated_at").split()})


def event(event_type, when, **body):
    return load_event(event_type, build_event(event_type, "c-1", when, **body))


def received(when=at(2026, 11, 2, 9, 0)):
    return event("complaint_received", when, number="JS-1", channel="wechat",
                 category="logistics", content="热水", complainant={"id": "s1", "name": "张三"},
                 contact_phone="13812345678", anonymous=True)


def assigned(when=at(2026, 11, 2, 10, 0), unit="logistics", round_=0):
    return event("complaint_assigned", when, number="JS-1", category="logistics",
                 grade="general", unit={"id": unit, "name": None},
                 handler={"id": "h1", "name": "冯涛"}, received_at=at(2026, 11, 2, 9, 0),
                 round=round_)


def transition(action, when, to_status, round_=0):
    return event("complaint_transitioned", when, number="JS-1", category="logistics",
                 action=action, from_status="assigned", to_status=to_status, round=round_,
                 actor={"id": "h1"}, actor_role="handler")


def deadline(target, due, round_=0):
    return event("deadline_set", at(2026, 11, 2, 10, 0), grade="general",
                 starts_at=at(2026, 11, 2, 10, 0), due_at=due, target=target, round=round_)


def rated(when, level="satisfied", decision="close", contacted=True, solved=True, round_=0):
    return event("complaint_rated", when, level=level, round=round_, decision=decision,
                 rater={"id": "s1"}, contacted=contacted, solved=solved)


def moves(outcome):
    return {(m.day, m.unit_id, m.counter): m.delta for m in outcome.moves}


def test_a_reception_counts_for_no_unit_and_masks_the_phone():
    case = fact()
    outcome = apply(case, "complaint_received", received(), ctx())
    assert moves(outcome) == {(date(2026, 11, 2), "", "received"): 1}
    assert case.contact_phone_masked != "13812345678" and "5678" in case.contact_phone_masked
    assert (case.channel, case.anonymous, case.status) == ("wechat", True, "received")


def test_a_reception_heard_after_the_assignment_is_still_counted_once():
    """intake's and routing's events reach rating on two queues: the assignment may come
    first (a redelivery, a consumer restarting), and the reception still counts, once."""
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    moved = apply(case, "complaint_received", received(), ctx()).moves
    assert [(m.counter, m.delta, m.day) for m in moved] == [("received", 1, date(2026, 11, 2))]
    assert case.unit_id == "logistics" and case.channel == "wechat"
    assert apply(case, "complaint_received", received(), ctx()).moves == []


def test_the_assignment_takes_the_units_name_and_kind_from_the_directory():
    case = fact()
    apply(case, "complaint_received", received(), ctx())
    outcome = apply(case, "complaint_assigned", assigned(), ctx())
    assert (case.unit_id, case.unit_name, case.unit_kind) == ("logistics", "后勤管理处",
                                                              "department")
    assert moves(outcome) == {(date(2026, 11, 2), "logistics", "dispatched"): 1}
    unknown = fact()
    apply(unknown, "complaint_assigned", assigned(unit="library"), ctx())
    assert (unknown.unit_name, unknown.unit_kind) == ("library", "other")


def test_signing_counts_on_the_dispatch_day_with_working_seconds():
    case = fact()
    apply(case, "complaint_assigned", assigned(at(2026, 11, 2, 17, 0)), ctx())
    apply(case, "deadline_set", deadline("response", at(2026, 11, 3, 9, 0)), ctx())
    # signed the next morning at 08:45: within the target; 30 + 15 working minutes
    outcome = apply(case, "complaint_transitioned",
                    transition("sign_for", at(2026, 11, 3, 8, 45), "signed"), ctx())
    day = date(2026, 11, 2)
    assert moves(outcome) == {(day, "logistics", "signed"): 1,
                              (day, "logistics", "signed_on_time"): 1,
                              (day, "logistics", "sign_seconds"): 45 * 60}


def test_a_late_sign_is_not_on_time():
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    apply(case, "deadline_set", deadline("response", at(2026, 11, 2, 11, 0)), ctx())
    outcome = apply(case, "complaint_transitioned",
                    transition("sign_for", at(2026, 11, 2, 12, 0), "signed"), ctx())
    assert (date(2026, 11, 2), "logistics", "signed_on_time") not in moves(outcome)


def test_a_reply_settles_the_due_on_the_deadlines_day():
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    apply(case, "deadline_set", deadline("resolution", at(2026, 11, 5, 17, 30)), ctx())
    outcome = apply(case, "complaint_transitioned",
                    transition("reply", at(2026, 11, 4, 10, 0), "replied"), ctx())
    got = moves(outcome)
    assert got[(date(2026, 11, 5), "logistics", "due")] == 1
    assert got[(date(2026, 11, 5), "logistics", "replied_on_time")] == 1
    assert got[(date(2026, 11, 4), "logistics", "replied")] == 1
    # 11-02 10:00 → 11-04 10:00: 7.5 + 9 + 1.5 working hours
    assert got[(date(2026, 11, 4), "logistics", "reply_seconds")] == 18 * 3600


def test_the_ledger_keeps_the_texts_with_phones_masked():
    case = fact()
    apply(case, "complaint_received", event(
        "complaint_received", at(2026, 11, 2, 9, 0), number="JS-1", channel="app",
        category="logistics", content="热水停了,请打13812345678联系我",
        complainant={"id": "s1", "name": "张三"}), ctx())
    reply = event("complaint_transitioned", at(2026, 11, 3, 9, 0), number="JS-1",
                  category="logistics", action="reply", from_status="in_progress",
                  to_status="replied", round=0, actor={"id": "h1"}, actor_role="handler",
                  note="已修复,有问题请拨 13912345678")
    apply(case, "complaint_transitioned", reply, ctx())
    for text in (case.content, case.reply):
        assert "12345678" not in text and "5678" in text
    assert case.content.startswith("热水停了") and case.reply.startswith("已修复")


def test_an_overdue_alert_counts_due_and_overdue_once_and_the_late_reply_not_on_time():
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    apply(case, "deadline_set", deadline("resolution", at(2026, 11, 5, 17, 30)), ctx())
    alert = event("sla_alert", at(2026, 11, 5, 17, 30), target="resolution", alert="overdue",
                  level="head", due_at=at(2026, 11, 5, 17, 30))
    first = apply(case, "sla_alert", alert, ctx())
    assert moves(first) == {(date(2026, 11, 5), "logistics", "overdue"): 1,
                            (date(2026, 11, 5), "logistics", "due"): 1}
    assert apply(case, "sla_alert", alert, ctx()).moves == []   # the escalation's repeat
    late = apply(case, "complaint_transitioned",
                 transition("reply", at(2026, 11, 6, 10, 0), "replied"), ctx())
    assert {counter for (_, _, counter) in moves(late)} == {"replied", "reply_seconds"}


def test_an_extension_moves_the_deadline_before_it_is_settled():
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    apply(case, "deadline_set", deadline("resolution", at(2026, 11, 5, 17, 30)), ctx())
    apply(case, "extension_decided", event(
        "extension_decided", at(2026, 11, 4, 9, 0), extension_id="x1", status="approved",
        reason="材料", old_due_at=at(2026, 11, 5, 17, 30), new_due_at=at(2026, 11, 9, 17, 30),
        requested_by={"id": "h1"}), ctx())
    outcome = apply(case, "complaint_transitioned",
                    transition("reply", at(2026, 11, 6, 10, 0), "replied"), ctx())
    assert moves(outcome)[(date(2026, 11, 9), "logistics", "replied_on_time")] == 1


def test_a_redo_counts_for_the_first_unit_and_the_final_rating_for_the_second():
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    redo = apply(case, "complaint_rated",
                 rated(at(2026, 11, 6, 9, 0), "dissatisfied", "order_redo", False, False),
                 ctx())
    assert moves(redo) == {(date(2026, 11, 6), "logistics", "redo"): 1}
    assert case.redo_count == 1 and case.final_level is None
    apply(case, "complaint_assigned", assigned(at(2026, 11, 7, 9, 0), "law", 1), ctx())
    final = apply(case, "complaint_rated", rated(at(2026, 11, 12, 9, 0), round_=1), ctx())
    day = date(2026, 11, 12)
    assert moves(final) == {(day, "law", "rated"): 1, (day, "law", "satisfied"): 1,
                            (day, "law", "contacted"): 1, (day, "law", "solved"): 1}
    assert (case.final_level, case.contacted, case.closed_as) == ("satisfied", True, "rated")


def test_supervision_and_the_leader():
    case = fact()
    apply(case, "complaint_assigned", assigned(round_=1), ctx())
    outcome = apply(case, "complaint_rated", rated(at(2026, 11, 6, 9, 0), "dissatisfied",
                                                   "supervise", round_=1), ctx())
    assert moves(outcome) == {(date(2026, 11, 6), "logistics", "supervised"): 1}
    apply(case, "supervisor_assigned", event(
        "supervisor_assigned", at(2026, 11, 6, 9, 1), number="JS-1", category="logistics",
        leader={"id": "leader-1", "name": "校领导"}), ctx())
    apply(case, "complaint_assigned", assigned(at(2026, 11, 7, 9, 0), round_=2), ctx())
    assert (case.supervised, case.leader_id, case.instructed) == (True, "leader-1", True)


def test_a_late_rating_goes_to_the_first_day_of_the_next_open_period():
    frozen = {"2026-11": at(2026, 12, 1, 9, 0)}
    late = ctx(now=at(2026, 12, 1, 10, 0), frozen=frozen)
    assert rating_day(at(2026, 11, 30, 20, 0), late) == date(2026, 12, 1)
    assert rating_day(at(2026, 11, 30, 20, 0), ctx(now=at(2026, 12, 1, 8, 0),
                                                   frozen=frozen)) == date(2026, 11, 30)
    both = ctx(now=at(2027, 1, 2, 9, 0), frozen={**frozen, "2026-12": at(2027, 1, 1, 9, 0)})
    assert rating_day(at(2026, 11, 30, 20, 0), both) == date(2027, 1, 1)


def test_unrated_closing_and_the_retracting_actions():
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    expired = apply(case, "rating_expired", event(
        "rating_expired", at(2026, 11, 9, 17, 30), round=0,
        unit={"id": "logistics", "name": None}), ctx())
    assert moves(expired) == {(date(2026, 11, 9), "logistics", "unrated"): 1}
    closed = apply(case, "complaint_transitioned",
                   transition("close", at(2026, 11, 9, 17, 30), "closed"), ctx())
    assert moves(closed) == {(date(2026, 11, 9), "logistics", "closed"): 1}
    assert case.closed_as == "unrated"
    assert apply(case, "rating_expired", event(   # seen once
        "rating_expired", at(2026, 11, 9, 17, 30), round=0), ctx()).moves == []
    merged = fact()
    apply(merged, "complaint_assigned", assigned(), ctx())
    outcome = apply(merged, "complaint_transitioned",
                    transition("merge", at(2026, 11, 3, 9, 0), "merged"), ctx())
    assert outcome.retract and merged.closed_as == "merged"
    # a rating that arrives for a merged case adds nothing
    assert apply(merged, "complaint_rated", rated(at(2026, 11, 4, 9, 0)), ctx()).moves == []


@pytest.mark.parametrize("action", ["return_case"])
def test_a_return_is_counted_on_the_case(action):
    case = fact()
    apply(case, "complaint_assigned", assigned(), ctx())
    apply(case, "complaint_transitioned", transition(action, at(2026, 11, 2, 11, 0),
                                                     "returned"), ctx())
    assert case.return_count == 1 and case.status == "returned"


def test_net_sums_per_row_and_drops_zeroes():
    day = date(2026, 11, 2)
    rows = net([Move(day, "u", "c", "app", "rated"), Move(day, "u", "c", "app", "rated"),
                Move(day, "u", "c", "app", "solved", 1), Move(day, "u", "c", "app", "solved", -1),
                Move(day + timedelta(1), "u", "c", "app", "rated", -1),
                Move(day + timedelta(1), "u", "c", "app", "rated", 1)])
    assert rows == {(day, "u", "c", "app"): {"rated": 2}}
