"""Every entrypoint of the SLA service on a worker (worker_factory) with an in-memory
database: who reads a case's deadlines, a step of the case meeting or stopping its clocks,
the poller firing timers, extensions decided, milestones updated."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import select

from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.messaging_tables import inbox
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.sla.models import CaseAccess, Deadline, Extension, Timer, metadata
from services.sla.service import SlaPolicy, SlaService

SH = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=SH)    # a "general" case is due at 17:30
DUE = datetime(2026, 11, 23, 17, 30, tzinfo=SH)
CASE = "00000000-0000-0000-0000-0000000000aa"
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"}
HEAD = {"id": "u-hqc-head", "name": "韩梅", "roles": ["head"], "unit": "logistics"}
OFFICE = {"id": "u-office-1", "name": "周敏", "roles": ["office"], "unit": "office"}
STUDENT = {"id": "s-2024001", "name": "李雷", "roles": ["complainant"]}
ANOTHER_STUDENT = {"id": "s-2024002", "roles": ["complainant"]}
SECURITY = {"id": "u-bwc-1", "name": "李强", "roles": ["handler"], "unit": "security"}
LEADER = {"id": "l-vp-logistics", "name": "水长青", "roles": ["leader"]}


@pytest.fixture
def db():
    return InMemoryDatabase(metadata, clock=ManualClock(MONDAY_9))


@pytest.fixture
def service(db):
    return worker_factory(SlaService, db=db, policy=SlaPolicy(Settings()),
                          settings=Settings())


def filed_by(complainant=STUDENT, reporter_unit=None):
    """What routing's first assignment says of who filed the case."""
    return {"complainant": {"id": complainant["id"], "name": None},
            "reporter_unit": reporter_unit}


def assigned(round_=0, at=MONDAY_9, **extra):
    fields = dict({"unit_head": {"id": HEAD["id"], "name": HEAD["name"]}}, **extra)
    return build_event("complaint_assigned", CASE, at, number="JS-20261123-0001",
                       category="logistics", grade="general",
                       unit={"id": "logistics", "name": "后勤管理处"},
                       handler={"id": HANDLER["id"], "name": HANDLER["name"]},
                       received_at=MONDAY_9, round=round_, **fields)


def transitioned(action, at=MONDAY_9 + timedelta(hours=1)):
    return build_event("complaint_transitioned", CASE, at, number="JS-20261123-0001",
                       category="logistics", action=action, from_status="assigned",
                       to_status="signed", round=0, actor={"id": HANDLER["id"], "name": None},
                       actor_role="handler")


def supervisor():
    return build_event("supervisor_assigned", CASE, MONDAY_9, number="JS-20261123-0001",
                       category="logistics",
                       leader={"id": LEADER["id"], "name": LEADER["name"]})


def rows(db, model, *where):
    with db.session() as session:
        return session.execute(select(model).where(*where)).scalars().all()


def timers(db, status="pending"):
    return rows(db, Timer, Timer.status == status)


def consumers(db):
    with db.session() as session:
        return sorted(session.execute(select(inbox.c.consumer)).scalars())


# ------------------------------------------------------------------ who filed it
def test_the_first_assignment_names_who_filed_the_case(service, db):
    service.on_complaint_assigned(assigned(**filed_by(reporter_unit="logistics")))

    (known,) = rows(db, CaseAccess)
    assert (known.complaint_id, known.complainant_id, known.reporting_unit_id) == (
        CASE, STUDENT["id"], "logistics")
    assert consumers(db) == ["sla.on_complaint_assigned"]


def test_a_later_assignment_keeps_who_filed_the_case(service, db):
    service.on_complaint_assigned(assigned(**filed_by()))
    service.on_complaint_assigned(assigned(round_=1, at=MONDAY_9 + timedelta(days=1)))

    (known,) = rows(db, CaseAccess)
    assert known.complainant_id == STUDENT["id"]


