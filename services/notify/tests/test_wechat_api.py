"""The WeChat template sender against a real local HTTP server that checks what WeChat checks."""
import json
import logging
import socket
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from services.notify.wechat_api import (
    TEMPLATE_LABELS, WeChatApiError, WeChatTemplateSender, short_openid, truncate)

APP_ID, SECRET, TEMPLATE_ID = "wx0123456789abcdef", "wechat-test-app-secret", "TPL-progress-1"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
TEXT = "您的诉求已受理，编号 JS2026030001，我们将在 3 个工作日内联系您。"


class FakeWeChat:
    """The two endpoints of WeChat's API, with WeChat's checks and error codes."""

    def __init__(self):
        self.tokens = {}                 # token -> "valid" | errcode it is now answered with
        self.token_calls = []            # query args of each /cgi-bin/token request
        self.sends = []                  # each template send request, as received
        self.delivered = []              # the JSON bodies WeChat accepted
        self.unsubscribed = set()
        self.status = 200                # anything else: every request answers that status
        self.token_delay = 0.0
        self.send_delay = 0.0
        self.lock = threading.Lock()

    def invalidate_tokens(self, errcode=40001):
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = errcode

    def __call__(self, environ, start_response):
        request = Request(environ)
        if self.status != 200:
            response = Response("internal error", status=self.status)
        elif request.path == "/cgi-bin/token":
            response = self.token(request)
        elif request.path == "/cgi-bin/message/template/send":
            response = self.send(request)
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)

    @staticmethod
    def answer(**fields):
        return Response(json.dumps(fields, ensure_ascii=False), mimetype="application/json")

    def token(self, request):
        args = request.args.to_dict()
        with self.lock:
            self.token_calls.append(args)
        time.sleep(self.token_delay)
        if request.method != "GET":
            return self.answer(errcode=43001, errmsg="require GET method")
        if args.get("grant_type") != "client_credential":
            return self.answer(errcode=40002, errmsg="invalid grant_type")
        if args.get("appid") != APP_ID:
            return self.answer(errcode=40013, errmsg="invalid appid")
        if args.get("secret") != SECRET:
            return self.answer(errcode=40001, errmsg="invalid credential, access_token is "
                               "invalid or not latest rid: 65f1a2b3-0c4d5e6f-1a2b3c4d")
        with self.lock:
            token = f"ACCESS_TOKEN_{len(self.tokens) + 1}_x9Qz"
            self.tokens[token] = "valid"
        return self.answer(access_token=token, expires_in=7200)

    def send(self, request):
        raw = request.get_data()
        with self.lock:
            self.sends.append({"method": request.method, "args": request.args.to_dict(),
                               "content_type": request.headers.get("Content-Type", ""),
                               "raw": raw})
        time.sleep(self.send_delay)
        if request.method != "POST":
            return self.answer(errcode=43002, errmsg="require POST method")
        token = request.args.get("access_token")
        if not token:
            return self.answer(errcode=41001, errmsg="access_token missing")
        state = self.tokens.get(token)
        if state is None:
            return self.answer(errcode=40014, errmsg="invalid access_token")
        if state != "valid":
            return self.answer(errcode=state, errmsg="invalid credential, access_token is "
                               "invalid or not latest")
        if request.mimetype != "application/json":
            return self.answer(errcode=47001, errmsg="data format error")
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            return self.answer(errcode=47001, errmsg="data format error")
        data = body.get("data")
        if (not isinstance(body.get("touser"), str) or not body["touser"]
                or not isinstance(data, dict) or not data
                or not all(isinstance(item, dict) and set(item) == {"value"}
                           and isinstance(item["value"], str) for item in data.values())
                or ("url" in body and not isinstance(body["url"], str))):
            return self.answer(errcode=47001, errmsg="data format error")
        if body.get("template_id") != TEMPLATE_ID:
            return self.answer(errcode=40037, errmsg="invalid template_id")
        if body["touser"] in self.unsubscribed:
            return self.answer(errcode=43004, errmsg="require subscribe")
        with self.lock:
            self.delivered.append(body)
            msgid = 200228332 + len(self.delivered)
        return self.answer(errcode=0, errmsg="ok", msgid=msgid)


@pytest.fixture
def wechat():
    fake = FakeWeChat()
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    yield fake
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def sender_for(wechat, **options):
    values = dict(app_id=APP_ID, app_secret=SECRET, template_id=TEMPLATE_ID, timeout=2)
    values.update(options)
    return WeChatTemplateSender(wechat.base_url + "/", **values)


