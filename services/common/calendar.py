"""The working calendar's data (X1): public holidays, make-up workdays (调休) and vacations.

Pure: this module reads a file and a pinned package and produces the sets that
`WorkingCalendar` (below) already understands (`holidays`, `makeup_workdays`); it
does no I/O besides reading the file, and never looks at the clock.

Sources, in order (a later one wins for the days it names):

1. The maintained `chinese_calendar` package (PyPI `chinesecalendar`, pinned in
   pyproject.toml). Its `holidays` / `workdays` dicts hold every State Council arrangement
   (国务院办公厅关于部分节假日安排的通知) from 2004 to the year of its release. Version 1.11.0
   covers 2004-2026.
2. `config/calendar.yaml`, kept by the 接诉即办 office:
   - `national`: the State Council's arrangement for years the package does not know yet,
     typed in from the notice the day it is published (each November for the next year);
   - `overrides`: days the school itself declares off (校庆, a closure) or working.
3. The academic calendar (校历): winter and summer vacations (`academic.vacations`). They only
   stop the clock when `vacations_are_holidays` is on; see `CalendarData.working_calendar`.
   Explicit `overrides` are applied after the vacations: a day the school names on its own is
   the most specific statement there is (e.g. a registration day worked during the vacation).

Why a maintained package *and* a school file, rather than only a file:

- The package carries twenty years of arrangements we would otherwise re-type by hand, with
  the risk of a typo in a year that is already known; it is maintained, reviewed, and corrected
  upstream (e.g. the 2025 reform that added 除夕 and 5月2日 as statutory days). Pinning it
  means a new release changes our deadlines only through a reviewed dependency bump, and the
  tests pin the dates we rely on.
- But a pinned package lags the notice: the next year's arrangement is published in November
  and reaches us only after a release *and* a deploy. The file closes that gap without a code
  change, and it is the only place for what no package can know: the school's own days off and
  its 校历. A file alone would work too, but it would make the office the sole maintainer of
  the national data forever.

A year with no national data (neither source) is counted with weekends only: the calendars
produced here log a warning the first time a computation touches such a year (once per year
per `CalendarData`), so the gap is visible in the logs rather than silently wrong.

Service use: `calendar_for(settings)`, once at start-up.
"""
from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import yaml

