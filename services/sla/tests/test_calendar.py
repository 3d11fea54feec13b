"""The working calendar's data (X1): package + config/calendar.yaml + 校历, fed to the domain.

The 2026 arrangement relied on (国办发明电〔2025〕7号, as in chinesecalendar 1.11.0):
元旦 Jan 1-3 (work Sun Jan 4); 春节 Feb 15-23 (work Sat Feb 14, Sat Feb 28); 清明 Apr 4-6;
劳动节 May 1-5 (work Sat May 9); 端午 Jun 19-21; 中秋 Sep 25-27; 国庆 Oct 1-7 (work Sun Sep 20,
Sat Oct 10).
"""
import copy
import logging
import pickle
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.calendar import (DEFAULT_CALENDAR_FILE, CalendarConfigError,
                                   calendar_data_from_dict, load_calendar_data)
from services.common.calendar import WorkingCalendar
from services.sla.domain import DeadlinePolicy, TimeLimits

SH = ZoneInfo("Asia/Shanghai")
LIMITS = TimeLimits(simple=timedelta(hours=2), complex_days=3)


def at(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def days(first, last):
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


@pytest.fixture(scope="module")
def data():
    return calendar_data_from_dict({})


@pytest.fixture(scope="module")
def calendar(data):
    return data.working_calendar("Asia/Shanghai", "08:30", "17:30", "16:00")


def due(grade, starts_at, calendar):
    return LIMITS.due(grade, starts_at, calendar)


# ------------------------------------------------------------------------ the package's 2026
def test_the_package_covers_2004_to_2026(data):
    assert data.coverage() == (2004, 2026)
    assert data.package_version == "1.11.0"


def test_the_2026_arrangement_is_the_one_the_tests_rely_on(data):
    y2026 = {d for d in data.holidays if d.year == 2026}
    assert y2026 == (days(date(2026, 1, 1), date(2026, 1, 3))
                     | days(date(2026, 2, 15), date(2026, 2, 23))
                     | days(date(2026, 4, 4), date(2026, 4, 6))
                     | days(date(2026, 5, 1), date(2026, 5, 5))
                     | days(date(2026, 6, 19), date(2026, 6, 21))
                     | days(date(2026, 9, 25), date(2026, 9, 27))
                     | days(date(2026, 10, 1), date(2026, 10, 7)))
    assert {d for d in data.makeup_workdays if d.year == 2026} == {
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
        date(2026, 9, 20), date(2026, 10, 10)}


def test_the_calendar_is_a_domain_working_calendar(calendar):
    assert isinstance(calendar, WorkingCalendar)
    assert copy.deepcopy(calendar).holidays == calendar.holidays
    assert pickle.loads(pickle.dumps(calendar)).makeup_workdays == calendar.makeup_workdays
    assert (calendar.start, calendar.end, calendar.cutoff) == (time(8, 30), time(17, 30),
                                                                time(16, 0))
    assert calendar.is_working_day(date(2026, 10, 10))       # 调休 Saturday
    assert not calendar.is_working_day(date(2026, 10, 7))
    assert calendar.is_working_day(date(2026, 10, 8))


# ------------------------------------------------------------------------ National Day 2026
def test_complex_filed_on_the_eve_of_national_day_before_the_cutoff(calendar):
    # Wed Sep 30 counts (before 16:00), then Thu Oct 8 and Fri Oct 9.
    assert due("complex", at(2026, 9, 30, 15, 0), calendar) == at(2026, 10, 9, 17, 30)


def test_complex_filed_on_the_eve_after_the_cutoff_ends_on_the_makeup_saturday(calendar):
    # Counting starts after the holiday: Thu Oct 8, Fri Oct 9, Sat Oct 10 (调休 workday).
    assert due("complex", at(2026, 9, 30, 16, 30), calendar) == at(2026, 10, 10, 17, 30)


def test_complex_filed_during_the_holiday_waits_for_it_to_end(calendar):
    assert due("complex", at(2026, 10, 3, 10, 0), calendar) == at(2026, 10, 10, 17, 30)


def test_general_filed_on_a_makeup_saturday_before_the_cutoff_is_due_that_saturday(calendar):
    assert due("general", at(2026, 10, 10, 11, 0), calendar) == at(2026, 10, 10, 17, 30)
    assert due("general", at(2026, 9, 20, 15, 59), calendar) == at(2026, 9, 20, 17, 30)


def test_general_after_the_cutoff_on_a_makeup_saturday_is_due_monday(calendar):
    assert due("general", at(2026, 10, 10, 16, 0), calendar) == at(2026, 10, 12, 17, 30)


def test_general_after_the_cutoff_on_the_eve_is_due_the_first_day_after_the_holiday(calendar):
    assert due("general", at(2026, 9, 30, 16, 30), calendar) == at(2026, 10, 8, 17, 30)


def test_mid_autumn_and_its_makeup_sunday(calendar):
    # Thu Sep 24 after the cut-off: Fri-Sun 25-27 are 中秋, so Monday Sep 28.
    assert due("general", at(2026, 9, 24, 16, 30), calendar) == at(2026, 9, 28, 17, 30)
    # Fri Sep 18 late: Sun Sep 20 is a 调休 workday, 45 minutes Friday + 75 on Sunday.
    assert due("simple", at(2026, 9, 18, 16, 45), calendar) == at(2026, 9, 20, 9, 45)


# ------------------------------------------------------------------------ Spring Festival 2026
def test_simple_late_on_the_last_working_day_before_spring_festival(calendar):
    # Sat Feb 14 is the last (调休) working day; Feb 15-23 off: 45 min + 75 min on Tue Feb 24.
    assert due("simple", at(2026, 2, 14, 16, 45), calendar) == at(2026, 2, 24, 9, 45)


def test_simple_late_on_the_friday_before_runs_into_the_makeup_saturday(calendar):
    assert due("simple", at(2026, 2, 13, 16, 45), calendar) == at(2026, 2, 14, 9, 45)


def test_complex_across_spring_festival_counts_the_makeup_saturday_after_it(calendar):
    # Thu Feb 26 (1), Fri Feb 27 (2), Sat Feb 28 调休 (3).
    assert due("complex", at(2026, 2, 26, 9, 0), calendar) == at(2026, 2, 28, 17, 30)
    # After the cut-off on Sat Feb 14: Tue 24, Wed 25, Thu 26.
    assert due("complex", at(2026, 2, 14, 16, 30), calendar) == at(2026, 2, 26, 17, 30)


def test_the_deadline_policy_takes_the_calendar(calendar):
    policy = DeadlinePolicy(LIMITS, calendar)
    assert policy.due("general", at(2026, 9, 30, 16, 30)) == at(2026, 10, 8, 17, 30)


# ------------------------------------------------------------------------ vacations
WINTER = {"academic": {"vacations": [
    {"name": "2026-2027学年寒假", "from": "2027-01-18", "to": "2027-02-21"}]}}
SUMMER_2026 = {"name": "2025-2026学年暑假", "from": "2026-07-11", "to": "2026-08-30"}


def test_vacations_do_not_stop_the_clock_by_default():
    data = calendar_data_from_dict({"academic": {"vacations": [SUMMER_2026]}})
    assert date(2026, 7, 20) in data.vacations and len(data.vacations) == 51
    assert data.vacations_are_holidays is False
    calendar = data.working_calendar()
    # Mon Jul 20, complex: Mon, Tue, Wed as usual.
    assert due("complex", at(2026, 7, 20, 10, 0), calendar) == at(2026, 7, 22, 17, 30)


def test_vacations_stop_the_clock_when_the_flag_is_on():
    data = calendar_data_from_dict({"academic": {"vacations": [SUMMER_2026]}})
    calendar = data.working_calendar(vacations_are_holidays=True)
    # Filed in the vacation: Mon Aug 31 (1), Tue Sep 1 (2), Wed Sep 2 (3).
    assert due("complex", at(2026, 7, 20, 10, 0), calendar) == at(2026, 9, 2, 17, 30)
    # Fri Jul 10 late, simple: 45 minutes Friday, the rest on Mon Aug 31.
    assert due("simple", at(2026, 7, 10, 16, 45), calendar) == at(2026, 8, 31, 9, 45)


def test_the_files_flag_is_the_default_and_a_caller_can_override_it_per_unit():
    raw = {"academic": {"vacations_are_holidays": True, "vacations": [SUMMER_2026]}}
    data = calendar_data_from_dict(raw)
    assert not data.working_calendar().is_working_day(date(2026, 7, 20))
    assert data.working_calendar(vacations_are_holidays=False).is_working_day(date(2026, 7, 20))


def test_a_makeup_workday_inside_a_counted_vacation_is_not_worked():
    data = calendar_data_from_dict({"academic": {"vacations": [
        {"name": "寒假", "from": "2026-01-24", "to": "2026-03-01"}]}})
    assert data.working_calendar().is_working_day(date(2026, 2, 28))
    assert not data.working_calendar(vacations_are_holidays=True).is_working_day(
        date(2026, 2, 28))


def test_an_explicit_working_day_override_beats_the_vacation():
    data = calendar_data_from_dict({
        "academic": {"vacations_are_holidays": True, "vacations": [SUMMER_2026]},
        "overrides": {"workdays": [{"date": "2026-08-29", "reason": "迎新"}]}})
    calendar = data.working_calendar()
    assert calendar.is_working_day(date(2026, 8, 29))          # a Saturday, worked
    assert not calendar.is_working_day(date(2026, 8, 28))


def test_describe_year_lists_vacations_and_days(data):
    described = calendar_data_from_dict(WINTER).describe_year(2027)
    assert described["covered"] is False
    assert described["vacations"] == [{"name": "2026-2027学年寒假", "from": "2027-01-18",
                                       "to": "2027-02-21", "days": 35}]
    y2026 = data.describe_year(2026)
    assert y2026["covered"] is True
    assert {"date": "2026-10-10", "weekday": "Sat", "name": "国庆节", "source": "package"} in \
        y2026["makeup_workdays"]


# ------------------------------------------------------------------------ years without data
def test_a_year_without_data_counts_weekends_only_and_warns_once(caplog):
    calendar = calendar_data_from_dict({}).working_calendar()
    caplog.set_level(logging.WARNING, logger="services.common.calendar")
    # 2030-01-01 is a Tuesday: no 元旦 without data.
    assert due("general", at(2030, 1, 1, 10, 0), calendar) == at(2030, 1, 1, 17, 30)
    assert due("complex", at(2030, 1, 4, 10, 0), calendar) == at(2030, 1, 8, 17, 30)
    assert due("simple", at(2030, 1, 4, 16, 45), calendar) == at(2030, 1, 7, 9, 45)
    warnings = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warnings) == 1
    assert "weekends only" in warnings[0].getMessage()
    # A covered year does not warn.
    caplog.clear()
    due("general", at(2026, 10, 8, 10, 0), calendar)
    assert not caplog.records


