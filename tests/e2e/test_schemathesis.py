"""Schemathesis against the OpenAPI document the running system serves (issue 10, point 12).

The document is read from GET /api/v1/openapi.json of a system started as `make run` starts
it, with cases in several states, a hotline call, an extension, a timetable, an attachment
and an Open311 request made first. Then, for every operation:

* a sweep: each real path value (cases, calls, extensions, milestones, attachments, units)
  with the documented example body, by each caller: a complainant who filed, another
  complainant, a handler and the head of the unit the cases went to, the office, a leader,
  and nobody;
* requests generated from the document (valid ones and, fewer, invalid ones), most path
  parameters replaced by real ones, by callers drawn among those the route is for;
* what a generator does not send: a body over the limit, one that is not JSON, a chunked
  upload, an unknown Transfer-Encoding; and every method a path does not list (405).

Each answer must not be a 5xx, must have a documented status, content type and headers, and
must match the documented schema. Bounded and repeatable: a fixed number of examples per
operation, derandomized, no Hypothesis deadline and no shrinking (each finding is reported as
it was met, every finding of the run at once, with the request that found it)."""
from __future__ import annotations

import itertools
import json
import re
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft7Validator
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from services.common.rating_link import sign
from services.common.signing import hmac_signature
from tests.conftest import token_for, wait_until
from tests.e2e.test_lifecycle import JPEG, PEOPLE as LIFECYCLE_PEOPLE

pytestmark = pytest.mark.e2e

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
POSITIVE, NEGATIVE = 30, 10         # generated examples per operation (about 40 operations)
SWEEP = 12                          # real path values per operation, each by every caller
CTI_SECRET = "cti-secret-for-schemathesis"
OPEN311_KEY = "open311-key-for-schemathesis"
RATING_LINK_SECRET = "rating-link-secret-for-schemathesis"

# The people of the lifecycle tests (config/org.yaml's logistics unit, the office, a leader),
# and nobody.
PEOPLE = {**{who: LIFECYCLE_PEOPLE[who] for who in ("student", "stranger", "handler", "head",
                                                     "office", "leader")}, "nobody": None}

# Findings in code this suite does not own, reported to its owners and tolerated here until
# they are fixed: (what, where, which findings it explains). Each is printed with the run's
# report; a finding no entry explains fails the test. Empty: the four it found (timetable dates, a non-ASCII api_key, NUL in a call event, POST on
# …/deadlines and …/audit) are fixed, and any new finding fails the test.
KNOWN: list = []


def _headers(who: str) -> dict:
    person = PEOPLE[who]
    if person is None:
        return {}
    person = dict(person)
    return {"Authorization": f"Bearer {token_for(person.pop('sub'), **person)}"}


class World:
    """The real things the generated requests are pointed at."""

    def __init__(self, url: str):
        self.url = url
        self.values: dict[str, list[str]] = defaultdict(list)

    def post(self, who, path, body=None, expect=(200, 201), **kwargs):
        reply = requests.post(self.url + path, json=body, headers=_headers(who), timeout=30,
                              **kwargs)
        assert reply.status_code in expect, f"{path}: {reply.status_code} {reply.text}"
        return reply.json()

    def get(self, who, path):
        reply = requests.get(self.url + path, headers=_headers(who), timeout=30)
        assert reply.status_code == 200, f"{path}: {reply.status_code} {reply.text}"
        return reply.json()

    def file(self, who="student", **body):
        body = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
                "contact_phone": "13912345678", "pledge": True, **body}
        case_id = self.post(who, "/api/v1/complaints", body)["id"]
        self.values["complaint_id"].append(case_id)
        return case_id

    def assigned(self, case_id):
        return wait_until(lambda: self.get("office", f"/api/v1/staff/cases/{case_id}")[
            "deadline"], message=f"{case_id} assigned with a deadline")

    def act(self, who, case_id, action, **body):
        return self.post(who, f"/api/v1/staff/cases/{case_id}/{action}", body)

    def cti(self, event):
        body = json.dumps(event).encode("utf-8")
        timestamp = str(int(time.time()))
        return requests.post(f"{self.url}/hotline/calls/events", data=body, timeout=30,
                             headers={"Content-Type": "application/json",
                                      "X-CTI-Timestamp": timestamp,
                                      "X-CTI-Signature": hmac_signature(CTI_SECRET, timestamp,
                                                                        body)})