from services.common.config_files import read_yaml


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are working days and which hours of them count.

    `holidays` are days off that would otherwise be working days; `makeup_workdays` (调休)
    are weekend days that are working days. The SLA issue fills both from a maintained
    calendar; the rules here already honour them.

    Spans are counted in O(log) of their length, not day by day (an extension a year ahead,
    a timetable, the escalation ladder): Monday-to-Friday by arithmetic, corrected by the
    days that break that rule, counted with bisect in two sorted lists (`_exceptions`)."""
    tz: str = "Asia/Shanghai"
    start: time = time(8, 30)
    end: time = time(17, 30)
    cutoff: time = time(16, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_workdays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self):
        if self.end <= self.start:
            raise ValueError(f"the working day must end ({self.end}) after it starts "
                             f"({self.start})")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        following = self._nth_working_day(day, 1)
        self._counted(day, following)
        return following

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError("working-time arithmetic needs aware datetimes")
        return moment.astimezone(self.zone)

    def end_of(self, day: date) -> datetime:
        return datetime.combine(day, self.end, self.zone)

    def due_after_working_days(self, starts_at: datetime, days: int) -> datetime:
        if days < 1:
            raise ValueError("a time limit in days is at least one day")
        local = self.local(starts_at)
        day = local.date()
        if not (self.is_working_day(day) and local.time() < self.cutoff):
            day = self._nth_working_day(day, 1)
        if days > 1:
            day = self._nth_working_day(day, days - 1)
        self._counted(local.date(), day)
        return self.end_of(day)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much working time lies between two moments (zero if end is not after start)."""
        start, end = self.local(start), self.local(end)
        if end <= start:
            return timedelta()
        first, last = start.date(), end.date()
        self._counted(first, last)
        if first == last:
            return self._open_between(first, start, end)
        whole_days = self._count_working_days(first + timedelta(days=1), last)
        return (self._open_between(first, start, None) + whole_days * self._day_length
                + self._open_between(last, None, end))

    def add_working_time(self, starts_at: datetime, amount: timedelta) -> datetime:
        """`amount` of working time after `starts_at`, skipping nights, weekends and holidays:
        the earliest moment with that much working time since `starts_at`."""
        local = self.local(starts_at)
        day = local.date()
        if self.is_working_day(day):
            cursor = max(local, datetime.combine(day, self.start, self.zone))
            closes = datetime.combine(day, self.end, self.zone)
            if cursor < closes:
                if amount <= closes - cursor:
                    return cursor + amount
                amount -= closes - cursor
        # The rest fills whole working days and ends in the last one, `rest` after it opens.
        days, rest = self._whole_days(amount)
        last = self._nth_working_day(day, days)
        self._counted(day, last)
        return datetime.combine(last, self.start, self.zone) + rest

    def subtract_working_time(self, ends_at: datetime, amount: timedelta) -> datetime:
        """`amount` of working time before `ends_at`: the latest moment with that much
        working time until `ends_at` (add_working_time backwards)."""
        if amount < timedelta(0):
            raise ValueError("an amount of working time is not negative")
        local = self.local(ends_at)
        if not amount:
            return local
        day = local.date()
        if self.is_working_day(day):
            cursor = min(local, datetime.combine(day, self.end, self.zone))
            opens = datetime.combine(day, self.start, self.zone)
            if cursor > opens:
                if amount <= cursor - opens:
                    return cursor - amount
                amount -= cursor - opens
        days, rest = self._whole_days(amount)
        first = self._nth_working_day(day, -days)
        self._counted(first, day)
        return datetime.combine(first, self.end, self.zone) - rest

    # ------------------------------------------------------------------ counting in weeks
    @property
    def _day_length(self) -> timedelta:
        # Wall-clock hours, as the day-by-day walk counted them (one zone, no offsets).
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    @cached_property
    def _exceptions(self) -> tuple[tuple[date, ...], tuple[date, ...]]:
        """The days that break Monday-to-Friday, sorted: weekdays off (a day listed as both a
        holiday and a make-up day is worked) and weekend days worked (调休)."""
        off = sorted(day for day in self.holidays
                     if day.weekday() < 5 and day not in self.makeup_workdays)
        worked = sorted(day for day in self.makeup_workdays if day.weekday() >= 5)
        return tuple(off), tuple(worked)

    def _count_working_days(self, first: date, stop: date) -> int:
        """Working days in [first, stop)."""
        if stop <= first:
            return 0
        weeks, rest = divmod((stop - first).days, 7)
        weekday = first.weekday()
        count = weeks * 5 + sum(1 for n in range(rest) if (weekday + n) % 7 < 5)
        off, worked = self._exceptions
        return (count - (bisect_left(off, stop) - bisect_left(off, first))
                + (bisect_left(worked, stop) - bisect_left(worked, first)))

    def _nth_working_day(self, day: date, n: int, walk: bool = True) -> date:
        """The n-th working day after `day` (before it when n < 0): the span is doubled
        until it holds n working days, then bisected, so O(log span) counts."""
        forward, n = n > 0, abs(n)
        if walk and n <= 5:
            # The usual question (the next working day or two) is answered by walking, which
            # is quicker for a few days; the walk gives up after two weeks (a long holiday).
            step, cursor = timedelta(days=1 if forward else -1), day
            for _ in range(14):
                cursor += step
                if self.is_working_day(cursor):
                    n -= 1
                    if not n:
                        return cursor
            return self._nth_working_day(cursor, n if forward else -n, walk=False)

        def enough(length: int) -> bool:  # n working days within `length` days of `day`?
            if forward:
                return self._count_working_days(day + timedelta(days=1),
                                                day + timedelta(days=length + 1)) >= n
            return self._count_working_days(day - timedelta(days=length), day) >= n

        short, long = 0, 7 * (n // 5 + 1)
        while not enough(long):
            short, long = long, long * 2
        while long - short > 1:
            middle = (short + long) // 2
            short, long = (short, middle) if enough(middle) else (middle, long)
        return day + timedelta(days=long if forward else -long)

    def _whole_days(self, amount: timedelta) -> tuple[int, timedelta]:
        """`amount` as working days begun (at least one) and the time used of the last."""
        length = self._day_length
        days = max(1, -(-amount // length))
        return days, amount - (days - 1) * length

    def _open_between(self, day: date, start: datetime | None,
                      end: datetime | None) -> timedelta:
        """Working time on `day` between `start` and `end` (None: from opening, to closing)."""
        if not self.is_working_day(day):
            return timedelta()
        opens = datetime.combine(day, self.start, self.zone)
        closes = datetime.combine(day, self.end, self.zone)
        begin = opens if start is None else max(start, opens)
        finish = closes if end is None else min(end, closes)
        return max(finish - begin, timedelta())

    def _counted(self, first: date, last: date) -> None:
        """Hook: the days `first`..`last` were counted (a subclass warns about years it has no
        holiday data for)."""


log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CALENDAR_FILE = REPO_ROOT / "config" / "calendar.yaml"

HOLIDAY, WORKDAY = "holiday", "workday"
# A vacation longer than this is almost certainly a typo in a year.
MAX_VACATION_DAYS = 120
_TOP_KEYS = {"version", "national", "overrides", "academic"}
_DAYS_KEYS = {"holidays", "makeup_workdays"}
_OVERRIDE_KEYS = {"holidays", "workdays"}
_ACADEMIC_KEYS = {"vacations_are_holidays", "vacations"}
_ENTRY_KEYS = {"date", "from", "to", "name", "reason"}


class CalendarConfigError(ValueError):
    """config/calendar.yaml (or the dict given instead) is not a valid calendar."""


# ---------------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class DayInfo:
    status: str          # HOLIDAY or WORKDAY
    name: str            # 国庆节, 校庆日, ...
    source: str          # "package" | "file:national" | "file:overrides"


@dataclass(frozen=True)
class Vacation:
    name: str
    first: date
    last: date

    def days(self) -> Iterable[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


class _YearWarner:
    """Logs, once per year, that a year has no national holiday data."""

    def __init__(self, source: str):
        self._source = source
        # No lock: a race could at worst log the same year twice, and a lock would make the
        # calendars impossible to copy or pickle.
        self._warned: set[int] = set()

    def __call__(self, year: int) -> None:
        if year in self._warned:
            return
        self._warned.add(year)
        log.warning("working calendar: no public-holiday data for %s; counting weekends only. "
                    "Add the State Council's arrangement for %s under `national` in %s "
                    "(or upgrade chinesecalendar once a release covers it).",
                    year, year, self._source)


@dataclass(frozen=True)
class CheckedWorkingCalendar(WorkingCalendar):
    """A `WorkingCalendar` that warns (through `on_uncovered`) when it is asked about a day in a
    year without national holiday data. Same rules, same equality and hash as its parent."""
    covered_years: frozenset[int] = field(default_factory=frozenset, compare=False, repr=False)
    on_uncovered: Callable[[int], None] | None = field(default=None, compare=False, repr=False)

    def is_working_day(self, day: date) -> bool:
        if self.on_uncovered is not None and day.year not in self.covered_years:
            self.on_uncovered(day.year)
        return super().is_working_day(day)

    def _counted(self, first: date, last: date) -> None:
        # Spans are counted without asking about each day (WorkingCalendar), so the years
        # of the span are checked here, once each.
        if self.on_uncovered is not None:
            for year in range(first.year, last.year + 1):
                if year not in self.covered_years:
                    self.on_uncovered(year)


@dataclass(frozen=True)
class CalendarData:
    """Everything the working calendar needs, merged from the sources (see the module doc).

    `holidays` and `makeup_workdays` are the national arrangement with the school's overrides
    applied; `vacations` are the vacation days of the 校历 (whether they count is decided in
    `working_calendar`)."""
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]
    vacations: frozenset[date]
    vacations_are_holidays: bool = False
    covered_years: frozenset[int] = frozenset()
    package_version: str | None = None
    source: str = "<dict>"
    days: Mapping[date, DayInfo] = field(default_factory=dict, repr=False)
    vacation_periods: tuple[Vacation, ...] = ()
    override_holidays: frozenset[date] = frozenset()
    override_workdays: frozenset[date] = frozenset()
    _warner: _YearWarner | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ the calendar itself
    def working_calendar(self, tz: str = "Asia/Shanghai", start: time | str = time(8, 30),
                         end: time | str = time(17, 30), cutoff: time | str = time(16, 0),
                         vacations_are_holidays: bool | None = None) -> WorkingCalendar:
        """A `WorkingCalendar` with these holidays and make-up workdays.

        `start`, `end` and `cutoff` take `time`s or "HH:MM" strings (the settings' format).

        Vacations: `vacations_are_holidays=None` uses the file's `academic.vacations_are_holidays`
        (default false). The default is false because 接诉即办 units - 后勤, 保卫, 学工, the
        office itself - work through the vacations: a complaint about a broken heating pipe in
        January must not wait six weeks for the term. A caller that knows a unit closes for the
        vacation (a college's teaching office, say) passes True for that unit's calendar. When
        vacations count, they are days off, a 调休 workday inside a vacation is not worked, and
        the school's explicit `overrides` still win over the vacation.
        """
        if vacations_are_holidays is None:
            vacations_are_holidays = self.vacations_are_holidays
        holidays, makeup = set(self.holidays), set(self.makeup_workdays)
        if vacations_are_holidays:
            holidays |= self.vacations - self.override_workdays
            makeup -= self.vacations - self.override_workdays
        start, end = _as_time(start, "start"), _as_time(end, "end")
        if end <= start:
            raise CalendarConfigError(f"working hours end {end} is not after start {start}")
        return CheckedWorkingCalendar(
            tz=tz, start=start, end=end,
            cutoff=_as_time(cutoff, "cutoff"), holidays=frozenset(holidays),
            makeup_workdays=frozenset(makeup), covered_years=self.covered_years,
            on_uncovered=self._warner or _YearWarner(self.source))

    # ------------------------------------------------------------------ for ops
    def coverage(self) -> tuple[int, int] | None:
        """(first_year, last_year) with national holiday data, or None when there is none.
        A gap inside the range (a year missing between two known ones) is logged at load and
        shows in `describe_year`."""
        if not self.covered_years:
            return None
        return min(self.covered_years), max(self.covered_years)

    def is_covered(self, year: int) -> bool:
        return year in self.covered_years

    def describe_year(self, year: int) -> dict[str, Any]:
        """What the calendar knows about `year`, as plain data (for an admin endpoint or a log)."""
        def listed(status: str) -> list[dict[str, str]]:
            return [{"date": day.isoformat(), "weekday": day.strftime("%a"), "name": info.name,
                     "source": info.source}
                    for day, info in sorted(self.days.items())
                    if day.year == year and info.status == status]

        vacations = [{"name": v.name, "from": v.first.isoformat(), "to": v.last.isoformat(),
                      "days": (v.last - v.first).days + 1}
                     for v in self.vacation_periods if v.first.year <= year <= v.last.year]
        covered = year in self.covered_years
        return {
            "year": year,
            "covered": covered,
            "note": ("national holidays and 调休 known" if covered else
                     "no national holiday data: weekends only until it is added"),
            "package_version": self.package_version,
            "holidays": listed(HOLIDAY),
            "makeup_workdays": listed(WORKDAY),
            "vacations": vacations,
            "vacations_are_holidays": self.vacations_are_holidays,
        }


def _as_time(value: time | str, what: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return parse_hhmm(value)
    except (AttributeError, ValueError) as exc:
        raise CalendarConfigError(f"working-hours {what} {value!r} is not HH:MM") from exc


# ---------------------------------------------------------------------------------- loading
class _NoTimestampLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings, so a bad date gets our message, not PyYAML's."""


_NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_calendar_data(path: str | Path = DEFAULT_CALENDAR_FILE,
                       use_package: bool = True) -> CalendarData:
    """Read config/calendar.yaml and merge it with the package's data (module doc)."""
    raw = read_yaml(path, "the working calendar", CalendarConfigError,
                    loader=_NoTimestampLoader)
    return calendar_data_from_dict(raw or {}, use_package=use_package, source=str(path))


def calendar_data_from_dict(raw: Mapping[str, Any], use_package: bool = True,
                            source: str = "<dict>") -> CalendarData:
    """The same as `load_calendar_data`, from an already parsed mapping."""
    where = source
    if not isinstance(raw, Mapping):
        raise CalendarConfigError(f"{where}: the top level must be a mapping")
    _no_unknown_keys(raw, _TOP_KEYS, where)
    if raw.get("version", 1) != 1:
        raise CalendarConfigError(f"{where}: unsupported version {raw.get('version')!r}")

    days: dict[date, DayInfo] = {}
    covered: set[int] = set()
    package_version = None

    # (a) the package
    if use_package:
        package = _package_days()
        if package is None:
            log.warning("working calendar: chinesecalendar is not installed; only %s is used",
                        source)
        else:
            package_version, package_days = package
            days.update(package_days)
            covered |= {day.year for day in package_days}

    # (b) the file: national arrangements, then (later) the school's overrides
    national, national_years = _parse_national(raw.get("national"), f"{where}: national")
    for day, info in national.items():
        previous = days.get(day)
        if previous is not None and previous.status != info.status:
            log.info("working calendar: %s turns %s (%s) from the package's %s (%s)",
                     source, day, info.status, previous.status, previous.name)
        days[day] = info
    covered |= national_years

    overrides = _parse_two_lists(raw.get("overrides"), _OVERRIDE_KEYS,
                                 {"holidays": HOLIDAY, "workdays": WORKDAY},
                                 f"{where}: overrides", "file:overrides")
    days.update(overrides)

    # (c) the academic calendar
    vacations_are_holidays, periods = _parse_academic(raw.get("academic"),
                                                      f"{where}: academic")

    if covered:
        gaps = sorted(set(range(min(covered), max(covered) + 1)) - covered)
        if gaps:
            log.warning("working calendar: no national holiday data for %s (inside %s-%s)",
                        ", ".join(map(str, gaps)), min(covered), max(covered))

    return CalendarData(
        holidays=frozenset(d for d, info in days.items() if info.status == HOLIDAY),
        makeup_workdays=frozenset(d for d, info in days.items() if info.status == WORKDAY),
        vacations=frozenset(day for period in periods for day in period.days()),
        vacations_are_holidays=vacations_are_holidays,
        covered_years=frozenset(covered),
        package_version=package_version,
        source=source,
        days=days,
        vacation_periods=tuple(periods),
        override_holidays=frozenset(d for d, i in overrides.items() if i.status == HOLIDAY),
        override_workdays=frozenset(d for d, i in overrides.items() if i.status == WORKDAY),
        _warner=_YearWarner(source),
    )


def _package_days() -> tuple[str, dict[date, DayInfo]] | None:
    """The package's data, read from its dicts (not through is_workday(), which raises
    NotImplementedError outside its years and tells nothing about which years it knows)."""
    try:
        import chinese_calendar
    except ImportError:
        return None
    chinese = {member.value: member.chinese for member in chinese_calendar.Holiday}
    days: dict[date, DayInfo] = {}
    for day, name in chinese_calendar.holidays.items():
        days[day] = DayInfo(HOLIDAY, chinese.get(name, name), "package")
    for day, name in chinese_calendar.workdays.items():
        days[day] = DayInfo(WORKDAY, chinese.get(name, name), "package")
    return chinese_calendar.__version__, days


# ---------------------------------------------------------------------------------- validation
def _no_unknown_keys(raw: Mapping, allowed: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        raise CalendarConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; "
                                  f"expected {', '.join(sorted(allowed))}")


def _parse_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise CalendarConfigError(f"{where}: {value!r} is not a date (write YYYY-MM-DD)")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise CalendarConfigError(f"{where}: {value!r} is not a valid date ({exc}); "
                                  f"write YYYY-MM-DD") from exc


def _parse_range(entry: Any, where: str) -> tuple[list[date], str]:
    """One entry: a date, or {date, name}, or {from, to, name} (inclusive). `reason` is
    accepted as a synonym of `name`."""
    if not isinstance(entry, Mapping):
        return [_parse_date(entry, where)], ""
    _no_unknown_keys(entry, _ENTRY_KEYS, where)
    name = str(entry.get("name") or entry.get("reason") or "")
    if "date" in entry:
        if "from" in entry or "to" in entry:
            raise CalendarConfigError(f"{where}: give either `date` or `from`/`to`, not both")
        return [_parse_date(entry["date"], f"{where} date")], name
    if "from" not in entry or "to" not in entry:
        raise CalendarConfigError(f"{where}: an entry needs `date`, or both `from` and `to`")
    first = _parse_date(entry["from"], f"{where} from")
    last = _parse_date(entry["to"], f"{where} to")
    if last < first:
        raise CalendarConfigError(f"{where}: `to` {last} is before `from` {first}")
    if (last - first).days + 1 > MAX_VACATION_DAYS:
        raise CalendarConfigError(f"{where}: {first}..{last} is longer than "
                                  f"{MAX_VACATION_DAYS} days; check the years")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)], name


def _parse_list(value: Any, where: str) -> list[tuple[date, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise CalendarConfigError(f"{where}: expected a list")
    result: list[tuple[date, str]] = []
    for index, entry in enumerate(value):
        days, name = _parse_range(entry, f"{where}[{index}]")
        result.extend((day, name) for day in days)
    return result


def _parse_two_lists(raw: Any, keys: set[str], statuses: Mapping[str, str], where: str,
                     source: str) -> dict[date, DayInfo]:
    """A mapping with a list of days off and a list of working days; a day in both is an
    error (the file contradicts itself)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CalendarConfigError(f"{where}: expected a mapping with {', '.join(sorted(keys))}")
    _no_unknown_keys(raw, keys, where)
    result: dict[date, DayInfo] = {}
    for key, status in statuses.items():
        for day, name in _parse_list(raw.get(key), f"{where}.{key}"):
            previous = result.get(day)
            if previous is not None and previous.status != status:
                raise CalendarConfigError(
                    f"{where}: {day} is listed both as a holiday and as a working day")
            result[day] = DayInfo(status, name, source)
    return result


def _parse_national(raw: Any, where: str) -> tuple[dict[date, DayInfo], set[int]]:
    """`national: {2027: {holidays: [...], makeup_workdays: [...]}}`. A year listed here
    counts as covered; its dates must fall in that year (or the December before / January
    after, which a notice sometimes arranges), and make-up workdays must be weekend days."""
    if raw is None:
        return {}, set()
    if not isinstance(raw, Mapping):
        raise CalendarConfigError(f"{where}: expected a mapping of year -> arrangement")
    result: dict[date, DayInfo] = {}
    years: set[int] = set()
    for key, arrangement in raw.items():
        try:
            year = int(key)
        except (TypeError, ValueError):
            raise CalendarConfigError(f"{where}: {key!r} is not a year") from None
        if not 1949 < year < 2200:
            raise CalendarConfigError(f"{where}: {key!r} is not a plausible year")
        here = f"{where}.{year}"
        if arrangement is None:
            raise CalendarConfigError(
                f"{here}: empty; list `holidays` and `makeup_workdays` or remove the year")
        days = _parse_two_lists(arrangement, _DAYS_KEYS,
                                {"holidays": HOLIDAY, "makeup_workdays": WORKDAY},
                                here, "file:national")
        for day, info in days.items():
            in_year = (day.year == year or (day.year == year - 1 and day.month == 12)
                       or (day.year == year + 1 and day.month == 1))
            if not in_year:
                raise CalendarConfigError(f"{here}: {day} is not in {year}")
            if info.status == WORKDAY and day.weekday() < 5:
                raise CalendarConfigError(f"{here}: make-up workday {day} is a "
                                          f"{day.strftime('%A')}, not a weekend day")
            previous = result.get(day)
            if previous is not None and previous.status != info.status:
                raise CalendarConfigError(
                    f"{where}: {day} is listed both as a holiday and as a working day")
            result[day] = info
        years.add(year)
    return result, years


def _parse_academic(raw: Any, where: str) -> tuple[bool, list[Vacation]]:
    if raw is None:
        return False, []
    if not isinstance(raw, Mapping):
        raise CalendarConfigError(f"{where}: expected a mapping")
    _no_unknown_keys(raw, _ACADEMIC_KEYS, where)
    flag = raw.get("vacations_are_holidays", False)
    if not isinstance(flag, bool):
        raise CalendarConfigError(f"{where}.vacations_are_holidays: expected true or false, "
                                  f"not {flag!r}")
    entries = raw.get("vacations") or []
    if not isinstance(entries, list):
        raise CalendarConfigError(f"{where}.vacations: expected a list")
    periods: list[Vacation] = []
    for index, entry in enumerate(entries):
        here = f"{where}.vacations[{index}]"
        if not isinstance(entry, Mapping) or "from" not in entry or "to" not in entry:
            raise CalendarConfigError(f"{here}: a vacation needs `name`, `from` and `to`")
        days, name = _parse_range(entry, here)
        periods.append(Vacation(name or f"vacation {index + 1}", days[0], days[-1]))
    return flag, periods


def calendar_for(settings) -> WorkingCalendar:
    """The working calendar the settings describe: hours, cut-off, holidays and 调休 from the
    package and `calendar_file`, and whether vacations stop the clock."""
    return load_calendar_data(settings.resolve_path(settings.calendar_file)).working_calendar(
        settings.timezone, settings.workday_start, settings.workday_end,
        settings.same_day_cutoff, settings.vacations_are_holidays)
