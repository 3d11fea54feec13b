"""The rating service without a broker: a reply opens the rating for whoever filed the case,
the rating decides (R9) and announces it; anyone else gets "no such case"."""
from datetime import datetime, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from services.common.calendar import WorkingCalendar
from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.testing import InMemoryDatabase
from services.rating.assessment import load_rules
from services.rating.models import Rating, metadata
from services.rating.service import RatingService

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)
FILER = {"id": "s1", "name": "张三"}
CO_FILER = {"id": "s2", "name": "李四"}


@pytest.fixture
def db():
    return InMemoryDatabase(metadata, clock=ManualClock(NOW))


@pytest.fixture
def service(db):
    # The school's rules (a 3-working-day rating window) and a calendar of weekdays
    # 08:30–17:30 in Shanghai.
    return worker_factory(RatingService, db=db, rules=load_rules(), calendar=WorkingCalendar())


def answers(level, **more):
    """A 回访 as the complainant gives it: the level and both answers (yes unless said)."""
    return dict({"level": level, "contacted": True, "solved": True}, **more)


def received():
    return build_event("complaint_received", "c-1", NOW, number="JS-1", channel="app",
                       category="logistics", content="热水停了两天", complainant=FILER)


def replied(round_=0, complainants=(FILER,)):
    return build_event("complaint_transitioned", "c-1", NOW, number="JS-1",
                       category="logistics", action="reply", from_status="in_progress",
                       to_status="replied", round=round_, actor={"id": "h1"},
                       actor_role="handler", unit={"id": "logistics", "name": "后勤管理处"},
                       complainants=list(complainants))


def test_before_the_reply_the_filer_is_told_it_is_not_open(service):
    service.on_complaint_received(received())
    with pytest.raises(Conflict):
        service.rate("c-1", FILER, answers("satisfied"))


def test_someone_else_is_told_the_case_does_not_exist(service):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    with pytest.raises(NotFound):
        service.rate("c-1", {"id": "stranger"}, answers("dissatisfied"))


def test_dissatisfied_first_time_orders_a_redo_and_says_so(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())

    rated = service.rate("c-1", FILER, answers("dissatisfied", comment="还是没有热水"))

    assert rated["decision"] == "order_redo" and rated["round"] == 0
    (event,) = db.events("complaint_rated")
    assert (event["decision"], event["level"], event["rater"]["id"]) == \
        ("order_redo", "dissatisfied", "s1")
    with pytest.raises(Conflict):  # once per reply
        service.rate("c-1", FILER, answers("satisfied"))


def test_dissatisfied_after_the_redo_makes_it_supervised(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied(round_=1))
    assert service.rate("c-1", FILER, answers("dissatisfied"))["decision"] == "supervise"


def test_a_merged_duplicates_filer_rates_too_but_does_not_decide(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied(complainants=(FILER, CO_FILER)))

    assert service.rate("c-1", CO_FILER, answers("dissatisfied"))["decision"] is None
    assert db.events("complaint_rated") == []
    assert service.rate("c-1", FILER, answers("basically"))["decision"] == "close"
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Rating)
                              .where(Rating.complaint_id == "c-1")) == 2


def test_a_bad_level_is_invalid_input(service):
    with pytest.raises(InvalidInput):
        service.rate("c-1", FILER, answers("meh"))


# ------------------------------------------------------------------ 回访 (issue 12, section 1)
def test_the_callback_answers_are_kept_and_announced_with_the_level(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())

    rated = service.rate("c-1", FILER, {"level": "basically", "contacted": True,
                                         "solved": False, "comment": "联系了,但还没修好"})

    assert (rated["level"], rated["contacted"], rated["solved"]) == ("basically", True, False)
    (event,) = db.events("complaint_rated")
    assert (event["contacted"], event["solved"]) == (True, False)
    with db.session() as session:
        stored = session.execute(select(Rating)).scalar_one()
    assert (stored.contacted, stored.solved) == (True, False)


@pytest.mark.parametrize("given", [
    {"contacted": "yes"}, {"solved": 3}, {"contacted": []}, {"contacted": 1}, {"solved": 0},
    {"contacted": None}, {"solved": None}])
def test_a_callback_answer_is_true_or_false(service, given):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    with pytest.raises(InvalidInput):
        service.rate("c-1", FILER, dict(answers("satisfied"), **given))


@pytest.mark.parametrize("missing", ["contacted", "solved"])
def test_both_callback_answers_are_required(service, missing):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    given = answers("satisfied")
    del given[missing]
    with pytest.raises(InvalidInput):
        service.rate("c-1", FILER, given)