def test_without_the_package_only_the_file_counts(caplog):
    caplog.set_level(logging.WARNING, logger="services.common.calendar")
    data = calendar_data_from_dict({}, use_package=False)
    assert data.coverage() is None and not data.holidays
    assert data.working_calendar().is_working_day(date(2026, 10, 6))   # Tue Oct 6
    assert any("2026" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------ the file
NATIONAL_2027 = {"national": {2027: {
    "holidays": [{"name": "元旦", "date": "2027-01-01"},
                 {"name": "春节", "from": "2027-02-06", "to": "2027-02-12"}],
    "makeup_workdays": [{"name": "春节", "date": "2027-02-13"}]}}}


def test_the_file_fills_a_year_the_package_does_not_know(caplog):
    data = calendar_data_from_dict(NATIONAL_2027)
    assert data.coverage() == (2004, 2027)
    calendar = data.working_calendar()
    caplog.set_level(logging.WARNING, logger="services.common.calendar")
    # Fri Feb 5 after the cut-off: Feb 6-12 off, Sat Feb 13 worked.
    assert due("general", at(2027, 2, 5, 16, 30), calendar) == at(2027, 2, 13, 17, 30)
    assert not calendar.is_working_day(date(2027, 1, 1))
    assert not caplog.records
    assert data.describe_year(2027)["makeup_workdays"][0]["source"] == "file:national"


def test_overrides_beat_the_package():
    data = calendar_data_from_dict({"overrides": {
        "holidays": [{"date": "2026-11-25", "reason": "校庆日"}],
        "workdays": [{"date": "2026-10-07", "reason": "值班"}]}})
    calendar = data.working_calendar()
    assert not calendar.is_working_day(date(2026, 11, 25))
    assert calendar.is_working_day(date(2026, 10, 7))
    # General after the cut-off on Sep 30 is now due on the worked Oct 7.
    assert due("general", at(2026, 9, 30, 16, 30), calendar) == at(2026, 10, 7, 17, 30)
    # Complex on Tue Nov 24: Tue (1), Wed 25 off, Thu 26 (2), Fri 27 (3).
    assert due("complex", at(2026, 11, 24, 10, 0), calendar) == at(2026, 11, 27, 17, 30)
    assert {"date": "2026-11-25", "weekday": "Wed", "name": "校庆日",
            "source": "file:overrides"} in data.describe_year(2026)["holidays"]


def test_the_national_section_beats_the_package():
    data = calendar_data_from_dict({"national": {2026: {
        "makeup_workdays": [{"name": "更正", "date": "2026-10-11"}]}}})
    assert date(2026, 10, 11) in data.makeup_workdays


def test_overrides_beat_the_files_national_section():
    raw = dict(NATIONAL_2027, overrides={"holidays": ["2027-02-13"]})
    assert not calendar_data_from_dict(raw).working_calendar().is_working_day(
        date(2027, 2, 13))


def test_the_shipped_file_loads():
    data = load_calendar_data(DEFAULT_CALENDAR_FILE)
    first, last = data.coverage()
    assert first == 2004 and last >= 2026
    assert data.vacations_are_holidays is False


def test_a_file_is_read_from_disk(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text("national:\n  2027:\n    holidays:\n      - {name: 元旦, date: 2027-01-01}\n"
                    "overrides:\n  workdays: [2026-10-07]\n", encoding="utf-8")
    data = load_calendar_data(path)
    assert date(2027, 1, 1) in data.holidays and date(2026, 10, 7) in data.makeup_workdays


@pytest.mark.parametrize("raw, message", [
    ({"overrides": {"holidays": ["2026-02-30"]}}, "not a valid date"),
    ({"overrides": {"holidays": ["30/02/2026"]}}, "not a valid date"),
    ({"overrides": {"holidays": ["2026-12-01"], "workdays": ["2026-12-01"]}},
     "both as a holiday and as a working day"),
    ({"overrides": {"holidays": [{"from": "2026-12-01", "to": "2026-12-03"}],
                    "workdays": [{"date": "2026-12-02"}]}}, "both as a holiday"),
    ({"national": {2027: {"holidays": ["2027-02-13"], "makeup_workdays": ["2027-02-13"]}}},
     "both as a holiday"),
    ({"national": {2027: {"makeup_workdays": ["2027-02-10"]}}}, "not a weekend day"),
    ({"national": {2027: {"holidays": ["2026-10-01"]}}}, "is not in 2027"),
    ({"national": {"next": {"holidays": []}}}, "is not a year"),
    ({"national": {2027: None}}, "empty"),
    ({"national": {2027: {"holiday": ["2027-01-01"]}}}, "unknown key(s) holiday"),
    ({"holidays": ["2027-01-01"]}, "unknown key(s) holidays"),
    ({"academic": {"vacations": [{"name": "寒假", "from": "2027-02-21",
                                  "to": "2027-01-18"}]}}, "is before"),
    ({"academic": {"vacations": [{"name": "寒假", "from": "2027-01-18",
                                  "to": "2028-02-21"}]}}, "check the years"),
    ({"academic": {"vacations": ["2027-01-18"]}}, "needs `name`, `from` and `to`"),
    ({"academic": {"vacations_are_holidays": "no"}}, "expected true or false"),
    ({"overrides": {"holidays": [{"date": "2026-12-01", "to": "2026-12-02"}]}}, "not both"),
    ({"version": 2}, "unsupported version"),
])
def test_config_errors_say_what_is_wrong(raw, message):
    with pytest.raises(CalendarConfigError) as error:
        calendar_data_from_dict(raw, source="config/calendar.yaml")
    assert message in str(error.value)
    assert "config/calendar.yaml" in str(error.value)


def test_a_bad_date_in_a_file_is_a_config_error_naming_the_entry(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text("overrides:\n  holidays:\n    - 2026-02-30\n", encoding="utf-8")
    with pytest.raises(CalendarConfigError, match=r"overrides\.holidays\[0\].*2026-02-30"):
        load_calendar_data(path)


def test_unreadable_and_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(CalendarConfigError, match="cannot read"):
        load_calendar_data(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("overrides: [unclosed\n", encoding="utf-8")
    with pytest.raises(CalendarConfigError, match="not valid YAML"):
        load_calendar_data(bad)


def test_bad_working_hours_are_config_errors(data):
    with pytest.raises(CalendarConfigError, match="cutoff"):
        data.working_calendar(cutoff="4pm")
