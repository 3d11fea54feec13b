"""三率考核 as pure code (issue 12, section 2): the rules, the periods, the figures per unit, the
rankings with 红榜/黑榜, and the frozen snapshots. No nameko, no SQLAlchemy: the service (or a
roll-up job) hands in plain `FinalRating` records and gets plain values back.
docs/ASSESSMENT.md explains every definition; config/assessment.yaml holds every number.

Arithmetic is exact (`Fraction`) until the very end: a rate is rounded half-up to 4 decimals
and the score to 2, each from its exact value, never from another rounded figure.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


from services.common.config_files import read_yaml
from services.common.contracts import RATING_LEVELS

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES_FILE = REPO_ROOT / "config" / "assessment.yaml"

UNIT_KINDS = ("department", "college", "other")
RANKED_GROUPS = ("department", "college")   # 职能部门 and 二级学院 are ranked separately
BASES = ("assessment", "full")              # 考核口径 leaves out 剔除 cases; 全口径 counts them
EXCLUSION_STATES = ("requested", "approved", "refused")
RATE_PLACES, SCORE_PLACES = 4, 2
# A cut-off day must exist in every month, February included.
MAX_CUTOFF_DAY = 28
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class AssessmentConfigError(ValueError):
    """config/assessment.yaml (or the mapping given instead) is not a valid set of rules."""


# ====================================================================== the rules
def _exact(value: Any, name: str) -> Fraction:
    """A setting as an exact fraction: 0.1 from YAML is the decimal 0.1, not the binary float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Fraction)):
        raise AssessmentConfigError(f"{name} must be a number, not {value!r}")
    try:
        return Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise AssessmentConfigError(f"{name} must be a number, not {value!r}") from exc


def _whole(value: Any, name: str, least: int, most: int | None = None) -> int:
    # bool is an int in Python; `min_rated: yes` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise AssessmentConfigError(f"{name} must be a whole number, not {value!r}")
    if value < least or (most is not None and value > most):
        bounds = f"between {least} and {most}" if most is not None else f"at least {least}"
        raise AssessmentConfigError(f"{name} must be {bounds}, not {value}")
    return value


@dataclass(frozen=True)
class AssessmentRules:
    """Every number of the assessment, with the issue's defaults. Validated on construction:
    an instance is always usable."""
    basic_weight: Fraction = Fraction("0.9")
    response_weight: Fraction = Fraction("0.1")
    resolution_weight: Fraction = Fraction("0.5")
    satisfaction_weight: Fraction = Fraction("0.4")
    min_rated: int = 5
    red_list_size: int = 3
    black_list_size: int = 3
    period_cutoff_day: int | None = None
    timezone: str = "Asia/Shanghai"
    rating_window_working_days: int = 3

    def __post_init__(self):
        for name in ("basic_weight", "response_weight", "resolution_weight",
                     "satisfaction_weight"):
            value = _exact(getattr(self, name), name)
            if not 0 <= value <= 1:
                raise AssessmentConfigError(f"{name} must be between 0 and 1, not {value}")
            object.__setattr__(self, name, value)
        total = self.response_weight + self.resolution_weight + self.satisfaction_weight
        if total != 1:
            raise AssessmentConfigError(
                f"score_weights must add up to 1, they add up to {float(total):g}")
        _whole(self.min_rated, "min_rated", 1)
        _whole(self.red_list_size, "red_list_size", 0)
        _whole(self.black_list_size, "black_list_size", 0)
        _whole(self.rating_window_working_days, "rating_window_working_days", 1)
        if self.period_cutoff_day is not None:
            _whole(self.period_cutoff_day, "period_cutoff_day", 1, MAX_CUTOFF_DAY)
        if not isinstance(self.timezone, str):
            raise AssessmentConfigError(f"timezone must be a zone name, not {self.timezone!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise AssessmentConfigError(f"timezone {self.timezone!r} is not a known zone") \
                from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_SCORE_WEIGHT_KEYS = {"response": "response_weight", "resolution": "resolution_weight",
                      "satisfaction": "satisfaction_weight"}
_TOP_KEYS = {"version", "basic_weight", "score_weights", "min_rated", "red_list_size",
             "black_list_size", "period_cutoff_day", "timezone", "rating_window_working_days"}