# ------------------------------------------------------------------ on_supervisor_assigned
def test_the_supervising_leader_is_remembered(service, db):
    service.on_supervisor_assigned(supervisor())
    service.on_supervisor_assigned(supervisor())

    assert [k.supervisor_id for k in rows(db, CaseAccess)] == [LEADER["id"]]
    assert consumers(db) == ["sla.on_supervisor_assigned"] * 2    # two deliveries recorded


# ------------------------------------------------------------------ on_complaint_assigned
def test_an_assignment_sets_both_targets_their_timers_and_who_reads(service, db):
    service.on_complaint_assigned(assigned(disputed=True, assisting_units=[
        {"id": "security", "name": "保卫处"}]))

    assert {d.kind for d in rows(db, Deadline)} == {"resolution", "response"}
    assert {t.kind for t in timers(db)} == {"warning", "urge", "overdue", "escalate"}
    (known,) = rows(db, CaseAccess)
    assert (known.unit_id, known.assisting_unit_ids) == ("logistics", ["security"])
    assert consumers(db) == ["sla.on_complaint_assigned"]


def test_a_redispatch_in_the_round_keeps_the_timers(service, db):
    service.on_complaint_assigned(assigned())
    before = len(timers(db))

    service.on_complaint_assigned(assigned(unit_head={"id": "u-2", "name": "王磊"}))

    assert len(timers(db)) == before and len(db.events("deadline_set")) == 2
    assert all('"u-2"' in d.recipients for d in rows(db, Deadline))


# ------------------------------------------------------------------ on_complaint_transitioned
def test_signing_for_meets_the_response_target_and_cancels_its_timers(service, db):
    service.on_complaint_assigned(assigned())

    service.on_complaint_transitioned(transitioned("sign_for"))

    status = {d.kind: (d.status, d.met_at) for d in rows(db, Deadline)}
    assert status == {"response": ("met", MONDAY_9 + timedelta(hours=1)),
                      "resolution": ("pending", None)}
    response = rows(db, Deadline, Deadline.kind == "response")[0]
    assert all(t.status == "cancelled"
               for t in rows(db, Timer, Timer.deadline_id == response.id))
    assert timers(db)


def test_closing_stops_every_clock(service, db):
    service.on_complaint_assigned(assigned())

    service.on_complaint_transitioned(transitioned("close"))

    assert {d.status for d in rows(db, Deadline)} == {"cancelled"}
    assert not timers(db)


def test_a_step_that_does_not_touch_the_clocks_is_not_even_recorded(service, db):
    service.on_complaint_assigned(assigned())

    service.on_complaint_transitioned(transitioned("start"))

    assert {d.status for d in rows(db, Deadline)} == {"pending"}
    assert consumers(db) == ["sla.on_complaint_assigned"]


def test_a_redelivered_reply_is_applied_once(service, db):
    service.on_complaint_assigned(assigned())
    reply = transitioned("reply")

    service.on_complaint_transitioned(reply)
    service.on_complaint_transitioned(reply)

    assert consumers(db).count("sla.on_complaint_transitioned") == 1
    assert {d.status for d in rows(db, Deadline)} == {"met"}


# ------------------------------------------------------------------ the poller
def test_the_poller_fires_what_is_due_once(service, db):
    service.on_complaint_assigned(assigned())
    db.clock.set(DUE + timedelta(minutes=1))

    service.fire_due_timers()
    service.fire_due_timers()

    alerts = [(a["target"], a["alert"], a["level"]) for a in db.events("sla_alert")]
    assert ("resolution", "warning", "handler") in alerts
    assert ("resolution", "overdue", "handler") in alerts
    assert len(alerts) == len(set(alerts)) == len(timers(db, "fired"))
    (resolution,) = rows(db, Deadline, Deadline.kind == "resolution")
    assert resolution.state == "overdue"
    head = next(a for a in db.events("sla_alert") if a["alert"] == "urge")
    assert head["recipient"] == {"id": HEAD["id"], "name": HEAD["name"]}


def test_a_warning_alone_puts_the_target_in_warning(service, db):
    service.on_complaint_assigned(assigned())
    (warning,) = [t for t in timers(db) if t.kind == "warning"]
    db.clock.set(warning.due_at)

    assert service.fire_batch() >= 1

    (resolution,) = rows(db, Deadline, Deadline.kind == "resolution")
    assert resolution.state == "warning"


