"""The authorization matrix (issue 10): every kind of caller against every route and staff
action, each answered as docs/LIFECYCLE.md and the OpenAPI document say: 200/201 for who may,
409 for who may but not in this state, 404 for who may not (never 403: nobody learns that a
case, or the staff API, exists), 401 for a token that is missing, expired, forged, unsigned
or without an expiry.

A table: ROUTES × CALLERS, one test per cell. Each cell runs against a case in the state its
row names: a shared one when the answer changes nothing, a fresh one when the caller may act
(a 2xx changes the case). One running system for the whole module."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
import pytest
import requests

from services.common.rating_link import sign
from services.common.signing import hmac_signature
from tests.conftest import JWT_SECRET, token_for, wait_until
from tests.e2e.module_system import module_system_fixture
from tests.e2e.test_lifecycle import PEOPLE as LIFECYCLE_PEOPLE

pytestmark = pytest.mark.e2e

CTI_SECRET = "cti-secret-for-the-matrix"
RATING_LINK_SECRET = "rating-link-secret-for-the-matrix"
system = module_system_fixture(JIESU_HOTLINE_WEBHOOK_SECRETS=json.dumps([CTI_SECRET]),
                               JIESU_RATING_LINK_SECRET=RATING_LINK_SECRET)

# ------------------------------------------------------------------------------ callers
# The lifecycle tests' people (config/org.yaml: logistics gets the cases, security is the
# other unit, l-vp-logistics supervises logistics), under the names of this table.
PEOPLE = {
    **{mine: LIFECYCLE_PEOPLE[theirs] for mine, theirs in (
        ("owner", "student"), ("stranger", "stranger"), ("handler", "handler"),
        ("head", "head"), ("other_handler", "security"), ("office", "office"),
        ("leader", "leader"), ("other_leader", "other_leader"))},
    "other_head": dict(sub="u-bwc-head", name="卫东升", roles=("head",), unit="security"),
}
OFFICE_CLAIMS = {"sub": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}


def _bad_tokens() -> dict:
    """Credentials that must not open anything, each made with the office's own claims."""
    issued = int(time.time())
    lifetime = {"iat": issued, "exp": issued + 3600}
    return {
        "no_token": None,
        "expired": token_for("u-office-1", "李晓梅", roles=("office",), unit="office",
                             now=issued - 7200),
        "wrong_secret": jwt.encode({**OFFICE_CLAIMS, **lifetime},
                                   "someone-elses-secret-0123456789abcdef", algorithm="HS256"),
        "alg_none": jwt.encode({**OFFICE_CLAIMS, **lifetime}, None, algorithm="none"),
        "no_exp": jwt.encode({**OFFICE_CLAIMS, "iat": issued}, JWT_SECRET, algorithm="HS256"),
    }


BAD = tuple(_bad_tokens())
CALLERS = (*PEOPLE, *BAD)
STAFF = ("handler", "head", "other_handler", "other_head", "office", "leader", "other_leader")
EVERYONE = (*PEOPLE,)
UNIT = ("handler", "head")   # the unit the logistics cases go to
READERS = ("head", "other_head", "office", "leader", "other_leader")   # of the summaries


def headers_for(caller: str, tokens: dict) -> dict:
    if caller in PEOPLE:
        person = dict(PEOPLE[caller])
        return {"Authorization": f"Bearer {token_for(person.pop('sub'), **person)}"}
    token = tokens[caller]
    return {"Authorization": f"Bearer {token}"} if token else {}


# ------------------------------------------------------------------------------- routes
def soon(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()


FILING = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
          "pledge": True}
CALLBACK = {"level": "satisfied", "contacted": True, "solved": True, "comment": "电话回访满意"}
EXCLUSION = {"reason": "该诉求属于地方政府职责,非本单位可办"}
CAMPAIGN = {"name": "学生公寓热水专项治理", "lead_unit": "logistics",
            "target_date": (datetime.now(timezone.utc) + timedelta(days=60)).strftime("%Y-%m-%d"),
            "scope": {"categories": ["logistics"], "keywords": ["热水"]}}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


@dataclass
class Route:
    """One row: `who` maps callers to the status they get (anyone else: 404; the bad
    credentials: 401 unless `public`). `state` names the case the path's {case} is in;
    `fresh`: who gets a case of their own (their 2xx changes it)."""
    name: str
    method: str
    path: str
    who: dict
    state: str | None = None
    body: object = None
    raw: bytes | None = None
    public: bool = False
    fresh: tuple = ()
    # rating answers from its own projection of the bus: a caller who may act is asked again
    # until rating has heard of the case (404 or 409 before), within the wait's bound.
    eventual: bool = False

    def expected(self, caller: str) -> int:
        if caller in BAD and not self.public:
            return 401
        return self.who.get(caller, 404)


