"""The hand-computed month of test_assessment.py, driven THROUGH rating (issue 12 §2): every
case's events go into the figures' consumers, the 剔除 through request/decide_exclusion, the
month is published, and get_assessment must answer exactly the hand-written expectations of
test_assessment.py on both bases - redo moved to another unit, an approved and a refused
exclusion, a late rating after publication, screened-out, merged and unrated cases included.
"""
from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory

from services.common.calendar import WorkingCalendar
from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.testing import InMemoryDatabase
from services.rating.assessment import load_rules
from services.rating.ledger import Unit
from services.rating.models import metadata
from services.rating.service import RatingService
from services.rating.tests.test_assessment import (
    DECEMBER_STRAY, EXPECTED, LATE, MONTH, NOV_FROZEN_AT, local,
)

KINDS = {"dept": "department", "col": "college", "office": "other"}
ORG = {r.unit_id: Unit(r.unit_id, f"单位{r.unit_id}", KINDS[r.unit_id.split("-")[0]])
       for r in MONTH}
OFFICE = {"id": "office-1", "name": "王建国", "roles": ["office"], "unit": "office"}
FIELDS = ("unit_id", "rated", "contacted", "solved", "satisfied", "basically",
          "dissatisfied", "response_rate", "resolution_rate", "satisfaction_rate", "score",
          "rank")


def head(unit):
    return {"id": f"{unit}-head", "name": "负责人", "roles": ["head"], "unit": unit}


@pytest.fixture
def clock():
    return ManualClock(local(2026, 10, 1, 8, 0))


@pytest.fixture
def db(clock):
    return InMemoryDatabase(metadata, clock=clock)


@pytest.fixture
def service(db):
    return worker_factory(RatingService, db=db, rules=load_rules(),
                          calendar=WorkingCalendar(), org_units=ORG)


class Feed:
    """Sends a case's events into the figures' consumers, as the bus would."""

    def __init__(self, service, clock):
        self.service, self.clock = service, clock

    def send(self, method, event_type, complaint_id, at, **body):
        self.clock.set(max(self.clock.now(), at))
        getattr(self.service, method)(build_event(event_type, complaint_id, at, **body))

    def receive(self, cid, at, category="logistics", channel="app"):
        self.send("figures_received", "complaint_received", cid, at, number=f"JS-{cid}",
                  channel=channel, category=category, content="内容", title="标题",
                  complainant={"id": f"s-{cid}", "name": "张三"}, contact_phone="13812345678")

    def assign(self, cid, at, unit, round_=0, category="logistics"):
        self.send("figures_assigned", "complaint_assigned", cid, at, number=f"JS-{cid}",
                  category=category, grade="general", unit={"id": unit, "name": None},
                  handler={"id": f"{unit}-h1", "name": "承办人"}, received_at=at,
                  round=round_)

    def transition(self, cid, at, action, from_status, to_status, round_=0, unit=None,
                   category="logistics"):
        self.send("figures_transitioned", "complaint_transitioned", cid, at,
                  number=f"JS-{cid}", category=category, action=action,
                  from_status=from_status, to_status=to_status, round=round_,
                  actor={"id": "someone"}, actor_role="handler",
                  unit={"id": unit, "name": None} if unit else None)

    def rate(self, record):
        decision = record.decision
        self.send("figures_rated", "complaint_rated", record.complaint_id, record.rated_at,
                  level=record.level, round=record.round, decision=decision,
                  rater={"id": f"s-{record.complaint_id}"}, contacted=record.contacted,
                  solved=record.solved)
        if decision == "close":
            self.transition(record.complaint_id, record.rated_at, "close", "replied",
                            "closed", record.round, record.unit_id, record.category)

    def case(self, record, rate=True):
        """A case from receipt to the rating that closes a round."""
        cid, at = record.complaint_id, record.rated_at
        if record.round == 0:
            self.receive(cid, at - timedelta(days=3), record.category, record.channel)
        self.assign(cid, at - timedelta(days=2), record.unit_id, record.round, record.category)
        self.transition(cid, at - timedelta(days=1, hours=23), "sign_for", "assigned",
                        "signed", record.round, record.unit_id, record.category)
        self.transition(cid, at - timedelta(days=1), "reply", "signed", "replied",
                        record.round, record.unit_id, record.category)
        if rate:
            self.rate(record)


def rows_of(answer, kind):
    return [tuple(row[key] for key in FIELDS) for row in answer["groups"][kind]]


