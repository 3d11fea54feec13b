"""What a summary is made of, read from rating's projection of the bus (`case_facts`,
services/rating/figures_models.py) for one period: the inputs of summaries.build_content.

Reads only; the summaries' own tables are written by summaries_entrypoints.py. A test can
hand `make_summary` any object with `gather(period, now)` instead.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import timedelta

from sqlalchemy import and_, func, or_, select

from services.common.contracts import Status
from services.rating import analysis_reads
from services.rating.figures_models import CaseFact
from services.rating.summaries import (DUE_SOON, LONG_OPEN_WORKING_DAYS, SummaryInputs,
                                       SummaryPeriod)

log = logging.getLogger(__name__)

OPEN = sorted(Status.OPEN)
NOT_A_CASE = (Status.SCREENED_OUT, Status.MERGED)
CLOSED_AS_HANDLED = ("rated", "unrated")
HOT_TOPICS = 10


def _fact(row: CaseFact, due_at=None) -> dict:
    return {"complaint_id": row.complaint_id, "number": row.number, "title": row.title,
            "category": row.category, "unit_id": row.unit_id, "unit_name": row.unit_name,
            "handler_name": row.handler_name, "status": row.status,
            "received_at": row.received_at, "due_at": due_at, "leader_id": row.leader_id,
            "instructed": row.instructed}


def _received_counts(rows) -> dict:
    by_channel, by_category = Counter(), Counter()
    for channel, category, count in rows:
        by_channel[channel or ""] += count
        by_category[category or ""] += count
    return {"total": sum(by_channel.values()), "by_channel": dict(by_channel),
            "by_category": dict(by_category)}


def next_target(row: CaseFact):
    """The open case's next deadline: signing until it is signed, then the reply."""
    if row.signed_at is None and row.sign_due_at is not None:
        return row.sign_due_at
    return row.reply_due_at


