"""The figures on PostgreSQL (the roll-ups' upserts use each dialect's ON CONFLICT): the
hand-computed month of services/rating/tests/test_figures_service.py fed into a rating worker
whose unit of work is on the real test database, compared with the same hand-written
expectations on both bases, and the roll-ups are what their journal adds up to."""
from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common.calendar import WorkingCalendar
from services.common.clock import ManualClock
from services.common.db import make_engine, unit_of_work
from services.rating.assessment import load_rules
from services.rating.figures_models import FigureMove, FigureRollup
from services.rating.service import RatingService
from services.rating.tests.test_assessment import EXPECTED, local
from services.rating.tests.test_figures_service import (
    OFFICE, ORG, month_through_the_service, rows_of,
)


class PostgresDatabase:
    """The real unit of work on the test database, without a relay (as InMemoryDatabase)."""

    def __init__(self, url, clock):
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.clock = clock

    def unit_of_work(self):
        return unit_of_work(self.sessions(), self.clock, "test-correlation")


@pytest.fixture
def pg(databases):
    clock = ManualClock(local(2026, 10, 1, 8, 0))
    db = PostgresDatabase(databases["rating"], clock)
    yield db, clock
    db.engine.dispose()


def test_the_hand_computed_month_on_postgresql(pg):
    db, clock = pg
    worker = worker_factory(RatingService, db=db, rules=load_rules(),
                            calendar=WorkingCalendar(), org_units=ORG)
    month_through_the_service(worker, clock)
    for basis in ("full", "assessment"):
        answer = worker.get_assessment("2026-11", basis, "unit", OFFICE)
        for kind, (rows, red, black) in EXPECTED[basis].items():
            assert rows_of(answer, kind) == rows, (basis, kind)
            assert answer["red"].get(kind, []) == list(red), (basis, kind)
            assert answer["black"].get(kind, []) == list(black), (basis, kind)
    with db.sessions() as session:
        journal = dict(session.execute(select(FigureMove.counter, func.sum(FigureMove.delta))
                                       .group_by(FigureMove.counter)).all())
        rolled = session.execute(select(func.sum(FigureRollup.rated), func.sum(
            FigureRollup.received)).where(FigureRollup.basis == "full")).one()
    assert (rolled[0], rolled[1]) == (journal["rated"], journal["received"])
