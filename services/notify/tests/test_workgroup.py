import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from services.common.settings import Settings
from services.notify.service import NotifyService
from services.notify.workgroup import (MAX_IMAGE_BYTES, PNG_SIGNATURE, Chart, DingTalkRobot,
                                       LoggingWorkgroupSender, Pacer, Posted, WeComRobot,
                                       WorkgroupError, dingtalk_signature, split_markdown,
                                       workgroup_sender)

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "ding-access-token-b7e1"
DING_SECRET = "SEC-ding-test-secret-7f3a"
PNG = PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


class FakeRobot(BaseHTTPRequestHandler):
    """What WeCom's group robot and DingTalk's custom robot check, answered as they answer."""

    def do_POST(self):
        server = self.server
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        server.requests.append({"path": url.path, "query": query, "raw": raw,
                                "content_type": self.headers.get("Content-Type", "")})
        if server.delay:
            time.sleep(server.delay)
        if server.script:
            status, answer = server.script.pop(0)
            return self.answer(answer, status)
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return self.answer({"errcode": 40035, "errmsg": "invalid json"})
        if server.kind == "wecom":
            return self.answer(self.wecom(url.path, query, body))
        return self.answer(self.dingtalk(url.path, query, body))

    def wecom(self, path, query, body):
        if path != "/cgi-bin/webhook/send" or query.get("key") != WECOM_KEY:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        if body.get("msgtype") == "markdown":
            content = body["markdown"]["content"]
            if not content or len(content.encode("utf-8")) > 4096:
                return {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        elif body.get("msgtype") == "image":
            image = base64.b64decode(body["image"]["base64"], validate=True)
            if len(image) > 2 * 1024 * 1024:
                return {"errcode": 40009, "errmsg": "invalid image size"}
            if hashlib.md5(image).hexdigest() != body["image"]["md5"]:
                return {"errcode": 301019, "errmsg": "media md5 not match"}
        else:
            return {"errcode": 40008, "errmsg": "invalid message type"}
        self.server.messages.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def dingtalk(self, path, query, body):
        if path != "/robot/send" or query.get("access_token") != DING_TOKEN:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        timestamp = query.get("timestamp", "0")
        if abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
            return {"errcode": 310000, "errmsg": "invalid timestamp"}
        digest = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(),
                          hashlib.sha256).digest()
        if query.get("sign") != base64.b64encode(digest).decode():
            return {"errcode": 310000, "errmsg": "sign not match"}
        if (body.get("msgtype") != "markdown" or not body["markdown"].get("title")
                or not body["markdown"].get("text")):
            return {"errcode": 40035, "errmsg": "missing parameter"}
        self.server.messages.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def answer(self, answer, status=200):
        data = json.dumps(answer).encode() if isinstance(answer, dict) else answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serving(kind):
    """A fake robot on a local port, for the length of a test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeRobot)
    server.kind, server.requests, server.messages, server.script, server.delay = (
        kind, [], [], [], 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.url = (f"{base}/cgi-bin/webhook/send?key={WECOM_KEY}" if kind == "wecom"
                  else f"{base}/robot/send?access_token={DING_TOKEN}")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def wecom():
    yield from serving("wecom")


@pytest.fixture
def dingtalk():
    yield from serving("dingtalk")


class FakeClock:
    """Monotonic seconds that only move when the pacer sleeps (or a test moves them)."""

    def __init__(self, now=1000.0):
        self.now = now
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def fake_pacer():
    clock = FakeClock()
    return Pacer(clock=clock, sleep=clock.sleep), clock


def wecom_robot(server, **options):
    options.setdefault("pacer", fake_pacer()[0])
    options.setdefault("timeout", 2)
    return WeComRobot(server.url, **options)


def ding_robot(server, secret=DING_SECRET, **options):
    options.setdefault("pacer", fake_pacer()[0])
    return DingTalkRobot(server.url, secret, timeout=2, **options)


def long_summary(lines=400):
    """A month's summary in Chinese, about 25 KB: several WeCom messages."""
    rows = [f"| {n:03d} | 后勤保障处 | 宿舍热水器故障未及时维修，学生反映强烈 | 满意率 {n % 97}% |"
            for n in range(lines)]
    return "# 2026年11月 接诉即办月度总结\n\n" + "\n".join(rows) + "\n\n> 详见汇总页面"


# ------------------------------------------------------------------------------ WeCom
def test_a_summary_goes_to_the_wecom_robot_as_markdown(wecom):
    text = "# 周汇总\n本周受理 **128** 件，环比 <font color=\"warning\">+12%</font>"

    posted = wecom_robot(wecom).post(text)

    assert posted == Posted(1)
    (request,) = wecom.requests
    assert request["content_type"].startswith("application/json")
    assert "周汇总".encode("utf-8") in request["raw"] and b"\\u" not in request["raw"]
    assert wecom.messages == [{"msgtype": "markdown", "markdown": {"content": text}}]