def month_through_the_service(service, clock, records=MONTH):
    feed = Feed(service, clock)
    by_id = {}
    for record in records:
        by_id.setdefault(record.complaint_id, []).append(record)
    ordered = sorted((r for r in records if r is not LATE), key=lambda r: r.rated_at)
    for record in ordered:
        cid = record.complaint_id
        if record.screened_out:
            feed.receive(cid, record.rated_at - timedelta(days=3))
            feed.transition(cid, record.rated_at, "screen_out", "received", "screened_out")
        elif record.merged:
            feed.case(record)   # rated, then found to duplicate another case: taken out
            feed.transition(cid, record.rated_at + timedelta(hours=1), "merge", "closed",
                            "merged", 0, record.unit_id)
        elif record.level is None:
            feed.case(record, rate=False)
            feed.send("figures_rating_expired", "rating_expired", cid, record.rated_at,
                      round=0, unit={"id": record.unit_id, "name": None})
            feed.transition(cid, record.rated_at, "close", "replied", "closed", 0,
                            record.unit_id)
        elif record is DECEMBER_STRAY:
            continue
        else:
            feed.case(record)
    # 剔除: dl-6 (and mus-5, unless the caller excluded it before its rating) approved after
    # the rating; ds-6 refused; df-3 still pending.
    decided = {}
    for cid, decision in (("dl-6", "approve"), ("mus-5", "approve"), ("ds-6", "refuse"),
                          ("df-3", None)):
        if cid not in by_id:
            continue
        unit = by_id[cid][0].unit_id
        asked = service.request_exclusion(cid, head(unit), {"reason": "非本单位职责",
                                                            "evidence": ["ab" * 32]})
        if decision:
            decided[cid] = service.decide_exclusion(asked["id"], OFFICE,
                                                    {"decision": decision, "note": "核实"})
    return feed, decided


def test_the_hand_computed_month_through_the_service(service, clock, db):
    # mus-5 is excluded before its rating arrives: hold its rating back until then.
    mus5 = next(r for r in MONTH if r.complaint_id == "mus-5")
    month = [r for r in MONTH if r is not mus5]
    feed = Feed(service, clock)
    feed.case(mus5, rate=False)
    asked = service.request_exclusion("mus-5", head("col-music"), {"reason": "重复诉求"})
    service.decide_exclusion(asked["id"], OFFICE, {"decision": "approve"})

    feed, decided = month_through_the_service(service, clock, month)
    feed.rate(mus5)
    feed.case(LATE, rate=False)     # handled and replied in November, rated late (below)
    feed.case(DECEMBER_STRAY)
    assert decided["dl-6"]["status"] == "approved" and decided["ds-6"]["status"] == "refused"

    for basis in ("full", "assessment"):
        answer = service.get_assessment("2026-11", basis, "unit", OFFICE)
        assert answer["frozen"] is False and answer["version"] is None
        for kind, (rows, red, black) in EXPECTED[basis].items():
            assert rows_of(answer, kind) == rows, (basis, kind)
            if kind != "other":
                assert answer["red"][kind] == list(red), (basis, kind)
                assert answer["black"][kind] == list(black), (basis, kind)
    security = next(row for row in service.get_assessment("2026-11", "full", "unit", OFFICE)
                    ["groups"]["department"] if row["unit_id"] == "dept-security")
    assert security["redo"] == 1            # redo-1's first round, dissatisfied, is theirs
    assert security["on_time_sign_rate"] == 1.0

    # The office publishes November on 12-01 09:00; LATE (rated 11-30 20:00) reaches the
    # figures at 10:00 and counts in December; November's snapshot never moves.
    clock.set(NOV_FROZEN_AT)
    published = service.publish_assessment("2026-11", OFFICE)
    assert {b: v["version"] for b, v in published["versions"].items()} == \
        {"full": 1, "assessment": 1}
    clock.set(local(2026, 12, 1, 10, 0))
    feed.send("figures_rated", "complaint_rated", LATE.complaint_id, LATE.rated_at,
              level="satisfied", round=0, decision="close", rater={"id": "s"},
              contacted=True, solved=True)

    for basis in ("full", "assessment"):
        answer = service.get_assessment("2026-11", basis, "unit", OFFICE)
        assert (answer["frozen"], answer["version"]) == (True, 1)
        for kind, (rows, _, _) in EXPECTED[basis].items():
            assert rows_of(answer, kind) == rows, (basis, kind)
    again = service.publish_assessment("2026-11", OFFICE)   # nothing changed: same version
    assert {b: (v["version"], v["changed"]) for b, v in again["versions"].items()} == \
        {"full": (1, False), "assessment": (1, False)}

    december = service.get_assessment("2026-12", "full", "unit", OFFICE)
    student = next(r for r in december["groups"]["department"] if r["unit_id"] == "dept-student")
    arts = next(r for r in december["groups"]["college"] if r["unit_id"] == "col-arts")
    assert tuple(student[k] for k in FIELDS) == \
        ("dept-student", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, 100.0, None)
    assert tuple(arts[k] for k in FIELDS) == \
        ("col-arts", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, 100.0, None)
    october = service.get_assessment("2026-10", "full", "unit", OFFICE)
    cs = next(r for r in october["groups"]["college"] if r["unit_id"] == "col-cs")
    assert (cs["rated"], cs["dissatisfied"], cs["rank"]) == (1, 1, None)

    # The exclusions were announced for intake's audit log.
    assert [e["status"] for e in db.events("exclusion_decided")] == \
        ["approved", "approved", "refused"]
    assert len(db.events("exclusion_requested")) == 4


