"""Working-time arithmetic (X1) counted in weeks, not days: checked against the day-by-day
implementation it replaced, kept here as the oracle, over random spans across real holidays
and 调休 (chinesecalendar, 2004-2026) and across made-up calendars."""
import math
import time as clock
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from services.common.calendar import calendar_data_from_dict
from services.common.calendar import WorkingCalendar
from services.sla.escalation import EscalationPolicy

SH = ZoneInfo("Asia/Shanghai")
REAL = calendar_data_from_dict({}).working_calendar()     # the package's holidays and 调休
NINE_TO_SIX = calendar_data_from_dict({}).working_calendar(start="09:00", end="18:00",
                                                           cutoff="15:00")
# Deterministic (no flakiness, no example database): the same examples on every run.
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ the oracle: day by day
def slow_next_working_day(calendar, day):
    day += timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def slow_due_after_working_days(calendar, starts_at, days):
    local = calendar.local(starts_at)
    day = local.date()
    if not (calendar.is_working_day(day) and local.time() < calendar.cutoff):
        day = slow_next_working_day(calendar, day)
    for _ in range(days - 1):
        day = slow_next_working_day(calendar, day)
    return calendar.end_of(day)


def slow_working_time_between(calendar, start, end):
    total = timedelta()
    cursor, end = calendar.local(start), calendar.local(end)
    while cursor < end:
        day = cursor.date()
        if calendar.is_working_day(day):
            opens = datetime.combine(day, calendar.start, calendar.zone)
            closes = datetime.combine(day, calendar.end, calendar.zone)
            begin, finish = max(cursor, opens), min(end, closes)
            if finish > begin:
                total += finish - begin
        cursor = datetime.combine(day + timedelta(days=1), time(0), calendar.zone)
    return total


def slow_add_working_time(calendar, starts_at, amount):
    local = calendar.local(starts_at)
    day, cursor, remaining = local.date(), local, amount
    while True:
        if calendar.is_working_day(day):
            opens = datetime.combine(day, calendar.start, calendar.zone)
            closes = datetime.combine(day, calendar.end, calendar.zone)
            cursor = max(cursor, opens)
            if cursor < closes:
                available = closes - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
        day = slow_next_working_day(calendar, day)
        cursor = datetime.combine(day, calendar.start, calendar.zone)


def slow_before(calendar, due_at, lead, step=timedelta(minutes=15)):
    """EscalationPolicy._before as it was: back from the deadline in 15-minute steps."""
    moment, remaining = due_at, lead
    while remaining > timedelta(0):
        earlier = moment - step
        remaining -= slow_working_time_between(calendar, earlier, moment)
        moment = earlier
    return moment


