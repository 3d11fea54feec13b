"""The pages' security with the real services (issue 13, "What must be shown"): every page each
role can open carries the Content-Security-Policy, runs no inline script (no <script> without
src, no on*= handler, no style= attribute, no javascript: URL), labels every form field, and
shows no unmasked phone and no anonymous complainant's identity to the unit; a POST without
the session's CSRF token, with a wrong one, or from another origin is refused (403).

The walk does not list the pages by hand: it starts from the pages the console's navigation
and the H5's tab bar name (and the cases filed here), follows the same-origin links it finds,
and skips what answers 404, so pages that land later are checked as they come.
"""
from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import redis

from gateway.pages.web import CONSOLE, CONTENT_SECURITY_POLICY, COOKIES, PageSessions
from tests.conftest import wait_until
from tests.e2e.test_lifecycle import Client
from tests.pages.client import PageClient

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/14"
LAYOUT = [["intake", "routing", "sla", "notify", "rating", "gateway"]]
CONSOLE_SEEDS = (
    "/console/", "/console/reports/new", "/console/unit", "/console/extensions",
    "/console/unit/figures", "/console/office/", "/console/office/hotline",
    "/console/office/exclusions", "/console/office/assessment", "/console/office/summaries",
    "/console/office/analysis", "/console/office/campaigns", "/console/leader/",
    "/console/leader/?show=all", "/console/leader/assessment")
H5_SEEDS = ("/h5/", "/h5/file", "/h5/lookup")
WALK_LIMIT = 80          # pages per person: enough for every list and a few cases each
FIELD_TYPES_WITHOUT_LABEL = {"hidden", "submit", "button", "image", "reset"}
PHONE = "13912345678"
ANONYMOUS_SUB, ANONYMOUS_NAME = "s2023888", "欧阳娜娜"