def notification(**extra):
    values = dict(id="n-1", complaint_id="c-42", address=OPENID,
                  template="complaint_acknowledged", text=TEXT,
                  created_at=datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc))
    values.update(extra)
    return SimpleNamespace(**values)


def test_the_first_send_fetches_a_token_and_posts_the_template(wechat):
    sender_for(wechat).send(notification())

    assert wechat.token_calls == [{"grant_type": "client_credential", "appid": APP_ID,
                                   "secret": SECRET}]
    (sent,) = wechat.sends
    assert sent["method"] == "POST"
    assert sent["args"] == {"access_token": "ACCESS_TOKEN_1_x9Qz"}
    assert sent["content_type"].startswith("application/json")
    assert TEXT.encode("utf-8") in sent["raw"] and b"\\u" not in sent["raw"]
    assert wechat.delivered == [{
        "touser": OPENID, "template_id": TEMPLATE_ID,
        "data": {"first": {"value": TEXT}, "keyword1": {"value": "诉求已受理"},
                 "keyword2": {"value": "2026-03-02 09:30"}, "remark": {"value": ""}}}]


def test_a_second_send_reuses_the_cached_token(wechat):
    sender = sender_for(wechat)
    sender.send(notification())
    sender.send(notification(id="n-2"))

    assert len(wechat.token_calls) == 1
    assert [s["args"]["access_token"] for s in wechat.sends] == ["ACCESS_TOKEN_1_x9Qz"] * 2
    assert len(wechat.delivered) == 2


def test_the_token_is_fetched_anew_300_seconds_before_it_expires(wechat):
    clock = Clock()
    sender = sender_for(wechat, clock=clock)
    sender.send(notification())
    clock.now += 7200 - 300 - 1
    sender.send(notification(id="n-2"))
    assert len(wechat.token_calls) == 1

    clock.now += 1
    sender.send(notification(id="n-3"))
    assert len(wechat.token_calls) == 2
    assert wechat.sends[-1]["args"]["access_token"] == "ACCESS_TOKEN_2_x9Qz"
    assert len(wechat.delivered) == 3


@pytest.mark.parametrize("errcode", [40001, 42001, 40014])
def test_a_token_the_server_refuses_is_fetched_anew_and_the_send_retried_once(wechat, errcode):
    sender = sender_for(wechat, clock=Clock())
    sender.send(notification())
    wechat.invalidate_tokens(errcode)          # e.g. another system fetched a token

    sender.send(notification(id="n-2"))

    assert len(wechat.token_calls) == 2
    assert [s["args"]["access_token"] for s in wechat.sends] == [
        "ACCESS_TOKEN_1_x9Qz", "ACCESS_TOKEN_1_x9Qz", "ACCESS_TOKEN_2_x9Qz"]
    assert len(wechat.delivered) == 2


def test_a_token_refused_again_after_the_refetch_raises_without_looping(wechat):
    sender = sender_for(wechat)
    sender.send(notification())
    wechat.invalidate_tokens()
    original = wechat.token
    wechat.token = lambda request: (original(request), wechat.invalidate_tokens())[0]

    with pytest.raises(WeChatApiError, match="errcode 40001") as caught:
        sender.send(notification(id="n-2"))

    assert caught.value.errcode == 40001
    assert len(wechat.token_calls) == 2 and len(wechat.sends) == 3
    assert "ACCESS_TOKEN" not in str(caught.value)


def test_an_unsubscribed_user_raises_without_a_retry(wechat):
    wechat.unsubscribed.add(OPENID)
    with pytest.raises(WeChatApiError, match="43004") as caught:
        sender_for(wechat).send(notification())
    assert caught.value.errcode == 43004 and "require subscribe" in str(caught.value)
    assert caught.value.permanent       # notify gives it up instead of resending
    assert len(wechat.sends) == 1 and len(wechat.token_calls) == 1
    assert wechat.delivered == []


def test_an_unknown_template_id_raises(wechat):
    with pytest.raises(WeChatApiError, match="40037") as caught:
        sender_for(wechat, template_id="TPL-gone").send(notification())
    assert not caught.value.permanent   # a configuration error: resent once it is fixed


def test_a_wrong_app_secret_raises_without_naming_the_secret(wechat):
    wrong = "wrong-secret-do-not-show"
    with pytest.raises(WeChatApiError, match="errcode 40001") as caught:
        sender_for(wechat, app_secret=wrong).send(notification())
    assert wrong not in str(caught.value) and SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert wechat.sends == []


def test_a_wrong_app_id_raises(wechat):
    with pytest.raises(WeChatApiError, match="40013"):
        sender_for(wechat, app_id="wx-nobody").send(notification())


