"""Stand-ins for the two sign-in providers of the pages, real HTTP on loopback (werkzeug in a
thread, as tests/fakes.py): the campus CAS 3.0 server and WeChat's web authorisation. Each
checks what the real one checks (a ticket or code is good once, for the service or app it
was issued to; a WeChat code for five minutes) and records what it was asked.

    with FakeCas() as cas:
        cas.next_user = ("u-hqc-1", {"name": ["冯涛"]})
        ...  # the browser goes to cas.base_url + "/login?service=..."

    with FakeWechatOAuth("wx-app", "wx-secret", clock=clock) as wechat:
        wechat.next_openid = "oStudent0001"
        ...  # the browser goes to wechat.authorize_base, the gateway to wechat.base_url

The pytest fixtures `fake_cas` and `fake_wechat_oauth` at the end give a started fake: import
them into a conftest.py (in a test module ruff takes the parameter for a redefinition, F811).
"""
from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import pytest
from werkzeug.wrappers import Response

from tests.fakes import _Server

CAS_NS = "http://www.yale.edu/tp/cas"


def _with_query(url: str, **params) -> str:
    """`url` with `params` added to its query (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location})


def _page(text: str, status: int = 200) -> Response:
    return Response(f"<!doctype html><title>{escape(text)}</title><p>{escape(text)}</p>",
                    status=status, mimetype="text/html")


class FakeCas(_Server):
    """/login, /p3/serviceValidate (CAS 3.0 XML), /logout.

    `next_user` = (user id, attributes: name -> list of values) is who signs in at /login;
    None shows the login page (no ticket). A ticket is good for one validation, for the
    service it was issued to, within `ticket_seconds` (any validation uses it up, as CAS
    does). `override_validation` = (HTTP status, body bytes) answers every validation with
    that, for broken servers. Recorded: `logins`, `validations` (query dicts), `logouts`."""

    def __init__(self, ticket_seconds: float = 60, clock=time.monotonic):
        super().__init__()
        self.clock = clock
        self.ticket_seconds = ticket_seconds
        self.next_user: tuple[str, dict[str, list[str]]] | None = None
        self.override_validation: tuple[int, bytes] | None = None
        self.tickets: dict[str, tuple[str, str, dict, float]] = {}
        self.logins: list[dict] = []
        self.validations: list[dict] = []
        self.logouts: list[dict] = []

    def issue(self, service: str, user_id: str, attributes: dict | None = None) -> str:
        """A service ticket as /login would redirect with (for tests that skip the browser)."""
        ticket = f"ST-{secrets.token_urlsafe(24)}"
        with self.lock:
            self.tickets[ticket] = (service, user_id, dict(attributes or {}), self.clock())
        return ticket

    def handle(self, request):
        args = request.args.to_dict()
        if request.path == "/login":
            return self._login(args)
        if request.path == "/p3/serviceValidate":
            with self.lock:
                self.validations.append(args)
            if self.override_validation is not None:
                status, body = self.override_validation
                return Response(body, status=status, mimetype="application/xml")
            return self._validate(args)
        if request.path == "/logout":
            with self.lock:
                self.logouts.append(args)
            if args.get("service"):
                return _redirect(args["service"])
            return _page("您已退出统一身份认证 (logged out)")
        return Response("not found", status=404)

    def _login(self, args):
        with self.lock:
            self.logins.append(args)
        service = args.get("service")
        if not service or not service.startswith(("http://", "https://")):
            return _page("service 参数无效", 400)
        if self.next_user is None:
            if args.get("gateway") == "true":   # CAS §2.1.1: back to the service, no ticket
                return _redirect(service)
            return _page("统一身份认证 登录")
        user_id, attributes = self.next_user
        return _redirect(_with_query(service, ticket=self.issue(service, user_id, attributes)))

    def _validate(self, args):
        service, ticket = args.get("service"), args.get("ticket")
        if not service or not ticket:
            return self._failure("INVALID_REQUEST", "service and ticket are required")
        with self.lock:   # any validation uses the ticket up, a failed one too
            issued = self.tickets.pop(ticket, None)
        if issued is None:
            return self._failure("INVALID_TICKET", f"Ticket {ticket} not recognized")
        issued_for, user_id, attributes, at = issued
        if self.clock() - at > self.ticket_seconds:
            return self._failure("INVALID_TICKET", f"Ticket {ticket} expired")
        if issued_for != service:
            return self._failure("INVALID_SERVICE",
                                 f"Ticket {ticket} does not match supplied service")
        return self._success(user_id, attributes)

    @staticmethod
    def _document(inner: str) -> Response:
        body = (f'<cas:serviceResponse xmlns:cas="{CAS_NS}">\n{inner}\n'
                f'</cas:serviceResponse>\n')
        return Response(body.encode("utf-8"), status=200,
                        mimetype="application/xml; charset=UTF-8")

    def _failure(self, code: str, text: str) -> Response:
        return self._document(f'  <cas:authenticationFailure code="{code}">{escape(text)}'
                              f'</cas:authenticationFailure>')

    def _success(self, user_id: str, attributes: dict) -> Response:
        values = "".join(f"\n      <cas:{name}>{escape(str(value))}</cas:{name}>"
                         for name, listed in attributes.items()
                         for value in (listed if isinstance(listed, (list, tuple))
                                       else [listed]))
        return self._document(
            f"  <cas:authenticationSuccess>\n    <cas:user>{escape(user_id)}</cas:user>\n"
            f"    <cas:attributes>{values}\n    </cas:attributes>\n"
            f"  </cas:authenticationSuccess>")


class FakeWechatOAuth(_Server):
    """/connect/oauth2/authorize (the browser's) and /sns/oauth2/access_token (the gateway's),
    with WeChat's error codes: 40013 invalid appid, 40125 invalid appsecret, 40029 invalid
    code (unknown, or older than five minutes on `clock`), 40163 code been used.

    `next_openid` is who the user is at /connect/oauth2/authorize (None: 400 page).
    `snapshot_user` marks the next codes as a snapshot-page (快照页) virtual account.
    Recorded: `requests` ({"path", "args"} of every request, in order)."""

    CODE_SECONDS = 300

    def __init__(self, app_id: str = "wx-test-app", secret: str = "wx-test-secret",
                 clock=time.time):
        super().__init__()
        self.app_id, self.secret, self.clock = app_id, secret, clock
        self.next_openid: str | None = None
        self.snapshot_user = False
        self.codes: dict[str, tuple[str, float, bool]] = {}
        self.used: set[str] = set()
        self.requests: list[dict] = []

    @property
    def authorize_base(self) -> str:
        return f"{self.base_url}/connect/oauth2/authorize"

    def issue(self, openid: str) -> str:
        """A code as the authorize redirect would carry (for tests that skip the browser)."""
        code = secrets.token_hex(16)
        with self.lock:
            self.codes[code] = (openid, self.clock(), self.snapshot_user)
        return code

    def handle(self, request):
        args = request.args.to_dict()
        with self.lock:
            self.requests.append({"path": request.path, "args": args})
        if request.path == "/connect/oauth2/authorize":
            return self._authorize(args)
        if request.path == "/sns/oauth2/access_token":
            return self._access_token(args)
        return Response("not found", status=404)

    def _authorize(self, args):
        # WeChat shows its own error page rather than redirecting when the request is bad.
        if args.get("appid") != self.app_id:
            return _page("appid 参数错误", 400)
        redirect_uri = args.get("redirect_uri") or ""
        if not redirect_uri.startswith(("http://", "https://")):
            return _page("redirect_uri 参数错误", 400)
        if args.get("response_type") != "code" or \
                args.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
            return _page("scope 参数错误或没有 scope 权限", 400)
        if self.next_openid is None:
            return _page("请在微信客户端打开链接", 400)
        code = self.issue(self.next_openid)
        return _redirect(_with_query(redirect_uri, code=code, state=args.get("state", "")))

    def _access_token(self, args):
        if args.get("appid") != self.app_id:
            return self._json(errcode=40013, errmsg="invalid appid")
        if args.get("secret") != self.secret:
            return self._json(errcode=40125, errmsg="invalid appsecret")
        if args.get("grant_type") != "authorization_code":
            return self._json(errcode=40002, errmsg="invalid grant_type")
        code = args.get("code") or ""
        with self.lock:
            if code in self.used:
                return self._json(errcode=40163, errmsg="code been used")
            issued = self.codes.pop(code, None)
            if issued is not None:
                self.used.add(code)
        if issued is None:
            return self._json(errcode=40029, errmsg="invalid code")
        openid, at, snapshot = issued
        if self.clock() - at > self.CODE_SECONDS:
            return self._json(errcode=40029, errmsg="invalid code")
        answer = {"access_token": f"ACCESS-{secrets.token_hex(8)}", "expires_in": 7200,
                  "refresh_token": f"REFRESH-{secrets.token_hex(8)}", "openid": openid,
                  "scope": "snsapi_base"}
        if snapshot:
            answer["is_snapshotuser"] = 1
        return self._json(**answer)

    @staticmethod
    def _json(**fields) -> Response:
        # WeChat labels its JSON text/plain; the fake does too, so clients must not rely on it.
        return Response(json.dumps(fields, ensure_ascii=False), status=200,
                        mimetype="text/plain")


@pytest.fixture
def fake_cas():
    with FakeCas() as cas:
        yield cas


@pytest.fixture
def fake_wechat_oauth():
    with FakeWechatOAuth() as wechat:
        yield wechat
