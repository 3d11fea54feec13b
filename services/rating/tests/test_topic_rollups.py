"""Hot topics' roll-ups (analysis_topic_days, analysis_topic_cells) kept by the analysis
consumers give the same answer as counting every stored word of the period: through
assignments, a redo moved to another unit, unassigned cases, cases without topic words,
screened-out and merged cases; and a case taken back leaves no row behind."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.calendar import WorkingCalendar
from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.testing import InMemoryDatabase
from services.rating import analysis, analysis_reads, campaigns
from services.rating.analysis import AnalysisSettings, default_analyzer
from services.rating.analysis_models import AnalysisCase, AnalysisTopicCell, AnalysisTopicDay
from services.rating.assessment import load_rules
from services.rating.models import metadata
from services.rating.service import RatingService

UTC = timezone.utc
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
NOV = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)         # 00:30 on 11-01 in Shanghai
UNITS = [{"id": "logistics", "name": "后勤管理处"}, {"id": "academic-affairs", "name": "教务处"},
         {"id": "it-center", "name": "信息中心"}]
TEXTS = ["学生公寓没有热水了,请尽快维修", "澡堂的热水忽冷忽热,希望学校重视热水",
         "教务系统选课时总是崩溃", "校园网晚上断网严重,校园网太慢", "食堂饭菜价格上涨分量变少",
         "图书馆座位被长期占用", "教室空调不制冷上课很热", "好的", "宿舍楼热水供应时间太短"]
CATEGORIES = ["logistics", "education", "security"]


@pytest.fixture
def db():
    return InMemoryDatabase(metadata, clock=ManualClock(NOW))


@pytest.fixture
def service(db):
    return worker_factory(RatingService, db=db, rules=load_rules(), calendar=WorkingCalendar(),
                          analysis_settings=AnalysisSettings(), analyzer=default_analyzer())


def _feed(service, rng: random.Random, n: int) -> None:
    for i in range(n):
        case_id = f"c-{i:04d}"
        # Last year's November, October and November, a case or two past the month's ends.
        at = NOV + timedelta(days=rng.choice([-365, -20, 0, 0, 0]) + rng.uniform(-1, 30))
        screened = {"rule": "r", "kind": "unlawful", "reply": "不予受理"} \
            if rng.random() < 0.05 else None
        service.analysis_on_received(build_event(
            "complaint_received", case_id, at, number=f"JS-{i:04d}", channel="app",
            category=rng.choice(CATEGORIES), title=None, content=rng.choice(TEXTS),
            location=None, complainant={"id": "s1", "name": "张三"}, screened=screened))
        if rng.random() < 0.85:      # some are never assigned
            service.analysis_on_assigned(build_event(
                "complaint_assigned", case_id, at + timedelta(minutes=1),
                number=f"JS-{i:04d}", category="logistics", grade="general",
                unit=rng.choice(UNITS), handler={"id": "h1", "name": "冯涛"}, received_at=at))
        draw = rng.random()
        if draw < 0.25:              # a redo moves it (or not) to another unit
            to_status, unit = "redo", rng.choice(UNITS)
        elif draw < 0.35:
            to_status, unit = "merged", None
        elif draw < 0.4:
            to_status, unit = "screened_out", rng.choice(UNITS)
        else:
            continue
        service.analysis_on_transitioned(build_event(
            "complaint_transitioned", case_id, at + timedelta(hours=2), number="JS",
            category="logistics", action="order_redo", from_status="replied", to_status=to_status,
            round=1, actor={"id": "o1"}, actor_role="office", unit=unit))


def _counted(session, first, last, category=None, unit=None):
    """The reference: every stored word of the period counted again, as before roll-ups."""
    start, end = campaigns.day_bounds(first, last)
    statement = select(AnalysisCase.words, AnalysisCase.category, AnalysisCase.unit_id).where(
        AnalysisCase.counted.is_(True), AnalysisCase.received_at >= start,
        AnalysisCase.received_at < end)
    if category:
        statement = statement.where(AnalysisCase.category == category)
    if unit:
        statement = statement.where(AnalysisCase.unit_id == unit)
    return [(w.split(), c, u) for w, c, u in session.execute(statement)]


def _as_compared(topics: analysis.HotTopics) -> tuple[dict, list[float]]:
    answer = topics.as_dict()
    weights = [k.pop("weight") for k in answer["keywords"]]
    return answer, weights


@pytest.mark.parametrize("narrow", [{}, {"category": "logistics"}, {"unit": "logistics"},
                                    {"category": "security", "unit": "it-center"}])
def test_roll_ups_answer_as_the_stored_words_do(service, db, narrow):
    _feed(service, random.Random(12), 200)
    first, last = datetime(2026, 11, 1).date(), datetime(2026, 11, 30).date()
    prev = (first - timedelta(days=30), first - timedelta(days=1))
    ly = (analysis_reads.last_year(first), analysis_reads.last_year(last))
    with db.session() as session:
        _bounds, rolled = analysis_reads.hot_topics_between(session, first, last, top=50,
                                                            **narrow)
        category, unit = narrow.get("category"), narrow.get("unit")
        expected = analysis.hot_topics_of_words(
            _counted(session, first, last, category, unit),
            [w for w, _, _ in _counted(session, *prev, category, unit)],
            [w for w, _, _ in _counted(session, *ly, category, unit)], top=50)
    assert expected.documents > 0 and expected.keywords
    got, got_weights = _as_compared(rolled)
    want, want_weights = _as_compared(expected)
    assert got == want
    # Sums added in another order: equal to the last few digits.
    assert got_weights == pytest.approx(want_weights, rel=1e-12)


def test_a_case_taken_back_leaves_no_row(service, db):
    at = NOV + timedelta(days=3)
    service.analysis_on_received(build_event(
        "complaint_received", "c-1", at, number="JS-1", channel="app", category="logistics",
        title=None, content=TEXTS[0], location=None, complainant={"id": "s1"}))
    for unit in UNITS[:2]:
        service.analysis_on_assigned(build_event(
            "complaint_assigned", "c-1", at, number="JS-1", category="logistics",
            grade="general", unit=unit, handler={"id": "h1", "name": "冯涛"}, received_at=at))
    with db.session() as session:
        cells = session.execute(select(AnalysisTopicCell.unit_id).distinct()).scalars().all()
        assert cells == ["academic-affairs"]
        assert session.execute(select(AnalysisTopicDay.documents).where(
            AnalysisTopicDay.word == "")).scalar_one() == 1
    service.analysis_on_transitioned(build_event(
        "complaint_transitioned", "c-1", at + timedelta(hours=1), number="JS-1",
        category="logistics", action="merge", from_status="assigned", to_status="merged",
        round=0, actor={"id": "o1"}, actor_role="office", unit=None))
    with db.session() as session:
        assert session.execute(select(AnalysisTopicDay)).first() is None
        assert session.execute(select(AnalysisTopicCell)).first() is None
