"""Issue 11 (7): every staff action of intake through its entrypoint `act`, with no broker:
what the case becomes (read back with get_complaint), the timeline line a user reads, the
audit row the office reads, and the events that go on the bus. One refusal per action (409
with its code, nothing changed) and the viewers who may not act (404).

Only the entrypoints and the dependencies' names are used, so these tests hold across a
rewrite of the service's inside. The helpers here are shared with test_projections_unit.py.
"""
from datetime import datetime, timedelta

import pytest

from services.common.contracts import build_event
from services.common.errors import Conflict, NotFound
from services.intake.tests import test_hardening as hardening
from services.intake.tests.test_hardening import (HOT_WATER, LOGISTICS, OFFICE, PLEDGE,
                                                  SECURITY, START, STUDENT, UNITS)

CLASSMATE = {"id": "s2023002", "name": "李四", "roles": ["complainant"]}
LOGISTICS_HEAD = {"id": "u-hqc-0", "name": "韩梅", "roles": ["head"], "unit": "logistics"}
LEADER = {"id": "l-01", "name": "王校长", "roles": ["leader"]}
OTHER_LEADER = {"id": "l-02", "name": "赵校长", "roles": ["leader"]}

# The service as the hardening tests build it: in-memory database, manual clock, the real
# screening rules, and a fake of routing's directory (get_unit) that records what it was asked.
clock, db, routing, service = hardening.clock, hardening.db, hardening.routing, hardening.service


# ------------------------------------------------------------------ building cases
def file(service, who=STUDENT, channel="app", **changes):
    body = {"category": "logistics", "content": HOT_WATER, "title": "热水",
            "contact_phone": "13912345678", "location": "3号楼"}
    body.update(changes)
    pledge = None if channel == "staff" else PLEDGE
    return service.file_complaint(body, who, channel, pledge=pledge)["id"]


def case(service, case_id, viewer=OFFICE):
    return service.get_complaint(case_id, viewer)


def assigned_event(service, case_id, unit="logistics", handler=LOGISTICS, at=None,
                   assisting=(), round_=0, grade="general"):
    shown = case(service, case_id)
    return build_event(
        "complaint_assigned", case_id, at or service.clock.now(), number=shown["number"],
        category=shown["category"], grade=grade, unit={"id": unit, "name": UNITS[unit]},
        handler={"id": handler["id"], "name": handler["name"]},
        received_at=datetime.fromisoformat(shown["received_at"]), round=round_,
        disputed=bool(assisting),
        assisting_units=[{"id": u, "name": UNITS[u]} for u in assisting])


def assign(service, case_id, unit="logistics", handler=LOGISTICS, **kwargs):
    service.clock.advance(seconds=3)
    service.on_complaint_assigned(assigned_event(service, case_id, unit, handler, **kwargs))


def rated_event(service, case_id, decision, level="dissatisfied", comment=None, rater=STUDENT):
    shown = case(service, case_id)
    return build_event("complaint_rated", case_id, service.clock.now(),
                       level=level, round=shown["round"], decision=decision,
                       rater={"id": rater["id"], "name": rater["name"]}, comment=comment)


def supervisor_event(service, case_id, leader=LEADER):
    shown = case(service, case_id)
    return build_event("supervisor_assigned", case_id, service.clock.now(),
                       number=shown["number"], category=shown["category"],
                       leader={"id": leader["id"], "name": leader["name"]})


def step(service, case_id, action, viewer, params=None):
    """A staff action a little later than the one before (so the timeline reads in order)."""
    service.clock.advance(minutes=1)
    return service.act(case_id, action, viewer, params)


def assigned_case(service, **changes):
    case_id = file(service, **changes)
    assign(service, case_id)
    return case_id


def signed_case(service):
    case_id = assigned_case(service)
    step(service, case_id, "sign_for", LOGISTICS)
    return case_id


def in_progress_case(service):
    case_id = signed_case(service)
    step(service, case_id, "start", LOGISTICS)
    return case_id


def replied_case(service):
    case_id = in_progress_case(service)
    step(service, case_id, "reply", LOGISTICS, {"outcome": "solved", "text": "已更换热水器,恢复供水"})
    return case_id