def rules_from_dict(raw: Any, source: str = "<dict>") -> AssessmentRules:
    """The rules from an already parsed mapping; a missing key takes its default."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise AssessmentConfigError(f"{source}: the top level must be a mapping")
    unknown = sorted(set(map(str, raw)) - _TOP_KEYS)
    if unknown:
        raise AssessmentConfigError(f"{source}: unknown key(s) {', '.join(unknown)} "
                                    f"(known: {', '.join(sorted(_TOP_KEYS))})")
    if raw.get("version", 1) != 1:
        raise AssessmentConfigError(f"{source}: unsupported version {raw.get('version')!r}")
    values = {key: value for key, value in raw.items()
              if key not in ("version", "score_weights")}
    weights = raw.get("score_weights", {})
    if not isinstance(weights, Mapping):
        raise AssessmentConfigError(f"{source}: score_weights must be a mapping of "
                                    f"{', '.join(_SCORE_WEIGHT_KEYS)}")
    unknown = sorted(set(map(str, weights)) - set(_SCORE_WEIGHT_KEYS))
    if unknown:
        raise AssessmentConfigError(f"{source}: unknown score weight(s) {', '.join(unknown)} "
                                    f"(known: {', '.join(_SCORE_WEIGHT_KEYS)})")
    for key, name in _SCORE_WEIGHT_KEYS.items():
        if key in weights:
            values[name] = weights[key]
    try:
        return AssessmentRules(**values)
    except AssessmentConfigError as exc:
        raise AssessmentConfigError(f"{source}: {exc}") from exc


def load_rules(path: str | Path = DEFAULT_RULES_FILE) -> AssessmentRules:
    """Read config/assessment.yaml; a bad file is refused with a message naming the key."""
    return rules_from_dict(read_yaml(path, "the assessment rules", AssessmentConfigError),
                           source=str(path))


# ====================================================================== periods
@dataclass(frozen=True)
class Period:
    """A period "YYYY-MM" and its bounds, [start, end), aware, in UTC."""
    label: str
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= _aware(moment) < self.end


def parse_period(label: str) -> tuple[int, int]:
    match = _PERIOD.match(label) if isinstance(label, str) else None
    if not match:
        raise ValueError(f"a period is written YYYY-MM, not {label!r}")
    return int(match.group(1)), int(match.group(2))


def _shift(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def _label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def previous_period(label: str) -> str:
    return _label(*_shift(*parse_period(label), -1))


def next_period(label: str) -> str:
    return _label(*_shift(*parse_period(label), 1))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a moment must carry its time zone, not {moment!r}")
    return moment


def period_bounds(label: str, rules: AssessmentRules) -> Period:
    """Calendar months by default; with a cut-off day d, "YYYY-MM" runs from the day after
    day d of the previous month, 00:00, to day d of the month, 24:00 (local time)."""
    year, month = parse_period(label)
    cutoff = rules.period_cutoff_day
    if cutoff is None:
        first, after = date(year, month, 1), date(*_shift(year, month, 1), 1)
    else:
        first = date(*_shift(year, month, -1), cutoff) + timedelta(days=1)
        after = date(year, month, cutoff) + timedelta(days=1)
    zone = rules.zone
    return Period(label,
                  datetime.combine(first, time(0), zone).astimezone(timezone.utc),
                  datetime.combine(after, time(0), zone).astimezone(timezone.utc))


def period_of(moment: datetime, rules: AssessmentRules) -> str:
    """The period a moment falls in."""
    local = _aware(moment).astimezone(rules.zone)
    year, month = local.year, local.month
    if rules.period_cutoff_day is not None and local.day > rules.period_cutoff_day:
        year, month = _shift(year, month, 1)
    return _label(year, month)


def counted_in(rated_at: datetime, received_at: datetime | None,
               frozen: Mapping[str, datetime], rules: AssessmentRules) -> str:
    """The period a rating counts in. A published period never changes: a rating that reaches
    the figures (`received_at`, default `rated_at`) at or after the moment its period was first
    frozen counts in the next period that was not frozen before it arrived. `frozen` maps a
    period to the moment its first snapshot was published."""
    period = period_of(rated_at, rules)
    arrived = _aware(received_at if received_at is not None else rated_at)
    while period in frozen and arrived >= frozen[period]:
        period = next_period(period)
    return period


# ====================================================================== the inputs
@dataclass(frozen=True)
class FinalRating:
    """A 有效回访 candidate: one rating of a case by its primary complainant (or the office's
    phone 回访 for them), attributed to the unit that handled that round.

    `level` None is a case closed as 未评价 (unrated); `decision` is what the rating led to
    (services.rating.domain.decide) - only a rating that closed the case is final;
    `exclusion` is the state of the unit's 剔除 request, if any; `received_at` is when the
    figures learnt of the rating (None: at `rated_at`)."""
    complaint_id: str
    unit_id: str
    unit_kind: str
    category: str
    channel: str
    contacted: bool | None
    solved: bool | None
    level: str | None
    rated_at: datetime
    round: int = 0
    decision: str = "close"
    exclusion: str | None = None
    screened_out: bool = False
    merged: bool = False
    received_at: datetime | None = None

    def __post_init__(self):
        if self.unit_kind not in UNIT_KINDS:
            raise ValueError(f"unit kind {self.unit_kind!r} is not one of {UNIT_KINDS}")
        if self.level is not None and self.level not in RATING_LEVELS:
            raise ValueError(f"unknown level {self.level!r}")
        if self.level is not None and (self.contacted is None or self.solved is None):
            raise ValueError("a rating answers contacted and solved")
        if self.exclusion is not None and self.exclusion not in EXCLUSION_STATES:
            raise ValueError(f"exclusion state {self.exclusion!r} is not one of "
                             f"{EXCLUSION_STATES}")
        _aware(self.rated_at)

    @property
    def excluded(self) -> bool:
        """剔除: only an approved request leaves a case out (of the assessment basis)."""
        return self.exclusion == "approved"


def final_ratings(records: Iterable[FinalRating]) -> list[FinalRating]:
    """The rating that closed each case: a rating that sent the case back (发回重办, 督办)
    is superseded by the next round's, which counts for the unit that handled that round."""
    final: dict[str, FinalRating] = {}
    for record in records:
        if record.decision != "close":
            continue
        kept = final.get(record.complaint_id)
        if kept is None or (record.round, record.rated_at) > (kept.round, kept.rated_at):
            final[record.complaint_id] = record
    return list(final.values())


