"""周汇总 / 月总结 without a broker: the periods and their labels, the schedule on the school's
working calendar with a moved clock (once each Monday, once each month's first working day,
catch-up after a stop), the content from case facts, and the RPCs' answers and refusals."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import func, select

from services.common.calendar import calendar_for
from services.common.clock import ManualClock
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.rating import figures, summaries
from services.rating.assessment import load_rules
from services.rating.figures_models import CaseFact, FigureRollup
from services.rating.models import metadata
from services.rating.service import RatingService
from services.rating.summaries import PeriodError, SummaryInputs, summary_period
from services.rating.summaries_models import Summary, SummaryChart
from services.rating.summaries_sources import FactSources

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics"}
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def calendar():
    # The school's calendar: the State Council's 2026 arrangement (国庆 10-01 to 10-07).
    return calendar_for(Settings())


# ---------------------------------------------------------------------------- periods
def test_a_week_is_an_iso_week_in_shanghai_time():
    week = summary_period("weekly", "2026-W48")
    assert (week.first, week.last) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week.start == datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)
    assert week.end == datetime(2026, 11, 29, 16, 0, tzinfo=timezone.utc)
    assert week.previous().label == "2026-W47"
    assert week.title() == "2026年第48周接诉即办周汇总(11-23至11-29)"
    # The first ISO week of 2026 starts on 2025-12-29; the one before is 2025's 52nd.
    assert summary_period("weekly", "2026-W01").previous().label == "2025-W52"
    assert summary_period("weekly", "2026-W53").last == date(2027, 1, 3)


def test_a_month_is_a_calendar_month():
    month = summary_period("monthly", "2026-02")
    assert (month.first, month.last) == (date(2026, 2, 1), date(2026, 2, 28))
    assert month.previous().label == "2026-01"
    assert summary_period("monthly", "2026-01").previous().label == "2025-12"
    assert month.title() == "2026年2月接诉即办月总结"


@pytest.mark.parametrize("kind, label", [
    ("weekly", "2026-48"), ("weekly", "2026-W54"), ("weekly", "2025-W53"), ("weekly", "2026-11"),
    ("monthly", "2026-13"), ("monthly", "2026-W48"), ("monthly", "0000-01"),
    ("daily", "2026-11-30"), ("monthly", 202611)])
def test_a_label_that_names_no_period_is_refused(kind, label):
    with pytest.raises(PeriodError):
        summary_period(kind, label)


# ---------------------------------------------------------------------------- the schedule
def test_with_a_moved_clock_each_summary_falls_due_once_at_its_moment(calendar):
    """Ten weeks in ten-minute steps: each week's summary falls due on the Monday after it at
    08:30; each month's on the first working day after it at 08:30 (after 国庆, on 10-08)."""
    first_due: dict[tuple, datetime] = {}
    moment = local(2026, 9, 28, 0, 0)
    while moment < local(2026, 12, 8, 0, 0):
        for period in summaries.due_at(moment, calendar):
            first_due.setdefault((period.kind, period.label), moment)
        moment += timedelta(minutes=10)
    weekly = {label: at for (kind, label), at in first_due.items() if kind == "weekly"}
    monthly = {label: at for (kind, label), at in first_due.items() if kind == "monthly"}
    # What was already due when the walk began, then one new period each Monday 08:30.
    assert weekly.pop("2026-W38") == local(2026, 9, 28, 0, 0)
    assert weekly == {f"2026-W{n}": local(2026, 9, 28, 8, 30) + timedelta(weeks=n - 39)
                      for n in range(39, 50)}
    assert monthly == {"2026-08": local(2026, 9, 28, 0, 0),
                       "2026-09": local(2026, 10, 8, 8, 30),    # 10-01..10-07 off
                       "2026-10": local(2026, 11, 2, 8, 30),    # 11-01 a Sunday
                       "2026-11": local(2026, 12, 1, 8, 30)}    # a Tuesday


def test_before_0830_on_monday_the_week_before_last_is_the_due_one(calendar):
    assert [p.label for p in summaries.due_at(local(2026, 11, 30, 8, 29), calendar)] == \
        ["2026-W47", "2026-10"]
    assert [p.label for p in summaries.due_at(local(2026, 11, 30, 8, 30), calendar)] == \
        ["2026-W48", "2026-10"]


