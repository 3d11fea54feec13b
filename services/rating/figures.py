"""The office's figures read from rating's roll-ups (issue 12 §2), and how the roll-ups are
written. Every period's figures are a GROUP BY over `figure_rollups` (daily rows), never a scan
of the cases; `case_facts` is read only for the ledger of an export and for single cases.

Read by the figures' entrypoints and by the summaries and analysis (issue 12 §3, §5):
`assessment_view`, `received_counts`, `closed_count`.
"""
from __future__ import annotations

import dataclasses

from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy import func, select

from services.common.config_files import read_yaml
from services.common.contracts import CATEGORIES
from services.rating.assessment import (
    RATE_PLACES, UNIT_KINDS, AssessmentRules, figures_from_counts,
    period_bounds, previous_period, rank_rows, round_half_up,
)
from services.rating.figures_models import (
    COUNTERS, AssessmentSnapshot, FigureMove, FigureRollup,
)
from services.rating.ledger import NO_UNIT, Move, Unit, net

BASES = ("full", "assessment")
BY = ("unit", "category")
GROUPS = ("department", "college", "other")
HOUR_PLACES = 2


class OrgError(ValueError):
    """config/org.yaml cannot be read for the units' names and kinds."""


def load_units(path: str | Path) -> dict[str, Unit]:
    """Each unit's name and kind from the organisation directory (config/org.yaml), the file
    routing routes by; rating reads only these two facts of it."""
    raw = read_yaml(path, "the organisation directory", OrgError) or {}
    units = {}
    for item in raw.get("units") or ():
        try:
            units[str(item["id"])] = Unit(str(item["id"]), str(item.get("name") or item["id"]),
                                          str(item.get("kind") or "other"))
        except (KeyError, TypeError) as exc:
            raise OrgError(f"{path}: a unit without an id: {item!r}") from exc
    return units


def group_of(kind: str | None) -> str:
    """The ranking group of a unit kind: the office (and anything unknown) is "other"."""
    return kind if kind in UNIT_KINDS else "other"


# ====================================================================== writing
def _upsert(session, basis: str, key: tuple, deltas: Mapping[str, int]) -> None:
    day, unit_id, category, channel = key
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = {name: 0 for name in COUNTERS}
    values.update(deltas)
    statement = insert(FigureRollup).values(basis=basis, day=day, unit_id=unit_id,
                                            category=category, channel=channel, **values)
    table = FigureRollup.__table__
    statement = statement.on_conflict_do_update(
        index_elements=["basis", "day", "unit_id", "category", "channel"],
        set_={name: table.c[name] + statement.excluded[name] for name in deltas})
    session.execute(statement)


def add_moves(session, complaint_id: str, moves: Iterable[Move], assessed: bool) -> None:
    """Journal a case's moves and add them to the roll-ups: always to the full basis, to the
    assessment basis unless the case is excluded (剔除 approved)."""
    moves = [move for move in moves if move.delta]
    for move in moves:
        session.add(FigureMove(complaint_id=complaint_id, day=move.day, unit_id=move.unit_id,
                               category=move.category, channel=move.channel,
                               counter=move.counter, delta=move.delta, assessed=assessed))
    for key, deltas in net(moves).items():
        _upsert(session, "full", key, deltas)
        if assessed:
            _upsert(session, "assessment", key, deltas)


def _case_moves(session, complaint_id: str, *where) -> dict[tuple, int]:
    rows = session.execute(
        select(FigureMove.day, FigureMove.unit_id, FigureMove.category, FigureMove.channel,
               FigureMove.counter, FigureMove.assessed, func.sum(FigureMove.delta))
        .where(FigureMove.complaint_id == complaint_id, *where)
        .group_by(FigureMove.day, FigureMove.unit_id, FigureMove.category,
                  FigureMove.channel, FigureMove.counter, FigureMove.assessed)).all()
    return {tuple(row[:6]): int(row[6]) for row in rows if row[6]}


def retract(session, complaint_id: str) -> None:
    """A screened-out or merged case never counts for a unit: take out everything it added
    to a unit's counters (its reception stays counted), in both bases."""
    for (day, unit_id, category, channel, counter, assessed), total in _case_moves(
            session, complaint_id, FigureMove.unit_id != NO_UNIT).items():
        add_moves(session, complaint_id,
                  [Move(day, unit_id, category, channel, counter, -total)], assessed)


def exclude(session, complaint_id: str) -> None:
    """An approved 剔除: the case's contributions leave the assessment basis (the full basis
    keeps them); its later moves are journalled as not assessed."""
    moves = _case_moves(session, complaint_id, FigureMove.assessed.is_(True))
    for (day, unit_id, category, channel, counter, _), total in moves.items():
        _upsert(session, "assessment", (day, unit_id, category, channel), {counter: -total})
    session.execute(sa.update(FigureMove).where(FigureMove.complaint_id == complaint_id)
                    .values(assessed=False))


def frozen_moments(session) -> dict[str, datetime]:
    """period → when it was first published (any basis)."""
    return {period: at for period, at in session.execute(
        select(AssessmentSnapshot.period, func.min(AssessmentSnapshot.first_frozen_at))
        .group_by(AssessmentSnapshot.period)).all()}


