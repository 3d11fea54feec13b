"""Issue 12: what the office's side of rating tells intake, projected onto the case with no
broker: the phone 回访 (rated via=callback: who called is audited and named on the
timeline), 考核剔除 (the audit log only: the timeline is the complainant's to read too) and
专项治理 (a timeline line and an audit row). Each is applied once, however often delivered."""
import pytest

from services.common.contracts import build_event
from services.intake.tests import test_actions_unit as actions
from services.intake.tests.test_actions_unit import (
    LOGISTICS, STUDENT, audit, case, replied_case, snapshot, transitions)

clock, db, routing, service = actions.clock, actions.db, actions.routing, actions.service

CALLER = {"id": "u-office-1", "name": "李晓梅"}
CAMPAIGN = {"campaign_id": "cmp-1", "campaign_name": "学生公寓热水保障"}


def callback_event(service, case_id, level="satisfied", decision="close", contacted=True,
                   solved=True, comment=None):
    shown = case(service, case_id)
    return build_event("complaint_rated", case_id, service.clock.now(), level=level,
                       round=shown["round"], decision=decision,
                       rater={"id": STUDENT["id"], "name": None}, comment=comment,
                       contacted=contacted, solved=solved, via="callback", called_by=CALLER)


def exclusion_event(service, case_id, event_type, status, note=None):
    decided = {"decided_by": {"id": "u-office-1", "name": "李晓梅"}, "note": note} \
        if event_type == "exclusion_decided" else {}
    return build_event(event_type, case_id, service.clock.now(),
                       number=case(service, case_id)["number"], exclusion_id="ex-1",
                       unit={"id": "logistics", "name": "后勤管理处"}, status=status,
                       reason="诉求人反映的是市政供水问题,非本单位职责", evidence=["a" * 64],
                       requested_by={"id": LOGISTICS["id"], "name": LOGISTICS["name"]},
                       **decided)


def campaign_event(service, case_id, event_type):
    return build_event(event_type, case_id, service.clock.now(),
                       number=case(service, case_id)["number"],
                       by={"id": "u-office-1", "name": "李晓梅"}, **CAMPAIGN)


# ------------------------------------------------------------------ the phone 回访
def test_a_phone_callback_closes_the_case_as_the_complainants_rating(service, db):
    case_id = replied_case(service)
    service.clock.advance(minutes=1)

    service.on_complaint_rated(callback_event(service, case_id))

    shown = case(service, case_id, STUDENT)
    assert (shown["status"], shown["last_rating"]) == ("closed", "satisfied")
    line = shown["timeline"][-1]
    assert line["kind"] == "close"
    assert line["text"] == "办结:电话回访(李晓梅):满意(已联系,已解决)"
    assert line["actor"] == "张三"    # their answers, recorded by the office
    assert transitions(db)[-1]["action"] == "close"


def test_who_called_is_on_the_audit_log(service):
    case_id = replied_case(service)
    service.on_complaint_rated(callback_event(service, case_id, level="basically",
                                              solved=False))
    *_, closed, called = audit(service, case_id)
    assert (closed["action"], closed["actor_id"], closed["changes"]["status"]) == \
        ("close", STUDENT["id"], ["replied", "closed"])
    assert (called["action"], called["actor_id"], called["actor_role"]) == \
        ("callback", "u-office-1", "office")
    assert called["changes"] == {"rating": [None, "basically"], "complainant": STUDENT["id"]}


def test_a_dissatisfied_callback_orders_the_redo_like_any_rating(service):
    case_id = replied_case(service)
    service.on_complaint_rated(callback_event(service, case_id, level="dissatisfied",
                                              decision="order_redo", solved=False,
                                              comment="热水还是时有时无"))
    shown = case(service, case_id)
    assert (shown["status"], shown["round"]) == ("redo", 1)
    assert shown["timeline"][-1]["text"] == \
        "发回重办:电话回访(李晓梅):不满意(已联系,未解决),热水还是时有时无"


