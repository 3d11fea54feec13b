"""The 公众号 server as WeChat speaks to it: URL verification, a text dialogue that files a
case (plain mode), WeChat's retry of the same MsgId filing nothing more, a status query, a
safe-mode (AES) message, and refusals that file nothing."""
from __future__ import annotations

import os
import time
import uuid
from xml.etree import ElementTree

import pytest
import requests

from gateway.wechat import WeChatCrypto
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

TOKEN, APP_ID = "jiesu-test-token", "wx1234567890abcdef"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID, ACCOUNT = "oUser-openid-0001", "gh_jiesu"


@pytest.fixture
def system(start_system, databases):
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                            "gateway"]],
                        JIESU_WECHAT_TOKEN=TOKEN, JIESU_WECHAT_AES_KEY=AES_KEY,
                        JIESU_WECHAT_APP_ID=APP_ID)


CRYPTO = WeChatCrypto(TOKEN, AES_KEY, APP_ID)


def _text(content, msg_id, openid=OPENID):
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def _send(system, xml, signature=None, timestamp=None):
    timestamp = str(timestamp or int(time.time()))
    nonce = "n0nce"
    params = {"signature": signature or CRYPTO.signature(timestamp, nonce),
              "timestamp": timestamp, "nonce": nonce, "openid": OPENID}
    return requests.post(f"{system.url}/wechat", params=params, data=xml.encode(),
                         headers={"Content-Type": "text/xml"}, timeout=30)


def _content(reply, openid=OPENID):
    assert reply.status_code == 200, reply.text
    root = ElementTree.fromstring(reply.content)
    assert root.find("ToUserName").text == openid
    assert root.find("FromUserName").text == ACCOUNT
    assert root.find("MsgType").text == "text"
    return root.find("Content").text


def test_url_verification(system):
    timestamp, nonce = str(int(time.time())), "abc"
    ok = requests.get(f"{system.url}/wechat", params={
        "signature": CRYPTO.signature(timestamp, nonce), "timestamp": timestamp,
        "nonce": nonce, "echostr": "echo-123"}, timeout=30)
    assert (ok.status_code, ok.text) == (200, "echo-123")
    assert requests.get(f"{system.url}/wechat", params={
        "signature": "0" * 40, "timestamp": timestamp, "nonce": nonce, "echostr": "x"},
        timeout=30).status_code == 403


def test_a_dialogue_files_once_and_answers_a_query(system):
    assert "类别" in _content(_send(system, _text("学生公寓3号楼热水已经停了两天,请尽快维修", 1001)))
    assert "如实反映" in _content(_send(system, _text("2", 1002)))  # 后勤保障
    confirmed = _text("1", 1003)
    filed = _content(_send(system, confirmed))
    assert "已受理" in filed
    number = filed.split("编号 ")[1].split("。")[0]
    # WeChat got no answer in time and sends the same message again: same reply, no new case
    assert _content(_send(system, confirmed)) == filed
    assert len(system.query("intake", "SELECT id FROM complaints WHERE channel = 'wechat'")) == 1
    status = _content(_send(system, _text(f"查询 {number}", 1004)))
    assert number in status


def test_a_text_intake_will_not_take_is_answered_with_why_and_starts_over(system):
    # A right-to-left override (U+202E) can disguise a text; intake refuses it. The user is
    # told why and asked for the text again, not "系统繁忙" (which invites a pointless resend).
    assert "类别" in _content(_send(system, _text("学生公寓3号楼热水\u202e已经停了两天,请维修", 4001)))
    assert "如实反映" in _content(_send(system, _text("2", 4002)))
    refused = _content(_send(system, _text("1", 4003)))
    assert "未能受理" in refused and "系统繁忙" not in refused
    assert "文字描述" in refused
    assert system.query("intake", "SELECT id FROM complaints WHERE channel = 'wechat'") == []
    # the dialogue starts over at the description
    assert "类别" in _content(_send(system, _text("学生公寓3号楼热水已经停了两天,请尽快维修", 4004)))


def test_safe_mode_round_trip(system):
    timestamp, nonce = str(int(time.time())), "safe-nonce"
    envelope = CRYPTO.encrypt(_text("帮助", 2001), nonce, timestamp)
    encrypted = ElementTree.fromstring(envelope).find("Encrypt").text
    body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    reply = requests.post(f"{system.url}/wechat", params={
        "msg_signature": CRYPTO.msg_signature(timestamp, nonce, encrypted),
        "timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes"},
        data=body.encode(), timeout=30)
    assert reply.status_code == 200, reply.text
    root = ElementTree.fromstring(reply.content)
    inner = CRYPTO.decrypt(reply.content, root.find("MsgSignature").text,
                           root.find("TimeStamp").text, root.find("Nonce").text, time.time())
    assert "欢迎" in ElementTree.fromstring(inner).find("Content").text


