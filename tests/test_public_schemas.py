"""The gateway's public schemas (gateway/schemas.py) and the services behind it agree.

The gateway imports no service, so it keeps its own schemas of what a client sends and gets
back; here, outside both, they are held against the services': a request body has the same
fields with the same rules as the command the service loads (the gateway refuses nothing the
service would take, and lets nothing through that it would refuse), a response has exactly
the keys the service's schema dumps plus those it adds, and what the services really answer
(run here on an in-memory database) matches the document (gateway/openapi.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from gateway import office_summaries
from gateway import schemas as public
from gateway.openapi import ACTION_PREFIX, openapi_document
from gateway.tests.test_openapi import conforms
from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.intake import schemas as intake
from services.rating import schemas as rating
from services.rating import summaries_entrypoints
from services.sla import schemas as sla

# (the gateway's, the service's)
REQUESTS = [
    (public.FileComplaintSchema, intake.FileComplaintSchema),
    (public.CaseListQuerySchema, intake.CaseListQuerySchema),
    (public.CallListQuerySchema, intake.CallListQuerySchema),
    (public.AttachmentSchema, intake.AttachmentSchema),
    *[(public.ACTION_SCHEMAS[action], schema) for action, schema in intake.ACTION_SCHEMAS.items()],
    (public.RateSchema, rating.RateSchema),
    (public.CallbackSchema, rating.CallbackSchema),
    (public.ExtensionRequestSchema, sla.ExtensionRequestSchema),
    (public.ExtensionDecisionSchema, sla.ExtensionDecisionSchema),
    (public.MilestoneSchema, sla.MilestoneSchema),
    (public.TimetableSchema, sla.TimetableSchema),
    (public.MilestoneUpdateSchema, sla.MilestoneUpdateSchema),
    (office_summaries.GenerateSummarySchema, summaries_entrypoints.GenerateSchema),
    (office_summaries.SummaryListQuerySchema, summaries_entrypoints.ListSchema),
]
# (the gateway's, the service's, the keys the service adds to what its schema dumps:
# services/intake/service.py get_complaint and _with_time_left, services/sla get_deadlines)
RESPONSES = [
    (public.ComplaintSchema, intake.ComplaintSchema,
     {"time_left_seconds", "communications", "attachments", "links", "similar"}),
    (public.CaseSummarySchema, intake.CaseSummarySchema, {"time_left_seconds"}),
    (public.CommunicationViewSchema, intake.CommunicationSchema, {"round"}),
    (public.CaseLinkSchema, intake.LinkSchema, {"kind"}),
    (public.FiledSchema, intake.FiledSchema, set()),
    (public.CallSchema, intake.CallSchema, set()),
    (public.CallEventOutcomeSchema, intake.CallEventOutcomeSchema, set()),
    (public.TimelineEntrySchema, intake.TimelineEntrySchema, set()),
    (public.UnitRefSchema, intake.UnitRefSchema, set()),
    (public.DeadlineSchema, sla.DeadlineSchema, {"extensions"}),
    (public.ExtensionSchema, sla.ExtensionSchema, set()),
    (public.TimetableStepSchema, sla.MilestoneOutSchema, {"feedback_given"}),
    (public.MilestoneOutSchema, sla.MilestoneOutSchema, set()),
    (public.TimetableOutSchema, sla.TimetableOutSchema, set()),
    (public.RatingSchema, rating.RatingSchema, set()),
]


def _rules(schema) -> dict:
    """What decides whether a body loads: each field's kind, whether it is required or may
    be null, its default, its validators (their repr holds their bounds and choices) and, for
    a text, the characters it refuses."""
    def rule(field):
        forbidden = getattr(field, "forbidden", None)
        inner = getattr(field, "inner", None)
        return (type(field).__name__, field.required, field.allow_none,
                repr(field.load_default), [repr(v) for v in field.validators],
                forbidden.pattern if forbidden is not None else None,
                type(inner).__name__ if inner is not None else None)
    return {"unknown": schema().unknown,
            **{name: rule(field) for name, field in schema().fields.items()}}


@pytest.mark.parametrize("ours, theirs", REQUESTS, ids=lambda s: s.__name__)
def test_a_public_body_has_the_rules_of_the_command_the_service_loads(ours, theirs):
    assert _rules(ours) == _rules(theirs)


@pytest.mark.parametrize("ours, theirs, extras", RESPONSES,
                         ids=lambda s: getattr(s, "__name__", ""))
def test_a_public_answer_has_the_keys_the_service_gives(ours, theirs, extras):
    """So a field renamed in the service's schema cannot linger in the document under its
    old name."""
    assert set(ours().fields) == set(theirs().fields) | extras


# The office's periods (issue 12): a month or week of 1970-2099, nothing a date cannot be made
# of (year 0, 9999-12's next month), refused on both sides naming the field.
BAD_PERIODS = ["0000-01", "9999-12", "1969-12", "2100-01", "2026-13", "2026-11\n", "",
               "2026-11\x00", "0000-W01", "9999-W52", "2026-W54", "2026-W00"]


@pytest.mark.parametrize("period", BAD_PERIODS)
def test_rating_refuses_a_period_out_of_range_naming_it(period):
    from services.common.errors import InvalidInput, load_input
    from services.rating import figures_entrypoints

    with pytest.raises(InvalidInput) as refused:
        figures_entrypoints._period(period)
    assert "period" in refused.value.fields
    with pytest.raises(InvalidInput) as refused:
        load_input(summaries_entrypoints.GenerateSchema(),
                   {"kind": "weekly" if "W" in period else "monthly", "period": period})
    assert "period" in refused.value.fields
    assert "period" in office_summaries.GenerateSummarySchema().validate(
        {"kind": "monthly", "period": period})


@pytest.mark.parametrize("period", ["1970-01", "2099-12", "2026-11", "2026-W48", "1970-W01"])
def test_a_period_in_range_is_taken(period):
    from services.rating import figures_entrypoints

    if "W" not in period:
        assert figures_entrypoints._period(period) == period
    assert summaries_entrypoints.GenerateSchema().validate(
        {"kind": "weekly" if "W" in period else "monthly", "period": period}) == {}


@pytest.mark.parametrize("comment", ["配件\x00还没到", "\ud800", "\x1b[31m", "\u202e反"])
def test_a_rating_comment_no_keyboard_types_is_refused_on_both_sides(comment):
    body = {"level": "satisfied", "contacted": True, "solved": True, "comment": comment}
    for schema in (public.RateSchema, rating.RateSchema, public.CallbackSchema,
                   rating.CallbackSchema):
        assert "comment" in schema().validate(body)
    assert "comment" in public.RatingPageFormSchema().validate(
        {"contacted": "1", "solved": "1", "level": "satisfied", "comment": comment})


START = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)   # 09:00 Tuesday in Shanghai
STUDENT = {"id": "s2023001", "name": "张三", "roles": ["complainant"]}
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics"}
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
PLEDGE = "诉求人在APP提交前确认:所反映情况真实准确,如有不实愿承担相应责任。"


@pytest.fixture
def intake():
    from services.intake.calls import WorkingHours
    from services.intake.models import metadata
    from services.intake.screening import ScreeningRules
    from services.intake.service import IntakeService
    from services.intake.views import SimilarCases

    clock = ManualClock(START)
    settings = Settings()
    return worker_factory(IntakeService, db=InMemoryDatabase(metadata, clock=clock),
                          settings=settings, clock=clock,
                          similar=SimilarCases(timedelta(days=settings.similar_window_days)),
                          screening=ScreeningRules.load("config/screening.yaml"),
                          working_hours=WorkingHours(lambda day: day.weekday() < 5))


def _assign(service, filed, at=START + timedelta(seconds=3)):
    service.on_complaint_assigned(build_event(
        "complaint_assigned", filed["id"], at, number=filed["number"], category="logistics",
        grade="general", unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=START))
    service.on_deadline_set(build_event(
        "deadline_set", filed["id"], at + timedelta(seconds=1), grade="general",
        starts_at=START, due_at=START + timedelta(hours=8)))


def test_what_intake_answers_matches_the_document(intake):
    """Each answer intake gives the gateway, for each kind of caller: filed, read, listed,
    acted on, anonymous, a voicemail without category, a hotline call, a timetable."""
    doc = openapi_document()
    case = "/api/v1/staff/cases/{complaint_id}"
    filing = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
              "title": "热水", "contact_phone": "13912345678", "location": "3号楼"}
    filed = conforms(doc, "post", "/api/v1/complaints", 201,
                      intake.file_complaint(filing, STUDENT, "app", pledge=PLEDGE))
    twin = intake.file_complaint(dict(filing, anonymous=True), STUDENT, "app", pledge=PLEDGE)
    for one in (filed, twin):
        _assign(intake, one)
    intake.act(filed["id"], "communicate", HANDLER, {
        "kind": "phone", "at": (START + timedelta(minutes=5)).isoformat(),
        "with_whom": "张三", "summary": "电话告知已安排维修"})
    intake.add_attachment(filed["id"], STUDENT, {"sha256": "a" * 64, "media_type": "image/png",
                                                 "kind": "photo", "size": 120})
    signed = conforms(doc, "post", ACTION_PREFIX + "sign_for", 200,
                       intake.act(filed["id"], "sign_for", HANDLER, {}))
    assert signed["communications"] and signed["attachments"] and signed["similar"]
    intake.act(filed["id"], "link", OFFICE, {"other_id": twin["id"]})
    for viewer, path in ((STUDENT, "/api/v1/complaints/{complaint_id}"), (HANDLER, case),
                         (HEAD, case), (OFFICE, case)):
        for one in (filed, twin):
            shown = conforms(doc, "get", path, 200, intake.get_complaint(one["id"], viewer))
    assert shown["links"]
    assert intake.get_complaint(twin["id"], HANDLER)["complainant_id"] is None
    for viewer in (HANDLER, HEAD, OFFICE):
        conforms(doc, "get", "/api/v1/staff/cases", 200, intake.list_cases(viewer, {}))
    conforms(doc, "get", "/api/v1/complaints", 200, intake.list_cases(
        dict(STUDENT, roles=["complainant"]), {"view": "all", "sort": "received"}))
    conforms(doc, "get", case + "/audit", 200, intake.audit_log(filed["id"], OFFICE))
    conforms(doc, "get", "/api/v1/staff/units/{unit_id}/figures", 200,
              intake.unit_figures("logistics", HEAD))

    events = "/hotline/calls/events"
    call = {"call_id": "call-1", "caller": "139-1234-5678"}
    for event_id, kind, extra in (("e1", "ringing", {}), ("e2", "answered", {"operator": "op-7"})):
        conforms(doc, "post", events, 200, intake.record_call_event(dict(
            call, event_id=event_id, type=kind, at="2026-11-24T10:00:00+08:00", **extra)))
    conforms(doc, "post", "/api/v1/staff/hotline/calls/{call_id}/complaints", 201,
              intake.file_for_caller("call-1", filing, OFFICE, pledge_read=True))
    voicemail = conforms(doc, "post", events, 200, intake.record_call_event(dict(
        call, call_id="call-vm", event_id="v1", type="voicemail",
        at="2026-11-27T22:01:00+08:00", transcript="图书馆空调漏水,请派人看看")))
    unclassified = intake.list_cases(OFFICE, {"view": "unclassified"})
    assert [c["category"] for c in unclassified] == [None]
    conforms(doc, "get", "/api/v1/staff/cases", 200, unclassified)
    conforms(doc, "get", case, 200, intake.get_complaint(voicemail["complaint"]["id"], OFFICE))
    conforms(doc, "get", "/api/v1/staff/hotline/calls", 200, intake.list_calls(OFFICE, {}))
    conforms(doc, "get", "/api/v1/staff/hotline/calls/{call_id}", 200,
              intake.get_call("call-1", OFFICE))


def _set_timetable(intake):
    filed = intake.file_complaint({"category": "logistics", "content": "图书馆三楼暖气管道老化漏水"},
                                  STUDENT, "app", pledge=PLEDGE)
    _assign(intake, filed)
    intake.on_timetable_set(build_event(
        "timetable_set", filed["id"], START + timedelta(minutes=9), number=filed["number"],
        set_by={"id": HANDLER["id"], "name": HANDLER["name"]},
        milestones=[{"id": "m-1", "title": "完成管道检修", "due_at": START + timedelta(days=9),
                     "feedback_due_at": START + timedelta(days=6), "status": "pending"}]))
    intake.on_milestone_updated(build_event(
        "milestone_updated", filed["id"], START + timedelta(days=5), number=filed["number"],
        milestone={"id": "m-1", "title": "完成管道检修", "due_at": START + timedelta(days=9),
                   "feedback_due_at": START + timedelta(days=6), "status": "pending"},
        update="feedback", note="配件已到货", by={"id": HANDLER["id"], "name": HANDLER["name"]}))
    return filed


def test_a_timetable_on_the_case_matches_the_document(intake):
    doc = openapi_document()
    filed = _set_timetable(intake)
    shown = conforms(doc, "get", "/api/v1/staff/cases/{complaint_id}", 200,
                      intake.get_complaint(filed["id"], HANDLER))
    assert shown["timetable"][0]["feedback_given"] is True


def test_a_timetable_on_the_case_has_its_documented_keys(intake):
    """Until the dates above are ISO 8601: every key of a step is documented."""
    doc = openapi_document()
    step = doc["components"]["schemas"]["TimetableStep"]
    filed = _set_timetable(intake)
    [shown] = intake.get_complaint(filed["id"], HANDLER)["timetable"]
    assert set(step["required"]) <= set(shown) <= set(step["properties"])


def test_the_health_answer_matches_the_document():
    from services.common.health import alive

    conforms(openapi_document(), "get", "/healthz", 200, alive())
    conforms(openapi_document(), "get", "/healthz", 200, dict(alive(), instance="a1b2c3"))


@pytest.fixture
def sla():
    from services.sla.models import metadata
    from services.sla.service import SlaPolicy, SlaService

    clock = ManualClock(START)
    return worker_factory(SlaService, db=InMemoryDatabase(metadata, clock=clock),
                          policy=SlaPolicy(Settings()), settings=Settings())


def test_what_sla_answers_matches_the_document(sla):
    doc = openapi_document()
    case_id = "00000000-0000-0000-0000-000000000001"
    case = "/api/v1/staff/cases/{complaint_id}"
    sla.on_complaint_assigned(build_event(
        "complaint_assigned", case_id, START, number="JS-20261124-0001", category="logistics",
        grade="general", unit={"id": "logistics", "name": "后勤管理处"},
        handler={"id": "u-hqc-1", "name": "冯涛"}, received_at=START))
    asked = conforms(doc, "post", case + "/extensions", 201, sla.request_extension(
        case_id, HANDLER, {"reason": "需采购配件", "new_due_at": "2026-11-27T17:30:00+08:00"}))
    conforms(doc, "get", case + "/deadlines", 200, sla.get_deadlines(case_id, HANDLER))
    conforms(doc, "post", case + "/extensions/{extension_id}/decision", 200,
              sla.decide_extension(case_id, asked["id"], OFFICE, {"approve": True}))
    timetable = conforms(doc, "post", case + "/timetable", 201, sla.set_timetable(
        case_id, HANDLER, {"milestones": [{"title": "完成管道检修",
                                           "due_at": "2026-12-04T17:30:00+08:00",
                                           "feedback_due_at": "2026-12-01T17:30:00+08:00"}]}))
    conforms(doc, "post", case + "/timetable/{milestone_id}", 200, sla.update_milestone(
        case_id, timetable["milestones"][0]["id"], HANDLER,
        {"update": "feedback", "note": "配件已到货"}))
    deadlines = conforms(doc, "get", case + "/deadlines", 200, sla.get_deadlines(case_id, HANDLER))
    assert {d["kind"] for d in deadlines} >= {"resolution", "milestone", "feedback"}
    assert any(d["extensions"] for d in deadlines)
