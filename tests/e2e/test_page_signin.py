"""Signing in to the pages with the real system (issue 13, "What must be shown"): the console
through a fake campus CAS 3.0 server (a good ticket once, a forged one, a replayed one, a
person jiesu does not know), the H5 through a fake WeChat web authorisation (the redirect,
the code's round trip to wechat:<openid>, a replayed code, a forged state), the campus app's
bearer token, logout ending the session on the server, a session that idles out, and no
development sign-in when `dev_login` is off. Real HTTP on loopback throughout.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from gateway.pages.web import (CONSOLE, CONTENT_SECURITY_POLICY, COOKIES, H5, PageSessions)
from tests.conftest import token_for, wait_until
from tests.pages.client import PageClient
from tests.pages.fakes import FakeCas, FakeWechatOAuth

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/14"
APP_ID, APP_SECRET = "wx-page-test", "wx-page-test-secret"


@pytest.fixture
def cas_server():
    with FakeCas() as cas:
        yield cas


@pytest.fixture
def wechat_server():
    with FakeWechatOAuth(APP_ID, APP_SECRET) as wechat:
        yield wechat


def start(start_system, databases, cas, wechat=None, **env):
    settings = {"JIESU_GATEWAY_STATE_URL": REDIS_URL, "JIESU_CAS_SERVER_URL": cas.base_url}
    if wechat is not None:
        settings.update(JIESU_WECHAT_APP_ID=APP_ID, JIESU_WECHAT_APP_SECRET=APP_SECRET,
                        JIESU_WECHAT_API_BASE=wechat.base_url,
                        JIESU_WECHAT_OAUTH_AUTHORIZE_URL=wechat.authorize_base)
    settings.update(env)
    return start_system(databases, layout=[["intake", "gateway"]], **settings)


def stored(session_id: str | None) -> dict | None:
    """The server's record of a page session (the system keeps them in Redis db 14)."""
    if not session_id:
        return None
    store = redis.Redis.from_url(REDIS_URL)
    try:
        raw = store.get(PageSessions.PREFIX + session_id)
    finally:
        store.close()
    return json.loads(raw) if raw else None


def cookie(client: PageClient, realm: str) -> str | None:
    return client.http.cookies.get(COOKIES[realm])


def cas_sign_in(client: PageClient, cas: FakeCas, person: str, attributes=None,
                target: str = "/console/leader/"):
    cas.next_user = (person, attributes or {})
    return client.get(f"/console/login/cas?next={target}")


def redirected_to_sign_in(client: PageClient, path: str, realm_login: str) -> bool:
    reply = client.get(path, allow_redirects=False)
    return reply.status_code == 303 and reply.headers["Location"].startswith(realm_login)