def given(status: int, *callers) -> dict:
    return {caller: status for caller in callers}


ROUTES = [
    # ---- anyone
    *[Route(f"public {path}", "GET", path, given(200, *CALLERS), public=True)
      for path in ("/api/v1/categories", "/api/v1/grades", "/api/v1/openapi.json",
                   "/healthz")],
    # ---- the complainant's API (anyone signed in acts there as a complainant; a case is
    # read by whoever may read it)
    Route("file", "POST", "/api/v1/complaints", given(201, *EVERYONE), body=FILING),
    Route("my cases", "GET", "/api/v1/complaints", given(200, *EVERYONE)),
    Route("case", "GET", "/api/v1/complaints/{case}",
          given(200, "owner", "handler", "head", "office"), "assigned"),
    Route("supervised case", "GET", "/api/v1/complaints/{case}",
          given(200, "owner", "handler", "head", "office", "leader"), "supervised"),
    Route("rating before the reply", "POST", "/api/v1/complaints/{case}/rating",
          given(409, "owner"), "assigned",
          {"level": "satisfied", "contacted": True, "solved": True, "comment": "好"}),
    Route("rating", "POST", "/api/v1/complaints/{case}/rating", given(201, "owner"),
          "replied", {"level": "satisfied", "contacted": True, "solved": True, "comment": "好"},
          fresh=("owner",)),
    Route("attach", "POST", "/api/v1/complaints/{case}/attachments",
          given(201, "owner", "handler", "head", "office"), "assigned", raw=JPEG),
    Route("attachment", "GET", "/api/v1/complaints/{case}/attachments/{sha}",
          given(200, "owner", "handler", "head", "office"), "assigned"),
    # ---- the staff API: complainants get 404, as if it did not exist
    Route("staff list", "GET", "/api/v1/staff/cases", given(200, *STAFF)),
    Route("staff case", "GET", "/api/v1/staff/cases/{case}",
          given(200, "handler", "head", "office"), "assigned"),
    Route("staff supervised case", "GET", "/api/v1/staff/cases/{case}",
          given(200, "handler", "head", "office", "leader"), "supervised"),
    Route("deadlines", "GET", "/api/v1/staff/cases/{case}/deadlines",
          given(200, "handler", "head", "office"), "assigned"),
    Route("audit", "GET", "/api/v1/staff/cases/{case}/audit", given(200, "office"),
          "assigned"),
    Route("figures", "GET", "/api/v1/staff/units/logistics/figures",
          given(200, "handler", "head", "office")),
    Route("proactive report", "POST", "/api/v1/staff/reports",
          given(201, "handler", "head", "other_handler", "other_head", "office"),
          body={"category": "logistics", "content": "巡查发现3号楼楼道灯损坏,需要维修"}),
    # the unit's actions
    Route("sign_for", "POST", "/api/v1/staff/cases/{case}/sign_for", given(200, *UNIT),
          "assigned", {}, fresh=UNIT),
    Route("sign_for signed", "POST", "/api/v1/staff/cases/{case}/sign_for",
          given(409, *UNIT), "signed", {}),
    Route("start before signing", "POST", "/api/v1/staff/cases/{case}/start",
          given(409, *UNIT), "assigned", {}),
    Route("start", "POST", "/api/v1/staff/cases/{case}/start", given(200, *UNIT), "signed",
          {}, fresh=UNIT),
    Route("communication", "POST", "/api/v1/staff/cases/{case}/communications",
          given(201, *UNIT), "assigned",
          {"kind": "phone", "at": "{now}", "with_whom": "诉求人", "summary": "已电话沟通"}),
    Route("reply before signing", "POST", "/api/v1/staff/cases/{case}/reply",
          given(409, *UNIT), "assigned", {"outcome": "solved", "text": "已修复热水器"}),
    Route("reply", "POST", "/api/v1/staff/cases/{case}/reply", given(200, *UNIT), "signed",
          {"outcome": "solved", "text": "已修复热水器"}, fresh=UNIT),
    Route("return_case", "POST", "/api/v1/staff/cases/{case}/return_case", given(200, *UNIT),
          "assigned", {"reason": "不属于本单位职责"}, fresh=UNIT),
    Route("return_case replied", "POST", "/api/v1/staff/cases/{case}/return_case",
          given(409, *UNIT), "replied", {"reason": "不属于本单位职责"}),
    # the office's actions
    Route("screen_out", "POST", "/api/v1/staff/cases/{case}/screen_out",
          given(200, "office"), "assigned", {"rule": "petition"}, fresh=("office",)),
    Route("screen_out signed", "POST", "/api/v1/staff/cases/{case}/screen_out",
          given(409, "office"), "signed", {"rule": "petition"}),
    Route("dispatch assigned", "POST", "/api/v1/staff/cases/{case}/dispatch",
          given(409, "office"), "assigned", {"unit_id": "logistics"}),
    Route("dispatch", "POST", "/api/v1/staff/cases/{case}/dispatch", given(200, "office"),
          "returned", {"unit_id": "logistics"}, fresh=("office",)),
    Route("dispatch supervised", "POST", "/api/v1/staff/cases/{case}/dispatch",
          given(409, "office"), "supervised", {"unit_id": "logistics"}),
    Route("link", "POST", "/api/v1/staff/cases/{case}/link", given(200, "office"), "assigned",
          {"other_id": "{other}"}),
    Route("merge into nothing", "POST", "/api/v1/staff/cases/{case}/merge",
          given(409, "office"), "assigned", {"into": "00000000-0000-0000-0000-000000000000"}),
    Route("classify classified", "POST", "/api/v1/staff/cases/{case}/classify",
          given(409, "office"), "assigned", {"category": "logistics"}),
    # the leader's
    Route("instruct", "POST", "/api/v1/staff/cases/{case}/instruct", given(200, "leader"),
          "supervised", {"text": "请后勤管理处三日内解决并回访"}, fresh=("leader",)),
    Route("instruct unsupervised", "POST", "/api/v1/staff/cases/{case}/instruct", {},
          "assigned", {"text": "请后勤管理处三日内解决并回访"}),
    # time limits
    Route("extension", "POST", "/api/v1/staff/cases/{case}/extensions", given(201, *UNIT),
          "assigned", {"reason": "需要采购配件", "new_due_at": "{in 30 days}"}, fresh=UNIT),
    Route("extension pending", "POST", "/api/v1/staff/cases/{case}/extensions",
          given(409, *UNIT), "extension",
          {"reason": "需要采购配件", "new_due_at": "{in 40 days}"}),
    Route("extension decision", "POST",
          "/api/v1/staff/cases/{case}/extensions/{extension}/decision",
          given(200, "head", "office"), "extension", {"approve": True, "note": "同意"},
          fresh=("head", "office")),
    Route("timetable", "POST", "/api/v1/staff/cases/{case}/timetable", given(201, *UNIT),
          "assigned", {"milestones": [{"title": "采购配件", "due_at": "{in 30 days}"}]},
          fresh=UNIT),
    Route("milestone", "POST", "/api/v1/staff/cases/{case}/timetable/{milestone}",
          given(200, *UNIT), "milestone", {"update": "feedback", "note": "配件已下单"}),
    # the office's phone 回访 (issue 12 §1)
    Route("callback", "POST", "/api/v1/staff/cases/{case}/callback", given(201, "office"),
          "replied", CALLBACK, fresh=("office",), eventual=True),
    Route("callback before the reply", "POST", "/api/v1/staff/cases/{case}/callback",
          given(409, "office"), "known", CALLBACK),
    # the SMS 回访 page: the signed link is the credential, whoever else is signed in
    Route("rating page", "GET", "/r/{token}", given(200, *CALLERS), "link", public=True),
    # 考核 (issue 12 §2, docs/ASSESSMENT.md "The API and who sees what", "Exclusions")
    Route("assessment", "GET", "/api/v1/staff/assessment?period={period}",
          given(200, *STAFF), "period"),
    Route("assessment by category", "GET",
          "/api/v1/staff/assessment?period={period}&by=category", given(200, *STAFF),
          "period"),
    Route("assessment xlsx", "GET", "/api/v1/staff/assessment.xlsx?period={period}",
          given(200, *STAFF), "period"),
    Route("publish", "POST", "/api/v1/staff/assessment/{period}/publish",
          given(200, "office"), "period", {}),
    Route("exclusion request", "POST", "/api/v1/staff/cases/{case}/exclusions",
          given(201, *UNIT), "known", EXCLUSION, fresh=UNIT, eventual=True),
    Route("exclusion pending", "POST", "/api/v1/staff/cases/{case}/exclusions",
          given(409, *UNIT), "exclusion", EXCLUSION),
    Route("exclusions", "GET", "/api/v1/staff/exclusions", given(200, *STAFF)),
    Route("exclusion decision", "POST", "/api/v1/staff/exclusions/{exclusion}/decision",
          given(200, "office"), "exclusion", {"decision": "approve", "note": "核实属实"},
          fresh=("office",)),
    Route("exclusion decided", "POST", "/api/v1/staff/exclusions/{exclusion}/decision",
          given(409, "office"), "decided", {"decision": "refuse"}),
    # 周汇总/月总结 (§3, docs/SUMMARIES.md "API"): handlers are told there are none
    Route("summaries", "GET", "/api/v1/staff/summaries", given(200, *READERS)),
    Route("generate a summary", "POST", "/api/v1/staff/summaries", given(201, "office"),
          body={"kind": "weekly", "period": "2026-W02"}),
    Route("summary", "GET", "/api/v1/staff/summaries/{summary}", given(200, *READERS),
          "summary"),
    Route("summary xlsx", "GET", "/api/v1/staff/summaries/{summary}.xlsx",
          given(200, *READERS), "summary"),
    # 分析研判 and 专项治理 (§5, docs/ANALYSIS.md "Who sees what"): a unit's staff their
    # unit's analysis; campaigns their unit leads or is named in (security is not)
    *[Route(f"analysis {name}", "GET", f"/api/v1/staff/analysis/{name}{query}",
            given(200, *STAFF)) for name, query in (
        ("hot-topics", "?from=2026-11-01&to=2026-11-30"), ("seasonal", ""), ("problems", ""))],
    Route("create a campaign", "POST", "/api/v1/staff/campaigns", given(201, "office"),
          body=CAMPAIGN),
    Route("campaigns", "GET", "/api/v1/staff/campaigns", given(200, *STAFF)),
    Route("campaign", "GET", "/api/v1/staff/campaigns/{campaign}",
          given(200, "handler", "head", "office", "leader", "other_leader"), "campaign"),
    Route("campaign suggestions", "GET", "/api/v1/staff/campaigns/{campaign}/suggestions",
          given(200, "office"), "campaign"),
    Route("attach", "POST", "/api/v1/staff/campaigns/{campaign}/cases", given(200, "office"),
          "campaign", {"complaint_ids": ["{case}"], "note": "同一热水问题"}, eventual=True),
    Route("detach", "POST", "/api/v1/staff/campaigns/{campaign}/cases/{case}/detach",
          given(200, "office"), "attached", {"note": "非热水问题"}, fresh=("office",)),
    Route("campaign milestone", "POST", "/api/v1/staff/campaigns/{campaign}/milestones",
          given(201, "office", "head"), "campaign", {"title": "完成3号楼热水器更换"}),
    Route("close a campaign", "POST", "/api/v1/staff/campaigns/{campaign}/close",
          given(200, "office"), "campaign", {"conclusion": "热水器已全部更换"},
          fresh=("office",)),
    Route("close a closed campaign", "POST", "/api/v1/staff/campaigns/{campaign}/close",
          given(409, "office"), "closed_campaign", {"conclusion": "热水器已全部更换"}),
    # the hotline
    Route("hotline calls", "GET", "/api/v1/staff/hotline/calls", given(200, "office")),
    Route("hotline call", "GET", "/api/v1/staff/hotline/calls/{call}", given(200, "office"),
          "call"),
    Route("file for a caller", "POST", "/api/v1/staff/hotline/calls/{call}/complaints",
          given(201, "office"), "call",
          {"category": "logistics", "content": FILING["content"], "pledge_read": True}),
]


