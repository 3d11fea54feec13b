"""Time limits (R7) counted in working time (X1).

Grades: simple 即时办结 (a few working hours), general 日清日结 (end of the working day; after
the cut-off, end of the next one), complex 3日办结 (end of the third working day, the day of
filing counting as the first when it arrives before the cut-off). "general" is "complex" with
one day, so both go through `due_after_working_days`.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo


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


@dataclass(frozen=True)
class TimeLimits:
    simple: timedelta = timedelta(hours=2)
    complex_days: int = 3

    def due(self, grade: str, starts_at: datetime, calendar: WorkingCalendar) -> datetime:
        if grade == "simple":
            return calendar.add_working_time(starts_at, self.simple)
        if grade == "general":
            return calendar.due_after_working_days(starts_at, 1)
        if grade == "complex":
            return calendar.due_after_working_days(starts_at, self.complex_days)
        raise ValueError(f"unknown grade {grade!r}")


@dataclass(frozen=True)
class DeadlinePolicy:
    """The time limits and the calendar they are counted in, together."""
    limits: TimeLimits
    calendar: WorkingCalendar

    def due(self, grade: str, starts_at: datetime) -> datetime:
        return self.limits.due(grade, starts_at, self.calendar)


def limits_from_settings(settings) -> TimeLimits:
    return TimeLimits(simple=timedelta(hours=settings.grade_simple_hours),
                      complex_days=settings.grade_complex_days)