# ------------------------------------------------------------------ 未评价: the rating window
def test_a_reply_nobody_rates_in_three_working_days_closes_as_unrated(service, db):
    # replied Tuesday 10:00 in Shanghai (NOW)
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())

    db.clock.set(datetime(2026, 11, 26, 9, 29, tzinfo=timezone.utc))  # Thursday 17:29
    assert service.expire_batch() == 0
    db.clock.set(datetime(2026, 11, 26, 9, 31, tzinfo=timezone.utc))  # Thursday 17:31
    assert service.expire_batch() == 1

    (event,) = db.events("rating_expired")
    assert (event["complaint_id"], event["round"], event["unit"]["id"]) == ("c-1", 0, "logistics")
    assert service.expire_batch() == 0          # once
    with pytest.raises(Conflict):               # and no rating after it
        service.rate("c-1", FILER, answers("satisfied"))


def test_a_rated_reply_does_not_expire(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    service.rate("c-1", FILER, answers("satisfied"))

    db.clock.set(datetime(2026, 12, 31, tzinfo=timezone.utc))
    assert service.expire_batch() == 0
    assert db.events("rating_expired") == []


def test_the_window_closes_for_the_merged_duplicates_filers_too(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied(complainants=(FILER, CO_FILER)))

    db.clock.set(datetime(2026, 12, 31, tzinfo=timezone.utc))
    assert service.expire_batch() == 1
    with pytest.raises(Conflict):
        service.rate("c-1", CO_FILER, answers("satisfied"))


# ------------------------------------------------------------------ the office's phone 回访
OFFICE = {"id": "o1", "name": "李晓梅", "roles": ["office"]}


def test_the_office_records_a_phone_callback_for_the_complainant(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())

    rated = service.record_callback("c-1", OFFICE, answers("satisfied", comment="电话回访"))

    assert (rated["decision"], rated["via"], rated["called_by"]) == ("close", "callback", "o1")
    (event,) = db.events("complaint_rated")
    assert (event["via"], event["called_by"], event["rater"]["id"]) == \
        ("callback", {"id": "o1", "name": "李晓梅"}, "s1")
    with pytest.raises(Conflict):     # the complainant's own rating comes too late
        service.rate("c-1", FILER, answers("dissatisfied"))


def test_a_callback_decides_like_the_complainants_rating(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied(round_=1))
    rated = service.record_callback("c-1", OFFICE, answers("dissatisfied", solved=False))
    assert rated["decision"] == "supervise"


def test_a_callback_is_once_per_reply_and_only_while_the_rating_is_open(service, db):
    service.on_complaint_received(received())
    with pytest.raises(Conflict):                 # not replied yet
        service.record_callback("c-1", OFFICE, answers("satisfied"))
    service.on_complaint_transitioned(replied())
    service.rate("c-1", FILER, answers("satisfied"))
    with pytest.raises(Conflict):                 # rated already
        service.record_callback("c-1", OFFICE, answers("satisfied"))


def test_the_complainants_own_rating_is_recorded_as_theirs(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    rated = service.rate("c-1", FILER, answers("satisfied"))
    assert (rated["via"], rated["called_by"], rated["called_at"]) == ("complainant", None, None)
    (event,) = db.events("complaint_rated")
    assert (event["via"], event["called_by"]) == ("complainant", None)


@pytest.mark.parametrize("caller", [
    {"id": "h1", "name": "王师傅", "roles": ["handler"], "unit": "logistics"},
    {"id": "l1", "name": "校领导", "roles": ["leader"]}, FILER])
def test_only_the_office_records_a_callback(service, caller):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    with pytest.raises(NotFound):
        service.record_callback("c-1", caller, answers("satisfied"))


def test_an_unknown_case_has_no_callback(service):
    with pytest.raises(NotFound):
        service.record_callback("nope", OFFICE, answers("satisfied"))


def test_a_callback_is_dated_between_the_reply_and_now(service, db):
    service.on_complaint_received(received())
    service.on_complaint_transitioned(replied())
    db.clock.set(datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc))
    with pytest.raises(InvalidInput):
        service.record_callback("c-1", OFFICE, answers(
            "satisfied", called_at="2026-11-25T12:00:00+08:00"))   # two hours ahead
    with pytest.raises(InvalidInput):
        service.record_callback("c-1", OFFICE, answers(
            "satisfied", called_at="2026-11-24T09:00:00+08:00"))   # before the reply
    rated = service.record_callback("c-1", OFFICE, answers(
        "satisfied", called_at="2026-11-25T09:30:00+08:00"))
    assert rated["called_at"] == "2026-11-25T01:30:00+00:00"
