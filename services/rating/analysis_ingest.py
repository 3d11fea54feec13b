"""分析研判's intake of a case (analysis_entrypoints.py's consumers call these): the costly
work done once, when a case arrives or moves: its topic words counted in the day's roll-ups,
its look-alikes found through the postings and its 共性问题 cluster joined, a repeat of a closed
case flagged (docs/ANALYSIS.md)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select, update

from services.rating import analysis, campaigns
from services.rating.analysis_models import (NO_UNIT, TOPIC_DOCUMENTS, AnalysisCase,
                                             AnalysisTopicCell, AnalysisTopicDay,
                                             AnalysisWord)

WORD_MAX = 64             # a posting's word column; longer "words" are no topic anyway


def local_date(moment: datetime) -> date:
    return moment.astimezone(campaigns.TZ).date()


def count_topics(session, case: AnalysisCase, unit_id: str | None, sign: int,
                  days: bool = True) -> None:
    """Add (sign 1) or take back (-1) what the case counts in hot topics' roll-ups: one
    document, and each of its words' document and tf, on its local day of receipt, in total
    (unless `days` is False: a move to another unit changes the cells only) and in its
    category × unit cell. Rows are written in key order, so that two consumers adding to the
    same day lock its rows in the same order; a row taken back to no document goes."""
    terms = {w: tf for w, tf in analysis.document_terms(case.words.split()).items()
             if len(w) <= WORD_MAX}
    terms[TOPIC_DOCUMENTS] = 0.0
    day, unit = local_date(case.received_at), unit_id or NO_UNIT
    words = sorted(terms)
    targets = [(AnalysisTopicCell, {"day": day, "category": case.category, "unit_id": unit})]
    if days:
        targets.insert(0, (AnalysisTopicDay, {"day": day}))
    insert = _insert_of(session)
    for model, key in targets:
        statement = insert(model).values([dict(key, word=w, documents=sign, tf=sign * terms[w])
                                          for w in words])
        table = model.__table__
        session.execute(statement.on_conflict_do_update(
            index_elements=[*key, "word"],
            set_={"documents": table.c.documents + statement.excluded.documents,
                  "tf": table.c.tf + statement.excluded.tf}))
        if sign < 0:
            session.execute(delete(model).where(
                *(table.c[name] == value for name, value in key.items()),
                table.c.word.in_(words), table.c.documents <= 0))


def _insert_of(session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _window_idf(session, words, at: datetime, days: int) -> tuple[dict[str, float], float]:
    """Smoothed IDF over the cases received within `days` of `at` (what "common" means now:
    a word everybody uses this fortnight says little about which problem a case is)."""
    low, high = at - timedelta(days=days), at + timedelta(days=days)
    total = session.execute(select(func.count()).select_from(AnalysisCase).where(
        AnalysisCase.counted.is_(True), AnalysisCase.received_at >= low,
        AnalysisCase.received_at <= high)).scalar_one()
    df = dict(session.execute(select(AnalysisWord.word, func.count()).where(
        AnalysisWord.word.in_(sorted(words)), AnalysisWord.received_at >= low,
        AnalysisWord.received_at <= high).group_by(AnalysisWord.word)).all())
    idf = {w: analysis.smoothed_idf(total, df.get(w, 0)) for w in words}
    return idf, analysis.smoothed_idf(total, 0)


def _alike(session, case: AnalysisCase, words, others, settings) -> list[tuple[AnalysisCase, float]]:
    """The `others` at least `common_threshold` alike to the case (TF-IDF cosine)."""
    if not others:
        return []
    vocabulary = set(words).union(*(o.words.split() for o in others))
    idf, default = _window_idf(session, vocabulary, case.received_at,
                               max(settings.common_within_days, 1))
    mine = analysis.unit_vector(words, idf, default)
    found = []
    for other in others:
        score = analysis.cosine(mine, analysis.unit_vector(other.words.split(), idf, default))
        if score >= settings.common_threshold:
            found.append((other, score))
    return found


def link(session, case: AnalysisCase, words, settings) -> None:
    """Join the case to the clusters of its look-alikes received within M days of it; the
    clusters it bridges become one (the smallest id names it)."""
    within = timedelta(days=settings.common_within_days)
    low, high = case.received_at - within, case.received_at + within
    shared = func.count().label("shared")
    candidates = [row[0] for row in session.execute(
        select(AnalysisWord.complaint_id, shared).where(
            AnalysisWord.word.in_(sorted(set(words))), AnalysisWord.received_at >= low,
            AnalysisWord.received_at <= high, AnalysisWord.complaint_id != case.complaint_id)
        .group_by(AnalysisWord.complaint_id)
        .order_by(shared.desc(), AnalysisWord.complaint_id).limit(settings.link_candidates))]
    if not candidates:
        return
    others = session.execute(select(AnalysisCase).where(
        AnalysisCase.complaint_id.in_(candidates), AnalysisCase.counted.is_(True))).scalars().all()
    linked = _alike(session, case, words, others, settings)
    if not linked:
        return
    clusters = {other.cluster_id or other.complaint_id for other, _ in linked}
    clusters.add(case.cluster_id or case.complaint_id)
    target = min(clusters)
    session.execute(update(AnalysisCase).where(AnalysisCase.cluster_id.in_(sorted(clusters)))
                    .values(cluster_id=target).execution_options(synchronize_session="fetch"))
    case.cluster_id = target


def flag_repeat(session, case: AnalysisCase, words, settings) -> None:
    """反复发生: a similar case at the same place key, closed before this one came in."""
    since = case.received_at - timedelta(days=settings.repeat_within_days)
    earlier = session.execute(select(AnalysisCase).where(
        AnalysisCase.place_key == case.place_key, AnalysisCase.counted.is_(True),
        AnalysisCase.complaint_id != case.complaint_id, AnalysisCase.closed_at.is_not(None),
        AnalysisCase.closed_at <= case.received_at, AnalysisCase.closed_at >= since)
        .order_by(AnalysisCase.closed_at.desc()).limit(settings.link_candidates)).scalars().all()
    alike = [other for other, _ in _alike(session, case, words, earlier, settings)]
    if alike:
        latest = max(alike, key=lambda o: (o.closed_at, o.complaint_id))
        case.repeat_of, case.repeat_times = latest.complaint_id, len(alike)
