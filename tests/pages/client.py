"""A person using the pages over real HTTP, as a browser would without script: cookies kept,
each form's CSRF token read from the page it was on. For tests of the pages' routes with the
real services; the browser tests (playwright) drive the same pages with Chromium."""
from __future__ import annotations

import re
from http.cookiejar import DefaultCookiePolicy
from html import unescape

import requests
from requests.adapters import HTTPAdapter
from urllib.parse import urlparse

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class _SecureCookiesOverHttp(HTTPAdapter):
    """Sends the jar's cookies for the request's host, Secure ones too, on every hop of a
    redirect: a cookie policy on the session's jar does not reach requests' sending, which
    merges the jar into a fresh one with the default policy (Secure cookies on https only)."""

    def __init__(self, jar):
        super().__init__()
        self.jar = jar

    def send(self, request, **kwargs):
        host = urlparse(request.url).hostname
        pairs = [f"{c.name}={c.value}" for c in self.jar
                 if c.domain in (host, f"{host}.local") and c.value]
        if pairs:
            request.headers["Cookie"] = "; ".join(pairs)
        return super().send(request, **kwargs)


class PageClient:
    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")
        self.http = requests.Session()
        # The session cookie is Secure; the test system serves plain HTTP on loopback, which
        # browsers treat as secure too.
        self.http.cookies.set_policy(DefaultCookiePolicy(secure_protocols=("https", "wss",
                                                                            "http")))
        self.http.mount("http://", _SecureCookiesOverHttp(self.http.cookies))
        self.last = None

    def get(self, path: str, **kwargs) -> requests.Response:
        self.last = self.http.get(self.base + path, timeout=30, **kwargs)
        return self.last

    def csrf(self, page: requests.Response | None = None) -> str:
        found = CSRF.search((page or self.last).text)
        assert found, "no csrf_token on the page"
        return unescape(found.group(1))

    def post(self, path: str, data: dict | None = None, csrf: str | None = None,
             **kwargs) -> requests.Response:
        """POST a form with the CSRF token of the last page seen (or `csrf`)."""
        form = dict(data or {})
        form.setdefault("csrf_token", csrf if csrf is not None else self.csrf())
        self.last = self.http.post(self.base + path, data=form, timeout=30, **kwargs)
        return self.last

    def console_login(self, person: str) -> requests.Response:
        """The development sign-in as a person of config/org.yaml (u-hqc-1, u-office-1, ...)."""
        self.get("/console/login")
        reply = self.post("/console/login/dev", {"person": person})
        assert reply.status_code == 200 and "/console/login" not in reply.url, reply.text[:500]
        return reply

    def h5_login(self, who: str, name: str | None = None) -> requests.Response:
        """The development sign-in as a complainant with a student or staff id."""
        self.get("/h5/login")
        reply = self.post("/h5/login/dev", {"who": who, "name": name or ""})
        assert reply.status_code == 200 and "/h5/login" not in reply.url, reply.text[:500]
        return reply
