"""The OpenAPI document stays true: every route the gateway serves is in it, it is a valid
OpenAPI 3 document built from the schemas the services use, and what the services really
answer (run here on an in-memory database) matches the response schemas it documents."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from jsonschema import Draft7Validator, FormatChecker
from nameko.testing.services import worker_factory

from gateway.openapi import (ACTION_PREFIX, ACTIONS, ERRORS, OPERATIONS, PUBLIC,
                             RESPONSE_SCHEMAS, VIEW_EXTRAS, openapi_document)
from gateway.service import STAFF_ACTIONS, GatewayService
from services.common.clock import ManualClock
from services.common.contracts import build_event
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase

ACTION_ROUTE = "/api/v1/staff/cases/{complaint_id}/{action}"


def _routes():
    for name in dir(GatewayService):
        if name == "no_such_route":  # the catch-all 404/405 is not an endpoint
            continue
        for entrypoint in getattr(getattr(GatewayService, name), "nameko_entrypoints", ()):
            url = getattr(entrypoint, "url", None)
            if url:
                for method in entrypoint.method.lower().split(","):
                    yield method, re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", url)


def _documented(method, path):
    """The documented paths a served route stands for: the action route is one path per
    action, so that each action has its own body."""
    if path == ACTION_ROUTE:
        return [(method, ACTION_PREFIX + action) for action in STAFF_ACTIONS]
    return [(method, path)]


def test_every_gateway_route_is_documented():
    paths = openapi_document()["paths"]
    for method, path in _routes():
        for method_, path_ in _documented(method, path):
            assert path_ in paths and method_ in paths[path_], \
                f"{method_.upper()} {path_} undocumented"


def test_every_documented_route_exists():
    served = {pair for method, path in _routes() for pair in _documented(method, path)}
    for path, operations in openapi_document()["paths"].items():
        for method in operations:
            assert (method, path) in served, f"{method.upper()} {path} documented, not served"


def test_the_filing_body_comes_from_the_schema_intake_loads():
    document = openapi_document()
    filing = document["components"]["schemas"]["FileComplaint"]
    assert set(filing["required"]) == {"category", "content"}
    assert "logistics" in filing["properties"]["category"]["enum"]
    assert document["openapi"].startswith("3.")


def test_every_json_body_has_an_example_its_schema_loads():
    """The examples are requests the services accept: each goes through the marshmallow
    schema that loads it (the gateway's own fields, pledge and pledge_read, included)."""
    document = openapi_document()
    for method, path, _summary, body, _response, _tags in OPERATIONS:
        content = document["paths"][path][method].get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        media = content["application/json"]
        assert "example" in media, f"{method.upper()} {path} has no example"
        body().load(media["example"])


def test_each_action_has_its_own_path_and_body():
    """One path per action (the served route takes the action as a path segment): a body
    is documented once, for the action that takes it, and an action without parameters
    needs no body."""
    document = openapi_document()
    assert set(ACTIONS) == set(STAFF_ACTIONS)
    for action in STAFF_ACTIONS:
        operation = document["paths"][ACTION_PREFIX + action]["post"]
        body = operation["requestBody"]
        assert list(body["content"]) == ["application/json"]
        schema = body["content"]["application/json"]["schema"]
        assert "oneOf" not in schema and "$ref" in schema
        assert body["required"] is (action not in ("sign_for", "start", "dispatch"))
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/Complaint"}


def test_the_pledges_must_be_true():
    """`pledge: false` is refused by the gateway (R3), so the document allows only true."""
    document = openapi_document()
    filing = _validator(document, document["paths"]["/api/v1/complaints"]["post"][
        "requestBody"]["content"]["application/json"]["schema"])
    body = {"category": "logistics", "content": "宿舍楼道灯坏了一周了"}
    assert filing.is_valid(dict(body, pledge=True))
    assert not filing.is_valid(dict(body, pledge=False))
    assert not filing.is_valid(body)
    operator = document["components"]["schemas"]["OperatorFiling"]
    assert operator["properties"]["pledge_read"]["enum"] == [True]


def test_the_views_add_only_what_the_services_add():
    """A response view is its service's schema plus the keys the service adds after dumping
    (VIEW_EXTRAS); any other field it declares retypes a field of that schema. So a field
    renamed in the service's schema cannot linger in the document under its old name."""
    for view, extras in VIEW_EXTRAS.items():
        base = view.__mro__[1]
        declared = set(view._declared_fields)
        assert declared - set(base._declared_fields) == extras, view.__name__


def test_responses_are_closed_and_list_their_keys():
    schemas = openapi_document()["components"]["schemas"]
    for name, (_schema, optional) in RESPONSE_SCHEMAS.items():
        assert schemas[name]["additionalProperties"] is False, name
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]) - optional