def returned_case(service):
    case_id = assigned_case(service)
    step(service, case_id, "return_case", LOGISTICS, {"reason": "不属于本单位职责"})
    return case_id


def supervised_case(service):
    case_id = replied_case(service)
    service.clock.advance(minutes=1)
    service.on_complaint_rated(rated_event(service, case_id, "supervise"))
    service.clock.advance(minutes=1)
    service.on_supervisor_assigned(supervisor_event(service, case_id))
    return case_id


def voicemail_case(service, transcript="图书馆二楼空调漏水,地面很滑,请派人看看"):
    call = {"call_id": "call-1", "caller": "139-1234-5678"}
    service.record_call_event(dict(call, event_id="v1", type="ringing",
                                   at="2026-11-24T09:00:00+08:00"))
    left = service.record_call_event(dict(call, event_id="v2", type="voicemail",
                                          at="2026-11-24T09:01:00+08:00", transcript=transcript))
    return left["complaint"]["id"]


# ------------------------------------------------------------------ reading what happened
def last_line(service, case_id, viewer=OFFICE):
    return case(service, case_id, viewer)["timeline"][-1]


def kinds(service, case_id):
    return [line["kind"] for line in case(service, case_id)["timeline"]]


def audit(service, case_id):
    return service.audit_log(case_id, OFFICE)


def last_audit(service, case_id):
    return audit(service, case_id)[-1]


def transitions(db):
    return db.events("complaint_transitioned")


def snapshot(service, db, case_id):
    """All a user could notice about a case: as the office reads it, its audit, the bus."""
    return case(service, case_id), audit(service, case_id), len(db.outbox)


def refused(service, db, case_id, action, viewer, params=None) -> str:
    """Refuses with 409 and changes nothing; the refusal's code."""
    before = snapshot(service, db, case_id)
    with pytest.raises(Conflict) as refusal:
        service.act(case_id, action, viewer, params)
    assert snapshot(service, db, case_id) == before
    assert refusal.value.args[0]["message"]
    return refusal.value.args[0]["code"]


def assert_audited(service, case_id, action, role, status=None):
    """The office reads the action, who took it in which role, and the state it changed."""
    row = last_audit(service, case_id)
    assert (row["action"], row["actor_role"]) == (action, role)
    if status is not None:
        assert row["changes"]["status"] == status
    return row


def assert_transitioned(event, action, from_status, to_status, actor, role, round_=0):
    assert (event["action"], event["from_status"], event["to_status"]) == \
        (action, from_status, to_status)
    assert (event["actor"]["id"], event["actor_role"], event["round"]) == \
        (actor["id"], role, round_)


# ------------------------------------------------------------------ sign_for
def test_sign_for_moves_an_assigned_case_to_signed(service, db):
    case_id = assigned_case(service)

    shown = step(service, case_id, "sign_for", LOGISTICS)

    assert (shown["status"], shown["round"]) == ("signed", 0)
    line = last_line(service, case_id)
    assert (line["kind"], line["actor"]) == ("sign_for", "冯涛")
    assert "签收" in line["text"]
    row = last_audit(service, case_id)
    assert (row["action"], row["actor_id"], row["actor_role"]) == ("sign_for", "u-hqc-1",
                                                                    "handler")
    assert row["changes"]["status"] == ["assigned", "signed"]
    [event] = transitions(db)
    assert_transitioned(event, "sign_for", "assigned", "signed", LOGISTICS, "handler")
    assert event["unit"] == {"id": "logistics", "name": "后勤管理处"}
    assert event["complainants"] == [{"id": "s2023001", "name": "张三"}]


def test_the_unit_head_signs_for_as_head(service, db):
    case_id = assigned_case(service)

    step(service, case_id, "sign_for", LOGISTICS_HEAD)

    assert last_audit(service, case_id)["actor_role"] == "head"
    assert transitions(db)[-1]["actor_role"] == "head"


