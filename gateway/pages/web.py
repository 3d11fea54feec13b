"""What every page of the gateway shares (issue 13): templates, the session cookie, CSRF, the
security headers, the error pages and the `page` decorator the routes wear.

The pages are server-rendered Jinja2 (docs/DESIGN.md says why): each page is one request to
the gateway, which asks the services by RPC as the staff API does, on behalf of the person
the session names. No script runs inline (the Content-Security-Policy allows scripts from
this origin only); the few behaviours a page has (a character counter, photo compression,
the head's live view) live in /static files, and htmx (vendored) swaps the live fragments.

Sessions are kept on the server (Redis when `gateway_state_url` is set, else this process's
memory): the cookie carries a random id only, HttpOnly, Secure and SameSite=Lax, so a
script cannot read it and another site's form does not carry it into a POST. Every
state-changing request must also carry the session's CSRF token (a hidden field, or the
X-CSRF-Token header htmx sends) and, when the browser says where it comes from, come from
this origin. A session ends after `page_session_idle_seconds` idle, after
`page_session_max_seconds` in any case, and at logout; signing in makes a new session id.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from werkzeug.wrappers import Response

from gateway.auth import Principal
from gateway.http import FORBIDDEN_TEXT, HttpError, error_for
from services.common.contracts import CATEGORIES, GRADES

log = logging.getLogger("jiesu.gateway.pages")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# The paths of the pages: HTML for people, not the API (the OpenAPI document leaves them out).
PAGE_PREFIXES = ("/h5/", "/console/", "/static/")
# The two sign-in realms: a complainant's H5 and the staff console never share a session.
H5, CONSOLE = "h5", "console"
COOKIES = {H5: "jiesu_h5", CONSOLE: "jiesu_console"}
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=(self)",
}

STATUS_LABELS = {
    "received": "已受理", "screened_out": "不予受理", "assigned": "已派单", "signed": "已签收",
    "in_progress": "办理中", "returned": "已退回", "replied": "已答复", "redo": "重办中",
    "supervised": "督办中", "instructed": "已批示", "closed": "已办结", "merged": "已合并",
}
CHANNEL_LABELS = {"wechat": "微信公众号", "app": "校园App", "hotline": "24小时热线",
                  "open311": "开放接口", "staff": "主动发现", "web": "网页"}


# ------------------------------------------------------------------------ templates
def _static_version(name: str) -> str:
    try:
        return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    except OSError:
        return "0"


@functools.lru_cache(maxsize=None)
def asset(name: str) -> str:
    """The URL of a static file, with its content's hash so that it may be cached for good."""
    return f"/static/{name}?v={_static_version(name)}"


@functools.lru_cache(maxsize=None)
def vendored() -> dict[str, str]:
    """The vendored files' versions (static/vendor/VERSIONS: `htmx=2.0.x`, `weui=2.6.x`)."""
    versions = {}
    path = STATIC / "vendor" / "VERSIONS"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, version = line.partition("=")
            if name.strip() and version.strip():
                versions[name.strip()] = version.strip()
    return versions


def local_time(value, form: str = "%m-%d %H:%M") -> str:
    """An ISO timestamp (UTC or with offset) as Beijing time; '' for none."""
    if not value:
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        from datetime import timezone
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(SHANGHAI).strftime(form)


def time_left(value, now: float | None = None) -> str:
    """How long until an ISO deadline, in words (超期 … when past)."""
    if not value:
        return ""
    try:
        due = datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return ""
    seconds = int(due - (time.time() if now is None else now))
    past, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = (f"{days}天{hours}小时" if days else f"{hours}小时{minutes}分" if hours
            else f"{minutes}分钟")
    return f"超期{text}" if past else f"剩余{text}"


@functools.lru_cache(maxsize=None)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(default=True),
                             trim_blocks=True, lstrip_blocks=True)
    env.globals.update(asset=asset, vendored=vendored, CATEGORIES=CATEGORIES, GRADES=GRADES,
                       STATUS_LABELS=STATUS_LABELS, CHANNEL_LABELS=CHANNEL_LABELS)
    env.filters.update(local_time=local_time, time_left=time_left,
                       status_label=lambda s: STATUS_LABELS.get(s, s or ""),
                       category_label=lambda c: CATEGORIES.get(c, c or "未分类"),
                       grade_label=lambda g: GRADES.get(g, g or ""),
                       channel_label=lambda c: CHANNEL_LABELS.get(c, c or ""),
                       quote=lambda s: quote(str(s), safe=""))
    return env


def html(text: str, status: int = 200, headers: dict | None = None) -> Response:
    return Response(text, status=status, mimetype="text/html",
                    headers=dict(SECURITY_HEADERS, **(headers or {})))


