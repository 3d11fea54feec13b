"""分析研判's reads from the stored words (analysis_cases), shared by the analysis routes and
the summaries: the words were cut once, when each case arrived, so a period's hot topics are a
count, never a second pass of the segmenter."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from services.rating import analysis, campaigns
from services.rating.analysis_models import AnalysisCase


def stored_words(session, first: date, last: date, category, unit, *, with_origin=False):
    """The stored words of the cases received in [first, last] (local dates): (words,
    category, unit_id) each with `with_origin`, else the words alone. Read through Core, not
    the ORM: a month is 42 000 rows and the ORM's per-row cost would be most of the time."""
    start, end = campaigns.day_bounds(first, last)
    table = AnalysisCase.__table__
    columns = (table.c.words, table.c.category, table.c.unit_id) if with_origin \
        else (table.c.words,)
    statement = select(*columns).where(table.c.counted.is_(True),
                                       table.c.received_at >= start, table.c.received_at < end)
    if category:
        statement = statement.where(table.c.category == category)
    if unit:
        statement = statement.where(table.c.unit_id == unit)
    rows = session.connection().execute(statement)
    if with_origin:
        return [(words.split(), c, u) for words, c, u in rows]
    return [words.split() for (words,) in rows]


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

    def period(a, b, **kwargs):
        return stored_words(session, a, b, category, unit, **kwargs)

    topics = analysis.hot_topics_of_words(period(first, last, with_origin=True),
                                          period(prev_first, prev_last),
                                          period(ly_first, ly_last), top=top)
    bounds = {"previous": {"from": prev_first.isoformat(), "to": prev_last.isoformat()},
              "last_year": {"from": ly_first.isoformat(), "to": ly_last.isoformat()}}
    return bounds, topics