# ------------------------------------------------------------------ start
def test_start_moves_a_signed_case_in_progress(service, db):
    case_id = signed_case(service)

    shown = step(service, case_id, "start", LOGISTICS)

    assert shown["status"] == "in_progress"
    line = last_line(service, case_id)
    assert (line["kind"], line["actor"]) == ("start", "冯涛")
    assert "开始办理" in line["text"]
    assert_audited(service, case_id, "start", "handler", ["signed", "in_progress"])
    assert_transitioned(transitions(db)[-1], "start", "signed", "in_progress", LOGISTICS,
                        "handler")


# ------------------------------------------------------------------ communicate
def communication(at, kind="phone"):
    return {"kind": kind, "at": at.isoformat(), "with_whom": "诉求人张三",
            "summary": "已电话沟通维修安排"}


def test_the_first_communication_of_a_signed_case_starts_its_handling(service, db, clock):
    case_id = signed_case(service)
    clock.advance(minutes=10)
    talked_at = clock.now() - timedelta(minutes=5)

    shown = service.act(case_id, "communicate", LOGISTICS, communication(talked_at))

    assert shown["status"] == "in_progress"
    assert shown["communications"] == [{"kind": "phone", "at": talked_at.isoformat(),
                                        "with_whom": "诉求人张三",
                                        "summary": "已电话沟通维修安排", "round": 0}]
    lines = {line["kind"]: line for line in shown["timeline"]}
    assert lines["communicate"]["at"] == talked_at.isoformat()  # dated when it took place
    assert "电话沟通(诉求人张三):已电话沟通维修安排" in lines["communicate"]["text"]
    assert lines["communicate"]["actor"] == "冯涛"
    assert lines["start"]["actor"] == "冯涛"
    rows = audit(service, case_id)
    assert [(r["action"], r["actor_role"]) for r in rows[-2:]] == \
        [("start", "handler"), ("communicate", "handler")]
    assert rows[-1]["changes"] == {"communication": [None, "phone"]}
    assert_transitioned(transitions(db)[-1], "start", "signed", "in_progress", LOGISTICS,
                        "handler")


def test_a_communication_on_a_case_in_progress_emits_nothing(service, db, clock):
    case_id = in_progress_case(service)
    before = len(db.outbox)

    shown = service.act(case_id, "communicate", LOGISTICS,
                        communication(clock.now(), "face_to_face"))

    assert shown["status"] == "in_progress"
    assert [c["kind"] for c in shown["communications"]] == ["face_to_face"]
    assert "见面沟通" in last_line(service, case_id)["text"]
    assert last_audit(service, case_id)["action"] == "communicate"
    assert len(db.outbox) == before


# ------------------------------------------------------------------ reply
def test_reply_answers_the_case(service, db):
    case_id = in_progress_case(service)

    shown = step(service, case_id, "reply", LOGISTICS,
                 {"outcome": "solved", "text": "已更换热水器,恢复供水"})

    assert (shown["status"], shown["reply_outcome"], shown["reply_text"]) == \
        ("replied", "solved", "已更换热水器,恢复供水")
    line = last_line(service, case_id, STUDENT)
    assert line["kind"] == "reply"
    assert "已解决" in line["text"] and "已更换热水器,恢复供水" in line["text"]
    assert_audited(service, case_id, "reply", "handler", ["in_progress", "replied"])
    event = transitions(db)[-1]
    assert_transitioned(event, "reply", "in_progress", "replied", LOGISTICS, "handler")
    assert (event["outcome"], event["note"]) == ("solved", "已更换热水器,恢复供水")


def test_a_signed_case_may_be_replied_to_directly(service, db):
    case_id = signed_case(service)

    assert step(service, case_id, "reply", LOGISTICS,
                {"outcome": "explained", "text": "已向同学解释说明"})["status"] == "replied"
    assert transitions(db)[-1]["from_status"] == "signed"


@pytest.mark.parametrize("outcome, code", [
    ("policy_unsolvable", "face_to_face_required"),
    ("long_term", "timetable_required"),
])
def test_a_reply_the_regulation_does_not_allow_yet_is_refused(service, db, outcome, code):
    case_id = in_progress_case(service)

    assert refused(service, db, case_id, "reply", LOGISTICS,
                   {"outcome": outcome, "text": "暂不能解决"}) == code


