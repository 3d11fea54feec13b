"""The work-group robot (R12): the weekly and monthly summaries posted to the office's group
chat, on WeCom (企业微信, the default) or DingTalk.

WeCom group robot, as WeCom documents it:

    POST {workgroup_webhook_url}          (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)
    Content-Type: application/json, UTF-8 JSON (Chinese not escaped)
    {"msgtype": "markdown", "markdown": {"content": "…"}}        content ≤ 4,096 bytes UTF-8
    {"msgtype": "image", "image": {"base64": "…", "md5": "…"}}   the image ≤ 2 MB before encoding
    -> {"errcode": 0, "errmsg": "ok"}

DingTalk custom robot with 加签 (the secret is `workgroup_webhook_secret`):

    POST {workgroup_webhook_url}&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(secret,
         f"{timestamp}\\n{secret}")))>      (https://oapi.dingtalk.com/robot/send?access_token=…)
    {"msgtype": "markdown", "markdown": {"title": "…", "text": "…"}}
    -> {"errcode": 0, "errmsg": "ok"}

DingTalk refuses a timestamp more than an hour off. Its robot cannot take an uploaded image:
a chart goes into the markdown as a link, `![title](url)`, to where the summary page serves
it; a chart without a URL is left out on DingTalk (and said so in the log).

Both robots take at most 20 messages a minute (more and the robot is muted for a while), so
each sender paces its posts over a sliding minute, on a clock tests replace. A summary longer
than one message is split on line boundaries (a line is cut only when it alone is longer than
a message, and then never inside a UTF-8 character).

Failures raise `WorkgroupError`, whose `permanent` tells notify's resend loop (service.py
`_send`) whether trying again can help: no answer, HTTP 5xx or 429, and the robots' "too
fast" and "busy" codes can; a refused key, a bad signature, malformed content or an image
over the limit cannot. When a summary of several messages fails part way, the sender
remembers (per notification id, in memory) how many went out, and a resend carries on from
the first that did not, instead of posting the others to the group twice.

The webhook URL is a credential (its key or access_token lets anyone post to the group), as
is the secret: neither appears in an error, a log line or a repr; transport errors are
reported by their type only, without their cause (whose text names the URL).
"""
from __future__ import annotations

import abc
import base64
import collections
import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote_plus, urlsplit

import requests

log = logging.getLogger("jiesu.notify.workgroup")

KINDS = ("wecom", "dingtalk")
MESSAGES_PER_MINUTE = 20
WECOM_MARKDOWN_BYTES = 4096
# DingTalk documents no markdown limit of its own; 20,000 bytes is its limit for a text
# message, and its client shows no more.
DINGTALK_MARKDOWN_BYTES = 20000
MAX_IMAGE_BYTES = 2 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TITLE_CHARS = 64
# Answers meaning "not now": -1 system busy (both); WeCom 45009 API frequency limit; DingTalk
# 130101 and 410100 sent too fast.
WECOM_RETRYABLE = frozenset({-1, 45009})
DINGTALK_RETRYABLE = frozenset({-1, 130101, 410100})
REMEMBERED_PROGRESS = 256


class WorkgroupError(RuntimeError):
    """The robot did not take (all of) the summary; the text never names the URL or secret.
    `permanent`: resending cannot succeed (notify gives it up at once). `sent`: how many of
    its messages did go out."""

    def __init__(self, message: str, errcode: int | None = None, permanent: bool = False,
                 sent: int = 0):
        super().__init__(message)
        self.errcode = errcode
        self.permanent = permanent
        self.sent = sent

    @property
    def retryable(self) -> bool:
        return not self.permanent


class Posted(NamedTuple):
    """What a post did: messages sent now, and those skipped as sent by an earlier attempt."""
    sent: int
    skipped: int = 0


@dataclass(frozen=True)
class Chart:
    """A PNG for the group (a chart of the summary). `url`: where the summary page serves
    it, the only way DingTalk can show it."""
    png: bytes
    title: str = "图表"
    url: str | None = None


# ------------------------------------------------------------------------------ splitting
def split_markdown(text: str, limit: int) -> list[str]:
    """`text` as messages of at most `limit` UTF-8 bytes each, split on line boundaries: the
    messages joined with "\\n" give `text` back (less trailing newlines and any message that
    would hold only blanks). A line longer than `limit` on its own is cut at the last
    character boundary that fits."""
    parts: list[str] = []
    current: str | None = None
    for line in text.rstrip("\n").split("\n"):
        for piece in _cut_line(line, limit):
            joined = piece if current is None else current + "\n" + piece
            if len(joined.encode("utf-8")) <= limit:
                current = joined
            else:
                parts.append(current)
                current = piece
    if current is not None:
        parts.append(current)
    return [part for part in parts if part.strip()]


def _cut_line(line: str, limit: int) -> list[str]:
    data = line.encode("utf-8")
    pieces = []
    while len(data) > limit:
        cut = limit
        while data[cut] & 0xC0 == 0x80:   # a continuation byte: inside a character
            cut -= 1
        pieces.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    pieces.append(data.decode("utf-8"))
    return pieces