def test_every_error_an_operation_can_answer_is_documented():
    document = openapi_document()
    responses = document["components"]["responses"]
    for status, (name, _text, headers) in ERRORS.items():
        assert responses[name]["content"]["application/json"]["schema"] == \
            {"$ref": "#/components/schemas/Error"}
        assert set(responses[name].get("headers", {})) == set(headers)
    assert "405" in document["info"]["description"]
    paths = document["paths"]
    for method, path, _summary, body, _response, _tags in OPERATIONS:
        answers = paths[path][method]["responses"]
        if path.startswith("/api/") and path not in PUBLIC:
            assert {"400", "401", "404", "503"} <= set(answers), path
        if body is not None and path.startswith(("/api/", "/hotline/")):
            assert {"400", "408", "413", "415"} <= set(answers), f"{method} {path}"
    assert "411" in paths["/api/v1/complaints/{complaint_id}/attachments"]["post"]["responses"]
    for method, path in (("post", "/api/v1/complaints"), ("post", "/api/v1/staff/reports"),
                         ("post", "/api/v1/complaints/{complaint_id}/attachments")):
        assert "429" in paths[path][method]["responses"]
        assert "Location" in paths["/api/v1/complaints"]["post"]["responses"]["201"]["headers"]
    assert "429" in paths["/open311/v2/requests.{fmt}"]["post"]["responses"]
    assert paths["/open311/v2/requests.{fmt}"]["post"]["responses"]["400"]["content"][
        "application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/Open311Error"}


# ---------------------------------------------------------------- what the services answer

def _nullable(schema):
    """OpenAPI 3.0's `nullable` as JSON Schema, so that jsonschema can check a response."""
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _nullable(value) for key, value in schema.items()
                 if key not in ("nullable", "example", "readOnly")}
    if schema.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
FORMATS = FormatChecker()


@FORMATS.checks("date-time")
def _date_time(value) -> bool:
    return not isinstance(value, str) or RFC3339.match(value) is not None


def _validator(document, schema) -> Draft7Validator:
    return Draft7Validator({"allOf": [_nullable(schema)],
                            "components": _nullable(document["components"])},
                           format_checker=FORMATS)