def test_a_long_chinese_summary_is_split_exactly_at_line_boundaries(wecom):
    text = long_summary()
    assert len(text.encode("utf-8")) > 5 * 4096

    posted = wecom_robot(wecom).post(text)

    parts = [message["markdown"]["content"] for message in wecom.messages]
    assert posted == Posted(len(parts)) and len(parts) >= 6
    assert all(len(part.encode("utf-8")) <= 4096 for part in parts)
    assert "\n".join(parts) == text                     # nothing lost, nothing cut
    lines = text.split("\n")
    assert all(line in lines for part in parts for line in part.split("\n"))
    # As full as a message can be: the next line would not have fitted.
    for part, following in zip(parts, parts[1:]):
        first = following.split("\n")[0]
        assert len((part + "\n" + first).encode("utf-8")) > 4096


def test_a_single_line_longer_than_a_message_is_cut_between_characters():
    line = "ab" + "接诉即办" * 2000     # 2 + 24,000 bytes: 4,096 falls inside a character
    parts = split_markdown("标题\n" + line + "\n尾", 4096)

    assert all(len(part.encode("utf-8")) <= 4096 for part in parts)
    assert "".join(parts).replace("\n", "") == "标题" + line + "尾"
    assert parts[0] == "标题"                            # the long line starts a message
    assert parts[1].startswith("ab接") and len(parts[1].encode("utf-8")) == 2 + 3 * 1364
    assert parts[-1].endswith("\n尾")
    for part in parts:                                  # each decodes whole: no broken character
        part.encode("utf-8").decode("utf-8")


def test_a_chart_goes_as_an_image_message_with_its_md5(wecom):
    wecom_robot(wecom).post("# 月总结", charts=[Chart(PNG, "三率")])

    markdown, image = wecom.messages
    assert markdown["msgtype"] == "markdown"
    assert image["msgtype"] == "image"
    assert base64.b64decode(image["image"]["base64"]) == PNG
    assert image["image"]["md5"] == hashlib.md5(PNG).hexdigest()


def test_a_chart_over_2_mb_is_refused_before_anything_is_posted(wecom):
    big = PNG_SIGNATURE + bytes(MAX_IMAGE_BYTES)

    with pytest.raises(WorkgroupError, match="2 MB") as refused:
        wecom_robot(wecom).post("# 月总结", charts=[Chart(big, "热力图")])

    assert refused.value.permanent
    assert wecom.requests == []
    # Exactly 2 MB is taken.
    exact = PNG_SIGNATURE + bytes(MAX_IMAGE_BYTES - len(PNG_SIGNATURE))
    assert wecom_robot(wecom).post("# 月总结", charts=[Chart(exact, "热力图")]) == Posted(2)


def test_a_chart_that_is_not_a_png_is_refused(wecom):
    with pytest.raises(WorkgroupError, match="not a PNG") as refused:
        wecom_robot(wecom).post("# 月总结", charts=[Chart(b"GIF89a...", "图")])
    assert refused.value.permanent and wecom.requests == []


def test_a_failing_robot_is_retryable_until_it_takes_the_summary(wecom):
    """500, then 45009 (too fast): notify's resend loop keeps the notice pending each time."""
    robot = wecom_robot(wecom)
    summary = SimpleNamespace(id="n-week-47", text="# 周汇总\n本周受理 128 件",
                              template="weekly_summary", recipient_role="office")
    wecom.script = [(500, b"<html>Internal Server Error</html>"),
                    (200, {"errcode": 45009, "errmsg": "api freq out of limit"})]

    first = NotifyService._send(SimpleNamespace(sender=robot), summary)
    second = NotifyService._send(SimpleNamespace(sender=robot), summary)
    third = NotifyService._send(SimpleNamespace(sender=robot), summary)

    assert first is not None and not first.permanent and "HTTP 500" in first.error
    assert second is not None and not second.permanent and "45009" in second.error
    assert third is None
    assert wecom.messages == [{"msgtype": "markdown", "markdown": {"content": summary.text}}]