def _build_world(url: str) -> World:
    """Cases in the states the staff routes meet: just assigned, signed, replied (so it can
    be rated), with an extension asked, with a timetable, anonymous, another unit's, a unit's
    own report, a voicemail waiting to be classified; a hotline call; an Open311 request."""
    world = World(url)
    assigned = world.file()
    signed = world.file(title="宿舍热水")
    replied = world.file(content="食堂二楼的饭菜价格上涨太快,希望能够调整")
    extended = world.file(content="图书馆三楼暖气管道老化漏水,地面积水")
    long_term = world.file(content="校园东门外道路坑洼不平,雨天积水严重")
    world.file(anonymous=True, content="宿舍楼道灯坏了一周了,晚上很黑")
    world.file("stranger", category="security", content="校园南门夜间没有保安值守")
    for case_id in (assigned, signed, replied, extended, long_term):
        world.assigned(case_id)
    world.act("handler", signed, "sign_for")
    for case_id in (replied, extended, long_term):
        world.act("handler", case_id, "sign_for")
    world.post("handler", f"/api/v1/staff/cases/{replied}/communications", {
        "kind": "phone", "at": datetime.now(timezone.utc).isoformat(),
        "with_whom": "张三", "summary": "电话说明价格调整的安排"})
    world.act("handler", replied, "reply", outcome="explained", text="已向诉求人解释定价依据")
    deadline = world.get("handler", f"/api/v1/staff/cases/{extended}/deadlines")[0]["due_at"]
    later = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 20 * 86400))
    assert later > deadline
    world.values["extension_id"].append(world.post(
        "handler", f"/api/v1/staff/cases/{extended}/extensions",
        {"reason": "需采购配件,到货需两周", "new_due_at": later})["id"])
    timetable = world.post("handler", f"/api/v1/staff/cases/{long_term}/timetable", {
        "milestones": [{"title": "完成道路修补", "due_at": later}]})
    world.values["milestone_id"].append(timetable["milestones"][0]["id"])
    upload = requests.post(f"{url}/api/v1/complaints/{assigned}/attachments", data=JPEG,
                           headers={**_headers("student"), "Content-Type": "image/jpeg"},
                           timeout=30)
    assert upload.status_code == 201, upload.text
    world.values["sha256"].append(upload.json()["sha256"])
    world.values["complaint_id"].append(world.post("handler", "/api/v1/staff/reports", {
        "category": "logistics", "content": "巡查发现5号楼消防通道堆放杂物"})["id"])
    for event_id, call_id, kind, extra in (
            ("e-1", "call-answered", "answered", {"operator": "op-7"}),
            ("e-2", "call-voicemail", "voicemail", {"transcript": "图书馆空调漏水,请派人看看"})):
        answer = world.cti({"event_id": event_id, "call_id": call_id, "type": kind,
                            "at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                            "caller": "13912345678", **extra})
        assert answer.status_code == 200, answer.text
        world.values["call_id"].append(call_id)
        if kind == "voicemail":
            world.values["complaint_id"].append(answer.json()["complaint"]["id"])
    filed = requests.post(f"{url}/open311/v2/requests.json", params={"api_key": OPEN311_KEY},
                          data={"service_code": "logistics", "lat": "36.66", "long": "117.12",
                                "description": "操场看台的座椅损坏多处",
                                "attribute[pledge]": "yes"}, timeout=30)
    assert filed.status_code == 201, filed.text
    world.values["request_id"].append(filed.json()[0]["service_request_id"])
    world.values["unit_id"] += ["logistics", "security", "office"]
    world.values["fmt"] += ["json", "xml"]
    world.values["code"] += ["logistics"]
    # A summary (issue 12 §3) of a finished week, and the names of a summary's charts.
    world.values["summary_id"].append(world.post(
        "office", "/api/v1/staff/summaries", {"kind": "weekly", "period": "2026-W01"})["id"])
    world.values["chart"] += ["rates", "received"]
    # The assessment's (issue 12 §2): a finished period (the month before this one, local
    # time), a 剔除 the unit asked for on the replied case (rating hears of the case by an
    # event: asked until rating knows it), and a 专项治理 campaign (§5).
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    finished = date(local.year, local.month, 1) - timedelta(days=1)
    world.values["period"].append(f"{finished:%Y-%m}")
    exclusion = wait_until(lambda: (lambda reply: reply.json() if reply.status_code == 201
                                    else None)(requests.post(
        f"{url}/api/v1/staff/cases/{replied}/exclusions", headers=_headers("handler"),
        json={"reason": "该诉求属于地方政府职责,非本单位可办"}, timeout=30)),
        timeout=60, message="the 剔除 request")
    world.values["exclusion_id"].append(exclusion["id"])
    world.values["campaign_id"].append(world.post("office", "/api/v1/staff/campaigns", {
        "name": "学生公寓热水专项治理", "lead_unit": "logistics",
        "target_date": f"{local.date() + timedelta(days=60):%Y-%m-%d}",
        "scope": {"categories": ["logistics"], "keywords": ["热水"]}})["id"])
    # the SMS 回访 page: a live link to the replied case, an expired one, and a forged one
    student = PEOPLE["student"]["sub"]
    world.values["token"] += [
        sign(RATING_LINK_SECRET, replied, student, int(time.time()) + 3600),
        sign(RATING_LINK_SECRET, replied, student, int(time.time()) - 1),
        sign("forged", replied, student, int(time.time()) + 3600)]
    return world


@pytest.fixture
def system(start_system, databases):
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                            "gateway"]],
                        JIESU_HOTLINE_WEBHOOK_SECRETS=json.dumps([CTI_SECRET]),
                        JIESU_OPEN311_API_KEYS=json.dumps([f"schemathesis:{OPEN311_KEY}"]),
                        JIESU_RATING_LINK_SECRET=RATING_LINK_SECRET)