# ------------------------------------------------------------------ request_extension
def test_an_extension_request_is_saved_and_told(service, db):
    service.on_complaint_assigned(assigned())

    asked = service.request_extension(CASE, HANDLER, {
        "reason": "需采购配件", "new_due_at": (DUE + timedelta(days=2)).isoformat()})

    assert asked["status"] == "requested" and asked["requested_by"] == HANDLER["id"]
    assert [e.status for e in rows(db, Extension)] == ["requested"]
    (told,) = db.events("extension_requested")
    assert told["unit_head"]["id"] == HEAD["id"]
    with pytest.raises(Conflict):       # one at a time
        service.request_extension(CASE, HEAD, {
            "reason": "需采购配件", "new_due_at": (DUE + timedelta(days=3)).isoformat()})


@pytest.mark.parametrize("viewer", [SECURITY, OFFICE, STUDENT])
def test_only_the_unit_asks_for_more_time(service, viewer):
    service.on_complaint_assigned(assigned())

    with pytest.raises(NotFound):
        service.request_extension(CASE, viewer, {
            "reason": "需采购配件", "new_due_at": (DUE + timedelta(days=2)).isoformat()})


# ------------------------------------------------------------------ decide_extension
def ask(service):
    return service.request_extension(CASE, HANDLER, {
        "reason": "需采购配件", "new_due_at": (DUE + timedelta(days=2)).isoformat()})


def test_an_approval_moves_the_deadline_and_replaces_its_timers(service, db):
    service.on_complaint_assigned(assigned())
    asked = ask(service)
    (resolution,) = rows(db, Deadline, Deadline.kind == "resolution")
    old = {t.id for t in rows(db, Timer, Timer.deadline_id == resolution.id)}

    decided = service.decide_extension(CASE, asked["id"], HEAD, {"approve": True})

    assert decided["status"] == "approved"
    (resolution,) = rows(db, Deadline, Deadline.kind == "resolution")
    assert resolution.due_at == DUE + timedelta(days=2)
    after = rows(db, Timer, Timer.deadline_id == resolution.id)
    assert {t.status for t in after if t.id in old} == {"cancelled"}
    assert {t.status for t in after if t.id not in old} == {"pending"}
    assert db.events("deadline_set")[-1]["extended"] is True
    assert db.events("extension_decided")[0]["decided_by"]["id"] == HEAD["id"]


def test_a_refusal_leaves_the_deadline(service, db):
    service.on_complaint_assigned(assigned())
    asked = ask(service)

    decided = service.decide_extension(CASE, asked["id"], OFFICE,
                                       {"approve": False, "note": "请按期办结"})

    assert decided["status"] == "refused" and decided["note"] == "请按期办结"
    assert rows(db, Deadline, Deadline.kind == "resolution")[0].due_at == DUE
    with pytest.raises(Conflict):
        service.decide_extension(CASE, asked["id"], HEAD, {"approve": True})


@pytest.mark.parametrize("viewer, extension_id", [(HANDLER, None), (SECURITY, None),
                                                   (OFFICE, "no-such-extension")])
def test_a_decision_by_somebody_else_or_on_nothing_is_not_found(service, viewer,
                                                                extension_id):
    service.on_complaint_assigned(assigned())
    asked = ask(service)

    with pytest.raises(NotFound):
        service.decide_extension(CASE, extension_id or asked["id"], viewer, {"approve": True})


# ------------------------------------------------------------------ set_timetable
def test_a_timetable_is_set_by_the_unit_only(service, db):
    service.on_complaint_assigned(assigned())
    steps = {"milestones": [{"title": "完成管道检修",
                             "due_at": (MONDAY_9 + timedelta(days=10)).isoformat()}]}

    with pytest.raises(NotFound):
        service.set_timetable(CASE, SECURITY, steps)
    shown = service.set_timetable(CASE, HEAD, steps)

    assert shown["complaint_id"] == CASE and len(shown["milestones"]) == 1
    assert db.events("timetable_set")[0]["set_by"]["id"] == HEAD["id"]
    with pytest.raises(Conflict):
        service.set_timetable(CASE, HEAD, steps)