def test_roles_see_their_own_unit(service, clock):
    month_through_the_service(service, clock)
    mine = service.get_assessment("2026-11", "assessment", "unit", head("col-chem"))
    assert [row["unit_id"] for rows in mine["groups"].values() for row in rows] == ["col-chem"]
    assert mine["groups"]["college"][0]["rank"] == 2
    assert mine["red"]["college"] == ["col-law", "col-chem", "col-physics"]
    handler = dict(head("col-chem"), roles=["handler"])
    theirs = service.get_assessment("2026-11", "assessment", "unit", handler)
    assert theirs["groups"]["college"][0]["rank"] is None and theirs["red"] == {}
    leader = {"id": "l1", "roles": ["leader"]}
    assert len(service.get_assessment("2026-11", "full", "unit", leader)
               ["groups"]["college"]) == 7
    with pytest.raises(NotFound):
        service.get_assessment("2026-11", "full", "unit", {"id": "s1", "roles": []})
    with pytest.raises(NotFound):
        service.publish_assessment("2026-10", head("col-chem"))
    by_category = service.get_assessment("2026-11", "full", "category", head("col-chem"))
    assert [(row["category"], row["rated"]) for row in by_category["categories"]] == \
        [("logistics", 6)]


def test_bad_input_and_conflicts(service, clock):
    month_through_the_service(service, clock)
    for period in ("2026-13", "202611", None, "x"):
        with pytest.raises(InvalidInput):
            service.get_assessment(period, "full", "unit", OFFICE)
    with pytest.raises(InvalidInput):
        service.get_assessment("2026-11", "partial", "unit", OFFICE)
    with pytest.raises(InvalidInput):
        service.get_assessment("2026-11", "full", "college", OFFICE)
    with pytest.raises(NotFound):       # not the case's unit
        service.request_exclusion("dl-1", head("col-law"), {"reason": "x"})
    with pytest.raises(NotFound):
        service.request_exclusion("nope", head("col-law"), {"reason": "x"})
    with pytest.raises(InvalidInput):
        service.request_exclusion("dl-1", head("dept-logistics"), {"reason": ""})
    with pytest.raises(InvalidInput):
        service.request_exclusion("dl-1", head("dept-logistics"),
                                  {"reason": "x", "evidence": ["not-a-hash"]})
    with pytest.raises(Conflict):       # df-3's request is pending
        service.request_exclusion("df-3", head("dept-finance"), {"reason": "again"})
    decided = service.list_exclusions(OFFICE, {"status": "approved"})
    assert sorted(row["complaint_id"] for row in decided) == ["dl-6", "mus-5"]
    with pytest.raises(Conflict):       # deciding twice
        service.decide_exclusion(decided[0]["id"], OFFICE, {"decision": "refuse"})
    with pytest.raises(NotFound):
        service.decide_exclusion("nope", OFFICE, {"decision": "approve"})
    with pytest.raises(InvalidInput):
        service.decide_exclusion(decided[0]["id"], OFFICE, {"decision": "maybe"})
    pending = service.list_exclusions(head("dept-finance"))
    assert [row["complaint_id"] for row in pending] == ["df-3"]
    with pytest.raises(NotFound):       # only the office decides
        service.decide_exclusion(pending[0]["id"], head("dept-finance"),
                                 {"decision": "approve"})
    with pytest.raises(Conflict):       # December is not over
        service.publish_assessment("2026-12", OFFICE)


def test_a_correction_is_a_new_version_with_a_reason(service, clock):
    month_through_the_service(service, clock)
    clock.set(NOV_FROZEN_AT)
    service.publish_assessment("2026-11", OFFICE)
    asked = service.list_exclusions(OFFICE, {"status": "requested"})[0]
    service.decide_exclusion(asked["id"], OFFICE, {"decision": "approve"})  # df-3
    with pytest.raises(InvalidInput):
        service.publish_assessment("2026-11", OFFICE)
    corrected = service.publish_assessment("2026-11", OFFICE, {"reason": "补批剔除"})
    assert corrected["versions"]["assessment"]["version"] == 2
    assert corrected["versions"]["assessment"]["reason"] == "补批剔除"
    assert corrected["versions"]["full"]["version"] == 1       # the full basis is unchanged
    finance = next(r for r in service.get_assessment("2026-11", "assessment", "unit", OFFICE)
                   ["groups"]["department"] if r["unit_id"] == "dept-finance")
    assert finance["rated"] == 3


def test_the_ledger_pages_masked_cases(service, clock):
    month_through_the_service(service, clock)
    first = service.assessment_ledger("2026-11", OFFICE, None, 10)
    assert len(first) == 10
    rest = service.assessment_ledger("2026-11", OFFICE, first[-1]["complaint_id"], 1000)
    ids = [row["complaint_id"] for row in first + rest]
    assert ids == sorted(ids) and "cs-oct" not in ids and "dl-6" in ids
    assert all("5678" in row["contact_phone"] and "12345678" not in row["contact_phone"]
               for row in first + rest)
    mine = service.assessment_ledger("2026-11", head("col-law"), None, 100)
    assert {row["unit_id"] for row in mine} == {"col-law"}
