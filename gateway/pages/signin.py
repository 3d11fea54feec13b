"""Signing in to the pages (issue 13).

- The complainant's H5, opened from the 公众号 menu: WeChat web authorisation (snsapi_base).
  /h5/login sends the browser to WeChat's authorize URL with a random `state` kept in a
  pre-session; WeChat sends it back to /h5/oauth with a `code`, which the gateway exchanges
  once (gateway/pages/wechat_oauth.py) for the openid. The person is then `wechat:<openid>`,
  the same id the WeChat text dialogue files under, so cases filed by text show in the page.
- From the campus app: the app opens any /h5/ page once with its bearer token (the API's
  JWT) and gets a session; the token is not needed again.
- The staff console: the campus identity provider over CAS 3.0 (gateway/pages/cas.py); roles
  and unit from the CAS attributes, or from org.yaml by user id.
- From an SMS: a hotline caller has no account; the reply's SMS links /h5/t/<token>, signed
  by notify for that caller and case (services/common/rating_link.py), which signs them in
  as the caller and opens the case, with its 回访 form.
- Development only (`dev_login`): pick a person of org.yaml, or type a student id.

Every sign-in starts a new session id (a session fixed before signing in is worth nothing
after), and logout ends the session on the server, not only in the browser.
"""
from __future__ import annotations

import secrets
import time

from werkzeug.wrappers import Response

from gateway.auth import Unauthorized, principal_for
from gateway.pages import cas, web, wechat_oauth
from gateway.server import http
from services.common import rating_link
from services.common.access import wechat_identity
from services.common.providers import Built

OAUTH_CODE_TTL = 300   # WeChat's codes live five minutes; one use each


def org_directory(settings) -> dict:
    return cas.load_directory(settings.resolve_path(settings.org_directory))