# ------------------------------------------------------------------ update_milestone
def test_a_milestone_reached_meets_it_and_its_feedback(service, db):
    service.on_complaint_assigned(assigned())
    shown = service.set_timetable(CASE, HANDLER, {"milestones": [{
        "title": "完成管道检修", "due_at": (MONDAY_9 + timedelta(days=10)).isoformat(),
        "feedback_due_at": (MONDAY_9 + timedelta(days=5)).isoformat()}]})
    milestone_id = shown["milestones"][0]["id"]

    with pytest.raises(NotFound):
        service.update_milestone(CASE, milestone_id, SECURITY, {"update": "done",
                                                                "note": "已完成检修"})
    answer = service.update_milestone(CASE, milestone_id, HANDLER, {"update": "done",
                                                                    "note": "已完成检修"})

    assert answer == {"milestone_id": milestone_id, "status": "met"}
    steps = rows(db, Deadline, Deadline.milestone_id == milestone_id)
    assert {(s.kind, s.status) for s in steps} == {("milestone", "met"), ("feedback", "met")}
    assert not rows(db, Timer, Timer.deadline_id.in_([s.id for s in steps]),
                    Timer.status == "pending")
    assert db.events("milestone_updated")[0]["update"] == "done"


def test_an_unknown_milestone_is_not_found(service):
    with pytest.raises(NotFound):
        service.update_milestone(CASE, "nothing", HANDLER, {"update": "done", "note": "已完成"})


# ------------------------------------------------------------------ get_deadlines
def readable_by(service, viewer) -> bool:
    try:
        return bool(service.get_deadlines(CASE, viewer))
    except NotFound:
        return False


def test_deadlines_are_read_by_whoever_may_read_the_case(service):
    service.on_complaint_assigned(assigned(**filed_by()))

    assert {d["kind"] for d in service.get_deadlines(CASE, HANDLER)} == {"resolution",
                                                                          "response"}
    for viewer in (HANDLER, HEAD, OFFICE, STUDENT):
        assert readable_by(service, viewer), viewer["id"]
    for viewer in (ANOTHER_STUDENT, SECURITY, LEADER,
                   dict(HEAD, unit="security"), {"id": "x", "roles": []}):
        assert not readable_by(service, viewer), viewer["id"]


def test_a_supervising_leader_reads_once_named(service):
    service.on_complaint_assigned(assigned())
    assert not readable_by(service, LEADER)

    service.on_supervisor_assigned(supervisor())

    assert readable_by(service, LEADER)


def test_an_assisting_unit_and_the_reporting_unit_read_along(service):
    service.on_complaint_assigned(assigned(
        **filed_by(complainant=HEAD, reporter_unit="student_affairs"), disputed=True,
        assisting_units=[{"id": "security", "name": "保卫处"}]))

    assert readable_by(service, SECURITY)
    assert readable_by(service, dict(HANDLER, id="u-xgc-1", unit="student_affairs"))


def test_a_case_the_sla_never_heard_of_is_not_found_but_to_the_office(service):
    assert service.get_deadlines("nobody", OFFICE) == []
    with pytest.raises(NotFound):
        service.get_deadlines("nobody", HANDLER)


@pytest.mark.parametrize("viewer", [None, {}, {"id": ""}, {"id": "x" * 65}, "office"])
def test_a_malformed_viewer_is_invalid_input(service, viewer):
    with pytest.raises(InvalidInput):
        service.get_deadlines(CASE, viewer)


def test_a_malformed_viewer_is_refused_by_every_command(service):
    service.on_complaint_assigned(assigned())

    with pytest.raises(InvalidInput):
        service.request_extension(CASE, {"roles": ["head"]}, {"reason": "需采购配件",
                                                               "new_due_at": DUE.isoformat()})


def test_health(service):
    assert service.health() == {"service": "sla", "status": "ok"}
