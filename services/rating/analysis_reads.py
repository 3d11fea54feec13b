"""分析研判's reads of hot topics, shared by the analysis routes and the summaries: a period's
hot topics are added up from the daily roll-ups the consumers keep (analysis_topic_days,
analysis_topic_cells: services/rating/analysis_models.py), never counted again from the
cases' words. TF-IDF needs, per period, the number of documents and per word the documents
containing it and its tf summed over them: all sums, so a month is a GROUP BY of its days."""
from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from sqlalchemy import func, select

from services.rating import analysis
from services.rating.analysis_models import (NO_UNIT, TOPIC_DOCUMENTS, AnalysisTopicCell,
                                             AnalysisTopicDay)


def _where(table, first: date, last: date, category, unit) -> list:
    where = [table.c.day >= first, table.c.day <= last]
    if category:
        where.append(table.c.category == category)
    if unit:
        where.append(table.c.unit_id == unit)
    return where


def period_terms(session, first: date, last: date, category=None, unit=None,
                 *, with_tf: bool = False) -> analysis.PeriodTerms:
    """The counted cases received in [first, last] (local dates) of the category and unit
    (None: any), as documents and per-word document counts (and tf sums `with_tf`): from the
    daily totals when nothing narrows them, else from the category × unit cells."""
    table = (AnalysisTopicCell if category or unit else AnalysisTopicDay).__table__
    columns = [table.c.word, func.sum(table.c.documents)]
    if with_tf:
        columns.append(func.sum(table.c.tf))
    rows = session.connection().execute(
        select(*columns).where(*_where(table, first, last, category, unit))
        .group_by(table.c.word).having(func.sum(table.c.documents) > 0))
    documents, df, tf = 0, {}, {}
    for row in rows:
        if row[0] == TOPIC_DOCUMENTS:
            documents = int(row[1])
            continue
        df[row[0]] = int(row[1])
        if with_tf:
            tf[row[0]] = float(row[2])
    return analysis.PeriodTerms(documents, df, tf)


def breakdown(session, first: date, last: date, category, unit, words) -> tuple[dict, dict]:
    """The documents of each of `words` by category and by unit (None: no unit yet)."""
    by_category = {w: Counter() for w in words}
    by_unit = {w: Counter() for w in words}
    if not words:
        return by_category, by_unit
    table = AnalysisTopicCell.__table__
    rows = session.connection().execute(
        select(table.c.word, table.c.category, table.c.unit_id, func.sum(table.c.documents))
        .where(table.c.word.in_(sorted(words)), *_where(table, first, last, category, unit))
        .group_by(table.c.word, table.c.category, table.c.unit_id))
    for word, category_, unit_id, count in rows:
        if count:
            by_category[word][category_] += int(count)
            by_unit[word][None if unit_id == NO_UNIT else unit_id] += int(count)
    return by_category, by_unit


def last_year(day: date) -> date:
    """The same date a year earlier (29 February: the 28th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def hot_topics_between(session, first: date, last: date, *, category=None, unit=None,
                       top: int = 20) -> tuple[dict, analysis.HotTopics]:
    """Hot keywords of [first, last] (local dates, both included), with 环比 against the
    equal-length period before and 同比 against the same dates a year earlier; and those two
    periods' bounds, as the API shows them."""
    days = (last - first).days + 1
    prev_first, prev_last = first - timedelta(days=days), first - timedelta(days=1)
    ly_first, ly_last = last_year(first), last_year(last)
    topics = analysis.hot_topics_of_counts(
        period_terms(session, first, last, category, unit, with_tf=True),
        period_terms(session, prev_first, prev_last, category, unit),
        period_terms(session, ly_first, ly_last, category, unit),
        lambda chosen: breakdown(session, first, last, category, unit, chosen), top=top)
    bounds = {"previous": {"from": prev_first.isoformat(), "to": prev_last.isoformat()},
              "last_year": {"from": ly_first.isoformat(), "to": ly_last.isoformat()}}
    return bounds, topics