class SignInPages:
    org = Built(org_directory)

    # -------------------------------------------------------------- helpers
    def _base_url(self, request) -> str:
        return (self.settings.public_base_url or request.host_url).rstrip("/")

    def _start(self, realm: str, principal: dict, old: dict | None, target: str | None,
               **extra) -> Response:
        """A new session for `principal` (the old one, if any, ends) and the way in."""
        if old is not None:
            self.page_sessions.end(old["id"])
        session = self.page_sessions.create(realm, principal, **extra)
        response = web.redirect(web.safe_next(target, realm))
        return web.set_cookie(response, realm, session, self.settings.page_session_max_seconds)

    def _pre_session(self, request, realm: str) -> tuple[dict, bool]:
        """The anonymous session a sign-in form or round trip rides on (its CSRF token, the
        OAuth state); made when the browser has none."""
        session = self.page_sessions.get(request.cookies.get(web.COOKIES[realm]), realm)
        if session is not None:
            return session, False
        return self.page_sessions.create(realm, None), True

    def _with_cookie(self, response: Response, realm: str, session: dict, new: bool):
        if new:
            web.set_cookie(response, realm, session, self.settings.page_session_max_seconds)
        return response

    def _staff_principal(self, fields: dict) -> dict:
        names = cas.unit_names(self.org)
        return dict(fields, college=None, unit_name=names.get(fields.get("unit") or "", None))

    # -------------------------------------------------------------- console
    @http("GET", "/console/login")
    def console_login(self, request):
        session, new = self._pre_session(request, web.CONSOLE)
        if session.get("principal"):
            return web.redirect(web.safe_next(request.args.get("next"), web.CONSOLE))
        target = web.safe_next(request.args.get("next"), web.CONSOLE)
        people = cas.people(self.org) if self.settings.dev_login else []
        response = self._render("console/login.html", session, target=target, people=people,
                                cas_on=bool(self.settings.cas_server_url))
        self.page_sessions.save(session)
        return self._with_cookie(response, web.CONSOLE, session, new)

    @http("GET", "/console/login/cas")
    def console_login_cas(self, request):
        if not self.settings.cas_server_url:
            return web.error_page(web.CONSOLE, 404, "未配置统一身份认证。")
        session, new = self._pre_session(request, web.CONSOLE)
        session["next"] = web.safe_next(request.args.get("next"), web.CONSOLE)
        self.page_sessions.save(session)
        url = cas.login_url(self.settings.cas_server_url, self._cas_service(request))
        return self._with_cookie(web.redirect(url, 302), web.CONSOLE, session, new)

    def _cas_service(self, request) -> str:
        return self._base_url(request) + "/console/cas"

    @http("GET", "/console/cas")
    def console_cas(self, request):
        """CAS sends the browser back here with a service ticket, validated once."""
        if not self.settings.cas_server_url:
            return web.error_page(web.CONSOLE, 404, "未配置统一身份认证。")
        ticket = request.args.get("ticket", "")
        try:
            user = cas.validate(self.settings.cas_server_url, self._cas_service(request),
                                ticket)
        except cas.CasError as exc:
            return web.error_page(web.CONSOLE, 403, f"统一身份认证未通过:{exc}")
        fields = cas.principal_fields(user, self.org)
        if not fields or not fields.get("roles"):
            return web.error_page(web.CONSOLE, 403,
                                  "您的账号没有接诉即办工作台的权限,请联系接诉即办办公室。")
        old = self.page_sessions.get(request.cookies.get(web.COOKIES[web.CONSOLE]),
                                     web.CONSOLE)
        target = (old or {}).get("next")
        return self._start(web.CONSOLE, self._staff_principal(fields), old, target)

    @http("POST", "/console/login/dev")
    def console_login_dev(self, request):
        if not self.settings.dev_login:
            return web.error_page(web.CONSOLE, 404, "未找到")
        old = self.page_sessions.get(request.cookies.get(web.COOKIES[web.CONSOLE]),
                                     web.CONSOLE)
        if old is None or not web.csrf_ok(request, old):
            return web.error_page(web.CONSOLE, 403, "页面已过期,请返回登录页重试。")
        chosen = request.form.get("person", "")
        person = next((p for p in cas.people(self.org) if p["id"] == chosen), None)
        if person is None:
            return web.error_page(web.CONSOLE, 400, "请选择一位人员。")
        return self._start(web.CONSOLE, self._staff_principal(person), old,
                           request.form.get("next"))

    @http("POST", "/console/logout")
    def console_logout(self, request):
        return self._logout(request, web.CONSOLE)

    def _logout(self, request, realm: str) -> Response:
        session = self.page_sessions.get(request.cookies.get(web.COOKIES[realm]), realm)
        if session is not None and not web.csrf_ok(request, session):
            return web.error_page(realm, 403, "页面已过期,请刷新后重试。", session)
        if session is not None:
            self.page_sessions.end(session["id"])
        fresh = self.page_sessions.create(realm, None)
        web.flash(fresh, "您已退出登录。")
        self.page_sessions.save(fresh)
        return web.set_cookie(web.redirect(web.sign_in_url(realm)), realm, fresh,
                              self.settings.page_session_max_seconds)

    # ------------------------------------------------------------------- H5
    def _h5_bearer_session(self, request) -> dict | None:
        """The campus app opens a page with its bearer token: a session for that person
        as a complainant (None when the token does not verify)."""
        try:
            principal = principal_for(request.headers.get("Authorization"), self.settings,
                                      self.public_key)
        except Unauthorized:
            return None
        fields = dict(principal.as_complainant(), unit_name=None)
        return self.page_sessions.create(web.H5, fields, channel="app")

    @http("GET", "/h5/login")
    def h5_login(self, request):
        target = web.safe_next(request.args.get("next"), web.H5)
        if request.headers.get("Authorization"):
            session = self._h5_bearer_session(request)
            if session is None:
                return web.error_page(web.H5, 401, "登录凭证无效或已过期,请在校园App中重新打开。")
            return web.set_cookie(web.redirect(target), web.H5, session,
                                  self.settings.page_session_max_seconds)
        session, new = self._pre_session(request, web.H5)
        if session.get("principal"):
            return web.redirect(target)
        if self.settings.wechat_app_id and self.settings.wechat_app_secret and \
                "dev" not in request.args:
            session["oauth_state"] = secrets.token_hex(16)   # WeChat: letters, digits
            session["next"] = target
            self.page_sessions.save(session)
            url = wechat_oauth.authorize_url(self.settings.wechat_oauth_authorize_url,
                                             self.settings.wechat_app_id,
                                             self._base_url(request) + "/h5/oauth",
                                             session["oauth_state"])
            return self._with_cookie(web.redirect(url, 302), web.H5, session, new)
        response = self._render("h5/login.html", session, target=target)
        self.page_sessions.save(session)
        return self._with_cookie(response, web.H5, session, new)

    @http("GET", "/h5/oauth")
    def h5_oauth(self, request):
        """WeChat's way back: the code, exchanged once for the openid."""
        session = self.page_sessions.get(request.cookies.get(web.COOKIES[web.H5]), web.H5)
        state, code = request.args.get("state", ""), request.args.get("code", "")
        if session is None or not session.get("oauth_state") or not secrets.compare_digest(
                state.encode(), session["oauth_state"].encode()):
            return web.error_page(web.H5, 400, "授权已失效,请从公众号菜单重新打开。")
        if not self._first_use_of(code):
            return web.error_page(web.H5, 400, "授权码已使用,请从公众号菜单重新打开。")
        try:
            openid = wechat_oauth.openid_for(self.settings.wechat_api_base,
                                             self.settings.wechat_app_id,
                                             self.settings.wechat_app_secret, code)
        except wechat_oauth.OAuthError as exc:
            return web.error_page(web.H5, 400, f"微信授权未通过:{exc}")
        fields = {"id": wechat_identity(openid), "name": None, "roles": ["complainant"],
                  "unit": None, "college": None, "unit_name": None}
        return self._start(web.H5, fields, session, session.get("next"), channel="wechat")

    def _first_use_of(self, code: str) -> bool:
        """A code goes through here once, whatever WeChat would say of a replay."""
        if not code or len(code) > 128:
            return False
        return self.page_sessions.first_use("oauth-code:" + code, OAUTH_CODE_TTL)

    @http("GET", "/h5/t/<string:token>")
    def h5_sms_link(self, request, token):
        """An SMS's link: the caller, signed in by the token, sees the case it names."""
        try:
            complaint_id, complainant_id = rating_link.verify(
                self.settings.rating_link_secret, token, time.time())
        except rating_link.BadToken as bad:
            if bad.reason == "expired":
                return web.error_page(web.H5, 410, "该链接已过期。如需查询或反映,请拨打24小时热线。")
            return web.error_page(web.H5, 404, "该链接无效,请核对短信中的链接是否完整。")
        old = self.page_sessions.get(request.cookies.get(web.COOKIES[web.H5]), web.H5)
        fields = {"id": complainant_id, "name": None, "roles": ["complainant"], "unit": None,
                  "college": None, "unit_name": None}
        return self._start(web.H5, fields, old, f"/h5/cases/{complaint_id}", channel="sms")

    @http("POST", "/h5/login/dev")
    def h5_login_dev(self, request):
        if not self.settings.dev_login:
            return web.error_page(web.H5, 404, "未找到")
        old = self.page_sessions.get(request.cookies.get(web.COOKIES[web.H5]), web.H5)
        if old is None or not web.csrf_ok(request, old):
            return web.error_page(web.H5, 403, "页面已过期,请返回登录页重试。")
        who = (request.form.get("who") or "").strip()
        name = (request.form.get("name") or "").strip() or None
        if not who or len(who) > 64 or web.FORBIDDEN_TEXT.search(who) or \
                (name and (len(name) > 64 or web.FORBIDDEN_TEXT.search(name))):
            return web.error_page(web.H5, 400, "请填写学号或工号(不超过64字)。")
        fields = {"id": who, "name": name, "roles": ["complainant"], "unit": None,
                  "college": None, "unit_name": None}
        return self._start(web.H5, fields, old, request.form.get("next"), channel="app")

    @http("POST", "/h5/logout")
    def h5_logout(self, request):
        return self._logout(request, web.H5)
