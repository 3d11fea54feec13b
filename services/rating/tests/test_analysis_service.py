"""分析研判 and 专项治理 through rating's consumers and RPC entrypoints (no broker): the words are
cut once when a case arrives, hot topics count stored words, look-alikes join one 共性问题
cluster as they arrive, a repeat of a closed case is flagged, and a campaign lives from
creation to close, announcing what it attaches."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from services.common.calendar import WorkingCalendar
from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.testing import InMemoryDatabase
from services.rating.analysis import AnalysisSettings, default_analyzer
from services.rating.analysis_models import AnalysisCase
from services.rating.assessment import load_rules
from services.rating.models import metadata
from services.rating.service import RatingService

UTC = timezone.utc
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)          # 10:00 in Shanghai
NOV = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
LEADER = {"id": "u-leader-1", "name": "陈校长", "roles": ["leader"]}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics"}
OTHER_HEAD = {"id": "u-jwc-head", "name": "孙立华", "roles": ["head"],
              "unit": "academic-affairs"}
STUDENT = {"id": "s1", "name": "张三", "roles": ["complainant"]}
LOGISTICS = {"id": "logistics", "name": "后勤管理处"}
ACADEMIC = {"id": "academic-affairs", "name": "教务处"}

HOT_WATER = ["学生公寓没有热水了,请尽快维修", "澡堂的热水忽冷忽热,希望学校重视",
             "宿舍楼热水供应时间太短,反映很多次了", "浴室热水水压太小,同学们意见很大"]
OTHERS = ["教务系统选课时总是崩溃", "校园网晚上断网严重", "食堂饭菜价格上涨分量变少",
          "图书馆座位被长期占用", "教室空调不制冷上课很热"]


@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def db(clock):
    return InMemoryDatabase(metadata, clock=clock)


@pytest.fixture
def service(db):
    return worker_factory(RatingService, db=db, rules=load_rules(), calendar=WorkingCalendar(),
                          analysis_settings=AnalysisSettings(), analyzer=default_analyzer())


class Cases:
    """Feeds the consumers as the bus would."""

    def __init__(self, service):
        self.service = service
        self.n = 0

    def receive(self, content, at, category="logistics", unit=LOGISTICS, location=None,
                title=None):
        self.n += 1
        case_id = f"c-{self.n:04d}"
        self.service.analysis_on_received(build_event(
            "complaint_received", case_id, at, number=f"JS-{self.n:04d}", channel="app",
            category=category, title=title, content=content, location=location,
            complainant={"id": "s1", "name": "张三"}))
        if unit is not None:
            self.service.analysis_on_assigned(build_event(
                "complaint_assigned", case_id, at + timedelta(minutes=1),
                number=f"JS-{self.n:04d}", category=category, grade="general", unit=unit,
                handler={"id": "h1", "name": "冯涛"}, received_at=at))
        return case_id

    def transition(self, case_id, to_status, at, action="reply", unit=LOGISTICS):
        self.service.analysis_on_transitioned(build_event(
            "complaint_transitioned", case_id, at, number="JS", category="logistics",
            action=action, from_status="replied", to_status=to_status, round=0,
            actor={"id": "h1"}, actor_role="handler", unit=unit))

    def close_rated(self, case_id, at, level="satisfied", contacted=True, solved=True):
        self.service.analysis_on_rated(build_event(
            "complaint_rated", case_id, at, level=level, round=0, decision="close",
            rater={"id": "s1"}, contacted=contacted, solved=solved))
        self.transition(case_id, "closed", at, action="close")


@pytest.fixture
def cases(service):
    return Cases(service)


# ------------------------------------------------------------------------------ hot topics
def test_hot_topics_find_the_dominant_keyword_with_mom_and_yoy(service, cases, db):
    for i in range(16):
        cases.receive(HOT_WATER[i % 4], NOV + timedelta(hours=7 * i))
    for i in range(10):
        cases.receive(OTHERS[i % 5], NOV + timedelta(hours=5 * i + 3), category="education",
                      unit=ACADEMIC)
    for i in range(5):   # October: 5 about hot water
        cases.receive(HOT_WATER[i % 4], NOV - timedelta(days=20, hours=i))
    for i in range(2):   # November last year: 2
        cases.receive(HOT_WATER[i % 4], NOV - timedelta(days=365) + timedelta(hours=i))
    # A screened-out filing about hot water is no case.
    service.analysis_on_received(build_event(
        "complaint_received", "c-screened", NOV, number="JS-X", channel="app",
        category="logistics", content="热水热水热水", complainant={"id": "s9"},
        screened={"rule": "r", "kind": "unlawful", "reply": "不予受理"}))

    with db.session() as session:   # cut once, at ingest
        stored = session.get(AnalysisCase, "c-0001").words.split()
    assert "热水" in stored and "学生公寓" in stored

    topics = service.analysis_hot_topics(OFFICE, {"from": "2026-11-01", "to": "2026-11-30"})
    assert topics["documents"] == 26
    assert (topics["previous"], topics["last_year"]) == (
        {"from": "2026-10-02", "to": "2026-10-31"}, {"from": "2025-11-01", "to": "2025-11-30"})
    top = topics["keywords"][0]
    assert top["keyword"] == "热水" and top["count"] == 16
    assert top["mom"] == {"before": 5, "change": 11, "ratio": 2.2}
    assert top["yoy"] == {"before": 2, "change": 14, "ratio": 7.0}
    assert top["by_category"] == [{"category": "logistics", "count": 16}]
    assert top["by_unit"] == [{"unit_id": "logistics", "count": 16}]

    # By category and by unit; a head sees their own unit's only.
    education = service.analysis_hot_topics(OFFICE, {"from": "2026-11-01", "to": "2026-11-30",
                                                     "category": "education"})
    assert education["documents"] == 10 and "热水" not in {
        k["keyword"] for k in education["keywords"]}
    mine = service.analysis_hot_topics(HEAD, {"from": "2026-11-01", "to": "2026-11-30"})
    assert mine["unit"] == "logistics" and mine["documents"] == 16
    with pytest.raises(NotFound):
        service.analysis_hot_topics(HEAD, {"from": "2026-11-01", "to": "2026-11-30",
                                           "unit": "academic-affairs"})
    with pytest.raises(NotFound):
        service.analysis_hot_topics(STUDENT, {"from": "2026-11-01", "to": "2026-11-30"})


@pytest.mark.parametrize("query, field", [
    ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
    ({"from": "2024-01-01", "to": "2026-11-01"}, "to"),
    ({"from": "2026-11-01"}, "to"),
    ({"from": "0001-01-01", "to": "2026-11-01"}, "from"),
    ({"from": "2026-11-01", "to": "2026-11-30", "category": "canteen"}, "category"),
    ({"from": "2026-11-01", "to": "2026-11-30", "colour": "red"}, "colour"),
])
def test_bad_dates_and_ranges_are_refused_with_a_reason(service, query, field):
    with pytest.raises(InvalidInput) as refused:
        service.analysis_hot_topics(OFFICE, query)
    assert field in refused.value.fields


# ------------------------------------------------------------------------------ seasonal
def test_seasonal_counts_categories_by_month(service, cases):
    cases.receive(HOT_WATER[0], NOV)
    cases.receive(HOT_WATER[1], NOV - timedelta(days=31))
    cases.receive(OTHERS[0], NOV, category="education", unit=ACADEMIC)
    view = service.analysis_seasonal(LEADER, {})
    assert view["end"] == "2026-12" and len(view["months"]) == 24
    assert view["months"][-2:] == ["2026-11", "2026-12"]
    assert view["counts"]["logistics"][-3:] == [1, 1, 0]
    assert view["counts"]["education"][-2] == 1 and view["totals"][-2] == 2
    assert view["labels"]["logistics"] == "后勤保障"
    png = service.analysis_seasonal_png(LEADER, {"months": 6})["png"]
    assert base64.b64decode(png).startswith(b"\x89PNG")


# ------------------------------------------------------------------------------ problems
def test_look_alikes_join_one_cluster_as_they_arrive_and_repeats_are_flagged(service, cases):
    place = "学生公寓3号楼"
    first = cases.receive("学生公寓3号楼热水器坏了没有热水", NOV - timedelta(days=40),
                          location=place)
    cases.close_rated(first, NOV - timedelta(days=35))
    alike = [cases.receive(f"学生公寓{n}号楼热水器坏了没有热水", NOV + timedelta(hours=n))
             for n in range(1, 7)]
    again = cases.receive("学生公寓3号楼热水器又坏了没有热水", NOV + timedelta(days=1),
                          location=place)
    cases.receive("图书馆座位被长期占用", NOV, category="education", unit=ACADEMIC)

    problems = service.analysis_problems(OFFICE, {"from": "2026-11-01", "to": "2026-11-30"})
    [common] = problems["common"]
    assert {c["complaint_id"] for c in common["cases"]} == {*alike, again}
    assert common["peak"] == 7 and "热水器" in common["keywords"]
    [repeat] = problems["repeated"]
    assert repeat["case"]["complaint_id"] == again
    assert repeat["earlier"]["complaint_id"] == first
    assert repeat["follow_up"] is True and repeat["times"] == 1
    # Another unit's head sees none of it.
    theirs = service.analysis_problems(OTHER_HEAD, {"from": "2026-11-01", "to": "2026-11-30"})
    assert theirs["common"] == [] and theirs["repeated"] == []


def test_a_merged_case_leaves_the_analysis(service, cases):
    kept = cases.receive(HOT_WATER[0], NOV)
    merged = cases.receive(HOT_WATER[0], NOV + timedelta(hours=1))
    cases.transition(merged, "merged", NOV + timedelta(hours=2), action="merge")
    topics = service.analysis_hot_topics(OFFICE, {"from": "2026-11-01", "to": "2026-11-30"})
    assert topics["documents"] == 1 and kept


# ------------------------------------------------------------------------------ campaigns
def test_a_campaign_from_creation_to_close(service, cases, db):
    hot = [cases.receive(f"学生公寓{i}号楼热水器坏了没有热水", NOV + timedelta(hours=i))
           for i in range(6)]
    lookalike = cases.receive("学生公寓热水器坏了,没有热水,请维修", NOV + timedelta(hours=8),
                              category="security")
    cases.receive(OTHERS[0], NOV, category="education", unit=ACADEMIC)

    campaign = service.campaign_create(OFFICE, {
        "name": "学生公寓热水专项治理", "lead_unit": "logistics", "target_date": "2026-12-31",
        "scope": {"categories": ["logistics"], "keywords": ["热水"], "from": "2026-11-01",
                  "to": "2026-11-30"}})
    assert campaign["status"] == "open" and campaign["lead_unit"]["name"] == "后勤管理处"
    assert campaign["progress"]["cases"] == 0

    suggested = service.campaign_suggestions(campaign["id"], OFFICE)["cases"]
    by_id = {c["complaint_id"]: c["reasons"] for c in suggested}
    assert set(hot) <= set(by_id) and by_id[hot[0]][0] == "scope"
    assert by_id.get(lookalike) == ["cluster"]   # other category, same 共性问题

    attached = service.campaign_attach(campaign["id"], OFFICE,
                                       {"complaint_ids": hot[:4] + [lookalike]})
    assert attached["progress"]["cases"] == 5
    events = db.events("campaign_case_attached")
    assert [e["complaint_id"] for e in events] == hot[:4] + [lookalike]
    assert events[0]["campaign_id"] == campaign["id"]
    assert events[0]["campaign_name"] == "学生公寓热水专项治理"
    assert events[0]["by"] == {"id": OFFICE["id"], "name": OFFICE["name"]}
    service.campaign_attach(campaign["id"], OFFICE, {"complaint_ids": [hot[0]]})
    assert len(db.events("campaign_case_attached")) == 5     # already attached: no news

    detached = service.campaign_detach(campaign["id"], lookalike, OFFICE, {"note": "非热水问题"})
    assert {c["complaint_id"] for c in detached["cases"]} == set(hot[:4])
    [gone] = db.events("campaign_case_detached")
    assert gone["complaint_id"] == lookalike and gone["note"] == "非热水问题"

    # Three closed with a 回访, one closed as 未评价 ... and one still open.
    cases.close_rated(hot[0], NOV + timedelta(days=3), "satisfied", True, True)
    cases.close_rated(hot[1], NOV + timedelta(days=3), "basically", True, False)
    cases.close_rated(hot[2], NOV + timedelta(days=3), "dissatisfied", False, False)
    service.analysis_on_expired(build_event("rating_expired", hot[3], NOV + timedelta(days=6),
                                            round=0))
    cases.transition(hot[3], "closed", NOV + timedelta(days=6), action="close")
    progress = service.campaign_get(campaign["id"], HEAD)["progress"]
    assert (progress["cases"], progress["open"], progress["closed"], progress["unrated"]) == \
        (4, 0, 4, 1)
    assert (progress["rated"], progress["contacted"], progress["solved"]) == (3, 2, 1)
    assert progress["response_rate"] == 0.6667 and progress["resolution_rate"] == 0.3333
    assert progress["satisfaction_rate"] == 0.6333          # (1 + 0.9) / 3
    assert progress["score"] == 48.67   # 100 × (0.1 × 2/3 + 0.5 × 1/3 + 0.4 × 1.9/3)

    service.campaign_attach(campaign["id"], OFFICE, {"complaint_ids": [hot[4]]})
    assert service.campaign_get(campaign["id"], OFFICE)["progress"]["open"] == 1

    with_step = service.campaign_add_milestone(campaign["id"], HEAD, {
        "title": "更换3号楼热水器", "due_date": "2026-12-10", "done": False})
    assert with_step["milestones"][0]["title"] == "更换3号楼热水器"
    assert with_step["milestone_summary"] == {"total": 1, "done": 0, "overdue": 0}
    with pytest.raises(NotFound):   # not the lead unit's head
        service.campaign_add_milestone(campaign["id"], OTHER_HEAD, {"title": "x"})

    closed = service.campaign_close(campaign["id"], OFFICE, {"conclusion": "热水问题已整改完毕"})
    assert (closed["status"], closed["conclusion"]) == ("closed", "热水问题已整改完毕")
    for act in (lambda: service.campaign_attach(campaign["id"], OFFICE,
                                                {"complaint_ids": [hot[5]]}),
                lambda: service.campaign_detach(campaign["id"], hot[0], OFFICE, {}),
                lambda: service.campaign_add_milestone(campaign["id"], OFFICE, {"title": "x"}),
                lambda: service.campaign_close(campaign["id"], OFFICE, {"conclusion": "y"})):
        with pytest.raises(Conflict) as refused:
            act()
        assert refused.value.code == "campaign_closed"

    listed = service.campaign_list(LEADER, {"status": "closed"})
    assert [c["id"] for c in listed] == [campaign["id"]]
    assert service.campaign_list(OTHER_HEAD, {}) == []


def test_campaign_refusals(service, cases):
    body = {"name": "热水", "lead_unit": "logistics", "target_date": "2026-12-31",
            "scope": {"keywords": ["热水"]}}
    with pytest.raises(NotFound):
        service.campaign_create(HEAD, body)
    with pytest.raises(NotFound):
        service.campaign_get("no-such-campaign", OFFICE)
    for change, field in (({"scope": {}}, "scope"), ({"lead_unit": "nowhere"}, "lead_unit"),
                          ({"target_date": "2026-11-30"}, "target_date"),
                          ({"scope": {"from": "2026-11-30", "to": "2026-11-01"}}, "scope")):
        with pytest.raises(InvalidInput) as refused:
            service.campaign_create(OFFICE, dict(body, **change))
        assert field in refused.value.fields
    campaign = service.campaign_create(OFFICE, body)
    with pytest.raises(InvalidInput):
        service.campaign_attach(campaign["id"], OFFICE, {"complaint_ids": ["c-unknown"]})
    with pytest.raises(NotFound):
        service.campaign_detach(campaign["id"], "c-unknown", OFFICE, {})
    with pytest.raises(NotFound):
        service.campaign_get(campaign["id"], OTHER_HEAD)