def _conforms(document, method, path, status, answer):
    response = document["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    errors = sorted(_validator(document, schema).iter_errors(answer), key=str)
    assert not errors, f"{method.upper()} {path} {status}: " + "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:10])
    return answer


START = datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc)   # 09:00 Tuesday in Shanghai
STUDENT = {"id": "s2023001", "name": "张三", "roles": ["complainant"]}
HANDLER = {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"}
HEAD = {"id": "u-hqc-head", "name": "郑国强", "roles": ["head"], "unit": "logistics"}
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
PLEDGE = "诉求人在APP提交前确认:所反映情况真实准确,如有不实愿承担相应责任。"


class _Container:
    config: dict = {}


@pytest.fixture
def intake():
    from services.intake.calls import WorkingHours
    from services.intake.models import metadata
    from services.intake.screening import ScreeningRules
    from services.intake.service import IntakeService, SimilarCasesProvider

    clock = ManualClock(START)
    container = _Container()  # the provider holds it weakly: kept alive below
    similar = SimilarCasesProvider().bind(container, "similar")
    similar.setup()
    similar = similar.get_dependency(None)
    service = worker_factory(IntakeService, db=InMemoryDatabase(metadata, clock=clock),
                             settings=Settings(), clock=clock, similar=similar,
                             screening=ScreeningRules.load("config/screening.yaml"),
                             working_hours=WorkingHours(lambda day: day.weekday() < 5))
    service.container_ = container
    return service


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
    filed = _conforms(doc, "post", "/api/v1/complaints", 201,
                      intake.file_complaint(filing, STUDENT, "app", pledge=PLEDGE))
    twin = intake.file_complaint(dict(filing, anonymous=True), STUDENT, "app", pledge=PLEDGE)
    for one in (filed, twin):
        _assign(intake, one)
    intake.act(filed["id"], "communicate", HANDLER, {
        "kind": "phone", "at": (START + timedelta(minutes=5)).isoformat(),
        "with_whom": "张三", "summary": "电话告知已安排维修"})
    intake.add_attachment(filed["id"], STUDENT, {"sha256": "a" * 64, "media_type": "image/png",
                                                 "kind": "photo", "size": 120})
    signed = _conforms(doc, "post", ACTION_PREFIX + "sign_for", 200,
                       intake.act(filed["id"], "sign_for", HANDLER, {}))
    assert signed["communications"] and signed["attachments"] and signed["similar"]
    intake.act(filed["id"], "link", OFFICE, {"other_id": twin["id"]})
    for viewer, path in ((STUDENT, "/api/v1/complaints/{complaint_id}"), (HANDLER, case),
                         (HEAD, case), (OFFICE, case)):
        for one in (filed, twin):
            shown = _conforms(doc, "get", path, 200, intake.get_complaint(one["id"], viewer))
    assert shown["links"]
    assert intake.get_complaint(twin["id"], HANDLER)["complainant_id"] is None
    for viewer in (HANDLER, HEAD, OFFICE):
        _conforms(doc, "get", "/api/v1/staff/cases", 200, intake.list_cases(viewer, {}))
    _conforms(doc, "get", "/api/v1/complaints", 200, intake.list_cases(
        dict(STUDENT, roles=["complainant"]), {"view": "all", "sort": "received"}))
    _conforms(doc, "get", case + "/audit", 200, intake.audit_log(filed["id"], OFFICE))
    _conforms(doc, "get", "/api/v1/staff/units/{unit_id}/figures", 200,
              intake.unit_figures("logistics", HEAD))

    events = "/hotline/calls/events"
    call = {"call_id": "call-1", "caller": "139-1234-5678"}
    for event_id, kind, extra in (("e1", "ringing", {}), ("e2", "answered", {"operator": "op-7"})):
        _conforms(doc, "post", events, 200, intake.record_call_event(dict(
            call, event_id=event_id, type=kind, at="2026-11-24T10:00:00+08:00", **extra)))
    _conforms(doc, "post", "/api/v1/staff/hotline/calls/{call_id}/complaints", 201,
              intake.file_for_caller("call-1", filing, OFFICE, pledge_read=True))
    voicemail = _conforms(doc, "post", events, 200, intake.record_call_event(dict(
        call, call_id="call-vm", event_id="v1", type="voicemail",
        at="2026-11-27T22:01:00+08:00", transcript="图书馆空调漏水,请派人看看")))
    unclassified = intake.list_cases(OFFICE, {"view": "unclassified"})
    assert [c["category"] for c in unclassified] == [None]
    _conforms(doc, "get", "/api/v1/staff/cases", 200, unclassified)
    _conforms(doc, "get", case, 200, intake.get_complaint(voicemail["complaint"]["id"], OFFICE))
    _conforms(doc, "get", "/api/v1/staff/hotline/calls", 200, intake.list_calls(OFFICE, {}))
    _conforms(doc, "get", "/api/v1/staff/hotline/calls/{call_id}", 200,
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
    shown = _conforms(doc, "get", "/api/v1/staff/cases/{complaint_id}", 200,
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

    _conforms(openapi_document(), "get", "/healthz", 200, alive())
    _conforms(openapi_document(), "get", "/healthz", 200, dict(alive(), instance="a1b2c3"))


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
    asked = _conforms(doc, "post", case + "/extensions", 201, sla.request_extension(
        case_id, HANDLER, {"reason": "需采购配件", "new_due_at": "2026-11-27T17:30:00+08:00"}))
    _conforms(doc, "get", case + "/deadlines", 200, sla.get_deadlines(case_id))
    _conforms(doc, "post", case + "/extensions/{extension_id}/decision", 200,
              sla.decide_extension(case_id, asked["id"], OFFICE, {"approve": True}))
    timetable = _conforms(doc, "post", case + "/timetable", 201, sla.set_timetable(
        case_id, HANDLER, {"milestones": [{"title": "完成管道检修",
                                           "due_at": "2026-12-04T17:30:00+08:00",
                                           "feedback_due_at": "2026-12-01T17:30:00+08:00"}]}))
    _conforms(doc, "post", case + "/timetable/{milestone_id}", 200, sla.update_milestone(
        case_id, timetable["milestones"][0]["id"], HANDLER,
        {"update": "feedback", "note": "配件已到货"}))
    deadlines = _conforms(doc, "get", case + "/deadlines", 200, sla.get_deadlines(case_id))
    assert {d["kind"] for d in deadlines} >= {"resolution", "milestone", "feedback"}
    assert any(d["extensions"] for d in deadlines)