# ------------------------------------------------------------------ strategies
def moments(first=date(2024, 1, 1), last=date(2026, 12, 31)):
    """Aware moments on any minute, in Shanghai or UTC (UTC evenings are the next local day)."""
    return st.builds(
        lambda day, minute, zone: datetime.combine(day, time(minute // 60, minute % 60),
                                                   ZoneInfo(zone)),
        st.dates(first, last), st.integers(0, 24 * 60 - 1), st.sampled_from(["Asia/Shanghai",
                                                                             "UTC"]))


amounts = st.integers(0, 60 * 9 * 250).map(lambda minutes: timedelta(minutes=minutes))


@st.composite
def made_up_calendars(draw):
    """Holidays and make-up days anywhere, on weekdays and weekends alike, overlapping too
    (a day in both lists is worked), with odd working hours."""
    first = date(2026, 1, 1)
    days = st.integers(0, 400).map(lambda n: first + timedelta(days=n))
    start = draw(st.integers(0, 12 * 60))
    end = draw(st.integers(start + 1, 24 * 60 - 1))
    return WorkingCalendar(
        start=time(start // 60, start % 60), end=time(end // 60, end % 60),
        cutoff=time(draw(st.integers(0, 23)), 0),
        holidays=frozenset(draw(st.lists(days, max_size=120))),
        makeup_workdays=frozenset(draw(st.lists(days, max_size=40))))


calendars = st.one_of(st.just(REAL), st.just(NINE_TO_SIX), made_up_calendars())


# ------------------------------------------------------------------ the properties
@PROPERTY
@given(calendars, moments(), moments())
def test_working_time_between_is_the_day_by_day_count(calendar, start, end):
    assert calendar.working_time_between(start, end) == \
        slow_working_time_between(calendar, start, end)


@PROPERTY
@given(calendars, moments(), amounts)
def test_add_working_time_is_the_day_by_day_walk(calendar, start, amount):
    assert calendar.add_working_time(start, amount) == \
        slow_add_working_time(calendar, start, amount)


@PROPERTY
@given(calendars, moments(), st.integers(1, 300))
def test_due_after_working_days_is_the_day_by_day_walk(calendar, start, days):
    assert calendar.due_after_working_days(start, days) == \
        slow_due_after_working_days(calendar, start, days)


@PROPERTY
@given(calendars, st.dates(date(2024, 1, 1), date(2026, 12, 31)))
def test_next_working_day_is_the_day_by_day_walk(calendar, day):
    assert calendar.next_working_day(day) == slow_next_working_day(calendar, day)


@settings(PROPERTY, max_examples=150)   # two day-by-day counts per example
@given(calendars, moments(), amounts)
def test_subtract_working_time_is_the_latest_moment_that_leaves_the_amount(calendar, end,
                                                                           amount):
    earlier = calendar.subtract_working_time(end, amount)

    assert slow_working_time_between(calendar, earlier, end) == amount
    if amount:
        assert slow_working_time_between(calendar, earlier + timedelta(seconds=1),
                                         end) < amount


@PROPERTY
@given(st.sampled_from([REAL, NINE_TO_SIX]), moments(),
       st.integers(1, 8 * 4).map(lambda quarters: timedelta(minutes=15 * quarters)))
def test_the_warning_lead_is_what_the_15_minute_steps_approximated(calendar, due_at, lead):
    """The escalation's `lead before the deadline` used to step back 15 minutes at a time;
    it is now exact: the old answer is the new one rounded down to the steps."""
    step = timedelta(minutes=15)
    exact = EscalationPolicy(warning_lead=lead)._before(due_at, lead, calendar)

    assert slow_before(calendar, due_at, lead) == \
        due_at - step * math.ceil((due_at - exact) / step)


def test_add_and_between_agree_with_each_other_over_years():
    start = datetime(2004, 3, 1, 10, 0, tzinfo=SH)
    amount = REAL.working_time_between(start, datetime(2026, 12, 31, 12, 0, tzinfo=SH))

    assert REAL.add_working_time(start, amount) == datetime(2026, 12, 31, 12, 0, tzinfo=SH)
    assert REAL.subtract_working_time(datetime(2026, 12, 31, 12, 0, tzinfo=SH),
                                      amount) == start


def test_the_2026_national_day_week_and_its_makeup_days():
    # Sun Sep 20 and Sat Oct 10 worked, Fri Sep 25 (中秋) and Oct 1-7 off: 12 working days
    # from Fri Sep 18 to Mon Oct 12.
    assert REAL.working_time_between(datetime(2026, 9, 18, 8, 30, tzinfo=SH),
                                     datetime(2026, 10, 12, 8, 30, tzinfo=SH)) == \
        timedelta(hours=9) * 12
    assert REAL.due_after_working_days(datetime(2026, 9, 30, 15, 0, tzinfo=SH), 3) == \
        datetime(2026, 10, 9, 17, 30, tzinfo=SH)
    assert REAL.subtract_working_time(datetime(2026, 10, 8, 9, 30, tzinfo=SH),
                                      timedelta(hours=2)) == \
        datetime(2026, 9, 30, 16, 30, tzinfo=SH)


@pytest.mark.parametrize("years", [1, 100, 7000])
def test_long_spans_answer_at_once(years):
    """A hang guard, not a benchmark: a span of 7,000 years took minutes day by day."""
    calendar = WorkingCalendar()
    start = datetime(2000, 1, 3, 9, 0, tzinfo=SH)               # a Monday morning
    end = start + timedelta(weeks=52 * years)                   # and another
    started = clock.perf_counter()

    amount = calendar.working_time_between(start, end)
    assert calendar.add_working_time(start, amount) == end
    assert calendar.subtract_working_time(end, amount) == start
    assert calendar.due_after_working_days(start, amount // timedelta(hours=9)) <= end

    assert clock.perf_counter() - started < 2.0


def test_a_working_day_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="end"):
        WorkingCalendar(start=time(17, 30), end=time(8, 30))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 40])
def test_a_long_closure_is_crossed_both_ways(n):
    """Sixty days off in a row (a closure, or a vacation that counts): longer than the short
    walk that answers the usual next-working-day question."""
    closed = WorkingCalendar(holidays=frozenset(date(2026, 7, 1) + timedelta(days=k)
                                                for k in range(60)))
    before = datetime(2026, 6, 30, 17, 0, tzinfo=SH)
    after = datetime(2026, 8, 31, 9, 0, tzinfo=SH)
    amount = timedelta(hours=9) * n

    assert closed.next_working_day(date(2026, 6, 30)) == date(2026, 8, 31)
    assert closed.due_after_working_days(before, n) == \
        slow_due_after_working_days(closed, before, n)
    assert closed.add_working_time(before, amount) == slow_add_working_time(closed, before,
                                                                            amount)
    assert slow_working_time_between(closed, closed.subtract_working_time(after, amount),
                                     after) == amount
    assert closed.subtract_working_time(after, timedelta(hours=1)) == \
        datetime(2026, 6, 30, 17, 0, tzinfo=SH)     # 8:30-9:00 on Aug 31, 17:00-17:30 on Jun 30