def test_a_reply_past_the_first_deadline_needs_a_phone_call(service, db, clock):
    case_id = in_progress_case(service)
    service.on_deadline_set(build_event(
        "deadline_set", case_id, clock.now(), grade="general", starts_at=START,
        due_at=clock.now() + timedelta(hours=1)))
    clock.advance(hours=2)

    assert refused(service, db, case_id, "reply", LOGISTICS,
                   {"outcome": "solved", "text": "已修好"}) == "phone_call_required"
    service.act(case_id, "communicate", LOGISTICS, communication(clock.now()))
    assert service.act(case_id, "reply", LOGISTICS,
                       {"outcome": "solved", "text": "已修好"})["status"] == "replied"


# ------------------------------------------------------------------ return_case
def test_return_case_sends_it_back_to_the_office(service, db):
    case_id = assigned_case(service)

    shown = step(service, case_id, "return_case", LOGISTICS, {"reason": "不属于本单位职责"})

    assert shown["status"] == "returned"
    line = last_line(service, case_id)
    assert line["kind"] == "return_case"
    assert "退单" in line["text"] and "不属于本单位职责" in line["text"]
    assert_audited(service, case_id, "return_case", "handler", ["assigned", "returned"])
    event = transitions(db)[-1]
    assert_transitioned(event, "return_case", "assigned", "returned", LOGISTICS, "handler")
    assert event["note"] == "不属于本单位职责"
    assert [c["id"] for c in service.list_cases(OFFICE, {"view": "returned"})] == [case_id]


def test_the_lead_unit_of_a_disputed_case_cannot_return_it(service, db):
    case_id = file(service)
    assign(service, case_id, assisting=("security",))

    assert refused(service, db, case_id, "return_case", LOGISTICS,
                   {"reason": "不属于本单位职责"}) == "lead_unit_cannot_return"


# ------------------------------------------------------------------ screen_out
def test_the_office_screens_a_case_out_with_its_rules_reply(service, db):
    case_id = file(service)
    reply = service.screening.template_for("litigation")

    shown = step(service, case_id, "screen_out", OFFICE, {"rule": "litigation"})

    assert (shown["status"], shown["screened_kind"]) == ("screened_out", "legal_channel")
    line = last_line(service, case_id, STUDENT)
    assert line["kind"] == "screen_out" and reply in line["text"]
    row = last_audit(service, case_id)
    assert (row["action"], row["actor_id"], row["actor_role"], row["changes"]["status"]) == \
        ("screen_out", "u-office-1", "office", ["received", "screened_out"])
    event = transitions(db)[-1]
    assert_transitioned(event, "screen_out", "received", "screened_out", OFFICE, "office")
    assert event["note"] == reply and event["unit"] is None
    assert [c["id"] for c in service.list_cases(OFFICE, {"view": "screened_out"})] == [case_id]


def test_a_returned_case_may_be_screened_out(service, db):
    case_id = returned_case(service)

    assert step(service, case_id, "screen_out", OFFICE,
                {"rule": "petition"})["status"] == "screened_out"
    assert transitions(db)[-1]["from_status"] == "returned"


def test_screening_out_by_a_rule_that_does_not_exist_is_refused(service, db):
    case_id = file(service)

    assert refused(service, db, case_id, "screen_out", OFFICE,
                   {"rule": "no-such-rule"}) == "unknown_rule"


# ------------------------------------------------------------------ dispatch
def test_dispatch_asks_routing_to_send_a_returned_case_to_a_unit(service, db, routing):
    case_id = returned_case(service)

    shown = step(service, case_id, "dispatch", OFFICE, {"unit_id": "security"})

    # The case moves when routing's assignment comes back, not before.
    assert shown["status"] == "returned"
    line = last_line(service, case_id)
    assert (line["kind"], line["actor"]) == ("dispatch", "李晓梅")
    assert "security" in line["text"]
    row = last_audit(service, case_id)
    assert (row["action"], row["actor_role"], row["changes"]) == \
        ("dispatch", "office", {"unit_id": ["logistics", "security"]})
    [requested] = db.events("dispatch_requested")
    assert (requested["complaint_id"], requested["unit_id"], requested["round"],
            requested["category"], requested["lead_unit_id"]) == \
        (case_id, "security", 0, "logistics", "logistics")
    assert requested["number"] == shown["number"]
    assert transitions(db)[-1]["action"] == "return_case"  # no transition of its own
    assert routing.asked == ["security"]

    assign(service, case_id, "security", SECURITY)
    assert case(service, case_id)["status"] == "assigned"
    assert case(service, case_id)["lead_unit_id"] == "logistics"  # 首接首办