def counts(record: FinalRating, basis: str) -> bool:
    """Whether a final rating is an 有效回访 on this basis."""
    if basis not in BASES:
        raise ValueError(f"basis {basis!r} is not one of {BASES}")
    if record.level is None or record.screened_out or record.merged:
        return False
    return basis == "full" or not record.excluded


def records_for_period(records: Iterable[FinalRating], label: str, rules: AssessmentRules,
                       frozen: Mapping[str, datetime] | None = None) -> list[FinalRating]:
    """The final ratings that count in `label` (late ones moved on, see `counted_in`)."""
    frozen = frozen or {}
    return [record for record in final_ratings(records)
            if counted_in(record.rated_at, record.received_at, frozen, rules) == label]


# ====================================================================== the figures
def round_half_up(value: Fraction, places: int) -> float:
    """Round an exact non-negative value half-up (0.125 → 0.13, where `round` gives 0.12)."""
    scaled = math.floor(value * 10 ** places + Fraction(1, 2))
    return scaled / 10 ** places


@dataclass(frozen=True)
class UnitFigures:
    """One row: a unit's (or a category's) 有效回访 and 三率. Rates are fractions 0-1 rounded
    half-up to 4 decimals, the score 0-100 to 2; all None when there is no 有效回访."""
    unit_id: str
    unit_kind: str
    rated: int = 0
    contacted: int = 0
    solved: int = 0
    satisfied: int = 0
    basically: int = 0
    dissatisfied: int = 0
    response_rate: float | None = None
    resolution_rate: float | None = None
    satisfaction_rate: float | None = None
    score: float | None = None
    rank: int | None = None
    previous_rank: int | None = None
    rank_change: int | None = None   # previous rank - rank: positive moved up


def _figures(unit_id: str, unit_kind: str, records: list[FinalRating],
             rules: AssessmentRules) -> UnitFigures:
    levels = {level: sum(1 for r in records if r.level == level) for level in RATING_LEVELS}
    return figures_from_counts(unit_id, unit_kind, len(records),
                               sum(1 for r in records if r.contacted),
                               sum(1 for r in records if r.solved), levels["satisfied"],
                               levels["basically"], levels["dissatisfied"], rules)


