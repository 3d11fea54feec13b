from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.settings import Settings
from services.common.calendar import calendar_for
from services.common.calendar import WorkingCalendar, parse_hhmm
from services.sla.domain import TimeLimits, limits_from_settings

SH = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkingCalendar()
LIMITS = TimeLimits()


def local(day, hh, mm=0):
    """A moment on a November 2026 day in Shanghai (23rd = Monday ... 29th = Sunday)."""
    return datetime(2026, 11, day, hh, mm, tzinfo=SH)


def due(grade, starts_at, calendar=CALENDAR):
    return LIMITS.due(grade, starts_at, calendar)


# ------------------------------------------------------------------------ simple: 2 working hours
def test_simple_within_the_working_day_is_two_hours_later():
    assert due("simple", local(24, 10, 0)) == local(24, 12, 0)


def test_simple_ending_exactly_at_closing_time_is_due_that_day():
    assert due("simple", local(24, 15, 30)) == local(24, 17, 30)


def test_simple_late_on_friday_carries_over_the_weekend():
    # 45 minutes on Friday (16:45-17:30), the remaining 75 from Monday 08:30.
    assert due("simple", local(27, 16, 45)) == datetime(2026, 11, 30, 9, 45, tzinfo=SH)


def test_simple_before_opening_counts_from_opening():
    assert due("simple", local(24, 7, 0)) == local(24, 10, 30)


def test_simple_at_night_counts_from_the_next_morning():
    assert due("simple", local(24, 22, 0)) == local(25, 10, 30)


def test_simple_on_saturday_counts_from_monday_morning():
    assert due("simple", local(28, 11, 0)) == datetime(2026, 11, 30, 10, 30, tzinfo=SH)


# ------------------------------------------------------------------------ general: same day
def test_general_before_the_cutoff_is_due_at_closing_time_the_same_day():
    assert due("general", local(24, 15, 59)) == local(24, 17, 30)


def test_general_at_the_cutoff_is_due_the_next_working_day():
    assert due("general", local(24, 16, 0)) == local(25, 17, 30)


def test_general_after_the_cutoff_on_friday_is_due_monday():
    assert due("general", local(27, 16, 30)) == datetime(2026, 11, 30, 17, 30, tzinfo=SH)


def test_general_on_saturday_is_due_monday_at_closing_time():
    assert due("general", local(28, 9, 0)) == datetime(2026, 11, 30, 17, 30, tzinfo=SH)


# ------------------------------------------------------------------------ complex: 3 days
def test_complex_counts_the_day_of_filing_before_the_cutoff():
    assert due("complex", local(23, 10, 0)) == local(25, 17, 30)


def test_complex_after_the_cutoff_starts_counting_the_next_day():
    assert due("complex", local(23, 16, 30)) == local(26, 17, 30)


def test_complex_from_thursday_spans_the_weekend():
    assert due("complex", local(26, 10, 0)) == datetime(2026, 11, 30, 17, 30, tzinfo=SH)


def test_the_number_of_complex_days_is_configurable():
    assert TimeLimits(complex_days=5).due("complex", local(23, 10, 0), CALENDAR) == \
        local(27, 17, 30)


# ------------------------------------------------------------------------ holidays and 调休
HOLIDAY_MONDAY = WorkingCalendar(holidays=frozenset({date(2026, 11, 30)}))
MAKEUP_SUNDAY = WorkingCalendar(makeup_workdays=frozenset({date(2026, 11, 29)}))


def test_a_holiday_monday_is_skipped_by_general():
    assert due("general", local(27, 16, 30), HOLIDAY_MONDAY) == \
        datetime(2026, 12, 1, 17, 30, tzinfo=SH)


def test_a_holiday_monday_is_skipped_by_simple():
    assert due("simple", local(27, 16, 45), HOLIDAY_MONDAY) == \
        datetime(2026, 12, 1, 9, 45, tzinfo=SH)


def test_a_case_filed_on_a_holiday_waits_for_the_next_working_day():
    assert due("general", datetime(2026, 11, 30, 10, 0, tzinfo=SH), HOLIDAY_MONDAY) == \
        datetime(2026, 12, 1, 17, 30, tzinfo=SH)


def test_a_makeup_sunday_counts_as_a_working_day():
    assert due("general", local(28, 10, 0), MAKEUP_SUNDAY) == local(29, 17, 30)
    assert due("simple", local(27, 16, 45), MAKEUP_SUNDAY) == local(29, 9, 45)
    assert due("general", local(29, 10, 0), MAKEUP_SUNDAY) == local(29, 17, 30)


def test_complex_counts_holidays_out_and_makeup_days_in():
    calendar = WorkingCalendar(holidays=frozenset({date(2026, 11, 24)}),
                               makeup_workdays=frozenset({date(2026, 11, 28)}))

    # Mon 23 (day 1), Tue 24 holiday, Wed 25 (2), Thu 26 (3)
    assert due("complex", local(23, 10, 0), calendar) == local(26, 17, 30)
    # Thu 26 (1), Fri 27 (2), Sat 28 makeup (3)
    assert due("complex", local(26, 10, 0), calendar) == local(28, 17, 30)


# ------------------------------------------------------------------------ time zones
def test_a_utc_start_is_counted_in_shanghai_working_hours():
    # 07:00 UTC is 15:00 in Shanghai: before the cut-off, so the same local day.
    start = datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("UTC"))

    assert due("general", start) == local(24, 17, 30)
    assert due("simple", start) == local(24, 17, 0)


def test_a_utc_evening_is_already_the_next_local_day():
    start = datetime(2026, 11, 23, 17, 0, tzinfo=ZoneInfo("UTC"))  # Tue 01:00 local

    assert due("general", start) == local(24, 17, 30)


@pytest.mark.parametrize("grade", ["simple", "general", "complex"])
def test_a_naive_start_is_refused(grade):
    with pytest.raises(ValueError):
        due(grade, datetime(2026, 11, 24, 10, 0))


def test_an_unknown_grade_is_refused():
    with pytest.raises(ValueError):
        due("urgent", local(24, 10, 0))


def test_a_limit_of_zero_days_is_refused():
    with pytest.raises(ValueError):
        CALENDAR.due_after_working_days(local(24, 10, 0), 0)


# ------------------------------------------------------------------------ from settings
def test_calendar_and_limits_follow_the_settings():
    settings = Settings(timezone="Asia/Shanghai", workday_start="09:00", workday_end="18:00",
                        same_day_cutoff="15:00", grade_simple_hours=1.5, grade_complex_days=2)

    calendar = calendar_for(settings)
    limits = limits_from_settings(settings)

    assert (calendar.start, calendar.end, calendar.cutoff) == (time(9), time(18), time(15))
    assert limits.simple == timedelta(hours=1.5)
    assert limits.due("general", local(24, 15, 30), calendar) == local(25, 18, 0)
    assert limits.due("simple", local(24, 17, 30), calendar) == local(25, 10, 0)


def test_parse_hhmm():
    assert parse_hhmm("08:30") == time(8, 30)