def test_dispatch_by_rule_names_no_unit(service, db, routing):
    case_id = returned_case(service)

    step(service, case_id, "dispatch", OFFICE, {})

    assert db.events("dispatch_requested")[-1]["unit_id"] is None
    assert "按规则派单" in last_line(service, case_id)["text"]
    assert routing.asked == []


# ------------------------------------------------------------------ classify
def test_classifying_a_voicemail_announces_it_for_routing(service, db):
    case_id = voicemail_case(service)
    assert case(service, case_id)["category"] is None
    assert db.events("complaint_received") == []

    shown = step(service, case_id, "classify", OFFICE,
                 {"category": "logistics", "title": "图书馆空调漏水", "urgent": True})

    assert (shown["status"], shown["category"], shown["title"], shown["urgent"]) == \
        ("received", "logistics", "图书馆空调漏水", True)
    line = last_line(service, case_id)
    assert (line["kind"], line["actor"]) == ("classify", "李晓梅")
    assert "后勤保障" in line["text"]
    row = last_audit(service, case_id)
    assert (row["action"], row["actor_role"], row["changes"]) == \
        ("classify", "office", {"category": [None, "logistics"]})
    [received] = db.events("complaint_received")
    assert (received["complaint_id"], received["category"], received["channel"],
            received["urgent"], received["screened"]) == \
        (case_id, "logistics", "hotline", True, None)
    assert transitions(db) == []
    assert service.list_cases(OFFICE, {"view": "unclassified"}) == []


def test_a_voicemail_classified_into_a_screened_matter_is_screened_out(service, db):
    case_id = voicemail_case(service, "我要起诉学校,请告诉我去哪个法院立案")

    shown = step(service, case_id, "classify", OFFICE, {"category": "education"})

    assert shown["status"] == "screened_out"
    assert last_line(service, case_id)["kind"] == "screen_out"
    [received] = db.events("complaint_received")
    assert received["screened"]["kind"] == "legal_channel"


def test_a_classified_case_cannot_be_classified_again(service, db):
    case_id = voicemail_case(service)
    step(service, case_id, "classify", OFFICE, {"category": "logistics"})

    assert refused(service, db, case_id, "classify", OFFICE,
                   {"category": "security"}) == "already_classified"


def test_a_voicemail_is_classified_before_anything_else(service, db):
    case_id = voicemail_case(service)

    assert refused(service, db, case_id, "dispatch", OFFICE, {}) == "classify_first"
    assert refused(service, db, case_id, "screen_out", OFFICE,
                   {"rule": "litigation"}) == "classify_first"


# ------------------------------------------------------------------ instruct
def test_the_leader_instructs_a_supervised_case_and_it_goes_back_to_its_unit(service, db):
    case_id = supervised_case(service)
    assert case(service, case_id, LEADER)["status"] == "supervised"

    shown = step(service, case_id, "instruct", LEADER, {"text": "请后勤处三日内彻底解决"})

    assert (shown["status"], shown["round"], shown["instruction"]) == \
        ("supervised", 2, "请后勤处三日内彻底解决")
    timeline = shown["timeline"]
    assert [line["kind"] for line in timeline[-2:]] == ["instruct", "dispatch"]
    assert "请后勤处三日内彻底解决" in timeline[-2]["text"]
    assert timeline[-2]["actor"] == "王校长"
    rows = audit(service, case_id)
    assert [(r["action"], r["actor_id"], r["actor_role"]) for r in rows[-2:]] == \
        [("instruct", "l-01", "leader"), ("dispatch", "l-01", "leader")]
    [requested] = db.events("dispatch_requested")
    assert (requested["unit_id"], requested["round"]) == ("logistics", 2)

    assign(service, case_id, round_=2)
    assert (case(service, case_id)["status"], case(service, case_id)["round"]) == ("assigned", 2)