def figures_from_counts(unit_id: str, unit_kind: str, rated: int, contacted: int, solved: int,
                        satisfied: int, basically: int, dissatisfied: int,
                        rules: AssessmentRules) -> UnitFigures:
    """A row from counts already made (rating's daily roll-ups summed over a period)."""
    row = UnitFigures(unit_id, unit_kind, rated, contacted, solved, satisfied, basically,
                      dissatisfied)
    if not rated:
        return row
    response = Fraction(contacted, rated)
    resolution = Fraction(solved, rated)
    satisfaction = (satisfied + rules.basic_weight * basically) / rated
    score = 100 * (rules.response_weight * response + rules.resolution_weight * resolution
                   + rules.satisfaction_weight * satisfaction)
    return replace(row, response_rate=round_half_up(response, RATE_PLACES),
                   resolution_rate=round_half_up(resolution, RATE_PLACES),
                   satisfaction_rate=round_half_up(satisfaction, RATE_PLACES),
                   score=round_half_up(score, SCORE_PLACES))


@dataclass(frozen=True)
class Group:
    """A group's rows (ranked ones in rank order, then the unranked) and its 红榜/黑榜 (unit
    ids, both in rank order)."""
    rows: tuple[UnitFigures, ...] = ()
    red: tuple[str, ...] = ()
    black: tuple[str, ...] = ()

    def row(self, unit_id: str) -> UnitFigures | None:
        return next((row for row in self.rows if row.unit_id == unit_id), None)


@dataclass(frozen=True)
class Assessment:
    """One period's figures on one basis: groups "department" and "college" (ranked) and
    "other" (listed, never ranked)."""
    basis: str
    groups: Mapping[str, Group] = field(default_factory=dict)

    def row(self, unit_id: str) -> UnitFigures | None:
        for group in self.groups.values():
            found = group.row(unit_id)
            if found is not None:
                return found
        return None

    def ranks(self) -> dict[str, int | None]:
        return {row.unit_id: row.rank for group in self.groups.values() for row in group.rows}


def _order(row: UnitFigures) -> tuple:
    # Score first (the published, rounded one: what a head reads decides), then the number of
    # 有效回访, then the unit id so that the order never depends on the input's.
    return (row.score is None, -(row.score or 0), -row.rated, row.unit_id)


def honour_lists(ranked: int, rules: AssessmentRules) -> tuple[int, int]:
    """How many units the 红榜 and the 黑榜 name in a group of `ranked` ranked units. With
    fewer than red + black, each list shrinks to at most half the group (rounded down), so no
    unit is on both lists and, with an odd count, the middle unit is on neither."""
    half = ranked // 2
    if ranked >= rules.red_list_size + rules.black_list_size:
        return rules.red_list_size, rules.black_list_size
    return min(rules.red_list_size, half), min(rules.black_list_size, half)


def _group(rows: list[UnitFigures], kind: str, rules: AssessmentRules,
           previous: Mapping[str, int | None]) -> Group:
    rows = sorted(rows, key=_order)
    rankable = kind in RANKED_GROUPS
    ranked = [row for row in rows if rankable and row.rated >= rules.min_rated]
    ranked_ids = {row.unit_id for row in ranked}
    unranked = [row for row in rows if row.unit_id not in ranked_ids]
    result = []
    for rank, row in enumerate(ranked, start=1):
        before = previous.get(row.unit_id)
        result.append(replace(row, rank=rank, previous_rank=before,
                              rank_change=None if before is None else before - rank))
    result += [replace(row, previous_rank=previous.get(row.unit_id)) for row in unranked]
    red, black = honour_lists(len(ranked), rules)
    ids = [row.unit_id for row in ranked]
    return Group(tuple(result), tuple(ids[:red]), tuple(ids[len(ids) - black:]))