def title_of(markdown: str) -> str:
    """A message's title (DingTalk shows it in the chat list): its first non-blank line,
    without markdown's heading and emphasis marks."""
    for line in markdown.split("\n"):
        line = line.strip().lstrip("#>").strip().replace("**", "")
        if line:
            return line[:TITLE_CHARS]
    return "工作群通报"


def check_chart(chart: Chart) -> None:
    if not chart.png.startswith(PNG_SIGNATURE):
        raise WorkgroupError(f"chart {chart.title!r} is not a PNG", permanent=True)
    if len(chart.png) > MAX_IMAGE_BYTES:
        raise WorkgroupError(f"chart {chart.title!r} is {len(chart.png)} bytes; the robot "
                             f"takes at most {MAX_IMAGE_BYTES} (2 MB)", permanent=True)


# ------------------------------------------------------------------------------ pacing
class Pacer:
    """At most `limit` posts in any `per` seconds: a post that would exceed it waits until
    the oldest of the window has left it. `clock` is monotonic seconds and `sleep` waits;
    tests pass a fake pair. The lock keeps concurrent posts to one robot in line (a green lock
    inside nameko, which monkey-patches `threading` before the sender is built)."""

    def __init__(self, limit: int = MESSAGES_PER_MINUTE, per: float = 60.0,
                 clock=time.monotonic, sleep=time.sleep):
        self.limit = limit
        self.per = per
        self.clock = clock
        self.sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            while self._sent and self._sent[0] <= now - self.per:
                self._sent.popleft()
            if len(self._sent) >= self.limit:
                self.sleep(self._sent[0] + self.per - now)
                now = self.clock()
                self._sent.popleft()
            self._sent.append(now)


# ------------------------------------------------------------------------------ the robots
class _Robot(abc.ABC):
    """What both robots share: the post loop with its pacing and resume, HTTP, the answer."""
    name = "workgroup"
    kind = ""
    markdown_limit = WECOM_MARKDOWN_BYTES
    retryable_errcodes: frozenset = frozenset()

    def __init__(self, webhook_url: str, session=None, timeout: float = 10,
                 pacer: Pacer | None = None):
        if not webhook_url:
            raise ValueError(f"{type(self).__name__} needs the webhook URL")
        self._url = webhook_url
        self.session = session or requests.Session()
        self.timeout = timeout
        self.pacer = pacer or Pacer()
        self._progress: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._progress_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({urlsplit(self._url).netloc!r})"

    # -- what is posted ----------------------------------------------------------------------
    @abc.abstractmethod
    def messages(self, markdown: str, charts=(), title: str | None = None) -> list[dict]:
        """The robot's request bodies for one summary (each robot has its own format)."""

    def send(self, notification) -> Posted:
        """The channel-sender interface (senders.py): a notification's text is the summary."""
        return self.post(notification.text, title=getattr(notification, "title", None),
                         key=getattr(notification, "id", None))

    def post(self, markdown: str, charts=(), title: str | None = None,
             key: str | None = None) -> Posted:
        """Post a summary (markdown, then its charts), paced. `key` (the notification id)
        lets a resend after a partial failure carry on where the last attempt stopped."""
        for chart in charts:
            check_chart(chart)
        messages = self.messages(markdown, charts, title)
        if not messages:
            raise WorkgroupError("nothing to post: the summary is empty", permanent=True)
        done = self._done(key)
        for index in range(done, len(messages)):
            try:
                self._post_one(messages[index])
            except WorkgroupError as exc:
                self._remember(key, index)
                exc.sent = index
                raise
        self._forget(key)
        log.info("workgroup %s: %s posted %d message(s)%s", key or "-", self.kind,
                 len(messages) - done, f" ({done} sent before)" if done else "")
        return Posted(len(messages) - done, done)

    # -- resuming ----------------------------------------------------------------------------
    def _done(self, key) -> int:
        with self._progress_lock:
            return self._progress.get(key, 0) if key else 0

    def _remember(self, key, done: int) -> None:
        if not key or not done:
            return
        with self._progress_lock:
            self._progress[key] = done
            self._progress.move_to_end(key)
            while len(self._progress) > REMEMBERED_PROGRESS:
                self._progress.popitem(last=False)

    def _forget(self, key) -> None:
        if key:
            with self._progress_lock:
                self._progress.pop(key, None)

    # -- HTTP --------------------------------------------------------------------------------
    def target_url(self) -> str:
        return self._url

    def _post_one(self, message: dict) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        self.pacer.wait()
        what = f"{self.kind} robot"
        try:
            response = self.session.post(
                self.target_url(), data=body, timeout=self.timeout,
                headers={"Content-Type": "application/json; charset=utf-8"})
        except requests.Timeout:
            # `from None`: the cause's text names the URL, and the URL is the credential.
            raise WorkgroupError(f"{what}: no answer within {self.timeout}s") from None
        except requests.RequestException as exc:
            raise WorkgroupError(f"{what}: unreachable ({type(exc).__name__})") from None
        status = response.status_code
        if not 200 <= status < 300:
            raise WorkgroupError(f"{what}: HTTP {status}",
                                 permanent=400 <= status < 500 and status not in (408, 429))
        try:
            answer = json.loads(response.content.decode("utf-8"))
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # Not the robot's answer (a proxy's page, say): the robot may answer next time.
            raise WorkgroupError(f"{what}: answer is not a JSON object (HTTP {status})")
        errcode = answer.get("errcode")
        if errcode == 0:
            return
        errmsg = self._scrub(str(answer.get("errmsg", "")))
        raise WorkgroupError(f"{what} refused the message: errcode {errcode} ({errmsg})",
                             errcode=errcode if isinstance(errcode, int) else None,
                             permanent=errcode not in self.retryable_errcodes)

    def _scrub(self, text: str) -> str:
        for secret in self._credentials():
            if secret:
                text = text.replace(secret, "***")
        return text

    def _credentials(self) -> list[str]:
        return [self._url, urlsplit(self._url).query]