def test_the_complainants_own_rating_names_no_caller(service):
    case_id = replied_case(service)
    service.on_complaint_rated(actions.rated_event(service, case_id, "close", level="satisfied"))
    assert case(service, case_id)["timeline"][-1]["text"].startswith("办结:评价:满意")
    assert audit(service, case_id)[-1]["action"] == "close"


# ------------------------------------------------------------------ 考核剔除
def test_an_exclusion_request_and_decision_are_audited_not_shown(service):
    case_id = replied_case(service)
    timeline = case(service, case_id)["timeline"]

    service.on_exclusion_requested(exclusion_event(service, case_id, "exclusion_requested",
                                                   "requested"))
    service.on_exclusion_decided(exclusion_event(service, case_id, "exclusion_decided",
                                                 "approved", note="属实,同意剔除"))

    assert case(service, case_id)["timeline"] == timeline
    *_, asked, decided = audit(service, case_id)
    assert (asked["action"], asked["actor_id"], asked["actor_role"]) == \
        ("exclusion_request", LOGISTICS["id"], "unit")
    assert asked["changes"] == {"exclusion": [None, "requested"], "exclusion_id": "ex-1",
                                "unit_id": "logistics",
                                "reason": "诉求人反映的是市政供水问题,非本单位职责",
                                "evidence": ["a" * 64]}
    assert (decided["action"], decided["actor_id"], decided["actor_role"]) == \
        ("exclusion_decision", "u-office-1", "office")
    assert decided["changes"] == {"exclusion": ["requested", "approved"],
                                  "exclusion_id": "ex-1", "unit_id": "logistics",
                                  "note": "属实,同意剔除"}


# ------------------------------------------------------------------ 专项治理
def test_a_campaign_shows_on_the_timeline_when_the_case_joins_and_leaves_it(service):
    case_id = replied_case(service)

    service.on_campaign_case_attached(campaign_event(service, case_id,
                                                     "campaign_case_attached"))
    line = case(service, case_id, STUDENT)["timeline"][-1]
    assert (line["kind"], line["text"], line["actor"]) == \
        ("campaign_attached", "纳入专项治理:学生公寓热水保障", "李晓梅")
    service.clock.advance(minutes=1)
    service.on_campaign_case_detached(campaign_event(service, case_id,
                                                     "campaign_case_detached"))
    line = case(service, case_id, LOGISTICS)["timeline"][-1]
    assert (line["kind"], line["text"]) == ("campaign_detached", "移出专项治理:学生公寓热水保障")

    *_, attached, detached = audit(service, case_id)
    assert (attached["action"], attached["changes"]["campaign"]) == \
        ("campaign_attach", [None, "cmp-1"])
    assert (detached["action"], detached["changes"]["campaign"], detached["actor_role"]) == \
        ("campaign_detach", ["cmp-1", None], "office")


def test_the_office_events_put_nothing_on_the_bus(service, db):
    case_id = replied_case(service)
    before = len(db.outbox)
    service.on_exclusion_requested(exclusion_event(service, case_id, "exclusion_requested",
                                                   "requested"))
    service.on_campaign_case_attached(campaign_event(service, case_id,
                                                     "campaign_case_attached"))
    assert len(db.outbox) == before


# ------------------------------------------------------------------ redelivery
REDELIVERED = {
    "on_complaint_rated": callback_event,
    "on_exclusion_requested": lambda s, c: exclusion_event(s, c, "exclusion_requested",
                                                           "requested"),
    "on_exclusion_decided": lambda s, c: exclusion_event(s, c, "exclusion_decided",
                                                         "refused", note="理由不充分"),
    "on_campaign_case_attached": lambda s, c: campaign_event(s, c, "campaign_case_attached"),
    "on_campaign_case_detached": lambda s, c: campaign_event(s, c, "campaign_case_detached"),
}


@pytest.mark.parametrize("handler", list(REDELIVERED))
def test_a_redelivered_office_event_changes_nothing(service, db, handler):
    case_id = replied_case(service)
    event = REDELIVERED[handler](service, case_id)
    getattr(service, handler)(event)
    before = snapshot(service, db, case_id)

    getattr(service, handler)(event)

    assert snapshot(service, db, case_id) == before