@pytest.mark.parametrize("status, answer, errcode", [
    (200, {"errcode": 93000, "errmsg": "invalid webhook url"}, 93000),
    (200, {"errcode": 40058, "errmsg": "markdown.content exceed max length"}, 40058),
    (404, b"not found", None),
])
def test_a_refused_message_is_final(wecom, status, answer, errcode):
    wecom.script = [(status, answer)]

    with pytest.raises(WorkgroupError) as refused:
        wecom_robot(wecom).post("# 周汇总")

    assert refused.value.permanent and not refused.value.retryable
    assert refused.value.errcode == errcode
    failure = NotifyService._send(SimpleNamespace(sender=wecom_robot(wecom)),
                                  SimpleNamespace(id="n-1", text="# x", template="t",
                                                  recipient_role="office"))
    assert failure is None            # the script is used up: the robot takes it now


def test_a_wrong_key_is_final(wecom):
    robot = WeComRobot(wecom.url.replace(WECOM_KEY, "not-the-key"), pacer=fake_pacer()[0])

    with pytest.raises(WorkgroupError, match="93000") as refused:
        robot.post("# 周汇总")
    assert refused.value.permanent


def test_no_answer_in_time_is_retryable_and_never_names_the_key(wecom):
    wecom.delay = 0.5
    robot = wecom_robot(wecom, timeout=0.1)

    with pytest.raises(WorkgroupError, match="no answer") as failed:
        robot.post("# 周汇总")

    assert failed.value.retryable
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert WECOM_KEY not in str(failed.value) and WECOM_KEY not in repr(robot)


def test_an_unreachable_robot_is_retryable(wecom):
    robot = WeComRobot(f"http://127.0.0.1:1/cgi-bin/webhook/send?key={WECOM_KEY}",
                       timeout=1, pacer=fake_pacer()[0])

    with pytest.raises(WorkgroupError, match="unreachable") as failed:
        robot.post("# 周汇总")
    assert failed.value.retryable and WECOM_KEY not in str(failed.value)


def test_a_resend_after_a_partial_failure_posts_only_what_did_not_go_out(wecom):
    robot = wecom_robot(wecom)
    text = long_summary(120)
    expected = split_markdown(text, 4096)
    assert len(expected) >= 3

    original = robot._post_one
    calls = []

    def second_fails_once(message):
        calls.append(message)
        if len(calls) == 2:
            wecom.script.append((502, b"bad gateway"))
        original(message)
    robot._post_one = second_fails_once

    with pytest.raises(WorkgroupError) as failed:
        robot.post(text, key="n-month-11")
    assert failed.value.retryable and failed.value.sent == 1

    assert robot.post(text, key="n-month-11") == Posted(len(expected) - 1, skipped=1)
    assert [m["markdown"]["content"] for m in wecom.messages] == expected
    # Once all went out, a later post of the same notice starts from the beginning again.
    assert robot.post(text, key="n-month-11") == Posted(len(expected))


# ------------------------------------------------------------------------------ pacing
def test_the_robot_takes_at_most_20_messages_a_minute(wecom):
    pacer, clock = fake_pacer()
    robot = wecom_robot(wecom, pacer=pacer)
    posted_at = []
    session_post = robot.session.post

    def timed(*args, **kwargs):
        posted_at.append(clock.now)
        return session_post(*args, **kwargs)
    robot.session.post = timed

    text = long_summary(120)
    charts = 45 - len(split_markdown(text, 4096))
    robot.post(text, charts=[Chart(PNG, f"图{n}") for n in range(charts)])

    assert len(posted_at) == len(wecom.messages) == 45
    for index, moment in enumerate(posted_at):
        assert sum(1 for other in posted_at if moment <= other < moment + 60) <= 20, index
    assert clock.sleeps == [60, 60]                  # 20 at once, 20 a minute on, 5 after
    assert posted_at[19] == posted_at[0] and posted_at[20] == posted_at[0] + 60


def test_the_pacer_counts_a_sliding_minute():
    pacer, clock = fake_pacer()
    start = clock.now
    for _ in range(20):                              # one a second
        pacer.wait()
        clock.now += 1
    assert clock.now == start + 20 and clock.sleeps == []

    pacer.wait()                                     # the 21st waits for the 1st to be 60 s old
    assert clock.now == start + 60
    pacer.wait()                                     # the 22nd for the 2nd
    assert clock.now == start + 61
    clock.now += 120                                 # a quiet while: the window is empty
    before = list(clock.sleeps)
    for _ in range(20):
        pacer.wait()
    assert clock.sleeps == before


# ------------------------------------------------------------------------------ DingTalk
def test_a_summary_goes_to_dingtalk_signed(dingtalk):
    text = "## 2026年第47周 周汇总\n本周受理 **128** 件"

    assert ding_robot(dingtalk).post(text) == Posted(1)

    (request,) = dingtalk.requests
    assert set(request["query"]) == {"access_token", "timestamp", "sign"}
    assert dingtalk.messages == [{"msgtype": "markdown", "markdown": {
        "title": "2026年第47周 周汇总", "text": text}}]