def test_a_supervised_case_is_not_reassigned_before_the_instruction(service):
    case_id = supervised_case(service)

    assign(service, case_id, round_=2)

    shown = case(service, case_id)
    assert shown["status"] == "supervised"
    assert shown["timeline"][-1]["kind"] == "assign_ignored"


def test_instructing_a_case_no_longer_supervised_is_refused(service, db):
    case_id = supervised_case(service)
    step(service, case_id, "instruct", LEADER, {"text": "请尽快解决"})
    assign(service, case_id, round_=2)

    assert refused(service, db, case_id, "instruct", LEADER,
                   {"text": "再次批示"}) == "illegal_transition"


# ------------------------------------------------------------------ link
def test_link_ties_two_similar_cases_together(service, db):
    first, second = file(service), file(service, who=CLASSMATE)
    before = len(db.outbox)

    shown = step(service, first, "link", OFFICE, {"other_id": second})

    assert shown["links"] == [{"other_id": second, "kind": "similar"}]
    assert case(service, second)["links"] == [{"other_id": first, "kind": "similar"}]
    assert shown["status"] == "received"
    assert len(db.outbox) == before  # nothing for the bus


def test_link_records_a_timeline_line_and_an_audit_row(service):
    first, second = file(service), file(service, who=CLASSMATE)
    other_number = case(service, second)["number"]

    step(service, first, "link", OFFICE, {"other_id": second})

    line = last_line(service, first)
    assert (line["kind"], line["actor"]) == ("link", "李晓梅")
    assert other_number in line["text"]
    row = last_audit(service, first)
    assert (row["action"], row["actor_id"], row["actor_role"]) == ("link", "u-office-1",
                                                                    "office")
    assert row["changes"] == {"link": [None, second]}


def test_a_voicemail_may_be_linked_before_it_is_classified(service):
    first = file(service)
    voicemail = voicemail_case(service)

    shown = step(service, voicemail, "link", OFFICE, {"other_id": first})

    assert shown["links"] == [{"other_id": first, "kind": "similar"}]


@pytest.mark.parametrize("other", ["self", "00000000-0000-0000-0000-000000000000"])
def test_linking_to_a_case_that_does_not_exist_or_to_itself_is_refused(service, db, other):
    case_id = file(service)

    assert refused(service, db, case_id, "link", OFFICE,
                   {"other_id": case_id if other == "self" else other}) == "unknown_case"


# ------------------------------------------------------------------ merge
def test_merge_folds_a_duplicate_into_the_case_handled(service, db):
    kept = assigned_case(service)
    duplicate = file(service, who=CLASSMATE)
    numbers = {c: case(service, c)["number"] for c in (kept, duplicate)}

    shown = step(service, duplicate, "merge", OFFICE, {"into": kept})

    assert (shown["status"], shown["merged_into"]) == ("merged", kept)
    assert {"other_id": kept, "kind": "duplicate"} in shown["links"]
    line = last_line(service, duplicate, CLASSMATE)
    assert line["kind"] == "merge" and numbers[kept] in line["text"]
    kept_line = last_line(service, kept)
    assert kept_line["kind"] == "merge" and numbers[duplicate] in kept_line["text"]
    assert {"other_id": duplicate, "kind": "duplicate"} in case(service, kept)["links"]
    assert_audited(service, duplicate, "merge", "office", ["received", "merged"])
    assert_transitioned(transitions(db)[-1], "merge", "received", "merged", OFFICE, "office")

    # Who filed the duplicate hears of the case handled from now on.
    step(service, kept, "sign_for", LOGISTICS)
    assert transitions(db)[-1]["complainants"] == [{"id": "s2023001", "name": "张三"},
                                                   {"id": "s2023002", "name": "李四"}]