class FactSources:
    """The inputs of one period's summary from `case_facts`. `assessment_view(period)` (the
    figures' own monthly view, frozen snapshot included) is used for months when given."""

    def __init__(self, session, rules, calendar, assessment_view=None, span_view=None):
        self.session = session
        self.rules = rules
        self.calendar = calendar
        self.assessment_view = assessment_view
        self.span_view = span_view

    def gather(self, period: SummaryPeriod, now) -> SummaryInputs:
        previous = period.previous()
        open_cases = self._open_cases()
        # One read of the period's receptions gives both its counts and the per-day chart,
        # and one of the cases the dispatch meeting looks at gives the supervised list too
        # (a month is 42 000 receptions among a million cases: each pass over them counts).
        received, per_day = self.received_and_per_day(period)
        touched = self._touched(period)
        return SummaryInputs(
            received=received,
            previous_received=self.received(previous.start, previous.end),
            closed=self.closed(period.start, period.end),
            previous_closed=self.closed(previous.start, previous.end),
            assessment=self.assessment(period),
            overdue=self.overdue(open_cases, now),
            due_soon=self.due_soon(open_cases, now),
            supervised=[_fact(row) for row in touched if row.supervised],
            hot_topics=self.hot_topics(period),
            meeting=self.meeting(period, open_cases, now, touched),
            per_day=per_day,
            generated_at=now)

    # ----------------------------------------------------------------- counts
    def received(self, start, end) -> dict:
        rows = self.session.execute(
            select(CaseFact.channel, CaseFact.category, func.count())
            .where(CaseFact.received_at >= start, CaseFact.received_at < end)
            .group_by(CaseFact.channel, CaseFact.category)).all()
        return _received_counts(rows)

    def received_and_per_day(self, period: SummaryPeriod) -> tuple[dict, list]:
        """`received` and `per_day` of the period from one read of its receptions."""
        rows: Counter = Counter()
        local = self.calendar.local
        for received_at, channel, category in self.session.connection().execute(
                select(CaseFact.received_at, CaseFact.channel, CaseFact.category)
                .where(CaseFact.received_at >= period.start,
                       CaseFact.received_at < period.end)):
            rows[(local(received_at).date(), channel, category)] += 1
        by_key: Counter = Counter()
        per_day: Counter = Counter()
        for (day, channel, category), count in rows.items():
            by_key[(channel, category)] += count
            per_day[(day, category or "")] += count
        received = _received_counts((c, k, n) for (c, k), n in by_key.items())
        return received, sorted((day, category, n) for (day, category), n in per_day.items())

    def closed(self, start, end) -> int:
        return self.session.execute(
            select(func.count()).select_from(CaseFact)
            .where(CaseFact.closed_at >= start, CaseFact.closed_at < end,
                   CaseFact.closed_as.in_(CLOSED_AS_HANDLED))).scalar_one()

    def per_day(self, period: SummaryPeriod) -> list:
        counts: Counter = Counter()
        for received_at, category in self.session.execute(
                select(CaseFact.received_at, CaseFact.category)
                .where(CaseFact.received_at >= period.start, CaseFact.received_at < period.end)):
            counts[(self.calendar.local(received_at).date(), category or "")] += 1
        return sorted((day, category, count) for (day, category), count in counts.items())

    # ----------------------------------------------------------------- 三率
    def assessment(self, period: SummaryPeriod) -> dict | None:
        if period.kind == "monthly" and self.assessment_view is not None:
            return self.assessment_view(period.label)
        return self.rated_between(period)

    def rated_between(self, period: SummaryPeriod) -> dict | None:
        """The 三率 of the ratings counted in the period, from the figures' roll-ups (a week
        has no assessment of its own: its figures are what the week's final ratings say, on
        the assessment basis)."""
        if self.span_view is None:
            return None
        view = self.span_view(period.start, period.end)
        if not view["groups"]:
            return None
        return {"period": period.label, "version": None, "frozen": False, **view}

    # ----------------------------------------------------------------- open items
    def _open_cases(self) -> list[CaseFact]:
        return self.session.execute(select(CaseFact).where(CaseFact.status.in_(OPEN))
                                    .order_by(CaseFact.received_at)).scalars().all()

    def overdue(self, open_cases, now) -> list[dict]:
        found = []
        for row in open_cases:
            target = next_target(row)
            if row.overdue or (target is not None and target <= now):
                found.append(_fact(row, target))
        return found

    def due_soon(self, open_cases, now) -> list[dict]:
        horizon = self.calendar.add_working_time(now, DUE_SOON)
        found = []
        for row in open_cases:
            target = next_target(row)
            if not row.overdue and target is not None and now < target <= horizon:
                found.append(_fact(row, target))
        return sorted(found, key=lambda case: case["due_at"])

    # ----------------------------------------------------------------- 调度会
    def _touched(self, period: SummaryPeriod) -> list[CaseFact]:
        """The cases open now or closed in the period that were redone, supervised, returned
        more than once or disputed (the supervised ones are `supervised`'s list)."""
        return self.session.execute(select(CaseFact).where(
            or_(CaseFact.status.in_(OPEN),
                and_(CaseFact.closed_at >= period.start, CaseFact.closed_at < period.end)),
            or_(CaseFact.redo_count > 0, CaseFact.supervised.is_(True),
                CaseFact.return_count > 1, CaseFact.disputed.is_(True)))
            .order_by(CaseFact.received_at)).scalars().all()

    def meeting(self, period: SummaryPeriod, open_cases, now, touched=None) -> dict:
        """The dispatch meeting's lists: the cases open now or closed in the period that were
        redone, supervised, returned more than once or disputed; and the open ones older than
        LONG_OPEN_WORKING_DAYS working days."""
        if touched is None:
            touched = self._touched(period)
        lists: dict[str, list] = defaultdict(list)
        for row in touched:
            if row.redo_count:
                lists["redone"].append(_fact(row))
            if row.supervised:
                lists["supervised"].append(_fact(row))
            if row.return_count > 1:
                lists["returned"].append(_fact(row))
            if row.disputed:
                lists["disputed"].append(_fact(row))
        long_open = timedelta(hours=LONG_OPEN_WORKING_DAYS * self._day_hours())
        for row in open_cases:
            if row.received_at is not None and \
                    self.calendar.working_time_between(row.received_at, now) > long_open:
                lists["long_open"].append(_fact(row, next_target(row)))
        return dict(lists)

    def _day_hours(self) -> float:
        start, end = self.calendar.start, self.calendar.end
        return (end.hour * 60 + end.minute - start.hour * 60 - start.minute) / 60

    # ----------------------------------------------------------------- 热点
    def hot_topics(self, period: SummaryPeriod) -> list[dict]:
        """The period's hot keywords from the words analysis stored as each case arrived
        (analysis_reads: the same count as /analysis/hot-topics; 环比 against the
        equal-length stretch before)."""
        first = self.calendar.local(period.start).date()
        last = self.calendar.local(period.end - timedelta(microseconds=1)).date()
        _bounds, topics = analysis_reads.hot_topics_between(self.session, first, last,
                                                            top=HOT_TOPICS)
        return [{"keyword": k.keyword, "count": k.count, "mom": k.mom.as_dict()}
                for k in topics.keywords]