def render(template: str, status: int = 200, headers: dict | None = None, **context
           ) -> Response:
    return html(environment().get_template(template).render(**context), status, headers)


def redirect(location: str, status: int = 303, headers: dict | None = None) -> Response:
    response = Response("", status=status, headers=dict(SECURITY_HEADERS, **(headers or {})))
    response.headers["Location"] = location
    return response


# ------------------------------------------------------------------------- sessions
class PageSessions:
    """Server-side page sessions: {id: data}, each with its creation and last use. The id
    is 32 random bytes; a lookup finds nothing once the session idled or lived too long."""

    PREFIX = "jiesu:page:"

    def __init__(self, idle_seconds: int, max_seconds: int, redis=None, clock=time.time):
        self.idle, self.max, self.redis, self.clock = idle_seconds, max_seconds, redis, clock
        self._memory: dict[str, dict] = {}
        self._once: dict[str, float] = {}   # first_use's keys, with when they were used
        self._lock = threading.Lock()

    def create(self, realm: str, principal: dict | None = None, **extra) -> dict:
        now = self.clock()
        session = {"id": secrets.token_urlsafe(32), "realm": realm, "principal": principal,
                   "csrf": secrets.token_urlsafe(32), "created": now, "seen": now,
                   "flash": [], **extra}
        self.save(session)
        return session

    def get(self, session_id: str | None, realm: str) -> dict | None:
        if not session_id or len(session_id) > 100 or FORBIDDEN_TEXT.search(session_id):
            return None
        raw = self._read(session_id)
        if raw is None or raw.get("realm") != realm:
            return None
        now = self.clock()
        if now - raw["seen"] > self.idle or now - raw["created"] > self.max:
            self.end(session_id)
            return None
        raw["seen"] = now
        self.save(raw)
        return raw

    def save(self, session: dict) -> None:
        ttl = max(1, int(min(self.idle, self.max - (self.clock() - session["created"]))) + 1)
        if self.redis is not None:
            self.redis.set(self.PREFIX + session["id"], json.dumps(session, ensure_ascii=False),
                           ex=ttl)
            return
        with self._lock:
            now = self.clock()
            if len(self._memory) > 1000:   # forget the expired now and then
                self._memory = {k: v for k, v in self._memory.items()
                                if now - v["seen"] <= self.idle}
            self._memory[session["id"]] = json.loads(json.dumps(session))

    def end(self, session_id: str) -> None:
        if self.redis is not None:
            self.redis.delete(self.PREFIX + session_id)
            return
        with self._lock:
            self._memory.pop(session_id, None)

    def first_use(self, key: str, ttl: int) -> bool:
        """True the first time `key` is seen within `ttl` seconds (a one-use credential such
        as WeChat's authorisation code), False for a replay; across replicas with Redis."""
        if self.redis is not None:
            return bool(self.redis.set(self.PREFIX + "once:" + key, "1", nx=True, ex=ttl))
        with self._lock:
            now = self.clock()
            self._once = {k: at for k, at in self._once.items() if now - at <= ttl}
            if key in self._once:
                return False
            self._once[key] = now
            return True

    def _read(self, session_id: str) -> dict | None:
        if self.redis is not None:
            raw = self.redis.get(self.PREFIX + session_id)
            return json.loads(raw) if raw else None
        with self._lock:
            found = self._memory.get(session_id)
            return json.loads(json.dumps(found)) if found else None


def page_sessions(settings) -> PageSessions:
    from gateway.sessions import redis_client

    url = settings.gateway_state_url
    return PageSessions(settings.page_session_idle_seconds, settings.page_session_max_seconds,
                        redis=redis_client(url) if url else None)


def set_cookie(response: Response, realm: str, session: dict, max_age: int) -> Response:
    response.set_cookie(COOKIES[realm], session["id"], max_age=max_age, path="/", secure=True,
                        httponly=True, samesite="Lax")
    return response


def clear_cookie(response: Response, realm: str) -> Response:
    response.delete_cookie(COOKIES[realm], path="/", secure=True, httponly=True, samesite="Lax")
    return response


def flash(session: dict, text: str, kind: str = "info") -> None:
    """A message for the next page the person sees (after a redirect)."""
    session.setdefault("flash", []).append({"text": text, "kind": kind})


def principal_of(session: dict) -> Principal:
    fields = session["principal"]
    return Principal(fields["id"], fields.get("name"), tuple(fields.get("roles") or ()),
                     fields.get("unit"), fields.get("college"))