# ---------------------------------------------------------------------------- the service
class FakeSources:
    """What a summary is made of, fixed: two units rated, cases per day, an overdue item."""
    calls = 0

    def __init__(self, session=None):
        pass

    def gather(self, period, now):
        FakeSources.calls += 1
        row = dict(unit_id="logistics", unit_name="后勤管理处", unit_kind="department",
                   rated=6, contacted=6, solved=5, satisfied=4, basically=1, dissatisfied=1,
                   response_rate=1.0, resolution_rate=0.8333, satisfaction_rate=0.8167,
                   score=84.33, rank=1)
        return SummaryInputs(
            received={"total": 3, "by_channel": {"app": 2, "hotline": 1},
                      "by_category": {"logistics": 3}},
            previous_received={"total": 2, "by_channel": {"app": 2},
                               "by_category": {"logistics": 2}},
            closed=2, previous_closed=0,
            assessment={"period": period.label, "basis": "assessment", "version": None,
                        "frozen": False, "groups": {"department": [row], "college": []}},
            overdue=[{"complaint_id": "c-9", "number": "JS-9", "title": "热水停了,电话13912345678",
                      "unit_id": "logistics", "unit_name": "后勤管理处", "handler_name": "冯涛",
                      "due_at": now - timedelta(hours=2)}],
            due_soon=[], supervised=[], hot_topics=[{"keyword": "热水", "count": 3}],
            meeting={}, per_day=[(period.first, "logistics", 2), (period.last, "logistics", 1)],
            generated_at=now)


@pytest.fixture
def clock():
    return ManualClock(local(2026, 11, 30, 8, 0))


@pytest.fixture
def db(clock):
    return InMemoryDatabase(metadata, clock=clock)


@pytest.fixture
def service(db, calendar):
    worker = worker_factory(RatingService, db=db, rules=load_rules(), calendar=calendar)
    worker.summary_sources = FakeSources
    return worker


def published(db) -> list[tuple[str, str]]:
    return [(e["kind"], e["period"]) for e in db.events("summary_published")]


def test_the_timer_makes_each_due_summary_once_and_catches_up(service, db, clock):
    service.make_due_summaries()     # Monday 08:00: last week's is not due yet, the one before is
    assert published(db) == [("weekly", "2026-W47"), ("monthly", "2026-10")]
    service.make_due_summaries()
    clock.set(local(2026, 11, 30, 8, 30))
    service.make_due_summaries()
    clock.set(local(2026, 11, 30, 17, 0))
    service.make_due_summaries()
    clock.set(local(2026, 12, 1, 8, 30))    # the first working day of December
    service.make_due_summaries()
    service.make_due_summaries()
    assert published(db) == [("weekly", "2026-W47"), ("monthly", "2026-10"),
                             ("weekly", "2026-W48"), ("monthly", "2026-11")]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 4
        kinds = {s.trigger for s in session.scalars(select(Summary))}
    assert kinds == {"schedule"}


def test_the_event_carries_the_digest_and_the_charts_with_their_md5(service, db, clock):
    clock.set(local(2026, 11, 30, 8, 30))
    service.make_due_summaries()
    event = next(e for e in db.events("summary_published") if e["period"] == "2026-W48")
    assert event["title"] == "2026年第48周接诉即办周汇总(11-23至11-29)"
    assert "受理** 3 件(环比+50.0%)" in event["digest"]
    assert "13912345678" not in event["digest"] and "139****5678" in event["digest"]
    assert [c["name"] for c in event["charts"]] == ["rates", "received"]
    with db.session() as session:
        stored = {c.name: c for c in session.scalars(select(SummaryChart).where(
            SummaryChart.summary_id == event["complaint_id"]))}
    import base64
    import hashlib
    for chart in event["charts"]:
        png = base64.b64decode(chart["png"])
        assert png.startswith(b"\x89PNG") and png == stored[chart["name"]].png
        assert chart["md5"] == hashlib.md5(png).hexdigest() == stored[chart["name"]].md5