def _cells():
    for route in ROUTES:
        for caller in CALLERS:
            yield pytest.param(route, caller, id=f"{route.name}-{caller}")


# -------------------------------------------------------------------------------- cases
class World:
    """The cases the rows need, made through the API as the people would make them."""

    def __init__(self, url: str):
        self.url = url
        self.shared: dict[str, dict] = {}
        self.calls = 0

    def call(self, who, method, path, body=None, raw=None, expect=None):
        headers = headers_for(who, {})
        if raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        reply = requests.request(method, self.url + path, json=body, data=raw,
                                 headers=headers, timeout=30)
        if expect is not None:
            assert reply.status_code == expect, (method, path, who, reply.text)
        return reply

    def status(self, case: str) -> dict:
        return self.call("office", "GET", f"/api/v1/staff/cases/{case}", expect=200).json()

    def wait(self, case: str, status: str, **also) -> dict:
        def reached():
            body = self.status(case)
            return body if body["status"] == status and all(
                body.get(k) == v for k, v in also.items()) else None
        return wait_until(reached, timeout=60, message=f"{case} {status}")

    def act(self, who, case, action, expect=200, **body):
        return self.call(who, "POST", f"/api/v1/staff/cases/{case}/{action}", body,
                         expect=expect).json()

    def rate(self, case, level):
        # the rating opens once rating has heard of the reply (an event)
        wait_until(lambda: self.call("owner", "POST", f"/api/v1/complaints/{case}/rating",
                                     {"level": level, "contacted": True, "solved": False,
                                      "comment": "评价"}).status_code == 201,
                   timeout=60, message=f"rating {case}")

    # each maker returns the path values of a case in that state
    def assigned(self) -> dict:
        case = self.call("owner", "POST", "/api/v1/complaints", FILING, expect=201).json()["id"]
        self.wait(case, "assigned")
        return {"case": case}

    def signed(self) -> dict:
        made = self.assigned()
        self.act("handler", made["case"], "sign_for")
        return made

    def replied(self) -> dict:
        made = self.signed()
        self.act("handler", made["case"], "reply", outcome="solved", text="已修复热水器")
        return made

    def returned(self) -> dict:
        made = self.assigned()
        self.act("handler", made["case"], "return_case", reason="不属于本单位职责")
        return made

    def supervised(self) -> dict:
        made = self.replied()
        case = made["case"]
        self.rate(case, "dissatisfied")
        self.wait(case, "redo")
        self.act("office", case, "dispatch", unit_id="logistics")
        self.wait(case, "assigned", round=1)
        self.act("handler", case, "sign_for")
        self.act("handler", case, "reply", outcome="solved", text="已再次修复")
        self.rate(case, "dissatisfied")
        self.wait(case, "supervised", round=2)
        return made

    def extension(self) -> dict:
        made = self.assigned()
        path = f"/api/v1/staff/cases/{made['case']}/extensions"
        body = {"reason": "需要采购配件", "new_due_at": soon(30)}
        # the deadline is set by the SLA service once it hears of the assignment
        asked = wait_until(lambda: (lambda r: r if r.status_code == 201 else None)(
            self.call("handler", "POST", path, body)), timeout=60, message="extension")
        return dict(made, extension=asked.json()["id"])

    def milestone(self) -> dict:
        made = self.assigned()
        path = f"/api/v1/staff/cases/{made['case']}/timetable"
        body = {"milestones": [{"title": "采购配件", "due_at": soon(30)}]}
        set_ = wait_until(lambda: (lambda r: r if r.status_code == 201 else None)(
            self.call("handler", "POST", path, body)), timeout=60, message="timetable")
        return dict(made, milestone=set_.json()["milestones"][0]["id"])

    def until(self, who, method, path, body, status: int) -> requests.Response:
        """Asked until the answer is `status`: rating hears of a case by events."""
        last = []

        def answered() -> bool:   # (a 4xx Response is falsy)
            last[:] = [self.call(who, method, path, body)]
            return last[0].status_code == status
        try:
            wait_until(answered, timeout=60, message=f"{method} {path} {status}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last {last[0].status_code} {last[0].text[:200]}")
        return last[0]

    def known(self) -> dict:
        """An assigned case rating has heard of (before, its callback is 404, not 409)."""
        made = self.assigned()
        self.until("office", "POST", f"/api/v1/staff/cases/{made['case']}/callback",
                   CALLBACK, 409)
        return made

    def link(self) -> dict:
        made = self.replied()
        owner = PEOPLE["owner"]["sub"]
        made["token"] = sign(RATING_LINK_SECRET, made["case"], owner, int(time.time()) + 3600)
        self.until("owner", "GET", f"/r/{made['token']}", None, 200)
        return made

    def period(self) -> dict:
        """The month before this one (Asia/Shanghai): over, so it can be published."""
        local = datetime.now(timezone(timedelta(hours=8)))
        finished = local.replace(day=1) - timedelta(days=1)
        return {"period": f"{finished:%Y-%m}"}

    def exclusion(self) -> dict:
        made = self.assigned()
        asked = self.until("handler", "POST", f"/api/v1/staff/cases/{made['case']}/exclusions",
                           EXCLUSION, 201)
        return dict(made, exclusion=asked.json()["id"])

    def decided(self) -> dict:
        made = self.exclusion()
        self.call("office", "POST", f"/api/v1/staff/exclusions/{made['exclusion']}/decision",
                  {"decision": "approve"}, expect=200)
        return made

    def summary(self) -> dict:
        made = self.call("office", "POST", "/api/v1/staff/summaries",
                         {"kind": "weekly", "period": "2026-W01"})
        assert made.status_code in (200, 201), made.text
        return {"summary": made.json()["id"]}

    def campaign(self) -> dict:
        made = self.assigned()
        created = self.call("office", "POST", "/api/v1/staff/campaigns", CAMPAIGN, expect=201)
        return dict(made, campaign=created.json()["id"])

    def attached(self) -> dict:
        made = self.campaign()
        self.until("office", "POST", f"/api/v1/staff/campaigns/{made['campaign']}/cases",
                   {"complaint_ids": [made["case"]]}, 200)
        return made

    def closed_campaign(self) -> dict:
        made = self.campaign()
        self.call("office", "POST", f"/api/v1/staff/campaigns/{made['campaign']}/close",
                  {"conclusion": "已整改"}, expect=200)
        return made

    def call_(self) -> dict:
        self.calls += 1
        call_id = f"mx-call-{self.calls}"
        for n, kind in enumerate(("ringing", "answered")):
            event = {"event_id": f"{call_id}-{n}", "call_id": call_id, "type": kind,
                     "at": datetime.now(timezone.utc).isoformat(), "caller": "13912345678",
                     "operator": "op-1"}
            body = json.dumps(event).encode()
            stamp = str(int(time.time()))
            reply = requests.post(f"{self.url}/hotline/calls/events", data=body, timeout=30,
                                  headers={"Content-Type": "application/json",
                                           "X-CTI-Timestamp": stamp,
                                           "X-CTI-Signature": hmac_signature(CTI_SECRET, stamp,
                                                                             body)})
            assert reply.status_code == 200, reply.text
        return {"call": call_id}

    def values(self, state: str | None, fresh: bool) -> dict:
        if state is None:
            return {}
        if fresh or state not in self.shared:
            made = getattr(self, "call_" if state == "call" else state)()
            if state == "assigned":
                made["sha"] = self.call("owner", "POST",
                                        f"/api/v1/complaints/{made['case']}/attachments",
                                        raw=JPEG, expect=201).json()["sha256"]
                made["other"] = self.call("stranger", "POST", "/api/v1/complaints", FILING,
                                          expect=201).json()["id"]
            if fresh:
                return made
            self.shared[state] = made
        return self.shared[state]