# ----------------------------------------------------------------------------- CSRF
def same_origin(request) -> bool:
    """False when the browser says the request comes from another origin (Origin, or
    Referer when there is no Origin); True when it comes from here or says nothing."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return source != "null"
    parts = urlsplit(source)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.scheme}://{request.host}" or \
        parts.netloc == request.host


def csrf_ok(request, session: dict) -> bool:
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    return bool(given) and hmac.compare_digest(given.encode(), session["csrf"].encode()) \
        and same_origin(request)


# ---------------------------------------------------------------------------- errors
def refusal(exc: Exception, where: str) -> tuple[int, str]:
    """A failure as the status and the reason the API would answer (the services' own
    Chinese message for a refused action)."""
    answer = error_for(exc, where)
    try:
        message = json.loads(answer.get_data())["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = "系统错误"
    return answer.status_code, message


ERROR_TITLES = {400: "无法处理", 403: "无权操作", 404: "未找到", 409: "无法执行",
                413: "内容过大", 429: "操作过于频繁", 503: "系统繁忙"}


def error_page(realm: str, status: int, message: str, session: dict | None = None
               ) -> Response:
    title = ERROR_TITLES.get(status, "出错了")
    if status >= 500 and status != 503:
        message = "系统出错了,请稍后再试。"
    headers = {"Retry-After": "5"} if status == 503 else None
    return render(f"{realm}/error.html", status, headers, title=title, message=message,
                  session=session, user=(session or {}).get("principal"))


# -------------------------------------------------------------------------- the decorator
def page(realm: str, roles: tuple[str, ...] | None = None, signed_in: bool = True):
    """Wraps a page route `handler(self, request, session, **path_values)`: finds the
    session (or sends the person to sign in), checks CSRF on a POST, lets only `roles` in
    (anyone else: 404, as the API), and turns every failure into a page with its reason."""
    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(self, request, **values):
            sessions = self.page_sessions
            session = sessions.get(request.cookies.get(COOKIES[realm]), realm)
            fresh = None
            if realm == H5 and session is None and request.headers.get("Authorization"):
                # The campus app opens a page with its bearer token once (signin.py).
                session = fresh = self._h5_bearer_session(request)
            before = _state(session)
            try:
                for value in values.values():
                    if FORBIDDEN_TEXT.search(str(value)) or len(str(value)) > 200:
                        raise HttpError(404, "not_found", "未找到")
                if signed_in and (session is None or not session.get("principal")):
                    return _sign_in_first(request, realm, session is None)
                if request.method == "POST" and not (session and csrf_ok(request, session)):
                    return error_page(realm, 403, "页面已过期或来源不明,请返回刷新后重试。",
                                      session)
                if roles and not any(r in (session["principal"].get("roles") or ())
                                     for r in roles):
                    raise HttpError(404, "not_found", "未找到")
                response = handler(self, request, session, **values)
            except Exception as exc:
                status, message = refusal(exc, handler.__name__)
                response = error_page(realm, status, message, session)
            if session is not None and _state(session) != before:
                sessions.save(session)   # flashes shown or added (no route here ends one)
            if fresh is not None:
                set_cookie(response, realm, fresh, self.settings.page_session_max_seconds)
            return response
        return wrapper
    return decorate


def _state(session: dict | None) -> str | None:
    return json.dumps(session, sort_keys=True) if session is not None else None


def _sign_in_first(request, realm: str, no_session: bool) -> Response:
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    if request.headers.get("HX-Request"):   # a live fragment of a page whose session ended
        return Response("", status=401, headers={"HX-Redirect": sign_in_url(realm, target)})
    if request.method != "GET":
        return error_page(realm, 401, "登录已过期,请重新登录。")
    return redirect(sign_in_url(realm, target))


def sign_in_url(realm: str, target: str | None = None) -> str:
    base = "/console/login" if realm == CONSOLE else "/h5/login"
    return f"{base}?next={quote(target, safe='')}" if target else base


def safe_next(value: str | None, realm: str) -> str:
    """Where to go after signing in: a path of this realm only (never another site)."""
    home = f"/{realm}/"
    if not value or not value.startswith(home) or value.startswith("//") or "\\" in value \
            or FORBIDDEN_TEXT.search(value) or len(value) > 500:
        return home
    return value


def take_flashes(session: dict | None) -> list[dict]:
    if not session:
        return []
    shown, session["flash"] = session.get("flash") or [], []
    return shown


def context(session: dict | None, **values) -> dict:
    """What every template gets: who is signed in, the CSRF token, the flashes."""
    return {"session": session, "user": (session or {}).get("principal"),
            "csrf_token": (session or {}).get("csrf", ""), "flashes": take_flashes(session),
            **values}