def test_the_office_generates_on_demand_and_asking_again_publishes_nothing(service, db):
    made = service.generate_summary(OFFICE, {"kind": "weekly", "period": "2026-W45"})
    assert made["created"] is True and made["trigger"] == "request"
    assert made["generated_by"] == OFFICE["id"]
    again = service.generate_summary(OFFICE, {"kind": "weekly", "period": "2026-W45"})
    assert again["created"] is False and again["id"] == made["id"]
    assert published(db) == [("weekly", "2026-W45")]
    assert made["content"]["received"]["count"] == 3
    assert [c["name"] for c in made["charts"]] == ["rates", "received"]


def test_a_period_not_over_yet_cannot_be_summed_up(service):
    with pytest.raises(Conflict) as refused:
        service.generate_summary(OFFICE, {"kind": "monthly", "period": "2026-11"})
    assert refused.value.code == "period_not_finished"


@pytest.mark.parametrize("request_", [
    {"kind": "weekly", "period": "2026-48"}, {"kind": "daily", "period": "2026-11-01"},
    {"kind": "weekly"}, {}])
def test_a_bad_request_is_invalid_input(service, request_):
    with pytest.raises(InvalidInput):
        service.generate_summary(OFFICE, request_)


def test_who_may_generate_and_read(service):
    with pytest.raises(NotFound):
        service.generate_summary(HEAD, {"kind": "weekly", "period": "2026-W45"})
    made = service.generate_summary(OFFICE, {"kind": "weekly", "period": "2026-W45"})
    assert service.get_summary(HEAD, made["id"])["id"] == made["id"]
    assert [s["id"] for s in service.list_summaries(HEAD, {})] == [made["id"]]
    with pytest.raises(NotFound):
        service.get_summary(HANDLER, made["id"])
    with pytest.raises(NotFound):
        service.list_summaries(HANDLER, {})
    with pytest.raises(NotFound):
        service.get_summary(OFFICE, "no-such-summary")
    chart = service.get_summary_chart(OFFICE, made["id"], "rates")
    assert chart["md5"] and chart["png"]


def test_the_list_is_newest_first_and_filters_by_kind(service):
    for kind, period in (("weekly", "2026-W44"), ("monthly", "2026-10"), ("weekly", "2026-W45")):
        service.generate_summary(OFFICE, {"kind": kind, "period": period})
    assert [s["period"] for s in service.list_summaries(OFFICE, {})] == \
        ["2026-W45", "2026-W44", "2026-10"]    # by the end of the period
    assert [s["period"] for s in service.list_summaries(OFFICE, {"kind": "monthly"})] == \
        ["2026-10"]
    assert "content" not in service.list_summaries(OFFICE, {})[0]
    with pytest.raises(InvalidInput):
        service.list_summaries(OFFICE, {"limit": 0})


# ---------------------------------------------------------------------------- the content
def fact(complaint_id, **values):
    values.setdefault("number", f"JS-{complaint_id}")
    values.setdefault("title", f"诉求{complaint_id}")
    values.setdefault("channel", "app")
    values.setdefault("category", "logistics")
    values.setdefault("unit_id", "logistics")
    values.setdefault("unit_name", "后勤管理处")
    values.setdefault("unit_kind", "department")
    values.setdefault("handler_name", "冯涛")
    values.setdefault("status", "in_progress")
    return CaseFact(complaint_id=complaint_id, **values)


