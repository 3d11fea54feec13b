"""Time limits (R7) counted in working time (X1).

Grades: simple 即时办结 (a few working hours), general 日清日结 (end of the working day; after
the cut-off, end of the next one), complex 3日办结 (end of the third working day, the day of
filing counting as the first when it arrives before the cut-off). "general" is "complex" with
one day, so both go through `due_after_working_days`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are working days and which hours of them count.

    `holidays` are days off that would otherwise be working days; `makeup_workdays` (调休)
    are weekend days that are working days. The SLA issue fills both from a maintained
    calendar; the rules here already honour them."""
    tz: str = "Asia/Shanghai"
    start: time = time(8, 30)
    end: time = time(17, 30)
    cutoff: time = time(16, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_workdays: frozenset[date] = field(default_factory=frozenset)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

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
            day = self.next_working_day(day)
        for _ in range(days - 1):
            day = self.next_working_day(day)
        return self.end_of(day)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much working time lies between two moments (zero if end is not after start)."""
        total = timedelta()
        cursor = self.local(start)
        end = self.local(end)
        while cursor < end:
            day = cursor.date()
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, self.zone)
                closes = datetime.combine(day, self.end, self.zone)
                begin, finish = max(cursor, opens), min(end, closes)
                if finish > begin:
                    total += finish - begin
            cursor = datetime.combine(day + timedelta(days=1), time(0), self.zone)
        return total

    def add_working_time(self, starts_at: datetime, amount: timedelta) -> datetime:
        """`amount` of working time after `starts_at`, skipping nights, weekends and holidays."""
        local = self.local(starts_at)
        day, cursor = local.date(), local
        remaining = amount
        while True:
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, self.zone)
                closes = datetime.combine(day, self.end, self.zone)
                cursor = max(cursor, opens)
                if cursor < closes:
                    available = closes - cursor
                    if remaining <= available:
                        return cursor + remaining
                    remaining -= available
            day = self.next_working_day(day)
            cursor = datetime.combine(day, self.start, self.zone)


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
