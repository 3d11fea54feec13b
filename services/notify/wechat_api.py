"""WeChat Official Account (公众号) template messages: how complainants who filed through WeChat
hear how their case progresses.

Follows WeChat's published HTTP API:

    GET  {api_base}/cgi-bin/token?grant_type=client_credential&appid=APPID&secret=APPSECRET
         -> {"access_token": "...", "expires_in": 7200}  or  {"errcode": 40013, "errmsg": "..."}
    POST {api_base}/cgi-bin/message/template/send?access_token=TOKEN
         Content-Type: application/json, UTF-8 JSON (Chinese not escaped)
         {"touser": OPENID, "template_id": ID, "url": LINK (optional),
          "data": {"first": {"value": ...}, "keyword1": {...}, "keyword2": {...},
                   "remark": {...}}}
         -> {"errcode": 0, "errmsg": "ok", "msgid": 200228332}

The access token is fetched on first use and kept until `expires_in - 300` seconds have passed
on the injected monotonic clock; one lock makes concurrent senders wait for a single fetch.
When WeChat says the token is no longer good (40001, 42001, 40014; it invalidates old tokens
whenever anyone fetches a new one for the same app) the token is dropped, fetched anew and the
send retried once. Anything else that is not errcode 0 raises `WeChatApiError`, and the notify
service's resend loop tries again later.

Neither the app secret nor an access token ever appears in an error message, a log line or the
sender's repr: both travel in query strings, so transport errors (whose text names the URL)
are reported by their type only, and raised without their cause attached.

The lock is a `threading.Lock`: the sender is built inside the nameko container, after eventlet
has monkey-patched `threading`, so it is a green lock there.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timezone
from zoneinfo import ZoneInfo

import requests

log = logging.getLogger("jiesu.notify.wechat")

SHANGHAI = ZoneInfo("Asia/Shanghai")
# WeChat's answers that mean "this access token is no longer good": fetch anew, retry once.
TOKEN_ERRORS = frozenset({40001, 42001, 40014})
TOKEN_MARGIN = 300          # seconds before WeChat's expiry at which a token is fetched anew
FIRST_LIMIT = 200           # characters of the message text shown in the template's `first`
SENTENCE_ENDS = "。！？；!?;\n"
DEFAULT_LABEL = "办理进展"
TEMPLATE_LABELS = {
    "complaint_acknowledged": "诉求已受理",
    "complaint_replied": "承办单位已答复",
    "complaint_closed": "诉求已办结",
    "complaint_redo": "发回重办",
    "complaint_supervised": "纳入督办",
    "complaint_screened_out": "不予受理",
    "extension_approved": "办理时限延长",
    "timetable_set": "办理时间表",
    "milestone_feedback": "阶段性进展",
}
LINK_REMARK = "点击查看办理详情"


# What no resend can fix for this recipient: an openid that is not this account's, a user
# who unsubscribed or refused its messages.
RECIPIENT_ERRCODES = {40003, 43004, 43101}


class WeChatApiError(RuntimeError):
    """WeChat did not take the message. The text never contains the secret or a token.
    `permanent`: resending it cannot succeed (notify gives it up at once)."""

    def __init__(self, message: str, errcode: int | None = None, errmsg: str | None = None,
                 permanent: bool = False):
        super().__init__(message)
        self.errcode = errcode
        self.errmsg = errmsg
        self.permanent = permanent or errcode in RECIPIENT_ERRCODES


def short_openid(openid: str) -> str:
    """An openid as it may appear in logs: `oAbC…`."""
    return (openid[:4] + "…") if openid else ""


def label_for(template: str) -> str:
    return TEMPLATE_LABELS.get(template, DEFAULT_LABEL)


def truncate(text: str, limit: int = FIRST_LIMIT) -> str:
    """At most `limit` characters: a longer text is cut at its last sentence end in the final
    quarter of the room, else mid-sentence, and marked with "…"."""
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    room = text[:limit - 1]
    cut = max(room.rfind(mark) for mark in SENTENCE_ENDS)
    if cut >= (limit * 3) // 4:
        room = room[:cut + 1]
    return room.rstrip() + "…"


def local_minute(moment) -> str:
    """`created_at` in Beijing time, "YYYY-MM-DD HH:MM" (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


class WeChatTemplateSender:
    name = "wechat"

    def __init__(self, api_base: str, app_id: str, app_secret: str, template_id: str,
                 link_base: str | None = None, session=None, timeout: float = 5,
                 clock=time.monotonic):
        if not api_base or not app_id or not app_secret or not template_id:
            raise ValueError("WeChatTemplateSender needs api_base, app_id, app_secret and "
                             "template_id")
        self.api_base = api_base.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.template_id = template_id
        self.link_base = link_base.rstrip("/") if link_base else None
        self.session = session or requests.Session()
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_deadline = 0.0

    def __repr__(self) -> str:
        return (f"WeChatTemplateSender({self.api_base!r}, app_id={self.app_id!r}, "
                f"template_id={self.template_id!r})")

    # -- the message --------------------------------------------------------------------------

    def payload(self, notification) -> dict:
        """The template message for a notification (without any token or secret)."""
        openid = str(getattr(notification, "address", None) or "").strip()
        if not openid:
            raise WeChatApiError(f"notification {notification.id} has no WeChat openid to "
                                 "send to", permanent=True)
        body = {"touser": openid, "template_id": self.template_id}
        if self.link_base:
            body["url"] = f"{self.link_base}/{notification.complaint_id}"
        body["data"] = {
            "first": {"value": truncate(notification.text)},
            "keyword1": {"value": label_for(notification.template)},
            "keyword2": {"value": local_minute(notification.created_at)},
            "remark": {"value": LINK_REMARK if self.link_base else ""},
        }
        return body

    def send(self, notification) -> None:
        payload = self.payload(notification)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        token = self._current_token()
        answer = self._post_template(token, body)
        if answer.get("errcode") in TOKEN_ERRORS:
            log.info("wechat token refused (errcode %s); fetching a new one",
                     answer.get("errcode"))
            self._drop(token)
            token = self._current_token()
            answer = self._post_template(token, body)
        if answer.get("errcode") != 0:
            raise self._error("template send", answer, token)
        log.info("wechat %s (%s) for complaint %s sent to %s, msgid %s", notification.id,
                 notification.template, notification.complaint_id,
                 short_openid(payload["touser"]), answer.get("msgid"))

    # -- the access token ---------------------------------------------------------------------

    def _current_token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._token_deadline:
                self._token = None
                answer = self._call("token request", "GET", "/cgi-bin/token", params={
                    "grant_type": "client_credential", "appid": self.app_id,
                    "secret": self._secret})
                token = answer.get("access_token")
                if not token or not isinstance(token, str):
                    raise self._error("token request", answer)
                try:
                    expires_in = int(answer.get("expires_in", 7200))
                except (TypeError, ValueError):
                    expires_in = 7200
                self._token = token
                self._token_deadline = self.clock() + max(expires_in - TOKEN_MARGIN, 0)
                log.info("wechat access token fetched for app %s, good for %ss", self.app_id,
                         expires_in)
            return self._token

    def _drop(self, token: str) -> None:
        """Forget `token`, unless another sender has already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = None

    # -- HTTP ---------------------------------------------------------------------------------

    def _post_template(self, token: str, body: bytes) -> dict:
        return self._call("template send", "POST", "/cgi-bin/message/template/send",
                          params={"access_token": token}, data=body,
                          headers={"Content-Type": "application/json; charset=utf-8"},
                          token=token)

    def _call(self, what: str, method: str, path: str, token: str | None = None,
              **kwargs) -> dict:
        try:
            response = self.session.request(method, self.api_base + path,
                                            timeout=self.timeout, **kwargs)
        except requests.Timeout:
            # `from None`: the cause's text names the URL, and the URL carries the credentials.
            raise WeChatApiError(f"WeChat {what}: no answer within {self.timeout}s") from None
        except requests.RequestException as exc:
            raise WeChatApiError(f"WeChat {what}: unreachable ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise WeChatApiError(f"WeChat {what}: HTTP {response.status_code}")
        try:
            answer = json.loads(response.content.decode("utf-8"))
        except ValueError:
            raise WeChatApiError(f"WeChat {what}: answer is not JSON "
                                 f"(HTTP {response.status_code})") from None
        if not isinstance(answer, dict):
            raise WeChatApiError(f"WeChat {what}: answer is not a JSON object")
        return answer

    def _error(self, what: str, answer: dict, token: str | None = None) -> WeChatApiError:
        errcode = answer.get("errcode")
        errmsg = self._scrub(str(answer.get("errmsg", "")), token)
        return WeChatApiError(f"WeChat {what} failed: errcode {errcode} ({errmsg})",
                              errcode=errcode if isinstance(errcode, int) else None,
                              errmsg=errmsg)

    def _scrub(self, text: str, token: str | None) -> str:
        for secret in (self._secret, token, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text
