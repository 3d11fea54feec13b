"""Time limits (R7) counted in working time (X1).

Grades: simple 即时办结 (a few working hours), general 日清日结 (end of the working day; after
the cut-off, end of the next one), complex 3日办结 (end of the third working day, the day of
filing counting as the first when it arrives before the cut-off). "general" is "complex" with
one day, so both go through `due_after_working_days`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.calendar import WorkingCalendar


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