class WeComRobot(_Robot):
    kind = "wecom"
    markdown_limit = WECOM_MARKDOWN_BYTES
    retryable_errcodes = WECOM_RETRYABLE

    def messages(self, markdown, charts=(), title=None) -> list[dict]:
        messages = [{"msgtype": "markdown", "markdown": {"content": part}}
                    for part in split_markdown(markdown, self.markdown_limit)]
        for chart in charts:
            messages.append({"msgtype": "image", "image": {
                "base64": base64.b64encode(chart.png).decode("ascii"),
                "md5": hashlib.md5(chart.png).hexdigest()}})
        return messages


class DingTalkRobot(_Robot):
    kind = "dingtalk"
    markdown_limit = DINGTALK_MARKDOWN_BYTES
    retryable_errcodes = DINGTALK_RETRYABLE

    def __init__(self, webhook_url: str, secret: str = "", wall_clock=time.time, **options):
        super().__init__(webhook_url, **options)
        self._secret = secret
        self.wall_clock = wall_clock

    def messages(self, markdown, charts=(), title=None) -> list[dict]:
        lines = [markdown.rstrip("\n")]
        for chart in charts:
            if chart.url:
                lines.append(f"![{chart.title}]({chart.url})")
            else:
                log.warning("workgroup: chart %r has no URL; DingTalk cannot show it",
                            chart.title)
        parts = split_markdown("\n\n".join(lines), self.markdown_limit)
        title = (title or title_of(markdown))[:TITLE_CHARS]
        return [{"msgtype": "markdown", "markdown": {
            "title": title if len(parts) == 1 else f"{title}（{index}/{len(parts)}）",
            "text": part}} for index, part in enumerate(parts, 1)]

    def target_url(self) -> str:
        """The webhook URL, signed afresh for each post when a secret is set (加签)."""
        if not self._secret:
            return self._url
        timestamp, sign = dingtalk_signature(self._secret, self.wall_clock())
        joiner = "&" if urlsplit(self._url).query else "?"
        return f"{self._url}{joiner}timestamp={timestamp}&sign={sign}"

    def _credentials(self) -> list[str]:
        return super()._credentials() + [self._secret]


def dingtalk_signature(secret: str, now: float) -> tuple[str, str]:
    """DingTalk's 加签: the timestamp in milliseconds and the URL-encoded base64 of
    HMAC-SHA256(secret, f"{timestamp}\\n{secret}")."""
    timestamp = str(int(now * 1000))
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode("utf-8"),
                      hashlib.sha256).digest()
    return timestamp, quote_plus(base64.b64encode(digest).decode("ascii"))


class LoggingWorkgroupSender:
    """No webhook URL set: the summary is logged, not posted."""
    name = "workgroup-logging"
    kind = "logging"

    def send(self, notification) -> Posted:
        return self.post(notification.text, key=getattr(notification, "id", None))

    def post(self, markdown: str, charts=(), title: str | None = None,
             key: str | None = None) -> Posted:
        for chart in charts:
            check_chart(chart)
        log.info("workgroup %s (no webhook URL set, not posted) %s: %s%s", key or "-",
                 title or title_of(markdown), markdown,
                 f" [+{len(charts)} chart(s)]" if charts else "")
        return Posted(0)


def workgroup_sender(settings, **options):
    """The work-group sender the settings ask for: WeCom's or DingTalk's robot once
    `workgroup_webhook_url` is set, else the logging one."""
    kind = settings.workgroup_webhook_kind
    if kind not in KINDS:
        raise ValueError(f"unknown workgroup_webhook_kind {kind!r}; known: {', '.join(KINDS)}")
    url = settings.workgroup_webhook_url
    if not url:
        return LoggingWorkgroupSender()
    if kind == "dingtalk":
        return DingTalkRobot(url, settings.workgroup_webhook_secret, **options)
    return WeComRobot(url, **options)
