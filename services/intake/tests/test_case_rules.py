"""Rules found by the worker_factory tests of issue 11 and settled in the Case aggregate."""
from services.intake.tests import test_actions_unit as actions
from services.intake.tests.test_actions_unit import (
    LEADER, case, kinds, rated_event, refused, replied_case, step, supervised_case)
from services.intake.tests.test_projections_unit import alert_event

# The same service, database and clock as the actions' tests.
clock, db, routing, service = actions.clock, actions.db, actions.routing, actions.service


def test_a_rating_the_case_no_longer_allows_is_recorded_and_ignored(service, db):
    case_id = replied_case(service)
    service.on_complaint_rated(rated_event(service, case_id, "close", level="satisfied"))
    service.clock.advance(minutes=1)

    # A late second rating (rating's own rules would not send it; a replay could): no retry
    # until it is parked, a line that says why, nothing else changes.
    service.on_complaint_rated(rated_event(service, case_id, "order_redo"))

    shown = case(service, case_id)
    assert shown["status"] == "closed"
    assert kinds(service, case_id)[-1] == "rating_ignored"
    assert [e["action"] for e in db.events("complaint_transitioned")][-1] == "close"


def test_a_supervised_case_is_instructed_once_per_round(service, db):
    case_id = supervised_case(service)
    step(service, case_id, "instruct", LEADER, {"text": "三日内更换热水器"})

    assert refused(service, db, case_id, "instruct", LEADER,
                   {"text": "再批示一次"}) == "already_instructed"
    assert len(db.events("dispatch_requested")) == 1


def test_an_overdue_alert_after_the_reply_does_not_make_the_case_overdue(service):
    case_id = replied_case(service)

    service.on_sla_alert(alert_event(service, case_id, "overdue"))

    assert case(service, case_id)["sla_state"] == "normal"


def _expired(service, case_id, round_=0):
    from services.common.contracts import build_event
    return build_event("rating_expired", case_id, service.clock.now(), round=round_,
                       unit={"id": "logistics", "name": None})


def test_a_reply_nobody_rated_in_time_closes_as_unrated(service, db):
    case_id = replied_case(service)
    service.clock.advance(days=3)

    service.on_rating_expired(_expired(service, case_id))

    shown = case(service, case_id)
    assert (shown["status"], shown["last_rating"]) == ("closed", "unrated")
    event = db.events("complaint_transitioned")[-1]
    assert (event["action"], event["actor_role"], event["to_status"]) == ("close", "system",
                                                                          "closed")
    assert event["note"].startswith("未评价")


def test_a_window_end_for_a_case_rated_meanwhile_changes_nothing(service, db):
    case_id = replied_case(service)
    service.on_complaint_rated(rated_event(service, case_id, "close", level="satisfied"))

    service.on_rating_expired(_expired(service, case_id))

    assert case(service, case_id)["last_rating"] == "satisfied"
    assert kinds(service, case_id)[-1] == "rating_ignored"