@pytest.fixture(scope="module")
def world(system):
    return World(system.url)


@pytest.fixture(scope="module")
def bad_tokens():
    return _bad_tokens()


def fill(template, values: dict):
    """The row's path or body with the case's values and the dates of now."""
    if isinstance(template, dict):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if not isinstance(template, str):
        return template
    dates = {"{now}": datetime.now(timezone.utc).isoformat(), "{in 30 days}": soon(30),
             "{in 40 days}": soon(40)}
    if template in dates:
        return dates[template]
    return template.format(**values) if "{" in template else template


@pytest.mark.parametrize("route, caller", list(_cells()))
def test_each_caller_gets_the_documented_answer(world, bad_tokens, route, caller):
    values = world.values(route.state, fresh=caller in route.fresh)
    headers = headers_for(caller, bad_tokens)
    kwargs = {}
    if route.raw is not None:
        headers["Content-Type"] = "application/octet-stream"
        kwargs["data"] = route.raw
    elif route.body is not None:
        kwargs["json"] = fill(route.body, values)
    expected = route.expected(caller)

    def ask():
        return requests.request(route.method, world.url + fill(route.path, values),
                                headers=headers, timeout=30, **kwargs)
    replies = [ask()]
    if route.eventual and expected < 300:
        def heard() -> bool:
            if replies[-1].status_code in (404, 409):
                replies.append(ask())
            return replies[-1].status_code not in (404, 409)
        wait_until(heard, timeout=60, message=f"{route.name}: rating hears of the case")
    reply = replies[-1]
    assert reply.status_code == expected, (reply.status_code, reply.text[:300])
    if expected >= 400:
        error = reply.json()["error"]
        assert error["code"] and error["message"], error
        if expected == 401:
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        if expected == 409:
            assert error["code"] not in ("conflict", "invalid_input"), error  # the rule's own