class Finding:
    def __init__(self, operation, failure, response, sent: dict, who: str):
        self.label, self.path = operation.label, operation.path
        self.title, self.message = failure.title, failure.message
        self.status, self.body = response.status_code, response.text[:400]
        self.sent, self.who = sent, who

    def __str__(self):
        request = json.dumps(self.sent, ensure_ascii=False, default=str)[:600]
        return (f"{self.label} as {self.who}: {self.title}\n  {self.message}\n"
                f"  sent: {request}\n  got: {self.status} {self.body}")


class Findings:
    """Each kind of failure once per operation, as first met, and what every operation
    answered."""

    def __init__(self):
        self.first: dict[tuple[str, str], Finding] = {}
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def count(self, operation, response):
        self.statuses[operation.label][response.status_code] += 1

    def add(self, finding: Finding):
        self.first.setdefault((finding.label, finding.title, finding.status), finding)

    def explained(self, finding: Finding) -> str | None:
        return next((f"{what} ({where})" for what, where, matches in KNOWN
                     if matches(finding)), None)

    def report(self) -> str:
        lines = [f"{label}: {dict(sorted(counts.items()))}"
                 for label, counts in self.statuses.items()]
        for finding in self.first.values():
            known = self.explained(finding)
            lines.append(f"\n{'KNOWN: ' + known if known else 'NEW'}\n{finding}")
        return "\n".join(lines)