# ---------------------------------------------------------------------------- console
def test_cas_sign_in_once_per_ticket_with_roles_from_org_yaml_and_logout(
        start_system, databases, cas_server):
    system = start(start_system, databases, cas_server)
    leader = PageClient(system.url)
    login = leader.get("/console/login")
    assert login.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "统一身份认证登录" in login.text
    before = cookie(leader, CONSOLE)

    landed = cas_sign_in(leader, cas_server, "l-vp-logistics")
    assert landed.status_code == 200, landed.text[:500]
    assert urlsplit(landed.url).path == "/console/leader/"
    assert "水长青" in landed.text and "校领导" in landed.text and "督办件" in landed.text
    validation = cas_server.validations[-1]
    assert validation["service"] == system.url + "/console/cas"
    # a new session id at sign-in; the one from before signing in is gone on the server
    after = cookie(leader, CONSOLE)
    assert after != before and stored(before) is None
    assert stored(after)["principal"] == {"id": "l-vp-logistics", "name": "水长青",
                                          "roles": ["leader"], "unit": None,
                                          "college": None, "unit_name": None}

    # a handler known only to org.yaml (CAS releases a name, no roles): handler of logistics
    handler = PageClient(system.url)
    cas_sign_in(handler, cas_server, "u-hqc-1", {"name": ["冯涛"]}, target="/console/")
    principal = stored(cookie(handler, CONSOLE))["principal"]
    assert (principal["roles"], principal["unit"], principal["unit_name"]) == \
        (["handler"], "logistics", "后勤管理处")

    # the ticket again (a replay, from another browser): refused, nobody signed in
    replay = PageClient(system.url)
    replayed = replay.get(f"/console/cas?ticket={validation['ticket']}")
    assert replayed.status_code == 403
    assert "统一身份认证未通过" in replayed.text
    assert validation["ticket"] not in replayed.text
    assert redirected_to_sign_in(replay, "/console/leader/", "/console/login")
    # a forged ticket, no ticket, a ticket with a space
    for ticket in ("ST-forged-0000", "", "ST-a b"):
        forged = replay.get("/console/cas", params={"ticket": ticket})
        assert forged.status_code == 403, (ticket, forged.status_code)
        assert forged.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    # someone the identity provider knows and jiesu does not
    stranger = PageClient(system.url)
    refused = cas_sign_in(stranger, cas_server, "x-visitor-001")
    assert refused.status_code == 403 and "没有接诉即办工作台的权限" in refused.text

    # logout ends the session on the server: the old cookie opens nothing afterwards
    old = cookie(leader, CONSOLE)
    leader.get("/console/leader/")
    out = leader.post("/console/logout", {})
    assert out.status_code == 200 and urlsplit(out.url).path == "/console/login"
    assert "您已退出登录" in out.text
    assert stored(old) is None
    assert redirected_to_sign_in(leader, "/console/leader/", "/console/login")
    thief = PageClient(system.url)
    thief.http.cookies.set(COOKIES[CONSOLE], old, domain=urlsplit(system.url).hostname,
                           path="/")
    assert redirected_to_sign_in(thief, "/console/leader/", "/console/login")


