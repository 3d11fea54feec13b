"""R2: one complaint, four ways in. The same content filed through the app, WeChat, the
hotline and Open311 becomes four cases of the same shape, routed alike, each with its
channel and its pledge (R3) recorded; each complainant hears back on their own channel
(WeChat template message, SMS, the app), and the office sees the four as one matter (X3)."""
from __future__ import annotations

import json
import time
from xml.etree import ElementTree

import pytest
import requests

from services.common.signing import hmac_signature as signature
from gateway.wechat import WeChatCrypto
from tests.conftest import token_for, wait_until
from tests.fakes import FakeSmsProvider, FakeWeChatApi

pytestmark = pytest.mark.e2e

CONTENT = "图书馆三楼自习室的空调坏了,一直在漏水,地面很滑,请尽快维修"
WECHAT_TOKEN, APP_ID, APP_SECRET = "jiesu-test-token", "wx1234567890abcdef", "wx-app-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID, ACCOUNT = "oUser-four-channels-01", "gh_jiesu"
CTI_SECRET, SMS_ACCOUNT, SMS_SECRET = "cti-secret-four", "jiesu", "sms-secret-four"
OPEN311_KEY, CALLER = "k-campus-map-0123456789", "13800001111"
OFFICE = {"Authorization": "Bearer " + token_for("u-office-1", "李晓梅", roles=("office",),
                                                 unit="office")}
# What every case shows, whichever way it came in (the complainant and the clock aside).
SAME = ("category", "category_label", "content", "status", "grade", "assigned_unit", "round",
        "urgent", "anonymous", "proactive", "disputed", "sla_state")


@pytest.fixture
def outside():
    with FakeWeChatApi(APP_ID, APP_SECRET) as wechat_api, \
            FakeSmsProvider(SMS_ACCOUNT, SMS_SECRET) as sms:
        yield wechat_api, sms


@pytest.fixture
def system(start_system, databases, outside):
    wechat_api, sms = outside
    return start_system(
        databases, layout=[["intake", "routing", "sla", "notify", "rating", "gateway"]],
        JIESU_WECHAT_TOKEN=WECHAT_TOKEN, JIESU_WECHAT_AES_KEY=AES_KEY, JIESU_WECHAT_APP_ID=APP_ID,
        JIESU_WECHAT_APP_SECRET=APP_SECRET, JIESU_WECHAT_TEMPLATE_ID="TPL-progress",
        JIESU_WECHAT_API_BASE=wechat_api.base_url,
        JIESU_WECHAT_CASE_LINK="https://jiesu.example.edu.cn/h5/cases",
        JIESU_OPEN311_API_KEYS=json.dumps([f"campus-map:{OPEN311_KEY}"]),
        JIESU_HOTLINE_WEBHOOK_SECRETS=json.dumps([CTI_SECRET]),
        JIESU_SMS_BASE_URL=sms.base_url, JIESU_SMS_ACCOUNT=SMS_ACCOUNT,
        JIESU_SMS_SECRET=SMS_SECRET)


def file_by_app(system) -> str:
    reply = requests.post(f"{system.url}/api/v1/complaints", timeout=30,
                          json={"category": "logistics", "content": CONTENT, "pledge": True},
                          headers={"Authorization": "Bearer " + token_for("s2023001", "张三")})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def file_by_wechat(system) -> str:
    crypto = WeChatCrypto(WECHAT_TOKEN, AES_KEY, APP_ID)

    def say(text, msg_id):
        xml = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
               f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
               f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
               f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>")
        timestamp, nonce = str(int(time.time())), "n0nce"
        reply = requests.post(f"{system.url}/wechat", data=xml.encode(), timeout=30, params={
            "signature": crypto.signature(timestamp, nonce), "timestamp": timestamp,
            "nonce": nonce, "openid": OPENID})
        assert reply.status_code == 200, reply.text
        return ElementTree.fromstring(reply.content).find("Content").text

    say(CONTENT, 7001)
    assert "如实反映" in say("2", 7002)          # 2 = 后勤保障; the pledge is asked for
    filed = say("1 确认", 7003)
    number = filed.split("编号 ")[1].split("。")[0]
    [row] = system.query("intake", "SELECT id FROM complaints WHERE number = :n", n=number)
    # the passive reply links to the case's page
    assert f'<a href="https://jiesu.example.edu.cn/h5/cases/{row.id}">' in filed
    return row.id