def _send(world: World, case, who: str, session: requests.Session):
    """The request as Schemathesis built it, with the caller's token, the Open311 api_key,
    and the call centre's signature over the exact bytes sent."""
    kwargs = case.as_transport_kwargs(base_url=world.url, headers=_headers(who))
    if case.path.startswith("/open311/v2/requests") and who != "nobody":
        kwargs["params"] = dict(kwargs.get("params") or {}, api_key=OPEN311_KEY)
    if case.path.startswith("/hotline/") and who != "nobody":
        body = kwargs.pop("data", None)
        if "json" in kwargs:
            body = json.dumps(kwargs.pop("json")).encode("utf-8")
        body = body if isinstance(body, bytes) else (body or "").encode("utf-8")
        timestamp = str(int(time.time()))
        kwargs["data"] = body
        kwargs["headers"] = dict(kwargs["headers"], **{
            "X-CTI-Timestamp": timestamp,
            "X-CTI-Signature": hmac_signature(CTI_SECRET, timestamp, body)})
    kwargs.pop("cookies", None)
    sent = {k: v for k, v in kwargs.items() if k in ("method", "url", "params", "json", "data")}
    return session.request(timeout=30, **kwargs), sent


def _check(world, operation, case, who, findings, session):
    response, sent = _send(world, case, who, session)
    findings.count(operation, response)
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            findings.add(Finding(operation, failure, response, sent, who))


def _callers(operation) -> list[str]:
    """Who calls: mostly those the route is for, sometimes anybody else."""
    if "/staff/" in operation.path:
        return ["handler", "head", "office", "office", "leader", "student", "nobody"]
    return ["student", "student", "student", "stranger", "handler", "office", "nobody"]


def _sweep(world, operation, document, findings, session):
    """Each real path value (up to SWEEP of them) by each caller, with the documented
    example body: every real case in its real state is read, and acted on, by everyone."""
    names = [p.name for p in operation.path_parameters]
    method = operation.method.lower()
    media = document["paths"][operation.path][method].get("requestBody", {}).get("content", {})
    if "example" in media.get("application/json", {}):
        body = {"body": media["application/json"]["example"], "media_type": "application/json"}
    elif operation.path.endswith("/attachments") and method == "post":
        body = {"body": JPEG, "media_type": "application/octet-stream"}
    elif media:
        return  # Open311's form and WeChat's XML: generated only
    else:
        body = {}
    values = [dict(zip(names, combination)) for combination in
              itertools.product(*(world.values[name] for name in names))][:SWEEP]
    for path_parameters in values:
        for who in PEOPLE:
            case = operation.Case(path_parameters=path_parameters, **body)
            _check(world, operation, case, who, findings, session)


def _fuzz(world, operation, mode, examples, findings, session):
    """Requests generated from the document; in positive mode most path parameters are
    replaced by real ones."""
    known = {p.name: st.sampled_from([*world.values[p.name], None])
             for p in operation.path_parameters if world.values.get(p.name)}
    upload = operation.path.endswith("/attachments") and operation.method.lower() == "post"

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode),
           who=st.sampled_from(_callers(operation)), real=st.fixed_dictionaries(known),
           photo=st.booleans())
    def run(case, who, real, photo):
        if mode is GenerationMode.POSITIVE:
            case.path_parameters.update({k: v for k, v in real.items() if v is not None})
            if upload and photo:
                case.body, case.media_type = JPEG, "application/octet-stream"
        _check(world, operation, case, who, findings, session)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing in the operation can be made invalid


class MethodCheck:
    """Stands in for a Schemathesis operation in a finding about an undocumented method."""

    def __init__(self, method, path):
        self.label, self.path = f"{method} {path}", path


class Refusal:
    title = "Undocumented method not refused as documented"

    def __init__(self, message):
        self.message = message


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


