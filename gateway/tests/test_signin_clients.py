"""The pages' two sign-in clients (gateway/pages/cas.py, gateway/pages/wechat_oauth.py) against
the fake CAS server and the fake WeChat web authorisation, real HTTP on loopback: the browser's
leg is followed with requests (no redirects taken), the gateway's leg is the client."""
from __future__ import annotations

import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gateway.pages import cas, wechat_oauth
from gateway.pages.cas import CasError, CasUser
from gateway.pages.wechat_oauth import OAuthError
from services.common.settings import Settings
from tests.pages.fakes import FakeCas, FakeWechatOAuth

SERVICE = "https://jiesu.example.edu.cn/console/login?next=%2Fconsole%2Finbox"
REDIRECT = "https://jiesu.example.edu.cn/h5/auth?next=/h5/cases"
ORG = Settings().resolve_path(Settings().org_directory)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


@pytest.fixture
def fake_cas():
    with FakeCas() as server:
        yield server


class Clock:
    def __init__(self):
        self.now = 1_750_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake_wechat(clock):
    with FakeWechatOAuth("wx-app", "wx-secret", clock=clock) as server:
        yield server


def sign_in_at_cas(server: FakeCas, service: str = SERVICE) -> str:
    """The browser's leg: /login redirects back to the service with a ticket."""
    answer = requests.get(cas.login_url(server.base_url, service), allow_redirects=False,
                          timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("https://jiesu.example.edu.cn/console/login?")
    fields = query_of(location)
    assert fields["next"] == "/console/inbox"   # the service's own query survives
    return fields["ticket"]


# ================================================================== CAS
def test_urls_escape_the_service():
    url = cas.login_url("https://cas.example.edu.cn/cas/", SERVICE)
    assert url == ("https://cas.example.edu.cn/cas/login?service=https%3A%2F%2Fjiesu.example"
                   ".edu.cn%2Fconsole%2Flogin%3Fnext%3D%252Fconsole%252Finbox")
    assert query_of(url) == {"service": SERVICE}
    assert cas.logout_url("https://cas.example.edu.cn/cas") == \
        "https://cas.example.edu.cn/cas/logout"
    assert query_of(cas.logout_url("https://cas.example.edu.cn/cas", "https://a/b?c=d&e")) \
        == {"service": "https://a/b?c=d&e"}


def test_a_ticket_names_the_user_and_their_attributes(fake_cas):
    fake_cas.next_user = ("u-hqc-1", {"name": ["冯涛"], "roles": ["handler"],
                                      "unit": ["logistics"], "memberOf": ["a", "b & c"]})
    ticket = sign_in_at_cas(fake_cas)
    assert ticket.startswith("ST-")
    user = cas.validate(fake_cas.base_url, SERVICE, ticket)
    assert user == CasUser("u-hqc-1", {"name": ["冯涛"], "roles": ["handler"],
                                       "unit": ["logistics"], "memberOf": ["a", "b & c"]})
    assert fake_cas.validations == [{"service": SERVICE, "ticket": ticket}]
    assert cas.principal_fields(user, ORG) == {"id": "u-hqc-1", "name": "冯涛",
                                               "roles": ["handler"], "unit": "logistics"}


def test_without_roles_in_the_attributes_org_yaml_says_who_they_are(fake_cas):
    for user_id, attributes, expected in [
            ("u-hqc-head", {}, {"name": "郑国强", "roles": ["head"], "unit": "logistics"}),
            ("u-office-1", {"displayName": ["李晓梅老师"]},
             {"name": "李晓梅老师", "roles": ["office"], "unit": "office"}),
            ("u-office-head", {}, {"name": "王建国", "roles": ["office", "head"],
                                   "unit": "office"}),
            ("l-vp-logistics", {"roles": ["student"]},
             {"name": "水长青", "roles": ["leader"], "unit": None})]:
        ticket = fake_cas.issue(SERVICE, user_id, attributes)
        user = cas.validate(fake_cas.base_url, SERVICE, ticket)
        assert cas.principal_fields(user, ORG) == dict(expected, id=user_id), user_id


def test_people_unknown_to_jiesu_are_not_staff():
    directory = cas.load_directory(ORG)
    assert cas.principal_fields(CasUser("20231234", {"name": ["学生"]}), directory) is None
    # roles that need a unit, without one, or with a unit org.yaml does not know
    assert cas.principal_fields(CasUser("x", {"roles": ["handler"]}), directory) is None
    assert cas.principal_fields(CasUser("x", {"roles": ["head"], "unit": ["nowhere"]}),
                                directory) is None
    # a comma-separated roles value, the unit from org.yaml when the attributes lack it
    assert cas.principal_fields(CasUser("u-jwc-1", {"roles": ["handler, leader"]}),
                                directory) == {"id": "u-jwc-1", "name": "周敏",
                                               "roles": ["handler", "leader"],
                                               "unit": "academic-affairs"}


def test_people_lists_everyone_office_first_then_leaders_then_units():
    listed = cas.people(ORG)
    assert listed[:3] == [
        {"id": "u-office-head", "name": "王建国", "roles": ["office", "head"], "unit": "office"},
        {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"},
        {"id": "u-office-2", "name": "赵磊", "roles": ["office"], "unit": "office"}]
    assert [p["id"] for p in listed[3:6]] == ["l-vp-teaching", "l-vp-logistics",
                                              "l-secretary-deputy"]
    assert all(p["roles"] == ["leader"] and p["unit"] is None for p in listed[3:6])
    assert listed[6] == {"id": "u-jwc-head", "name": "孙立华", "roles": ["head"],
                         "unit": "academic-affairs"}
    assert {"id": "u-hqc-1", "name": "冯涛", "roles": ["handler"], "unit": "logistics"} \
        in listed
    assert len({p["id"] for p in listed}) == len(listed)
    assert cas.unit_names(ORG)["logistics"] == "后勤管理处"


def test_a_ticket_is_good_once(fake_cas):
    fake_cas.next_user = ("u-hqc-1", {})
    ticket = sign_in_at_cas(fake_cas)
    assert cas.validate(fake_cas.base_url, SERVICE, ticket).id == "u-hqc-1"
    with pytest.raises(CasError) as refused:
        cas.validate(fake_cas.base_url, SERVICE, ticket)
    assert refused.value.code == "INVALID_TICKET"
    assert ticket not in str(refused.value)   # the server's text echoes it; ours does not


def test_a_ticket_for_another_service_is_refused_and_used_up(fake_cas):
    fake_cas.next_user = ("u-hqc-1", {})
    ticket = sign_in_at_cas(fake_cas)
    with pytest.raises(CasError) as refused:
        cas.validate(fake_cas.base_url, "https://evil.example.com/console/login", ticket)
    assert refused.value.code == "INVALID_SERVICE"
    with pytest.raises(CasError, match="INVALID_TICKET"):
        cas.validate(fake_cas.base_url, SERVICE, ticket)


def test_forged_and_malformed_tickets(fake_cas):
    with pytest.raises(CasError) as refused:
        cas.validate(fake_cas.base_url, SERVICE, "ST-forged-0000000000")
    assert refused.value.code == "INVALID_TICKET"
    assert len(fake_cas.validations) == 1
    for bad in ("", "ST-" + "x" * 254, "ST-有中文", "ST-with space", "ST-\n1", None):
        with pytest.raises(CasError) as refused:
            cas.validate(fake_cas.base_url, SERVICE, bad)
        assert refused.value.code == "BAD_TICKET"
    assert len(fake_cas.validations) == 1       # refused before any request
    with pytest.raises(CasError) as refused:     # 256 characters is still a ticket's shape
        cas.validate(fake_cas.base_url, SERVICE, "ST-" + "x" * 253)
    assert refused.value.code == "INVALID_TICKET" and len(fake_cas.validations) == 2


def test_an_unreachable_cas_server_fails_fast():
    started = time.monotonic()
    with pytest.raises(CasError) as refused:
        cas.validate(closed_port_url(), SERVICE, "ST-1-abc", timeout=2)
    assert refused.value.code == "UNREACHABLE"
    assert "ST-1-abc" not in str(refused.value)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status, body", [
    (200, b"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:authentication"),
    (200, b"<html><body>Login</body></html>"),
    (200, b'{"serviceResponse": {}}'),
    (200, b"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>"
          b"<cas:authenticationSuccess><cas:user> </cas:user></cas:authenticationSuccess>"
          b"</cas:serviceResponse>"),
    (200, b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>"
          b"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'>"
          b"<cas:authenticationSuccess><cas:user>&a;</cas:user></cas:authenticationSuccess>"
          b"</cas:serviceResponse>"),
    (200, b"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'><cas:attributes>"
          + b"<cas:x>y</cas:x>" * 5000 + b"</cas:attributes></cas:serviceResponse>"),
    (500, b"<cas:serviceResponse xmlns:cas='http://www.yale.edu/tp/cas'/>"),
])
def test_what_is_not_a_cas_answer_is_refused(fake_cas, status, body):
    fake_cas.override_validation = (status, body)
    with pytest.raises(CasError) as refused:
        cas.validate(fake_cas.base_url, SERVICE, "ST-1-abc")
    assert refused.value.code == "BAD_RESPONSE"