# ====================================================================== reading
def local_days(start: datetime, end: datetime, rules: AssessmentRules) -> tuple[date, date]:
    """[start, end) as roll-up days [first, stop) in the rules' zone (a bound inside a day
    takes that whole day from the start, and leaves it out at the end)."""
    first = start.astimezone(rules.zone)
    last = end.astimezone(rules.zone)
    stop = last.date() if last.time() == datetime.min.time() else last.date() + timedelta(1)
    return first.date(), stop


def sums(session, basis: str, first: date, stop: date, by: str,
         unit_id: str | None = None) -> dict[str, dict[str, int]]:
    """Every counter summed over [first, stop) per unit (or category)."""
    column = FigureRollup.unit_id if by == "unit" else FigureRollup.category
    query = select(column, *(func.sum(getattr(FigureRollup, name)) for name in COUNTERS)) \
        .where(FigureRollup.basis == basis, FigureRollup.day >= first, FigureRollup.day < stop)
    if unit_id is not None:
        query = query.where(FigureRollup.unit_id == unit_id)
    return {row[0]: {name: int(value or 0) for name, value in zip(COUNTERS, row[1:])}
            for row in session.execute(query.group_by(column)).all()}


def _rate(part: int, whole: int) -> float | None:
    return round_half_up(Fraction(part, whole), RATE_PLACES) if whole else None


def _hours(seconds: int, count: int) -> float | None:
    return round_half_up(Fraction(seconds, count * 3600), HOUR_PLACES) if count else None


def operations(counters: Mapping[str, int]) -> dict:
    """The operational figures beside the 三率 (docs/ASSESSMENT.md)."""
    c = counters
    return {
        "dispatched": c["dispatched"], "signed": c["signed"], "replied": c["replied"],
        "due": c["due"], "closed": c["closed"], "unrated": c["unrated"],
        "on_time_sign_rate": _rate(c["signed_on_time"], c["dispatched"]),
        "on_time_reply_rate": _rate(c["replied_on_time"], c["due"]),
        "avg_sign_hours": _hours(c["sign_seconds"], c["signed"]),
        "avg_reply_hours": _hours(c["reply_seconds"], c["replied"]),
        "redo": c["redo"], "supervised": c["supervised"], "overdue": c["overdue"],
    }


def _figures_row(key: str, kind: str, counters: Mapping[str, int], rules):
    return figures_from_counts(key, kind, counters["rated"], counters["contacted"],
                               counters["solved"], counters["satisfied"],
                               counters["basically"], counters["dissatisfied"], rules)


_EMPTY = {name: 0 for name in COUNTERS}
_FIGURE_KEYS = ("rated", "contacted", "solved", "satisfied", "basically", "dissatisfied",
                "response_rate", "resolution_rate", "satisfaction_rate", "score")


def _unit_assessment(session, rules, org: Mapping[str, Unit], period: str, basis: str,
                     previous: Mapping[str, int | None] | None):
    bounds = period_bounds(period, rules)
    return _units_between(session, rules, org, bounds.start, bounds.end, basis, previous)


def _units_between(session, rules, org: Mapping[str, Unit], start: datetime, end: datetime,
                   basis: str, previous: Mapping[str, int | None] | None):
    first, stop = local_days(start, end, rules)
    counted = sums(session, basis, first, stop, "unit")
    counted.pop(NO_UNIT, None)   # reception before dispatch: no unit to judge
    units = {unit_id: unit for unit_id, unit in org.items()}
    for unit_id in counted:
        units.setdefault(unit_id, Unit(unit_id, unit_id, "other"))
    rows = [_figures_row(unit_id, group_of(unit.kind), counted.get(unit_id, _EMPTY), rules)
            for unit_id, unit in units.items()]
    return rank_rows(rows, basis, rules, previous), counted, units


def _previous_ranks(session, rules, org, period, basis) -> dict[str, int | None]:
    before = previous_period(period)
    snapshot = latest_snapshot(session, before, basis)
    if snapshot is not None:
        return {row["unit_id"]: row["rank"]
                for rows in snapshot.figures["unit"]["groups"].values() for row in rows}
    result, _, _ = _unit_assessment(session, rules, org, before, basis, None)
    return result.ranks()


def figures_between(session, rules: AssessmentRules, org: Mapping[str, Unit], start: datetime,
                    end: datetime, basis: str = "assessment") -> dict:
    """The 三率 of any stretch of whole days (a week's summary) from the roll-ups, ranked like
    a period but never published: {"basis", "groups": {kind: rows of the units rated in it}}
    (a unit no one rated in the stretch is left out)."""
    result, _counted, units = _units_between(session, rules, org, start, end, basis, None)
    return {"basis": basis, "groups": {
        kind: [{**dataclasses.asdict(row), "unit_name": units[row.unit_id].name}
               for row in result.groups[kind].rows if row.rated]
        for kind in GROUPS if any(row.rated for row in result.groups[kind].rows)}}


