from datetime import date, datetime, timezone

import pytest

from services.intake import domain

TZ = "Asia/Shanghai"


@pytest.mark.parametrize("sequence, expected", [
    (7, "JS-20261124-0007"),
    (1, "JS-20261124-0001"),
    (9999, "JS-20261124-9999"),
    (10000, "JS-20261124-10000"),   # a busy day widens the number rather than wrapping
    (12345, "JS-20261124-12345"),
])
def test_complaint_number_is_prefix_day_and_sequence(sequence, expected):
    assert domain.complaint_number("JS", date(2026, 11, 24), sequence) == expected


@pytest.mark.parametrize("utc, expected", [
    (datetime(2026, 11, 23, 15, 59, 59, tzinfo=timezone.utc), date(2026, 11, 23)),
    (datetime(2026, 11, 23, 16, 0, 0, tzinfo=timezone.utc), date(2026, 11, 24)),
    (datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc), date(2026, 11, 24)),
])
def test_local_day_is_the_day_in_shanghai_not_in_utc(utc, expected):
    assert domain.local_day(utc, TZ) == expected


def test_received_line_names_number_channel_and_category():
    line = domain.received_line("JS-20261124-0001", "hotline", "logistics")

    assert line.kind == "received"
    assert line.actor == "system"
    assert line.text == "诉求已受理,编号 JS-20261124-0001(来源:24小时热线,类别:后勤保障)"


def test_assigned_line_names_unit_and_handler():
    line = domain.assigned_line("后勤管理处", "冯涛")

    assert (line.kind, line.actor) == ("assigned", "routing")
    assert line.text == "已直派 后勤管理处,承办人 冯涛"


def test_deadline_line_shows_the_grade_and_the_local_due_time():
    due = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)

    line = domain.deadline_line("general", due, TZ)

    assert (line.kind, line.actor) == ("deadline_set", "sla")
    assert line.text == "办理时限:日清日结,应于 2026-11-24 17:30 前办结"


def test_the_rating_note_shows_the_callback_answers_given():
    from services.intake.domain import rating_note

    assert rating_note("basically", True, False, "还要再修") == "评价:基本满意(已联系,未解决),还要再修"
    assert rating_note("satisfied", None, None, None) == "评价:满意"
    assert rating_note("dissatisfied", False, None, "x") == "评价:不满意(未联系),x"
    assert rating_note("satisfied", True, True, None, called_by="李晓梅") == \
        "电话回访(李晓梅):满意(已联系,已解决)"