# --------------------------------------------------------------------------------- H5
def test_wechat_oauth_code_round_trip_once_and_the_app_s_bearer_token(
        start_system, databases, cas_server, wechat_server):
    system = start(start_system, databases, cas_server, wechat_server)
    wechat_server.next_openid = "oStudentPage0001"
    student = PageClient(system.url)

    sent = student.get("/h5/login", allow_redirects=False)
    assert sent.status_code == 302
    location = sent.headers["Location"]
    assert location.startswith(wechat_server.authorize_base + "?")
    assert location.endswith("#wechat_redirect")
    asked = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert asked["appid"] == APP_ID and asked["scope"] == "snsapi_base"
    assert asked["redirect_uri"] == system.url + "/h5/oauth"
    assert asked["response_type"] == "code" and asked["state"].isalnum()

    back = student.http.get(location.split("#")[0], allow_redirects=False, timeout=30)
    assert back.status_code == 302
    returned = urlsplit(back.headers["Location"])
    code = parse_qs(returned.query)["code"][0]
    assert parse_qs(returned.query)["state"][0] == asked["state"]
    signed = student.get(f"{returned.path}?{returned.query}", allow_redirects=False)
    assert signed.status_code == 303 and signed.headers["Location"] == "/h5/"
    session = stored(cookie(student, H5))
    assert session["principal"]["id"] == "wechat:oStudentPage0001"
    assert session["principal"]["roles"] == ["complainant"]
    exchanges = [r for r in wechat_server.requests if r["path"] == "/sns/oauth2/access_token"]
    assert [r["args"]["code"] for r in exchanges] == [code]

    # the code again, with a good state of another browser: refused, WeChat not asked again
    replay = PageClient(system.url)
    state = parse_qs(urlsplit(replay.get("/h5/login", allow_redirects=False)
                              .headers["Location"]).query)["state"][0]
    replayed = replay.get(f"/h5/oauth?code={code}&state={state}", allow_redirects=False)
    assert replayed.status_code == 400 and "授权码已使用" in replayed.text
    assert stored(cookie(replay, H5))["principal"] is None
    assert len([r for r in wechat_server.requests
                if r["path"] == "/sns/oauth2/access_token"]) == 1

    # a fresh code with a state this browser was not given: refused, code not spent
    forger = PageClient(system.url)
    forger.get("/h5/login", allow_redirects=False)
    fresh = wechat_server.issue("oStudentPage0002")
    for bad in ("0" * 32, "", "abc"):
        refused = forger.get(f"/h5/oauth?code={fresh}&state={bad}", allow_redirects=False)
        assert refused.status_code == 400 and "授权已失效" in refused.text, bad
    assert stored(cookie(forger, H5))["principal"] is None
    assert len([r for r in wechat_server.requests
                if r["path"] == "/sns/oauth2/access_token"]) == 1
    nobody = PageClient(system.url)   # no pre-session at all
    assert nobody.get(f"/h5/oauth?code={fresh}&state={state}",
                      allow_redirects=False).status_code == 400

    # the campus app opens /h5/ once with its bearer token and gets a session
    app_user = PageClient(system.url)
    bearer = {"Authorization": f"Bearer {token_for('s2023005', name='王五')}"}
    opened = app_user.get("/h5/", headers=bearer, allow_redirects=False)
    if opened.headers.get("Content-Type", "").startswith("text/html"):   # H5 pages landed
        assert opened.status_code == 200, opened.text[:300]
        assert stored(cookie(app_user, H5))["principal"]["id"] == "s2023005"
        again = app_user.get("/h5/", allow_redirects=False)   # no token this time
        assert again.status_code == 200
    via_login = PageClient(system.url)
    signed = via_login.get("/h5/login?next=/h5/", headers=bearer, allow_redirects=False)
    assert signed.status_code == 303 and signed.headers["Location"] == "/h5/"
    session = stored(cookie(via_login, H5))
    assert (session["principal"]["id"], session["channel"]) == ("s2023005", "app")
    forged = PageClient(system.url).get("/h5/login", allow_redirects=False,
                                         headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
    assert forged.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# ------------------------------------------------------- idle sessions, no dev sign-in
def test_an_idle_session_ends_and_there_is_no_dev_sign_in_when_it_is_off(
        start_system, databases, cas_server):
    system = start(start_system, databases, cas_server, JIESU_DEV_LOGIN="false",
                   JIESU_PAGE_SESSION_IDLE_SECONDS="2")
    visitor = PageClient(system.url)
    login = visitor.get("/console/login")
    assert "开发登录" not in login.text and "开发模式" not in login.text
    # the pre-session's token (no form on the page carries one now): refused all the same
    dev = visitor.post("/console/login/dev", {"person": "u-office-1"},
                       csrf=stored(cookie(visitor, CONSOLE))["csrf"], allow_redirects=False)
    assert dev.status_code == 404
    assert stored(cookie(visitor, CONSOLE))["principal"] is None
    h5 = PageClient(system.url)
    h5_login = h5.get("/h5/login")
    assert "开发登录" not in h5_login.text
    assert h5.post("/h5/login/dev", {"who": "s2023001"}, csrf=stored(cookie(h5, H5))["csrf"],
                   allow_redirects=False).status_code == 404

    leader = PageClient(system.url)
    assert cas_sign_in(leader, cas_server, "l-vp-logistics").status_code == 200
    session_id = cookie(leader, CONSOLE)
    # Using the page keeps the session; leaving it idle ends it. The server forgets it on
    # its own (the store's expiry), then the next page sends the person to sign in.
    wait_until(lambda: stored(session_id) is None, timeout=30,
               message="the idle session ended on the server")
    gone = leader.get("/console/leader/?show=all", allow_redirects=False)
    assert gone.status_code == 303
    assert gone.headers["Location"] == "/console/login?next=%2Fconsole%2Fleader%2F%3Fshow%3Dall"
    assert "统一身份认证登录" in leader.get(gone.headers["Location"]).text
    # a live fragment is told where to sign in; a POST is refused with a page
    fragment = leader.get("/console/leader/", headers={"HX-Request": "true"},
                          allow_redirects=False)
    assert fragment.status_code == 401
    assert fragment.headers["HX-Redirect"].startswith("/console/login")
    expired = PageClient(system.url)
    expired.http.cookies.set(COOKIES[CONSOLE], session_id,
                             domain=urlsplit(system.url).hostname, path="/")
    posted = expired.post("/console/leader/cases/x/instruct", {"text": "请尽快办理"},
                          csrf="stale", allow_redirects=False)
    assert posted.status_code == 401 and "登录已过期" in posted.text