def test_refusals_file_nothing_and_the_server_keeps_serving(system):
    good = _text("学生公寓3号楼热水已经停了两天,请尽快维修", 3001)
    assert _send(system, good, signature="0" * 40).status_code == 403
    assert _send(system, good, timestamp=int(time.time()) - 3600).status_code == 403
    xxe = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           '<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>'
           '<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&x;</Content>'
           '<MsgId>9</MsgId></xml>')
    assert _send(system, xxe).status_code == 400
    assert _send(system, "<xml>" + "a" * 70_000 + "</xml>").status_code == 400
    assert system.query("intake", "SELECT id FROM complaints") == []
    assert "类别" in _content(_send(system, good))  # still serving


@pytest.mark.redis
def test_the_dialogue_and_the_reply_memory_survive_a_gateway_restart_with_redis(
        start_system, databases):
    """With gateway_state_url set, what a gateway process knew of a dialogue is in Redis: a
    restarted (or another) gateway goes on where it stood, and answers WeChat's retry of a
    confirmation from memory instead of filing again."""
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating"],
                                             ["gateway"]],
                          JIESU_WECHAT_TOKEN=TOKEN, JIESU_WECHAT_AES_KEY=AES_KEY,
                          JIESU_WECHAT_APP_ID=APP_ID,
                          JIESU_GATEWAY_STATE_URL=os.environ.get("JIESU_TEST_REDIS_URL",
                                                                "redis://127.0.0.1:6379/15"))
    openid = f"oUser-{uuid.uuid4().hex[:12]}"
    msg = 800_000 + int(time.time() * 1000) % 100_000_000   # unique across test runs

    def say(text, msg_id):
        return _content(_send(system, _text(text, msg_id, openid)), openid)

    def restart_gateway():
        system.system.restart("gateway")
        system.system.wait_ready(services=["gateway"])

    assert "类别" in say("学生公寓3号楼热水已经停了两天,请尽快维修", msg)
    restart_gateway()
    assert "如实反映" in say("2", msg + 1)
    filed = say("1", msg + 2)
    assert "已受理" in filed
    restart_gateway()
    assert say("1", msg + 2) == filed          # WeChat's retry, answered from Redis
    assert len(system.query("intake", "SELECT id FROM complaints")) == 1


def test_a_replied_case_is_rated_in_the_dialogue(system):
    """回访 over WeChat (issue 12): after the reply the user sends 「评价」, answers 是否联系,
    是否解决 and 满意度 (a wrong answer is asked again), skips the comment, and the case
    closes with their answers on its timeline."""
    from tests.e2e.test_lifecycle import Client

    staff, msg_ids = Client(system), iter(range(5001, 5100))

    def said(text):
        return _content(_send(system, _text(text, next(msg_ids))))

    said("学生公寓3号楼热水已经停了两天,请尽快维修")
    said("2")
    number = said("1").split("编号 ")[1].split("。")[0]
    assert "没有待评价" in said("评价")                       # not replied yet
    [(case_id,)] = system.query("intake", "SELECT id FROM complaints WHERE number = :number",
                                number=number)
    staff.wait_status(case_id, "assigned")
    staff.handle_and_reply(case_id)

    # the rating opens once rating has heard of the reply (an event)
    wait_until(lambda: system.query("rating", "SELECT 1 FROM rating_slots WHERE complaint_id "
                                    "= :case_id AND open", case_id=case_id),
               timeout=60, message="rating opened")
    first = said("评价")
    assert number in first and "是否与您联系" in first
    assert "是否已解决" in said("1")
    assert said("5").startswith("请按提示回复数字")              # asked again
    assert "是否满意" in said("1")
    assert "跳过" in said("1")
    thanks = said("跳过")
    assert "感谢您的评价" in thanks and "满意" in thanks and "已办结" in thanks
    closed = staff.wait_status(case_id, "closed")
    assert closed["timeline"][-1]["text"] == "办结:评价:满意(已联系,已解决)"
    assert "没有找到" in said(f"评价 {number}")               # rated: nothing awaits it