def test_the_content_from_case_facts(db, calendar):
    """A week (2026-W48) seen on Monday 11-30 10:00: counts with 环比, the open items (预警,
    催办), the supervised one with its 批示 state and the dispatch meeting's lists."""
    now = local(2026, 11, 30, 10, 0)
    week = summary_period("weekly", "2026-W48")
    with db.unit_of_work() as uow:
        uow.session.add_all([
            fact("1", received_at=local(2026, 11, 24, 9), status="closed", closed_as="rated",
                 closed_at=local(2026, 11, 26, 9), final_level="satisfied", contacted=True,
                 solved=True, rated_at=local(2026, 11, 26, 9)),
            fact("2", received_at=local(2026, 11, 25, 9), channel="wechat",
                 category="education", unit_id="academic-affairs", unit_name="教务处",
                 reply_due_at=local(2026, 11, 27, 17, 30), signed_at=local(2026, 11, 25, 10),
                 overdue=True),
            fact("3", received_at=local(2026, 11, 28, 9), signed_at=local(2026, 11, 28, 10),
                 reply_due_at=local(2026, 12, 1, 17, 30)),                       # 催办
            fact("4", received_at=local(2026, 11, 18, 9), status="supervised",
                 supervised=True, instructed=False, leader_id="u-leader-1", redo_count=1,
                 reply_due_at=local(2026, 12, 10, 17, 30), signed_at=local(2026, 11, 18, 10)),
            fact("5", received_at=local(2026, 11, 17, 9), return_count=2, disputed=True,
                 status="closed", closed_as="unrated", closed_at=local(2026, 11, 27, 9)),
            fact("6", received_at=local(2026, 11, 29, 9), status="screened_out",
                 closed_as="screened_out", closed_at=local(2026, 11, 29, 10)),
            # The week's 三率 are the figures' roll-ups of the week (case 1's rating).
            FigureRollup(basis="assessment", day=date(2026, 11, 26), unit_id="logistics",
                         category="logistics", channel="app", rated=1, contacted=1, solved=1,
                         satisfied=1),
        ])
    units = figures.load_units(Settings().resolve_path(Settings().org_directory))
    with db.session() as session:
        inputs = FactSources(session, load_rules(), calendar, span_view=lambda start, end:
                             figures.figures_between(session, load_rules(), units, start, end)
                             ).gather(week, now)
    content = summaries.build_content(week, inputs)
    assert content["received"]["count"] == 4 and content["received"]["previous"] == 2
    assert {r["code"]: r["count"] for r in content["received"]["by_channel"]} == \
        {"app": 3, "wechat": 1}
    # Closed: rated or 未评价 (unrated); a screened-out complaint was never a case.
    assert content["closed"] == {"count": 2, "previous": 0, "change": 2, "ratio": None}
    assert [i["number"] for u in content["overdue"]["by_unit"] for i in u["items"]] == ["JS-2"]
    assert content["overdue"]["by_unit"][0]["unit_name"] == "教务处"
    assert [i["number"] for u in content["due_soon"]["by_unit"] for i in u["items"]] == ["JS-3"]
    assert [(s["number"], s["instruction"]) for s in content["supervised"]] == \
        [("JS-4", "待批示")]
    meeting = {key: [i["number"] for i in items] for key, items in content["meeting"].items()}
    assert meeting == {"redone": ["JS-4"], "supervised": ["JS-4"], "returned": ["JS-5"],
                       "disputed": ["JS-5"], "long_open": ["JS-4", "JS-2"]}
    rows = content["assessment"]["groups"]["department"]
    assert [(r["unit_id"], r["rated"], r["score"]) for r in rows] == [("logistics", 1, 100.0)]
    markdown = summaries.render_markdown(content)
    assert "### 预警:已超期 1 件" in markdown and "JS-3" in markdown


def test_a_month_s_figures_are_the_assessment_s_own_view(db, calendar):
    """For a month the 三率 come from the figures' assessment view of the same label (here on
    empty roll-ups: every unit of the directory listed, none ranked)."""
    units = figures.load_units(Settings().resolve_path(Settings().org_directory))
    month = summary_period("monthly", "2026-10")
    with db.session() as session:
        sources = FactSources(session, load_rules(), calendar, assessment_view=lambda label:
                              figures.assessment_view(session, load_rules(), units, label,
                                                      "assessment"))
        content = summaries.build_content(month, sources.gather(month, local(2026, 11, 2, 9)))
    part = content["assessment"]
    assert (part["period"], part["basis"], part["frozen"]) == ("2026-10", "assessment", False)
    names = {row["unit_name"] for rows in part["groups"].values() for row in rows}
    assert "后勤管理处" in names
    assert all(row["rank"] is None for rows in part["groups"].values() for row in rows)
    assert part["red"] == {kind: [] for kind in part["groups"]}