def test_merging_into_a_closed_case_is_refused(service, db):
    closed = replied_case(service)
    service.on_complaint_rated(rated_event(service, closed, "close", level="satisfied"))
    duplicate = file(service, who=CLASSMATE)

    assert refused(service, db, duplicate, "merge", OFFICE, {"into": closed}) == "unknown_case"


# ------------------------------------------------------------------ refusals and who may act
CASES = {"received": file, "assigned": assigned_case, "signed": signed_case,
         "in_progress": in_progress_case, "returned": returned_case,
         "replied": replied_case, "supervised": supervised_case}


def params_for(action, service, case_id):
    return {"communicate": lambda: communication(service.clock.now()),
            "reply": lambda: {"outcome": "solved", "text": "已修好"},
            "return_case": lambda: {"reason": "不属于本单位职责"},
            "screen_out": lambda: {"rule": "litigation"},
            "dispatch": lambda: {"unit_id": "security"},
            "classify": lambda: {"category": "logistics"},
            "instruct": lambda: {"text": "请尽快解决"},
            "link": lambda: {"other_id": file(service, who=CLASSMATE)},
            "merge": lambda: {"into": file(service, who=CLASSMATE)},
            }.get(action, dict)()


@pytest.mark.parametrize("action, state, viewer, code", [
    ("sign_for", "signed", LOGISTICS, "illegal_transition"),
    ("start", "assigned", LOGISTICS, "illegal_transition"),
    ("communicate", "replied", LOGISTICS, "illegal_transition"),
    ("return_case", "in_progress", LOGISTICS, "illegal_transition"),
    ("screen_out", "signed", OFFICE, "illegal_transition"),
    ("dispatch", "assigned", OFFICE, "illegal_transition"),
    ("merge", "replied", OFFICE, "illegal_transition"),
])
def test_an_action_the_cases_state_does_not_allow_is_refused(service, db, action, state, viewer,
                                                             code):
    case_id = CASES[state](service)

    assert refused(service, db, case_id, action, viewer,
                   params_for(action, service, case_id)) == code


@pytest.mark.parametrize("action, state, viewer", [
    ("sign_for", "assigned", SECURITY),            # another unit
    ("sign_for", "assigned", OFFICE),              # the office reads but does not handle
    ("sign_for", "assigned", STUDENT),             # the complainant
    ("start", "signed", OFFICE),
    ("communicate", "signed", SECURITY),
    ("reply", "in_progress", STUDENT),
    ("reply", "in_progress", LEADER),
    ("return_case", "assigned", SECURITY),
    ("screen_out", "received", LOGISTICS_HEAD),
    ("screen_out", "assigned", LOGISTICS),
    ("dispatch", "returned", LOGISTICS),
    ("classify", "received", LOGISTICS),
    ("instruct", "supervised", OTHER_LEADER),      # not the case's leader
    ("instruct", "supervised", OFFICE),
    ("link", "assigned", LOGISTICS),
    ("merge", "assigned", LOGISTICS),
    ("merge", "received", STUDENT),
])
def test_a_viewer_who_may_not_act_is_told_the_case_does_not_exist(service, db, action, state,
                                                                  viewer):
    case_id = CASES[state](service)
    params = params_for(action, service, case_id)
    before = snapshot(service, db, case_id)

    with pytest.raises(NotFound):
        service.act(case_id, action, viewer, params)

    assert snapshot(service, db, case_id) == before


def test_an_assisting_unit_reads_a_disputed_case_but_does_not_handle_it(service, db):
    case_id = file(service)
    assign(service, case_id, assisting=("security",))

    assert case(service, case_id, SECURITY)["disputed"] is True
    before = snapshot(service, db, case_id)
    for action, params in (("sign_for", {}), ("return_case", {"reason": "协办单位不能退单"})):
        with pytest.raises(NotFound):
            service.act(case_id, action, SECURITY, params)
    assert snapshot(service, db, case_id) == before


def test_an_action_on_a_case_that_does_not_exist_is_not_found(service):
    with pytest.raises(NotFound):
        service.act("00000000-0000-0000-0000-000000000000", "screen_out", OFFICE,
                    {"rule": "litigation"})