def latest_snapshot(session, period: str, basis: str) -> AssessmentSnapshot | None:
    return session.execute(
        select(AssessmentSnapshot).where(AssessmentSnapshot.period == period,
                                         AssessmentSnapshot.basis == basis)
        .order_by(AssessmentSnapshot.version.desc()).limit(1)).scalar_one_or_none()


def compute(session, rules: AssessmentRules, org: Mapping[str, Unit], period: str,
            basis: str) -> dict:
    """A period's live figures on one basis, both views: {"unit": {"groups", "red",
    "black"}, "category": [rows]} (what a snapshot freezes)."""
    previous = _previous_ranks(session, rules, org, period, basis)
    result, counted, units = _unit_assessment(session, rules, org, period, basis, previous)
    groups, red, black = {}, {}, {}
    for kind in GROUPS:
        group = result.groups[kind]
        groups[kind] = [{
            "unit_id": row.unit_id, "unit_name": units[row.unit_id].name,
            "unit_kind": units[row.unit_id].kind,
            **{key: getattr(row, key) for key in _FIGURE_KEYS},
            "rank": row.rank, "previous_rank": row.previous_rank,
            "rank_change": row.rank_change,
            **operations(counted.get(row.unit_id, _EMPTY)),
        } for row in group.rows]
        if kind != "other":
            red[kind], black[kind] = list(group.red), list(group.black)
    return {"unit": {"groups": groups, "red": red, "black": black},
            "category": category_rows(session, rules, period, basis)}


def category_rows(session, rules, period: str, basis: str, unit_id: str | None = None
                  ) -> list[dict]:
    bounds = period_bounds(period, rules)
    first, stop = local_days(bounds.start, bounds.end, rules)
    counted = sums(session, basis, first, stop, "category", unit_id)
    rows = []
    for category in [*CATEGORIES, *sorted(set(counted) - set(CATEGORIES))]:
        counters = counted.get(category)
        if counters is None:
            continue
        row = _figures_row(category, "other", counters, rules)
        rows.append({"category": category, "category_name": CATEGORIES.get(category, category),
                     **{key: getattr(row, key) for key in _FIGURE_KEYS},
                     **operations(counters)})
    return rows


def assessment_view(session, rules: AssessmentRules, org: Mapping[str, Unit], period: str,
                    basis: str, by: str = "unit") -> dict:
    """The API's answer for the office: the published snapshot's figures when the period is
    frozen, else the live ones."""
    if basis not in BASES:
        raise ValueError(f"basis {basis!r} is not one of {BASES}")
    if by not in BY:
        raise ValueError(f"by {by!r} is not one of {BY}")
    bounds = period_bounds(period, rules)
    snapshot = latest_snapshot(session, period, basis)
    figures = snapshot.figures if snapshot is not None else compute(
        session, rules, org, period, basis)
    answer = {"period": period, "basis": basis, "by": by,
              "from": bounds.start.isoformat(), "to": bounds.end.isoformat(),
              "version": snapshot.version if snapshot else None,
              "frozen": snapshot is not None,
              "published_at": snapshot.frozen_at.isoformat() if snapshot else None}
    if by == "unit":
        answer.update(figures["unit"])
    else:
        answer.update({"groups": {}, "red": {}, "black": {},
                       "categories": figures["category"]})
    return answer


def received_counts(session, start: datetime, end: datetime,
                    rules: AssessmentRules | None = None) -> dict:
    """Complaints received in [start, end) (days in Asia/Shanghai): total, by channel, by
    category (the full basis: a reception is never excluded)."""
    rules = rules or AssessmentRules()
    first, stop = local_days(start, end, rules)
    base = (FigureRollup.basis == "full", FigureRollup.day >= first, FigureRollup.day < stop)
    by_channel = dict(session.execute(
        select(FigureRollup.channel, func.sum(FigureRollup.received)).where(*base)
        .group_by(FigureRollup.channel)).all())
    by_category = dict(session.execute(
        select(FigureRollup.category, func.sum(FigureRollup.received)).where(*base)
        .group_by(FigureRollup.category)).all())
    by_channel = {key: int(value) for key, value in by_channel.items() if value}
    by_category = {key: int(value) for key, value in by_category.items() if value}
    return {"total": sum(by_channel.values()), "by_channel": by_channel,
            "by_category": by_category}


def closed_count(session, start: datetime, end: datetime,
                 rules: AssessmentRules | None = None) -> int:
    rules = rules or AssessmentRules()
    first, stop = local_days(start, end, rules)
    return int(session.execute(select(func.coalesce(func.sum(FigureRollup.closed), 0)).where(
        FigureRollup.basis == "full", FigureRollup.day >= first, FigureRollup.day < stop))
        .scalar_one())


def snapshot_dict(snapshot: AssessmentSnapshot) -> dict[str, Any]:
    return {"period": snapshot.period, "basis": snapshot.basis, "version": snapshot.version,
            "frozen_at": snapshot.frozen_at.isoformat(),
            "first_frozen_at": snapshot.first_frozen_at.isoformat(),
            "published_by": snapshot.published_by,
            "published_by_name": snapshot.published_by_name, "reason": snapshot.reason}