def assess(records: Iterable[FinalRating], basis: str, rules: AssessmentRules,
           units: Mapping[str, str] | None = None,
           previous: Assessment | Mapping[str, int | None] | None = None) -> Assessment:
    """The figures, ranks and 红榜/黑榜 of one period's final ratings (`records_for_period`).

    `units` (unit id → kind) lists units that had no 有效回访 too; a unit that only appears
    in records is listed as well. `previous` is the previous period's result (or its ranks)
    for the change of rank."""
    if basis not in BASES:
        raise ValueError(f"basis {basis!r} is not one of {BASES}")
    kinds: dict[str, str] = dict(units or {})
    counted: dict[str, list[FinalRating]] = defaultdict(list)
    for record in records:
        known = kinds.setdefault(record.unit_id, record.unit_kind)
        if known != record.unit_kind:
            raise ValueError(f"unit {record.unit_id} is both {known} and {record.unit_kind}")
        if counts(record, basis):
            counted[record.unit_id].append(record)
    if isinstance(previous, Assessment):
        previous = previous.ranks()
    previous = previous or {}
    by_kind: dict[str, list[UnitFigures]] = {kind: [] for kind in UNIT_KINDS}
    for unit_id, kind in kinds.items():
        if kind not in UNIT_KINDS:
            raise ValueError(f"unit kind {kind!r} is not one of {UNIT_KINDS}")
        by_kind[kind].append(_figures(unit_id, kind, counted[unit_id], rules))
    return Assessment(basis, {kind: _group(rows, kind, rules, previous)
                              for kind, rows in by_kind.items()})


def rank_rows(rows: Iterable[UnitFigures], basis: str, rules: AssessmentRules,
              previous: Mapping[str, int | None] | None = None) -> Assessment:
    """`assess` for rows already counted (`figures_from_counts`): the same groups, ranks and
    红榜/黑榜."""
    if basis not in BASES:
        raise ValueError(f"basis {basis!r} is not one of {BASES}")
    by_kind: dict[str, list[UnitFigures]] = {kind: [] for kind in UNIT_KINDS}
    for row in rows:
        by_kind[row.unit_kind].append(row)
    return Assessment(basis, {kind: _group(members, kind, rules, previous or {})
                              for kind, members in by_kind.items()})


def assess_by_category(records: Iterable[FinalRating], basis: str, rules: AssessmentRules,
                       previous: Mapping[str, Assessment] | None = None
                       ) -> dict[str, Assessment]:
    """`by=category`: the same figures and rankings within each category (only the units
    with a final rating in that category are listed)."""
    per_category: dict[str, list[FinalRating]] = defaultdict(list)
    for record in records:
        per_category[record.category].append(record)
    previous = previous or {}
    return {category: assess(rows, basis, rules, previous=previous.get(category))
            for category, rows in sorted(per_category.items())}


# ====================================================================== snapshots
@dataclass(frozen=True)
class Snapshot:
    """A published (frozen) period on one basis. `first_frozen_at` is when the period was
    first published: ratings arriving from then on count in the next period (`counted_in`)."""
    period: str
    basis: str
    version: int
    frozen_at: datetime
    first_frozen_at: datetime
    published_by: str
    reason: str | None
    assessment: Assessment
    by_category: Mapping[str, Assessment] = field(default_factory=dict)


def publish(previous: Snapshot | None, period: str, basis: str, assessment: Assessment,
            at: datetime, by: str, reason: str | None = None,
            by_category: Mapping[str, Assessment] | None = None) -> Snapshot:
    """Freeze a period's figures. The first publication is version 1; publishing figures that
    differ from the previous snapshot's is a correction, version + 1, and needs a reason (it
    is audited). Publishing the same figures again returns the previous snapshot unchanged,
    so a retried job does not make a new version."""
    parse_period(period)
    _aware(at)
    if basis not in BASES or assessment.basis != basis:
        raise ValueError(f"figures on basis {assessment.basis!r} published as {basis!r}")
    by_category = dict(by_category or {})
    if previous is None:
        return Snapshot(period, basis, 1, at, at, by, reason, assessment, by_category)
    if (previous.period, previous.basis) != (period, basis):
        raise ValueError(f"the previous snapshot is {previous.period}/{previous.basis}, "
                         f"not {period}/{basis}")
    if previous.assessment == assessment and previous.by_category == by_category:
        return previous
    if not (reason or "").strip():
        raise ValueError("更正已发布的考核结果须说明原因 (a correction needs a reason)")
    if at < previous.frozen_at:
        raise ValueError("a correction cannot be published before the version it corrects")
    return Snapshot(period, basis, previous.version + 1, at, previous.first_frozen_at, by,
                    reason, assessment, by_category)


def frozen_moments(snapshots: Iterable[Snapshot]) -> dict[str, datetime]:
    """period → when it was first frozen, for `counted_in` (any basis freezes the period)."""
    moments: dict[str, datetime] = {}
    for snap in snapshots:
        if snap.period not in moments or snap.first_frozen_at < moments[snap.period]:
            moments[snap.period] = snap.first_frozen_at
    return moments