def test_the_signature_is_dingtalks():
    timestamp, sign = dingtalk_signature("SECxyz", 1700000000.123)
    digest = hmac.new(b"SECxyz", b"1700000000123\nSECxyz", hashlib.sha256).digest()
    assert timestamp == "1700000000123"
    assert sign == (base64.b64encode(digest).decode()
                    .replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))


def test_a_stale_timestamp_is_refused_and_final(dingtalk):
    robot = ding_robot(dingtalk, wall_clock=lambda: time.time() - 3601)

    with pytest.raises(WorkgroupError, match="310000") as refused:
        robot.post("# 周汇总")

    assert refused.value.permanent and dingtalk.messages == []
    assert ding_robot(dingtalk, wall_clock=lambda: time.time() - 3500).post("# 周汇总") == \
        Posted(1)


def test_a_wrong_secret_is_refused_and_never_shown(dingtalk):
    with pytest.raises(WorkgroupError, match="sign not match") as refused:
        ding_robot(dingtalk, secret="SEC-wrong").post("# 周汇总")
    assert refused.value.permanent
    assert "SEC-wrong" not in str(refused.value) and DING_TOKEN not in str(refused.value)


def test_dingtalk_charts_go_as_links(dingtalk, caplog):
    charts = [Chart(PNG, "三率", url="https://jiesu.example.edu.cn/summaries/7/rates.png"),
              Chart(PNG, "热力图")]

    with caplog.at_level(logging.WARNING, logger="jiesu.notify.workgroup"):
        ding_robot(dingtalk).post("# 月总结\n本月受理 512 件", charts=charts)

    (message,) = dingtalk.messages
    assert message["markdown"]["text"] == (
        "# 月总结\n本月受理 512 件\n\n"
        "![三率](https://jiesu.example.edu.cn/summaries/7/rates.png)")
    assert "热力图" in caplog.text and "cannot show" in caplog.text


def test_a_long_dingtalk_summary_is_numbered_in_its_titles(dingtalk):
    text = long_summary(1200)

    posted = ding_robot(dingtalk).post(text, title="11月月总结")

    titles = [m["markdown"]["title"] for m in dingtalk.messages]
    assert posted.sent == len(titles) > 1
    assert titles == [f"11月月总结（{n}/{len(titles)}）" for n in range(1, len(titles) + 1)]
    assert "\n".join(m["markdown"]["text"] for m in dingtalk.messages) == text


def test_dingtalks_too_fast_is_retryable(dingtalk):
    dingtalk.script = [(200, {"errcode": 130101, "errmsg": "send too fast"})]
    with pytest.raises(WorkgroupError) as failed:
        ding_robot(dingtalk).post("# 周汇总")
    assert failed.value.retryable and failed.value.errcode == 130101


# ------------------------------------------------------------------------------ settings
def test_without_a_url_the_summary_is_only_logged(caplog):
    sender = workgroup_sender(Settings())

    with caplog.at_level(logging.INFO, logger="jiesu.notify.workgroup"):
        posted = sender.send(SimpleNamespace(id="n-1", text="# 周汇总\n本周受理 128 件"))

    assert isinstance(sender, LoggingWorkgroupSender) and posted == Posted(0)
    assert "not posted" in caplog.text and "本周受理 128 件" in caplog.text


def test_the_settings_choose_the_robot(wecom, dingtalk):
    robot = workgroup_sender(Settings(workgroup_webhook_url=wecom.url), pacer=fake_pacer()[0])
    assert isinstance(robot, WeComRobot)
    robot.send(SimpleNamespace(id="n-1", text="# 周汇总"))
    assert len(wecom.messages) == 1

    robot = workgroup_sender(Settings(workgroup_webhook_url=dingtalk.url,
                                      workgroup_webhook_kind="dingtalk",
                                      workgroup_webhook_secret=DING_SECRET),
                             pacer=fake_pacer()[0])
    assert isinstance(robot, DingTalkRobot)
    robot.send(SimpleNamespace(id="n-2", text="# 周汇总"))
    assert len(dingtalk.messages) == 1
    assert DING_SECRET not in repr(robot) and DING_TOKEN not in repr(robot)


def test_an_unknown_kind_is_refused_at_start():
    with pytest.raises(ValueError, match="workgroup_webhook_kind"):
        workgroup_sender(Settings(workgroup_webhook_kind="feishu"))


def test_an_answer_that_is_not_the_robots_is_retryable(wecom):
    wecom.script = [(200, b"<html>gateway login</html>")]
    with pytest.raises(WorkgroupError, match="not a JSON object") as failed:
        wecom_robot(wecom).post("# 周汇总")
    assert failed.value.retryable