def test_logout_returns_to_the_service(fake_cas):
    answer = requests.get(cas.logout_url(fake_cas.base_url, "https://jiesu.example.edu.cn/"),
                          allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "https://jiesu.example.edu.cn/"
    assert fake_cas.logouts == [{"service": "https://jiesu.example.edu.cn/"}]


# ================================================================== WeChat
def authorize(server: FakeWechatOAuth, state: str = "s7a1e") -> str:
    """The browser's leg: WeChat redirects back with a code and the state."""
    url = wechat_oauth.authorize_url(server.authorize_base, server.app_id, REDIRECT, state)
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("https://jiesu.example.edu.cn/h5/auth?")
    fields = query_of(location)
    assert fields["state"] == state and fields["next"] == "/h5/cases"
    return fields["code"]


def test_authorize_url_escapes_the_redirect_and_ends_with_the_fragment():
    url = wechat_oauth.authorize_url("https://open.weixin.qq.com/connect/oauth2/authorize",
                                     "wx123", REDIRECT, "abc123")
    assert url == ("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx123"
                   "&redirect_uri=https%3A%2F%2Fjiesu.example.edu.cn%2Fh5%2Fauth%3Fnext%3D"
                   "%2Fh5%2Fcases&response_type=code&scope=snsapi_base&state=abc123"
                   "#wechat_redirect")
    for bad in ("", "a-b", "a" * 129, "状态"):
        with pytest.raises(ValueError):
            wechat_oauth.authorize_url("https://x/authorize", "wx123", REDIRECT, bad)


def test_a_code_gives_the_openid(fake_wechat):
    fake_wechat.next_openid = "oStudent_0001-x"
    code = authorize(fake_wechat)
    assert wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", code) == \
        "oStudent_0001-x"
    assert fake_wechat.requests[0]["path"] == "/connect/oauth2/authorize"
    assert fake_wechat.requests[0]["args"] == {
        "appid": "wx-app", "redirect_uri": REDIRECT, "response_type": "code",
        "scope": "snsapi_base", "state": "s7a1e"}
    assert fake_wechat.requests[1] == {"path": "/sns/oauth2/access_token", "args": {
        "appid": "wx-app", "secret": "wx-secret", "code": code,
        "grant_type": "authorization_code"}}


def test_a_code_is_good_once(fake_wechat):
    fake_wechat.next_openid = "oStudent0001"
    code = authorize(fake_wechat)
    wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", code)
    with pytest.raises(OAuthError) as refused:
        wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", code)
    assert refused.value.errcode == 40163


def test_a_code_is_good_for_five_minutes(fake_wechat, clock):
    fake_wechat.next_openid = "oStudent0001"
    fresh, stale = authorize(fake_wechat), authorize(fake_wechat)
    clock.now += 299
    assert wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", fresh)
    clock.now += 2
    with pytest.raises(OAuthError) as refused:
        wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", stale)
    assert refused.value.errcode == 40029
    with pytest.raises(OAuthError) as refused:   # a code WeChat never gave
        wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", "0" * 32)
    assert refused.value.errcode == 40029


def test_a_wrong_secret_or_app_is_refused_and_never_shown(fake_wechat):
    fake_wechat.next_openid = "oStudent0001"
    for app, secret, errcode in [("wx-app", "not-the-secret", 40125),
                                 ("wx-other", "wx-secret", 40013)]:
        with pytest.raises(OAuthError) as refused:
            wechat_oauth.openid_for(fake_wechat.base_url, app, secret, authorize(fake_wechat))
        assert refused.value.errcode == errcode
        assert secret not in str(refused.value)


def test_a_malformed_code_is_refused_before_any_request(fake_wechat):
    for bad in ("", "a" * 129, "code with space", "码", "a&secret=x", None):
        with pytest.raises(OAuthError) as refused:
            wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret", bad)
        assert refused.value.errcode is None
    assert fake_wechat.requests == []


def test_a_snapshot_page_visitor_has_no_openid_of_their_own(fake_wechat):
    fake_wechat.next_openid, fake_wechat.snapshot_user = "oVirtual0001", True
    with pytest.raises(OAuthError, match="snapshot"):
        wechat_oauth.openid_for(fake_wechat.base_url, "wx-app", "wx-secret",
                                authorize(fake_wechat))


def test_an_unreachable_wechat_api_fails_fast():
    started = time.monotonic()
    with pytest.raises(OAuthError) as refused:
        wechat_oauth.openid_for(closed_port_url(), "wx-app", "the-secret", "abc", timeout=2)
    assert "the-secret" not in str(refused.value) and refused.value.errcode is None
    assert time.monotonic() - started < 2


class Answer:
    """A canned answer for the client's session parameter (odd bodies the fake never gives)."""

    def __init__(self, status, body):
        self.status_code, self.body = status, body

    def get(self, url, **kwargs):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def iter_content(self, size):
        for start in range(0, len(self.body), size):
            yield self.body[start:start + size]


@pytest.mark.parametrize("status, body", [
    (200, b"not json"),
    (200, b"[1, 2]"),
    (200, b'{"access_token": "x", "expires_in": 7200}'),
    (200, b'{"openid": "has space"}'),
    (200, b'{"openid": "' + b"a" * 65 + b'"}'),
    (200, b'{"openid": 12345}'),
    (200, b'{"openid": "o1", "pad": "' + b"x" * 20000 + b'"}'),
    (502, b'{"openid": "o1"}'),
])
def test_odd_answers_are_refused(status, body):
    with pytest.raises(OAuthError):
        wechat_oauth.openid_for("https://api.example", "wx-app", "wx-secret", "abc",
                                session=Answer(status, body))
