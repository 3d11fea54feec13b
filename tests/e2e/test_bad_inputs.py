"""Bad inputs as a table (issue 10: points 7, 8, 10, 11 and the usual families): every one
is a 4xx in the one error shape {"error": {"code", "message", "fields"?}}, answered at all
within a generous bound (a hang guard, not a speed test), and the system answers normally
afterwards. One system for the whole module."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import requests

from tests.conftest import JWT_SECRET, token_for, wait_until
from tests.e2e.module_system import module_system_fixture

pytestmark = pytest.mark.e2e

system = module_system_fixture()

HANG_GUARD_SECONDS = 5
PEOPLE = {
    "student": dict(sub="s-bad-1", name="张三", roles=("complainant",)),
    "handler": dict(sub="u-hqc-1", name="冯涛", roles=("handler",), unit="logistics"),
    "head": dict(sub="u-hqc-head", name="郑国强", roles=("head",), unit="logistics"),
    "office": dict(sub="u-office-1", name="李晓梅", roles=("office",), unit="office"),
}
FILING = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
          "pledge": True}


def bearer(who: str) -> str:
    person = dict(PEOPLE[who])
    return f"Bearer {token_for(person.pop('sub'), **person)}"


def signed(**claims) -> str:
    return "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def now() -> int:
    return int(time.time())


@dataclass
class Bad:
    """One bad request. `path` may name {case} (a logistics case at `assigned`, filed by
    the student); `body` is sent as JSON, `raw` as it is."""
    id: str
    method: str
    path: str
    who: str | None = "student"
    body: object = None
    raw: bytes | str | None = None
    content_type: str | None = None
    params: dict | None = None
    headers: dict = field(default_factory=dict)
    status: int = 400
    code: str | None = None
    marks: tuple = ()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth



FILE = "/api/v1/complaints"
CASE = "/api/v1/staff/cases/{case}"
SOON = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()

CASES = [
    # ---- point 7: 500s that must be 400s
    Bad("deep-nesting-filing", "POST", FILE,
        raw='{"category": "logistics", "content": ' + nested(20_000) + "}",
        code="too_deep"),
    Bad("deep-nesting-rating", "POST", "/api/v1/complaints/{case}/rating",
        raw='{"level": ' + nested(20_000) + "}", code="too_deep"),
    Bad("deep-nesting-action", "POST", CASE + "/return_case", who="handler",
        raw='{"reason": ' + nested(20_000) + "}", code="too_deep"),
    Bad("deep-nesting-extension", "POST", CASE + "/extensions", who="handler",
        raw='{"reason": ' + nested(20_000) + "}", code="too_deep"),
    Bad("deep-nesting-timetable", "POST", CASE + "/timetable", who="handler",
        raw='{"milestones": ' + nested(20_000) + "}", code="too_deep"),
    Bad("nesting-deeper-than-any-form", "POST", FILE,
        raw='{"category": "logistics", "content": ' + nested(200) + "}", code="too_deep"),
    Bad("lone-surrogate-in-content", "POST", FILE,
        raw='{"category": "logistics", "content": "热水停了\\ud800两天了", "pledge": true}',
        code="invalid_input"),
    Bad("lone-surrogate-in-a-key", "POST", FILE,
        raw='{"category": "logistics", "content": "热水停了两天了", "pledge": true, '
            '"\\udfff": 1}', code="invalid_input"),
    Bad("lone-surrogate-deep-in-a-list", "POST", CASE + "/timetable", who="handler",
        raw='{"milestones": [{"title": "\\ud83d", "due_at": "' + SOON + '"}]}',
        code="invalid_input"),
    Bad("offset-beyond-bigint-cases", "GET", "/api/v1/staff/cases", who="office",
        params={"offset": "9223372036854775808"}, code="invalid_input"),
    Bad("offset-beyond-bigint-calls", "GET", "/api/v1/staff/hotline/calls", who="office",
        params={"offset": "9223372036854775808"}, code="invalid_input"),
    Bad("limit-huge", "GET", "/api/v1/staff/cases", who="office",
        params={"limit": "1" + "0" * 30}, code="invalid_input"),
    Bad("due-before-overflows-utc", "GET", "/api/v1/staff/cases", who="office",
        params={"due_before": "9999-12-31T23:59:59-23:59"}, code="invalid_input"),
    Bad("communication-at-overflows-utc", "POST", CASE + "/communications", who="handler",
        body={"kind": "phone", "at": "9999-12-31T23:59:59-23:59", "with_whom": "诉求人",
              "summary": "已沟通维修安排"}, code="invalid_input"),
    Bad("communication-at-underflows-utc", "POST", CASE + "/communications", who="handler",
        body={"kind": "phone", "at": "0001-01-01T00:00:00+14:00", "with_whom": "诉求人",
              "summary": "已沟通维修安排"}, code="invalid_input"),
    Bad("extension-overflows-utc", "POST", CASE + "/extensions", who="handler",
        body={"reason": "需要采购配件", "new_due_at": "9999-12-31T23:59:59-23:59"},
        code="invalid_input"),
    Bad("timetable-underflows-utc", "POST", CASE + "/timetable", who="handler",
        body={"milestones": [{"title": "采购配件", "due_at": "0001-01-01T00:00:00+14:00"}]},
        code="invalid_input"),
    Bad("timetable-year-9999", "POST", CASE + "/timetable", who="handler",
        body={"milestones": [{"title": "采购配件", "due_at": "9999-01-01T00:00:00+08:00"}]},
        code="invalid_input"),
    Bad("extension-year-3000", "POST", CASE + "/extensions", who="handler",
        body={"reason": "需要采购配件", "new_due_at": "3000-01-01T00:00:00+08:00"},
        code="invalid_input"),
    Bad("communication-dated-0001", "POST", CASE + "/communications", who="handler",
        body={"kind": "phone", "at": "0001-01-02T00:00:00+00:00", "with_whom": "诉求人",
              "summary": "已沟通维修安排"}, code="invalid_input"),
    Bad("token-roles-a-number", "GET", FILE, who=None,
        headers={"Authorization": signed(sub="s-bad-1", roles=5, iat=now(), exp=now() + 600)},
        status=401, code="unauthorized"),
    # ---- point 8: tokens
    Bad("token-without-exp", "GET", FILE, who=None,
        headers={"Authorization": signed(sub="s-bad-1", roles=["complainant"], iat=now())},
        status=401, code="unauthorized"),
    Bad("token-without-iat", "GET", FILE, who=None,
        headers={"Authorization": signed(sub="s-bad-1", roles=["complainant"],
                                         exp=now() + 600)},
        status=401, code="unauthorized"),
    Bad("token-living-a-year", "GET", FILE, who=None,
        headers={"Authorization": signed(sub="s-bad-1", roles=["complainant"], iat=now(),
                                         exp=now() + 365 * 86400)},
        status=401, code="unauthorized"),
    Bad("token-unknown-role", "GET", "/api/v1/staff/cases", who=None,
        headers={"Authorization": signed(sub="x-1", roles=["admin"], iat=now(),
                                         exp=now() + 600)},
        status=401, code="unauthorized"),
    Bad("token-role-an-object", "GET", FILE, who=None,
        headers={"Authorization": signed(sub="s-bad-1", roles=[{"role": "office"}],
                                         iat=now(), exp=now() + 600)},
        status=401, code="unauthorized"),
    Bad("token-alg-none", "GET", FILE, who=None,
        headers={"Authorization": "Bearer " + jwt.encode(
            {"sub": "s-bad-1", "iat": now(), "exp": now() + 600}, None, algorithm="none")},
        status=401, code="unauthorized"),
    # ---- point 10: loose validation
    Bad("duplicate-keys", "POST", FILE,
        raw='{"category": "logistics", "content": "热水停了两天了请尽快修", "pledge": false, '
            '"pledge": true}', code="duplicate_key"),
    Bad("duplicate-keys-nested", "POST", CASE + "/timetable", who="handler",
        raw='{"milestones": [{"title": "采购", "title": "安装", "due_at": "' + SOON + '"}]}',
        code="duplicate_key"),
    Bad("charset-latin-1", "POST", FILE, raw=json.dumps(FILING),
        content_type="application/json; charset=latin-1", status=415,
        code="unsupported_media_type"),
    Bad("charset-utf-16", "POST", FILE, raw=json.dumps(FILING).encode("utf-16"),
        content_type="application/json; charset=utf-16", status=415,
        code="unsupported_media_type"),
    Bad("content-only-spaces", "POST", FILE, body=dict(FILING, content=" " * 20),
        code="invalid_input"),
    Bad("phone-with-newline", "POST", FILE, body=dict(FILING, contact_phone="13812345678\n"),
        code="invalid_input"),
    # ---- point 11: the error contract's own statuses
    Bad("options", "OPTIONS", FILE, status=405, code="method_not_allowed"),
    Bad("trace", "TRACE", FILE, status=405, code="method_not_allowed"),
    Bad("put-on-a-list", "PUT", FILE, body=FILING, status=405, code="method_not_allowed"),
    Bad("delete-a-case", "DELETE", "/api/v1/complaints/{case}", status=405,
        code="method_not_allowed"),
    Bad("get-an-action", "GET", CASE + "/sign_for", who="handler", status=405,
        code="method_not_allowed"),
    Bad("post-to-categories", "POST", "/api/v1/categories", body={}, status=405,
        code="method_not_allowed"),
    Bad("patch-a-staff-case", "PATCH", CASE, who="office", body={}, status=405,
        code="method_not_allowed"),
    Bad("a-method-no-route-names", "PROPFIND", FILE, status=405, code="method_not_allowed"),
    Bad("post-to-healthz", "POST", "/healthz", who=None, body={}, status=405,
        code="method_not_allowed"),
    Bad("the-root", "GET", "/", who=None, status=404, code="not_found"),
    Bad("head-on-a-post-route", "HEAD", "/api/v1/complaints/{case}/rating", status=405,
        code="method_not_allowed"),
    Bad("upload-without-length", "POST", "/api/v1/complaints/{case}/attachments",
        raw=iter([b"\xff\xd8\xff\xe0" + b"0" * 100]), content_type="image/jpeg", status=411,
        code="length_required"),
    Bad("body-too-large", "POST", FILE, raw='{"content": "' + "x" * 70_000 + '"}',
        status=413, code="body_too_large"),
    Bad("form-instead-of-json", "POST", FILE, raw="category=logistics",
        content_type="application/x-www-form-urlencoded", status=415,
        code="unsupported_media_type"),
    # ---- wrong types
    Bad("content-a-number", "POST", FILE, body=dict(FILING, content=12345),
        code="invalid_input"),
    Bad("category-a-list", "POST", FILE, body=dict(FILING, category=["logistics"]),
        code="invalid_input"),
    Bad("anonymous-a-list", "POST", FILE, body=dict(FILING, anonymous=[True]),
        code="invalid_input"),
    Bad("body-an-array", "POST", FILE, raw="[1, 2]", code="malformed_json"),
    Bad("body-null", "POST", FILE, raw="null", code="malformed_json"),
    Bad("body-a-string", "POST", FILE, raw='"logistics"', code="malformed_json"),
    Bad("body-empty-object", "POST", FILE, body={}, code="invalid_input"),
    Bad("body-not-utf8", "POST", FILE, raw=b'{"content": "\xff\xfe"}', code="malformed_json"),
    Bad("rating-level-a-number", "POST", "/api/v1/complaints/{case}/rating",
        body={"level": 1}, code="invalid_input"),
    Bad("reason-an-object", "POST", CASE + "/return_case", who="handler",
        body={"reason": {"text": "不归我们管"}}, code="invalid_input"),
    Bad("extension-date-a-number", "POST", CASE + "/extensions", who="handler",
        body={"reason": "需要采购配件", "new_due_at": 1767225600}, code="invalid_input"),
    Bad("extension-date-naive", "POST", CASE + "/extensions", who="handler",
        body={"reason": "需要采购配件", "new_due_at": "2030-01-01T00:00:00"},
        code="invalid_input"),
    Bad("unknown-query-parameter", "GET", "/api/v1/staff/cases", who="office",
        params={"drop": "table"}, code="invalid_input"),
    Bad("negative-offset", "GET", "/api/v1/staff/cases", who="office",
        params={"offset": "-1"}, code="invalid_input"),
    Bad("limit-not-a-number", "GET", "/api/v1/staff/hotline/calls", who="office",
        params={"limit": "ten"}, code="invalid_input"),
    # ---- unicode controls, RTL marks, emoji
    Bad("nul-in-content", "POST", FILE, body=dict(FILING, content="热水停了两天了\x00请修"),
        code="invalid_input"),
    Bad("bell-in-reason", "POST", CASE + "/return_case", who="handler",
        body={"reason": "不归\x07我们管"}, code="invalid_input"),
    Bad("rtl-override-in-content", "POST", FILE,
        body=dict(FILING, content="热水停了两天了\u202egnp.exe"), code="invalid_input"),
    Bad("rtl-mark-in-category", "POST", FILE, body=dict(FILING, category="logistics\u200f"),
        code="invalid_input"),
    Bad("rtl-isolate-in-location", "POST", FILE,
        body=dict(FILING, location="\u2067三号楼\u2069"), code="invalid_input"),
    Bad("emoji-category", "POST", FILE, body=dict(FILING, category="🔥"), code="invalid_input"),
    Bad("emoji-rating-level", "POST", "/api/v1/complaints/{case}/rating",
        body={"level": "😀"}, code="invalid_input"),
    Bad("emoji-idempotency-key", "POST", FILE, body=FILING,
        headers={"Idempotency-Key": "key-😀-1234".encode()}, code="invalid_idempotency_key"),
    # ---- huge numbers
    Bad("number-of-5000-digits", "POST", FILE, raw='{"category": "logistics", "content": '
        + "9" * 5000 + "}", code="malformed_json"),
    Bad("float-overflowing", "POST", FILE,
        raw='{"category": "logistics", "content": "热水停了两天了", "urgent": 1e999}',
        code="malformed_json"),
    Bad("nan", "POST", FILE, raw='{"category": "logistics", "content": NaN}',
        code="malformed_json"),
    Bad("infinity", "POST", "/api/v1/complaints/{case}/rating",
        raw='{"level": -Infinity}', code="malformed_json"),
    # ---- oversize fields within the body limit
    Bad("content-too-long", "POST", FILE, body=dict(FILING, content="水" * 6000),
        code="invalid_input"),
    Bad("id-of-5000-characters", "GET", "/api/v1/complaints/" + "a" * 5000, status=404,
        code="not_found"),
    # ---- traversal and odd ids
    Bad("traversal-in-case-id", "GET", "/api/v1/complaints/..%2F..%2Fetc%2Fpasswd",
        status=404, code="not_found"),
    Bad("traversal-in-attachment", "GET",
        "/api/v1/complaints/{case}/attachments/..%2F..%2F..%2Fetc%2Fpasswd", status=404,
        code="not_found"),
    Bad("dot-dot-attachment", "GET", "/api/v1/complaints/{case}/attachments/..",
        status=404, code="not_found"),
    Bad("nul-in-case-id", "GET", "/api/v1/complaints/%00", status=404, code="not_found"),
    Bad("sql-in-case-id", "GET", "/api/v1/complaints/'%20OR%201=1--", status=404,
        code="not_found"),
    Bad("traversal-in-unit", "GET", "/api/v1/staff/units/..%2Foffice/figures", who="head",
        status=404, code="not_found"),
    Bad("unknown-action", "POST", CASE + "/delete", who="office", body={}, status=404,
        code="not_found"),
    Bad("post-on-the-deadlines", "POST", CASE + "/deadlines", who="office", body={},
        status=405, code="method_not_allowed"),
    Bad("post-on-the-audit", "POST", CASE + "/audit", who="office", body={}, status=405,
        code="method_not_allowed"),
    # ---- points 6 and 9
    Bad("dispatch-to-unknown-unit", "POST", CASE + "/dispatch", who="office",
        body={"unit_id": "no-such-unit"}, code="invalid_input"),
    Bad("figures-of-unknown-unit", "GET", "/api/v1/staff/units/no-such-unit/figures",
        who="office", status=404, code="not_found"),
    Bad("extension-decades-ahead", "POST", CASE + "/extensions", who="handler",
        body={"reason": "需要采购配件", "new_due_at": "2090-01-01T00:00:00+08:00"},
        code="invalid_input"),
    Bad("timetable-decades-ahead", "POST", CASE + "/timetable", who="handler",
        body={"milestones": [{"title": "采购配件", "due_at": "2099-01-01T00:00:00+08:00"}]},
        code="invalid_input"),
    Bad("communication-before-filing", "POST", CASE + "/communications", who="handler",
        body={"kind": "phone", "at": "1999-01-02T00:00:00+00:00", "with_whom": "诉求人",
              "summary": "已沟通维修安排"},
        code="invalid_input"),
    # ---- the office's routes (issue 12): periods no date can be made of were 500s, and so
    # was a NUL in an id of the exclusions' filter
    *[Bad(f"assessment-period-{period}", "GET", f"/api/v1/staff/assessment{xlsx}",
          who="office", params={"period": period}, code="invalid_input")
      for period in ("0000-01", "9999-12", "2100-01", "1969-12", "2026-00")
      for xlsx in ("", ".xlsx")],
    Bad("publish-period-0000-01", "POST", "/api/v1/staff/assessment/0000-01/publish",
        who="office", body={}, code="invalid_input"),
    Bad("publish-period-9999-12", "POST", "/api/v1/staff/assessment/9999-12/publish",
        who="office", body={}, code="invalid_input"),
    Bad("publish-period-with-newline", "POST", "/api/v1/staff/assessment/2026-11%0A/publish",
        who="office", body={}, code="invalid_input"),
    Bad("publish-reason-with-nul", "POST", "/api/v1/staff/assessment/2026-11/publish",
        who="office", body={"reason": "更正\x00"}, code="invalid_input"),
    Bad("exclusions-unit-with-nul", "GET", "/api/v1/staff/exclusions", who="office",
        params={"unit_id": "logistics\x00"}, code="invalid_input"),
    Bad("exclusions-case-with-nul", "GET", "/api/v1/staff/exclusions", who="office",
        params={"complaint_id": "\x00' OR 1=1"}, code="invalid_input"),
    Bad("exclusion-reason-with-nul", "POST", CASE + "/exclusions", who="handler",
        body={"reason": "非本单位\x00职责"}, code="invalid_input"),
    Bad("exclusion-decision-nul-id", "POST", "/api/v1/staff/exclusions/%00/decision",
        who="office", body={"decision": "approve"}, status=404, code="not_found"),
    # a period no date can be made of, a week its year has not, a month given as a week
    *[Bad(f"summary-{kind}-{period}", "POST", "/api/v1/staff/summaries", who="office",
          body={"kind": kind, "period": period}, code="invalid_input")
      for kind, period in (("monthly", "0000-01"), ("monthly", "9999-12"),
                           ("weekly", "9999-W52"), ("weekly", "2025-W53"),
                           ("weekly", "2026-11"))],
    Bad("hot-topics-year-0", "GET", "/api/v1/staff/analysis/hot-topics", who="office",
        params={"from": "0001-01-01", "to": "9999-12-31"}, code="invalid_input"),
    Bad("seasonal-end-year-9999", "GET", "/api/v1/staff/analysis/seasonal", who="office",
        params={"end": "9999-12"}, code="invalid_input"),
    Bad("campaign-name-with-nul", "POST", "/api/v1/staff/campaigns", who="office",
        body={"name": "热水\x00", "lead_unit": "logistics", "target_date": "2027-01-01",
              "scope": {}}, code="invalid_input"),
    Bad("callback-comment-with-nul", "POST", CASE + "/callback", who="office",
        body={"level": "satisfied", "contacted": True, "solved": True, "comment": "好\x00"},
        code="invalid_input"),
    Bad("query-of-a-thousand-keys", "GET", "/api/v1/staff/exclusions", who="office",
        params=[(f"k{n}", "x") for n in range(1000)], code="invalid_input"),
    Bad("query-key-given-twice", "GET", "/api/v1/staff/campaigns", who="office",
        params=[("status", "open"), ("status", "closed")], code="invalid_input"),
    *[Bad(f"ten-megabytes-to-{name}", "POST", path, who="office",
          raw=b'{"x": "' + b"x" * (10 * 1024 * 1024) + b'"}', status=413,
          code="body_too_large")
      for name, path in (("publish", "/api/v1/staff/assessment/2026-11/publish"),
                         ("exclusions", CASE + "/exclusions"),
                         ("summaries", "/api/v1/staff/summaries"),
                         ("campaigns", "/api/v1/staff/campaigns"),
                         ("callback", CASE + "/callback"))],
    Bad("ten-megabytes-chunked", "POST", "/api/v1/staff/campaigns", who="office",
        raw=(b"x" * (1024 * 1024) for _ in range(10)), status=413, code="body_too_large"),
]


@pytest.fixture(scope="module")
def case_id(system):
    """A logistics case at `assigned`, filed by the student."""
    reply = requests.post(f"{system.url}{FILE}", json=FILING,
                          headers={"Authorization": bearer("student")}, timeout=30)
    assert reply.status_code == 201, reply.text
    case = reply.json()["id"]

    def assigned():
        seen = requests.get(f"{system.url}/api/v1/staff/cases/{case}",
                            headers={"Authorization": bearer("office")}, timeout=30)
        return seen.status_code == 200 and seen.json()["status"] == "assigned"
    wait_until(assigned, timeout=30, message="the case is assigned")
    return case


def send(system, bad: Bad, case: str) -> requests.Response:
    headers = dict(bad.headers)
    if bad.who:
        headers["Authorization"] = bearer(bad.who)
    kwargs = {}
    if bad.raw is not None:
        headers["Content-Type"] = bad.content_type or "application/json"
        kwargs["data"] = bad.raw.encode() if isinstance(bad.raw, str) else bad.raw
    elif bad.body is not None:
        kwargs["json"] = bad.body
    url = system.url + bad.path.format(case=case)
    return requests.request(bad.method, url, params=bad.params, headers=headers,
                            timeout=HANG_GUARD_SECONDS * 6, **kwargs)


def assert_error_shape(reply: requests.Response, status: int, code: str | None) -> dict:
    assert reply.status_code == status, (reply.status_code, reply.text[:500])
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    if reply.request.method == "HEAD":
        return {}
    error = reply.json()["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert error["message"].strip(), error
    assert "fields" not in error or isinstance(error["fields"], dict), error
    if code:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.id, marks=b.marks) for b in CASES])
def test_a_bad_request_is_a_clean_4xx(system, case_id, bad):
    started = time.monotonic()
    reply = send(system, bad, case_id)
    elapsed = time.monotonic() - started

    error = assert_error_shape(reply, bad.status, bad.code)
    assert elapsed < HANG_GUARD_SECONDS, f"answered after {elapsed:.1f}s"
    if bad.status == 405:
        assert reply.headers.get("Allow"), reply.headers
        assert bad.method not in reply.headers["Allow"]
    if bad.status == 400 and error.get("fields"):
        # the message names what is wrong, not only "invalid input"
        assert any(name in error["message"] for name in error["fields"]), error
    # ... and the system still answers afterwards
    assert requests.get(f"{system.url}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{system.url}/api/v1/categories", timeout=10).status_code == 200


# ----------------------------------------------------------- the office's routes, by hand
def office(system, method, path, **kwargs) -> requests.Response:
    return requests.request(method, system.url + path, timeout=HANG_GUARD_SECONDS * 6,
                            headers={"Authorization": bearer(kwargs.pop("who", "office"))},
                            **kwargs)


@pytest.mark.parametrize("period", ["1970-01", "2099-12"])
def test_figures_and_the_workbook_of_a_period_without_data_answer_at_once(system, period):
    """The first and last periods there are: nothing in them, figures all the same."""
    from io import BytesIO

    import openpyxl

    started = time.monotonic()
    figures = office(system, "GET", "/api/v1/staff/assessment", params={"period": period})
    assert figures.status_code == 200, figures.text
    rows = [row for group in figures.json()["groups"].values() for row in group]
    assert rows and not any(row["rated"] or row["dispatched"] for row in rows)   # all listed
    book = office(system, "GET", "/api/v1/staff/assessment.xlsx", params={"period": period})
    assert book.status_code == 200, book.text[:300]
    assert "案件台账" in openpyxl.load_workbook(BytesIO(book.content)).sheetnames
    assert time.monotonic() - started < HANG_GUARD_SECONDS * 2
    published = office(system, "POST", f"/api/v1/staff/assessment/{period}/publish", json={})
    # the last period is not over: nothing is frozen before its end
    assert published.status_code == (200 if period == "1970-01" else 409), published.text


def test_a_summary_of_the_first_month_there_is_is_made(system):
    made = office(system, "POST", "/api/v1/staff/summaries",
                  json={"kind": "monthly", "period": "1970-01"})
    assert made.status_code in (200, 201), made.text
    assert office(system, "GET", f"/api/v1/staff/summaries/{made.json()['id']}.xlsx"
                  ).status_code == 200


def test_an_exclusion_decided_twice_at_once_is_decided_once(system, case_id):
    """Two office workers press approve and refuse together: one wins, the other is told it
    was decided (409), and the request keeps the winner's decision."""
    from concurrent.futures import ThreadPoolExecutor

    asked = wait_until(lambda: (lambda reply: reply if reply.status_code in (201, 409)
                                else None)(office(
        system, "POST", f"/api/v1/staff/cases/{case_id}/exclusions", who="handler",
        json={"reason": "该诉求属于地方政府职责,非本单位可办"})), timeout=60,
        message="rating knows the case")
    if asked.status_code == 409:   # asked by an earlier run of this module's case
        pending = office(system, "GET", "/api/v1/staff/exclusions",
                         params={"complaint_id": case_id, "status": "requested"}).json()
        assert pending, "the case's exclusion was decided already"
        exclusion = pending[0]["id"]
    else:
        exclusion = asked.json()["id"]
    path = f"/api/v1/staff/exclusions/{exclusion}/decision"
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda decision: office(system, "POST", path,
                                                        json={"decision": decision}),
                                ["approve", "refuse"]))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    loser = next(a for a in answers if a.status_code == 409).json()["error"]
    assert loser["code"] == "already_decided"
    [kept] = office(system, "GET", "/api/v1/staff/exclusions",
                    params={"complaint_id": case_id}).json()
    assert kept["status"] == winner["status"]


def test_a_query_longer_than_the_server_reads_is_refused_at_once(system):
    """Past the request line's limit the server refuses (414) before any route runs."""
    started = time.monotonic()
    reply = office(system, "GET", "/api/v1/staff/assessment",
                   params={"period": "2026-11", "x": "y" * 100_000})
    assert 400 <= reply.status_code < 500
    assert time.monotonic() - started < HANG_GUARD_SECONDS
    assert requests.get(f"{system.url}/healthz", timeout=10).status_code == 200