def _undocumented_methods(world, document, findings, session):
    """The document says every path answers 405 with Allow to a method it does not list:
    in the one error shape, Open311's under /open311/."""
    api_error = Draft7Validator({**document["components"]["schemas"]["Error"],
                                 "components": document["components"]})
    open311_error = Draft7Validator({"type": "array", "minItems": 1, "items": document[
        "components"]["schemas"]["Open311Error"]})
    for path, item in document["paths"].items():
        url = world.url + re.sub(r"\{(\w+)\}", lambda m: world.values[m.group(1)][0], path)
        documented = {method.upper() for method in item}
        for method in sorted(set(METHODS) - documented):
            response = session.request(method, url, headers=_headers("office"), timeout=30)
            findings.count(MethodCheck("any other method", "(every path)"), response)
            problems = []
            if response.status_code != 405:
                problems.append(f"status {response.status_code}, not 405")
            allow = {m.strip() for m in response.headers.get("Allow", "").split(",") if m}
            if not documented <= allow <= documented | {"HEAD", "OPTIONS"}:
                problems.append(f"Allow: {sorted(allow)}, documented: {sorted(documented)}")
            validator = open311_error if path.startswith("/open311/") else api_error
            try:
                errors = list(validator.iter_errors(response.json()))
            except ValueError:
                errors = ["not JSON"]
            if errors:
                problems.append(f"body not in the documented error shape: {errors[0]}")
            if problems:
                findings.add(Finding(MethodCheck(method, path), Refusal("; ".join(problems)),
                                     response, {"method": method, "url": url}, "office"))


def _refusals(world, operations, findings, session):
    """What generated requests do not send: a body over the limit, a body that is not JSON,
    a chunked upload, a Transfer-Encoding the server does not take. Each refusal must be a
    documented status in the documented shape."""
    for operation in operations:
        method, path = operation.method.upper(), operation.path
        if not path.startswith(("/api/", "/hotline/")):
            continue
        params = {p.name: world.values[p.name][0] for p in operation.path_parameters}
        case = operation.Case(path_parameters=params)
        url = world.url + case.formatted_path
        headers = _headers("handler" if "/staff/" in path else "student")
        # (on a connection of its own: after this refusal, the next answer on a kept-alive
        # connection was once seen garbled, '<!DOCTYPE HTML>' for a status line; reported)
        sends = [dict(headers={**headers, "Transfer-Encoding": "gzip", "Connection": "close"})]
        if method == "POST" and path.endswith("/attachments"):
            sends.append(dict(headers=headers, data=iter([JPEG])))   # chunked: 411
        elif method == "POST":
            sends += [dict(headers={**headers, "Content-Type": "application/json"},
                           data=b'{"x": "' + b"x" * 70_000 + b'"}'),
                      dict(headers={**headers, "Content-Type": "text/plain"}, data=b"{}")]
        for send in sends:
            prepared = session.prepare_request(requests.Request(method, url, **send))
            if "Transfer-Encoding" in send["headers"]:
                # no Content-Length beside it: eventlet itself would refuse the pair, in plain
                # text, before the gateway sees the request (HTTP framing, not the API)
                prepared.headers.pop("Content-Length", None)
            response = session.send(prepared, timeout=30)
            findings.count(operation, response)
            sent = {"method": method, "url": url, "headers": {
                k: v for k, v in send["headers"].items() if k != "Authorization"}}
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                for failure in group.exceptions:
                    findings.add(Finding(operation, failure, response, sent, "handler"))


@pytest.mark.timeout(900)
def test_every_answer_matches_the_served_document(system):
    world = _build_world(system.url)
    schema = schemathesis.openapi.from_url(f"{system.url}/api/v1/openapi.json")
    findings = Findings()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    with requests.Session() as session:
        _undocumented_methods(world, schema.raw_schema, findings, session)
        _refusals(world, operations, findings, session)
        for operation in operations:
            _sweep(world, operation, schema.raw_schema, findings, session)
        for operation in operations:
            _fuzz(world, operation, GenerationMode.POSITIVE, POSITIVE, findings, session)
            _fuzz(world, operation, GenerationMode.NEGATIVE, NEGATIVE, findings, session)
    elapsed = time.monotonic() - started
    calls = sum(sum(counts.values()) for counts in findings.statuses.values())
    print(f"\nschemathesis: {calls} requests to {len(findings.statuses)} operations in "
          f"{elapsed:.0f} s\n{findings.report()}")
    succeeded = {label for label, counts in findings.statuses.items()
                 if any(200 <= status < 300 for status in counts)}
    assert len(succeeded) >= len(findings.statuses) // 2, "too few requests got through"
    new = [str(f) for f in findings.first.values() if not findings.explained(f)]
    assert not new, "\n\n".join(new)