def test_an_http_500_raises(wechat):
    wechat.status = 500
    with pytest.raises(WeChatApiError, match="HTTP 500") as caught:
        sender_for(wechat).send(notification())
    assert SECRET not in str(caught.value)


def test_an_answer_that_is_not_json_raises(wechat):
    wechat.send = lambda request: Response("<html>busy</html>", mimetype="text/html")
    with pytest.raises(WeChatApiError, match="not JSON"):
        sender_for(wechat).send(notification())


def test_a_server_that_is_down_raises_without_naming_the_secret():
    with socket.socket() as sock:                # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sender = WeChatTemplateSender(f"http://127.0.0.1:{port}", APP_ID, SECRET, TEMPLATE_ID,
                                  timeout=2)
    with pytest.raises(WeChatApiError, match="unreachable") as caught:
        sender.send(notification())
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_slow_server_raises_after_the_timeout(wechat):
    sender = sender_for(wechat, timeout=0.2)
    sender.send(notification())
    wechat.send_delay = 1.0
    with pytest.raises(WeChatApiError, match="no answer within 0.2s") as caught:
        sender.send(notification(id="n-2"))
    assert "ACCESS_TOKEN" not in str(caught.value)


@pytest.mark.parametrize("address", ["", None, "   "])
def test_a_notification_without_an_openid_is_refused_without_any_call(wechat, address):
    with pytest.raises(WeChatApiError, match="no WeChat openid"):
        sender_for(wechat).send(notification(address=address))
    assert wechat.token_calls == [] and wechat.sends == []


def test_the_link_and_its_remark_are_sent_only_with_a_link_base(wechat):
    sender_for(wechat, link_base="https://jiesu.example.edu.cn/cases/").send(notification())
    sender_for(wechat).send(notification(id="n-2"))

    linked, plain = wechat.delivered
    assert linked["url"] == "https://jiesu.example.edu.cn/cases/c-42"
    assert linked["data"]["remark"] == {"value": "点击查看办理详情"}
    assert "url" not in plain and plain["data"]["remark"] == {"value": ""}


def test_a_long_text_is_truncated(wechat):
    long_text = "我们已经收到您的诉求并转交后勤保障处办理。" * 30      # 630 characters
    sender_for(wechat).send(notification(text=long_text))

    first = wechat.delivered[0]["data"]["first"]["value"]
    assert len(first) <= 200 and first.endswith("…")
    assert first.startswith("我们已经收到您的诉求") and "。…" in first   # at a sentence end
    assert len(truncate("字" * 500)) == 200
    assert truncate(TEXT) == TEXT


def test_template_labels_fall_back_and_the_time_is_beijing_time(wechat):
    sender = sender_for(wechat)
    for index, template in enumerate([*TEMPLATE_LABELS, "something_new"]):
        sender.send(notification(id=f"n-{index}", template=template,
                                 created_at=datetime(2026, 12, 31, 16, 5, tzinfo=timezone.utc)))
    labels = [body["data"]["keyword1"]["value"] for body in wechat.delivered]
    assert labels == [*TEMPLATE_LABELS.values(), "办理进展"]
    assert TEMPLATE_LABELS["complaint_redo"] == "发回重办"
    assert {body["data"]["keyword2"]["value"] for body in wechat.delivered} == {
        "2027-01-01 00:05"}


def test_concurrent_senders_fetch_the_token_once(wechat):
    wechat.token_delay = 0.3
    sender = sender_for(wechat)
    errors = []

    def send(index):
        try:
            sender.send(notification(id=f"n-{index}"))
        except Exception as exc:   # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert errors == []
    assert len(wechat.token_calls) == 1 and len(wechat.delivered) == 5


def test_logs_and_repr_show_neither_the_secret_the_token_nor_the_whole_openid(wechat, caplog):
    sender = sender_for(wechat)
    with caplog.at_level(logging.DEBUG, logger="jiesu.notify.wechat"):
        sender.send(notification())
    # only our own lines: urllib3 (DEBUG) and the fake server (werkzeug) log whole URLs
    text = "\n".join(record.getMessage() for record in caplog.records
                     if record.name == "jiesu.notify.wechat")

    assert "oAbC…" in text and short_openid(OPENID) == "oAbC…"
    assert "n-1" in text and "c-42" in text and "msgid 200228333" in text
    for hidden in (SECRET, "ACCESS_TOKEN", OPENID):
        assert hidden not in text
        assert hidden not in repr(sender)
    assert APP_ID in repr(sender)


def test_missing_configuration_is_refused():
    with pytest.raises(ValueError):
        WeChatTemplateSender("http://127.0.0.1:9", APP_ID, "", TEMPLATE_ID)