def file_by_hotline(system) -> str:
    def cti(event):
        body, timestamp = json.dumps(event).encode(), str(int(time.time()))
        reply = requests.post(f"{system.url}/hotline/calls/events", data=body, timeout=30,
                              headers={"X-CTI-Timestamp": timestamp,
                                       "X-CTI-Signature": signature(CTI_SECRET, timestamp, body)})
        assert reply.status_code == 200, reply.text
        return reply.json()

    at = "2026-11-24T10:00:00+08:00"
    cti({"event_id": "h1", "call_id": "call-4", "type": "ringing", "at": at, "caller": CALLER})
    assert cti({"event_id": "h2", "call_id": "call-4", "type": "answered", "at": at,
                "caller": CALLER, "operator": "op-1"})["outcome"] == "offer"
    reply = requests.post(f"{system.url}/api/v1/staff/hotline/calls/call-4/complaints",
                          json={"category": "logistics", "content": CONTENT,
                                "pledge_read": True}, headers=OFFICE, timeout=30)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def file_by_open311(system) -> str:
    reply = requests.post(f"{system.url}/open311/v2/requests.json", timeout=30, data={
        "api_key": OPEN311_KEY, "service_code": "logistics", "description": CONTENT,
        "address_string": "图书馆三楼", "email": "li@example.edu.cn",
        "attribute[pledge]": "yes"})
    assert reply.status_code == 201, reply.text
    return reply.json()[0]["service_request_id"]


def staff_view(system, case_id) -> dict:
    return requests.get(f"{system.url}/api/v1/staff/cases/{case_id}", headers=OFFICE,
                        timeout=30).json()


def test_the_same_complaint_through_four_channels_is_four_cases_of_one_shape(system, outside):
    wechat_api, sms = outside
    ids = {"app": file_by_app(system), "wechat": file_by_wechat(system),
           "hotline": file_by_hotline(system), "open311": file_by_open311(system)}

    cases = {channel: wait_until(lambda case_id=case_id: (
        lambda view: view if view["grade"] and view["deadline"] else None)(
            staff_view(system, case_id)), message=f"the {channel} case is routed")
             for channel, case_id in ids.items()}

    shapes = {channel: set(view) for channel, view in cases.items()}
    assert len({frozenset(shape) for shape in shapes.values()}) == 1, shapes
    for field in SAME:
        assert len({json.dumps(view[field], sort_keys=True) for view in cases.values()}) == 1, \
            (field, {channel: view[field] for channel, view in cases.items()})
    assert cases["app"]["assigned_unit"]["id"] == "logistics"
    assert {channel: view["channel"] for channel, view in cases.items()} == \
        {channel: channel for channel in ids}
    # R3: each carries the pledge in its channel's words
    pledges = {channel: view["pledge"] for channel, view in cases.items()}
    assert all("如实" in text or "真实" in text for text in pledges.values()), pledges
    assert "APP" in pledges["app"] and "公众号" in pledges["wechat"]
    assert "话务员" in pledges["hotline"] and "Open311" in pledges["open311"]
    assert cases["hotline"]["call_id"] == "call-4"
    # X3: the office sees the other three as probable duplicates of each
    similar = {s["id"] for s in cases["app"]["similar"] if s["probable_duplicate"]}
    assert similar == {ids["wechat"], ids["hotline"], ids["open311"]}

    # counted by channel
    counted = dict(system.query("intake", "SELECT channel, count(*) FROM complaints "
                                          "GROUP BY channel"))
    assert counted == {"app": 1, "wechat": 1, "hotline": 1, "open311": 1}

    # each complainant hears on their own channel
    def sent_by_channel():
        rows = system.query("notify", "SELECT complaint_id, channel, status FROM notifications "
                                      "WHERE template = 'complaint_acknowledged'")
        return {row.complaint_id: (row.channel, row.status) for row in rows} \
            if len(rows) == 4 and all(row.status == "sent" for row in rows) else None
    acknowledged = wait_until(sent_by_channel, message="the four acknowledgements are sent")
    assert {channel: acknowledged[case_id][0] for channel, case_id in ids.items()} == \
        {"app": "app", "wechat": "wechat", "hotline": "sms", "open311": "open311"}
    [template] = [m for m in wechat_api.delivered if cases["wechat"]["number"]
                  in m["data"]["first"]["value"]]
    assert template["touser"] == OPENID and template["template_id"] == "TPL-progress"
    assert template["url"].endswith(ids["wechat"])
    assert any(cases["hotline"]["number"] in text for text in sms.texts_to(CALLER))