# ------------------------------------------------------------------ reading a page
class PageReader(HTMLParser):
    """What a page holds that the rules are about: scripts, handlers, styles, form fields
    and their labels, links."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []
        self.fields: list[tuple[str, str | None, bool]] = []   # (tag, id, inside a label)
        self.label_for: set[str] = set()
        self._labels_open = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on") or name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}=…> (inline handler)")
            if name == "style":
                self.problems.append(f"<{tag} style=…> (inline style)")
            if name in ("href", "src", "action", "formaction") and value and \
                    value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "script" and not values.get("src"):
            self.problems.append("<script> without src (inline script)")
        if tag == "style":
            self.problems.append("<style> element (inline style)")
        if tag == "label":
            self._labels_open += 1
            if values.get("for"):
                self.label_for.add(values["for"])
        if tag in ("input", "select", "textarea"):
            kind = (values.get("type") or "text").lower() if tag == "input" else tag
            if kind not in FIELD_TYPES_WITHOUT_LABEL:
                self.fields.append((f"{tag}[name={values.get('name')}]", values.get("id"),
                                    self._labels_open > 0))
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])

    def handle_endtag(self, tag):
        if tag == "label" and self._labels_open:
            self._labels_open -= 1

    def unlabelled(self) -> list[str]:
        return [name for name, ident, wrapped in self.fields
                if not wrapped and not (ident and ident in self.label_for)]


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    reader.close()
    return reader


@dataclass
class Walk:
    """The pages one person opened, and what was wrong with them."""
    who: str
    pages: dict[str, str] = field(default_factory=dict)     # path -> HTML
    skipped: list[str] = field(default_factory=list)       # 404s
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)      # 5xx


def is_html(reply) -> bool:
    return reply.headers.get("Content-Type", "").startswith("text/html")


def check_headers(reply, path: str, walk: Walk) -> None:
    if reply.headers.get("Content-Security-Policy") != CONTENT_SECURITY_POLICY:
        walk.problems.append(f"{path}: Content-Security-Policy missing or changed "
                             f"({reply.headers.get('Content-Security-Policy')!r})")
    if reply.headers.get("X-Frame-Options") != "DENY":
        walk.problems.append(f"{path}: X-Frame-Options missing")


def walk_pages(client: PageClient, who: str, seeds, realm_prefix: str,
               limit: int = WALK_LIMIT) -> Walk:
    """Every same-origin page of the realm reachable from `seeds` by links (GET only)."""
    walk = Walk(who)
    queue, seen = deque(seeds), set(seeds)
    base = urlsplit(client.base)
    while queue and len(walk.pages) < limit:
        path = queue.popleft()
        reply = client.get(path, allow_redirects=False)
        if reply.status_code in (301, 302, 303, 307, 308):
            target = urljoin(client.base + path, reply.headers.get("Location", ""))
            parts = urlsplit(target)
            if parts.netloc == base.netloc and parts.path.startswith(realm_prefix):
                next_path = parts.path + (f"?{parts.query}" if parts.query else "")
                if next_path not in seen:
                    seen.add(next_path)
                    queue.append(next_path)
            continue
        if reply.status_code == 404:
            walk.skipped.append(path)
            if is_html(reply):
                check_headers(reply, path, walk)
            continue
        if reply.status_code >= 500:
            walk.failures.append(f"{path}: {reply.status_code}")
        if not is_html(reply):
            continue
        check_headers(reply, path, walk)
        walk.pages[path] = reply.text
        reader = read_page(reply.text)
        walk.problems.extend(f"{path}: {problem}" for problem in reader.problems)
        walk.problems.extend(f"{path}: form field {name} has no label"
                             for name in reader.unlabelled())
        for link in reader.links:
            parts = urlsplit(urljoin(client.base + path, link))
            if parts.netloc != base.netloc or not parts.path.startswith(realm_prefix) or \
                    parts.path.endswith((".xlsx", ".png", ".csv")):
                continue
            next_path = parts.path + (f"?{parts.query}" if parts.query else "")
            if next_path not in seen:
                seen.add(next_path)
                queue.append(next_path)
    return walk


def signed_in(base: str, person: str) -> PageClient:
    client = PageClient(base)
    client.console_login(person)
    return client


def session_data(client: PageClient, realm: str = CONSOLE) -> dict:
    """The server's record of the client's session (Redis db 14, as the system keeps it)."""
    store = redis.Redis.from_url(REDIS_URL)
    try:
        raw = store.get(PageSessions.PREFIX + client.http.cookies.get(COOKIES[realm]))
    finally:
        store.close()
    assert raw, "no session on the server"
    return json.loads(raw)


def visible_text(html_text: str) -> str:
    """A page as text and attribute values (a phone in a title= or value= counts too)."""
    return re.sub(r"\s+", " ", html_text)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
def system(start_system, databases):
    return start_system(databases, layout=LAYOUT, JIESU_GATEWAY_STATE_URL=REDIS_URL,
                        JIESU_DEV_LOGIN="true")


@pytest.fixture
def cases(system):
    """A case with the complainant's phone (in the field and in the text), an anonymous one
    whose text names the complainant, and one that went to 督办 (dissatisfied twice), each
    with the unit (logistics)."""
    app = Client(system)
    with_phone = app.file(content=f"学生公寓3号楼热水已经停了两天,请尽快维修,我的电话{PHONE}",
                          contact_phone=PHONE)
    anonymous = _file_as(app, ANONYMOUS_SUB, ANONYMOUS_NAME, anonymous=True,
                         content=f"我是{ANONYMOUS_NAME},宿舍楼下的路灯坏了一个星期了,晚上很黑")
    supervised = app.file(content="食堂二楼的饭菜里多次吃出头发,卫生问题一直没有改善")
    for case_id in (with_phone, anonymous, supervised):
        app.wait_status(case_id, "assigned")
    app.handle_and_reply(supervised)
    assert app.rate(supervised, "dissatisfied")["decision"] == "order_redo"
    app.wait_status(supervised, "redo")
    app.act("office", supervised, "dispatch", unit_id="logistics")
    app.wait_status(supervised, "assigned", round=1)
    app.handle_and_reply(supervised)
    assert app.rate(supervised, "dissatisfied")["decision"] == "supervise"
    app.wait_status(supervised, "supervised", round=2)
    return {"phone": with_phone, "anonymous": anonymous, "supervised": supervised, "app": app}


def _file_as(app: Client, sub: str, name: str, **body) -> str:
    import requests

    from tests.conftest import token_for

    body.setdefault("category", "logistics")
    body.setdefault("pledge", True)
    reply = requests.post(app.url + "/api/v1/complaints", json=body, timeout=30, headers={
        "Authorization": f"Bearer {token_for(sub, name=name)}"})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


# --------------------------------------------------------------------------------- tests
def test_every_page_has_the_csp_no_inline_script_labelled_fields_and_no_unmasked_phone(
        system, cases):
    case_pages = [*(f"/console/cases/{cases[k]}" for k in ("phone", "anonymous", "supervised")),
                  "/console/cases/none-such"]
    walks = []
    for person in ("u-hqc-1", "u-hqc-head", "u-office-1", "u-office-head", "l-vp-logistics"):
        walks.append(walk_pages(signed_in(system.url, person), person,
                                [*CONSOLE_SEEDS, *case_pages], "/console/"))
    complainant = PageClient(system.url)
    complainant.h5_login("s-2023001", "张三")
    walks.append(walk_pages(complainant, "s-2023001 (H5)",
                            [*H5_SEEDS, *(f"/h5/cases/{cases[k]}" for k in ("phone",
                                                                          "supervised"))],
                            "/h5/"))
    # the sign-in pages of a person not signed in, and an error page
    stranger = PageClient(system.url)
    walks.append(walk_pages(stranger, "not signed in",
                            ["/console/login", "/console/cases/none-such"], "/console/"))
    walks.append(walk_pages(PageClient(system.url), "not signed in (H5)", ["/h5/login"],
                            "/h5/"))

    opened = {walk.who: sorted(walk.pages) for walk in walks}
    for walk in walks:   # shown with -s: what the walk covered
        print(f"{walk.who}: {len(walk.pages)} pages {sorted(walk.pages)}; "
              f"404: {walk.skipped}")
    # the pages that exist already are among those walked (the rest land later)
    assert "/console/leader/" in opened["l-vp-logistics"], opened
    assert "/console/leader/assessment" in opened["l-vp-logistics"], opened
    assert "/console/login" in opened["not signed in"], opened
    assert "/h5/login" in opened["not signed in (H5)"], opened
    problems = [f"[{walk.who}] {problem}" for walk in walks for problem in walk.problems]
    assert not problems, "\n".join(problems)
    failures = [f"[{walk.who}] {failure}" for walk in walks for failure in walk.failures]
    assert not failures, "\n".join(failures)

    staff = [walk for walk in walks if not walk.who.startswith(("s-", "not"))]
    for walk in staff:
        for path, page in walk.pages.items():
            assert PHONE not in visible_text(page), f"[{walk.who}] {path} shows {PHONE}"
    # the anonymous complainant: hidden from the unit and the leader (the office may know)
    for walk in staff:
        if walk.who.startswith("u-office"):
            continue
        for path, page in walk.pages.items():
            text = visible_text(page)
            assert ANONYMOUS_NAME not in text, f"[{walk.who}] {path} names {ANONYMOUS_NAME}"
            assert ANONYMOUS_SUB not in text, f"[{walk.who}] {path} shows {ANONYMOUS_SUB}"


def test_the_leader_sees_the_supervised_case_and_writes_the_instruction(system, cases):
    leader = signed_in(system.url, "l-vp-logistics")
    listed = leader.get("/console/leader/")
    assert listed.status_code == 200
    assert f'/console/cases/{cases["supervised"]}' in listed.text
    assert "待批示" in listed.text
    assert cases["phone"] not in listed.text   # not supervised: not listed
    # another leader has nothing to instruct there, and cannot post it
    other = signed_in(system.url, "l-vp-teaching")
    assert cases["supervised"] not in other.get("/console/leader/?show=all").text
    refused = other.post(f"/console/leader/cases/{cases['supervised']}/instruct",
                         {"text": "请尽快解决"}, allow_redirects=False)
    assert refused.status_code == 404
    # a handler is not a leader: the route is not there for them
    handler = signed_in(system.url, "u-hqc-1")
    assert handler.get("/console/leader/").status_code == 404
    assert handler.post(f"/console/leader/cases/{cases['supervised']}/instruct",
                        {"text": "请尽快解决"}, csrf=session_data(handler)["csrf"]
                        ).status_code == 404

    # the shared case page carries the 批示 form for the supervising leader only
    case_page = leader.get(f"/console/cases/{cases['supervised']}")
    if case_page.status_code == 200:   # the case page has landed
        assert 'id="instruct-form"' in case_page.text
        assert 'id="instruct-form"' not in handler.get(
            f"/console/cases/{cases['supervised']}").text
    leader.get("/console/leader/")
    too_short = leader.post(f"/console/leader/cases/{cases['supervised']}/instruct",
                            {"text": "好"}, allow_redirects=False)
    assert too_short.status_code == 303
    assert too_short.headers["Location"] == f"/console/cases/{cases['supervised']}"
    shown = leader.get("/console/leader/")
    assert "批示内容须为 2–2000 字" in shown.text

    done = leader.post(f"/console/leader/cases/{cases['supervised']}/instruct",
                       {"text": "请后勤管理处三日内彻底解决食堂卫生问题并回访"},
                       allow_redirects=False)
    assert done.status_code == 303
    assert "批示已提交" in leader.get("/console/leader/?show=all").text
    app = cases["app"]
    body = app.wait_status(cases["supervised"], "assigned", round=2)
    assert body["instruction"].startswith("请后勤管理处三日内")
    # once written, a second 批示 is refused with the service's reason, as a flash
    again = leader.post(f"/console/leader/cases/{cases['supervised']}/instruct",
                        {"text": "再批示一次"}, allow_redirects=False)
    assert again.status_code == 303
    page = leader.get("/console/leader/")
    assert "批示未提交" in page.text and "flash-error" in page.text
    # the list of those waiting is empty now, the full list still has it
    assert cases["supervised"] not in page.text
    assert cases["supervised"] in leader.get("/console/leader/?show=all").text


def test_a_post_needs_the_session_s_csrf_token_and_this_origin(system, cases):
    leader = signed_in(system.url, "l-vp-logistics")
    page = leader.get("/console/leader/")
    token = leader.csrf(page)
    target = f"/console/leader/cases/{cases['supervised']}/instruct"
    body = {"text": "请后勤管理处尽快解决"}
    # no token, a wrong token, the right token from another origin: 403, nothing done
    assert leader.http.post(leader.base + target, data=body, timeout=30,
                            allow_redirects=False).status_code == 403
    assert leader.post(target, body, csrf="x" * 43, allow_redirects=False).status_code == 403
    foreign = leader.post(target, body, csrf=token, allow_redirects=False,
                          headers={"Origin": "https://evil.example.com"})
    assert foreign.status_code == 403
    assert foreign.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "页面已过期或来源不明" in foreign.text
    referer = leader.post(target, body, csrf=token, allow_redirects=False,
                          headers={"Referer": "https://evil.example.com/page"})
    assert referer.status_code == 403
    # another session's token is no good either
    other = signed_in(system.url, "l-vp-logistics")
    other_token = other.csrf(other.get("/console/leader/"))
    assert other_token != token
    assert leader.post(target, body, csrf=other_token,
                       allow_redirects=False).status_code == 403
    # logout is a state change too
    assert leader.post("/console/logout", {}, csrf="wrong",
                       allow_redirects=False).status_code == 403
    assert cases["app"].case("office", cases["supervised"])["status"] == "supervised"
    # the same request with the token and from here goes through
    accepted = leader.post(target, body, csrf=token, allow_redirects=False,
                           headers={"Origin": leader.base})
    assert accepted.status_code == 303
    wait_until(lambda: cases["app"].case("office", cases["supervised"])["status"]
               == "assigned", timeout=30, message="the 批示 took the case back to the unit")
