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
from services.rating import analysis
from services.rating.assessment import FinalRating, UNIT_KINDS, assess
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


def next_target(row: CaseFact):
    """The open case's next deadline: signing until it is signed, then the reply."""
    if row.signed_at is None and row.sign_due_at is not None:
        return row.sign_due_at
    return row.reply_due_at


class FactSources:
    """The inputs of one period's summary from `case_facts`. `assessment_view(period)` (the
    figures' own monthly view, frozen snapshot included) is used for months when given."""

    def __init__(self, session, rules, calendar, assessment_view=None, analyzer=None):
        self.session = session
        self.rules = rules
        self.calendar = calendar
        self.assessment_view = assessment_view
        self.analyzer = analyzer

    def gather(self, period: SummaryPeriod, now) -> SummaryInputs:
        previous = period.previous()
        open_cases = self._open_cases()
        return SummaryInputs(
            received=self.received(period.start, period.end),
            previous_received=self.received(previous.start, previous.end),
            closed=self.closed(period.start, period.end),
            previous_closed=self.closed(previous.start, previous.end),
            assessment=self.assessment(period),
            overdue=self.overdue(open_cases, now),
            due_soon=self.due_soon(open_cases, now),
            supervised=self.supervised(period),
            hot_topics=self.hot_topics(period),
            meeting=self.meeting(period, open_cases, now),
            per_day=self.per_day(period),
            generated_at=now)

    # ----------------------------------------------------------------- counts
    def received(self, start, end) -> dict:
        rows = self.session.execute(
            select(CaseFact.channel, CaseFact.category, func.count())
            .where(CaseFact.received_at >= start, CaseFact.received_at < end)
            .group_by(CaseFact.channel, CaseFact.category)).all()
        by_channel, by_category = Counter(), Counter()
        for channel, category, count in rows:
            by_channel[channel or ""] += count
            by_category[category or ""] += count
        return {"total": sum(by_channel.values()), "by_channel": dict(by_channel),
                "by_category": dict(by_category)}

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
        """The 三率 of the ratings recorded in the period (a week has no assessment of its
        own: its figures are what the week's final ratings say, on the assessment basis)."""
        rows = self.session.execute(select(CaseFact).where(
            CaseFact.rated_at >= period.start, CaseFact.rated_at < period.end,
            CaseFact.final_level.is_not(None), CaseFact.unit_id.is_not(None))).scalars().all()
        if not rows:
            return None
        names = {row.unit_id: row.unit_name for row in rows}
        records = [FinalRating(
            complaint_id=row.complaint_id, unit_id=row.unit_id,
            unit_kind=row.unit_kind if row.unit_kind in UNIT_KINDS else "other",
            category=row.category or "", channel=row.channel or "",
            contacted=bool(row.contacted), solved=bool(row.solved), level=row.final_level,
            rated_at=row.rated_at, round=row.round,
            exclusion="approved" if row.excluded else None,
            screened_out=row.status == Status.SCREENED_OUT,
            merged=row.status == Status.MERGED) for row in rows]
        result = assess(records, "assessment", self.rules)
        return {"period": period.label, "basis": "assessment", "version": None,
                "frozen": False,
                "groups": {kind: [dict(vars(row), unit_name=names.get(row.unit_id))
                                  for row in group.rows]
                           for kind, group in result.groups.items() if group.rows}}

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

    def supervised(self, period: SummaryPeriod) -> list[dict]:
        rows = self.session.execute(select(CaseFact).where(
            CaseFact.supervised.is_(True),
            or_(CaseFact.status.in_(OPEN),
                and_(CaseFact.closed_at >= period.start, CaseFact.closed_at < period.end)))
            .order_by(CaseFact.received_at)).scalars().all()
        return [_fact(row) for row in rows]

    # ----------------------------------------------------------------- 调度会
    def meeting(self, period: SummaryPeriod, open_cases, now) -> dict:
        """The dispatch meeting's lists: the cases open now or closed in the period that were
        redone, supervised, returned more than once or disputed; and the open ones older than
        LONG_OPEN_WORKING_DAYS working days."""
        touched = self.session.execute(select(CaseFact).where(
            or_(CaseFact.status.in_(OPEN),
                and_(CaseFact.closed_at >= period.start, CaseFact.closed_at < period.end)),
            or_(CaseFact.redo_count > 0, CaseFact.supervised.is_(True),
                CaseFact.return_count > 1, CaseFact.disputed.is_(True)))
            .order_by(CaseFact.received_at)).scalars().all()
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
        def records(start, end):
            return [{"case_id": complaint_id, "title": title, "category": category,
                     "unit_id": unit_id, "status": status}
                    for complaint_id, title, category, unit_id, status in self.session.execute(
                        select(CaseFact.complaint_id, CaseFact.title, CaseFact.category,
                               CaseFact.unit_id, CaseFact.status)
                        .where(CaseFact.received_at >= start, CaseFact.received_at < end,
                               or_(CaseFact.status.is_(None),
                                   CaseFact.status.not_in(NOT_A_CASE))))]
        previous = period.previous()
        now = records(period.start, period.end)
        if not now:
            return []
        topics = analysis.hot_topics(now, records(previous.start, previous.end),
                                     top=HOT_TOPICS, analyzer=self.analyzer)
        return [{"keyword": k.keyword, "count": k.count, "mom": k.mom.as_dict()}
                for k in topics.keywords]
