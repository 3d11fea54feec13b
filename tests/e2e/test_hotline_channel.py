"""The 24-hour hotline as a call centre (CTI) speaks to it: a signed event stream for an
answered call and the operator filing for the caller, an after-hours voicemail that becomes a
case the office classifies the next working morning, SMS to the caller through an HTTP SMS
provider, and refusals (bad signatures, stale timestamps, replays, oversized or malformed
events) that file nothing while the system keeps serving."""
from __future__ import annotations

import json
import time

import pytest
import requests

from services.common.signing import hmac_signature as signature
from tests.conftest import token_for, wait_until
from tests.fakes import FakeSmsProvider

pytestmark = pytest.mark.e2e

SECRET, OLD_SECRET = "cti-secret-0123456789", "cti-secret-being-retired"
SMS_ACCOUNT, SMS_SECRET = "jiesu", "sms-secret-for-tests"
CALLER = "13912345678"
OFFICE = {"Authorization": "Bearer " + token_for("u-office-1", "李晓梅", roles=("office",),
                                                 unit="office")}
STUDENT = {"Authorization": "Bearer " + token_for("s2023001", "张三")}


@pytest.fixture
def sms():
    with FakeSmsProvider(SMS_ACCOUNT, SMS_SECRET) as provider:
        yield provider


@pytest.fixture
def system(start_system, databases, sms):
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                            "gateway"]],
                        JIESU_HOTLINE_WEBHOOK_SECRETS=json.dumps([SECRET, OLD_SECRET]),
                        JIESU_SMS_BASE_URL=sms.base_url, JIESU_SMS_ACCOUNT=SMS_ACCOUNT,
                        JIESU_SMS_SECRET=SMS_SECRET)


def cti(system, event: dict, secret=SECRET, timestamp=None, body=None):
    """POST one event the way the call centre does: JSON, HMAC over timestamp.body."""
    body = body if body is not None else json.dumps(event).encode("utf-8")
    timestamp = str(int(timestamp if timestamp is not None else time.time()))
    return requests.post(f"{system.url}/hotline/calls/events", data=body, timeout=30,
                         headers={"Content-Type": "application/json",
                                  "X-CTI-Timestamp": timestamp,
                                  "X-CTI-Signature": signature(secret, timestamp, body)})


def event(event_id, kind, at, call_id="call-1", **extra):
    return {"event_id": event_id, "call_id": call_id, "type": kind, "at": at,
            "caller": CALLER, "vendor_field": "ignored", **extra}


def test_an_answered_call_is_filed_by_the_operator_and_the_caller_gets_texts(system, sms):
    assert cti(system, event("e1", "ringing", "2026-11-24T10:00:00+08:00")).json()[
        "outcome"] == "nothing"
    offer = cti(system, event("e2", "answered", "2026-11-24T10:00:06+08:00",
                              operator="op-7")).json()
    assert offer["outcome"] == "offer" and offer["operator"] == "op-7"
    assert offer["caller"] == "139****5678" and "如实反映" in offer["script"]

    screen = requests.get(f"{system.url}/api/v1/staff/hotline/calls/call-1", headers=OFFICE,
                          timeout=30).json()
    assert (screen["state"], screen["caller"], screen["complaints"]) == \
        ("answered", "139****5678", [])

    def unfiled():
        return [c["call_id"] for c in requests.get(
            f"{system.url}/api/v1/staff/hotline/calls", params={"unfiled": "true"},
            headers=OFFICE, timeout=30).json()]
    assert unfiled() == ["call-1"]         # answered, nobody has filed for the caller yet
    body = {"category": "logistics", "content": "学生公寓3号楼热水已经停了两天,请尽快维修",
            "location": "学生公寓3号楼"}
    unpledged = requests.post(f"{system.url}/api/v1/staff/hotline/calls/call-1/complaints",
                              json=body, headers=OFFICE, timeout=30)
    assert unpledged.status_code == 400 and "pledge_read" in unpledged.json()["error"]["fields"]
    filed = requests.post(f"{system.url}/api/v1/staff/hotline/calls/call-1/complaints",
                          json={**body, "pledge_read": True}, headers=OFFICE, timeout=30)
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["id"]
    assert cti(system, event("e3", "ended", "2026-11-24T10:04:06+08:00", operator="op-7",
                             duration_seconds=240)).json()["outcome"] == "nothing"
    assert unfiled() == []

    case = requests.get(f"{system.url}/api/v1/staff/cases/{case_id}", headers=OFFICE,
                        timeout=30).json()
    # The office's case view is where it calls back: the number whole (and that read
    # audited); every list and every unit's view shows it masked.
    assert (case["channel"], case["call_id"], case["contact_phone"]) == \
        ("hotline", "call-1", CALLER)
    listed = requests.get(f"{system.url}/api/v1/staff/cases", headers=OFFICE,
                          timeout=30).json()
    assert [c["contact_phone"] for c in listed if c["id"] == case_id] == \
        ["139****5678"]
    assert "李晓梅" in case["pledge"] and "宣读确认" in case["pledge"]
    assert CALLER not in case["complainant_id"]
    assert requests.get(f"{system.url}/api/v1/staff/hotline/calls/call-1", headers=OFFICE,
                        timeout=30).json()["complaints"][0]["id"] == case_id
    # the caller hears by SMS: received, then the case goes on like any other
    texts = wait_until(lambda: sms.texts_to(CALLER), message="the acknowledgement SMS")
    assert case["number"] in texts[0] and "已受理" in texts[0]
    wait_until(lambda: requests.get(f"{system.url}/api/v1/staff/cases/{case_id}",
                                    headers=OFFICE, timeout=30).json()["assigned_unit"],
               message="the case is routed")


def test_an_after_hours_voicemail_waits_for_the_office_then_is_routed(system, sms):
    friday_night = "2026-11-27T22:15:00+08:00"
    cti(system, event("v1", "ringing", friday_night, call_id="call-vm"))
    left = cti(system, event("v2", "voicemail", friday_night, call_id="call-vm",
                             recording_url="https://cti.example.edu.cn/rec/call-vm.wav",
                             transcript="图书馆三楼的空调坏了,一直漏水,请派人看看"))
    assert left.status_code == 200, left.text
    answer = left.json()
    assert answer["outcome"] == "voicemail"
    assert answer["counts_from"].startswith("2026-11-30T08:30:00")   # Monday morning
    case_id = answer["complaint"]["id"]

    waiting = requests.get(f"{system.url}/api/v1/staff/cases", params={"view": "unclassified"},
                           headers=OFFICE, timeout=30).json()
    assert [c["id"] for c in waiting] == [case_id]
    case = requests.get(f"{system.url}/api/v1/staff/cases/{case_id}", headers=OFFICE,
                        timeout=30).json()
    assert (case["category"], case["status"], case["channel"]) == (None, "received", "hotline")
    assert "语音提示" in case["pledge"]
    assert any("2026-11-30 08:30" in line["text"] for line in case["timeline"])
    assert any("https://cti.example.edu.cn/rec/call-vm.wav" in line["text"]
               for line in case["timeline"])
    refused = requests.post(f"{system.url}/api/v1/staff/cases/{case_id}/screen_out",
                            json={"rule": "R4-1"}, headers=OFFICE, timeout=30)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "classify_first"
    time.sleep(1)
    assert sms.texts_to(CALLER) == []          # nothing is announced before it is classified

    classified = requests.post(f"{system.url}/api/v1/staff/cases/{case_id}/classify",
                               json={"category": "logistics", "title": "图书馆空调漏水"},
                               headers=OFFICE, timeout=30)
    assert classified.status_code == 200, classified.text
    routed = wait_until(lambda: requests.get(
        f"{system.url}/api/v1/staff/cases/{case_id}", headers=OFFICE,
        timeout=30).json()["assigned_unit"], message="the classified voicemail is routed")
    assert routed["id"] == "logistics"
    assert wait_until(lambda: sms.texts_to(CALLER), message="the SMS")[0].count(case["number"])
    again = requests.post(f"{system.url}/api/v1/staff/cases/{case_id}/classify",
                          json={"category": "security"}, headers=OFFICE, timeout=30)
    assert again.status_code == 409


def test_forged_stale_replayed_or_malformed_events_are_refused_and_file_nothing(system):
    def code(reply):
        return reply.status_code, reply.json()["error"]["code"]

    voicemail = event("x1", "voicemail", "2026-11-24T23:00:00+08:00", call_id="call-x",
                      transcript="宿舍楼门禁坏了,晚上进不去")
    assert code(cti(system, voicemail, secret="forged")) == (401, "bad_signature")
    body = json.dumps(voicemail).encode()
    timestamp = str(int(time.time()))
    tampered = requests.post(f"{system.url}/hotline/calls/events", timeout=30,
                             data=body.replace(b"call-x", b"call-z"),
                             headers={"X-CTI-Timestamp": timestamp,
                                      "X-CTI-Signature": signature(SECRET, timestamp, body)})
    assert code(tampered) == (401, "bad_signature")
    assert cti(system, voicemail).status_code == 200          # the genuine event is taken …
    assert code(cti(system, voicemail)) == (409, "duplicate_event")   # … once
    assert code(cti(system, {**voicemail, "event_id": "x2"},
                    timestamp=time.time() - 3600)) == (401, "bad_signature")
    stolen = requests.post(f"{system.url}/hotline/calls/events", data=body, timeout=30,
                           headers={"X-CTI-Timestamp": str(int(time.time())),
                                    "X-CTI-Signature": signature(SECRET, "0", body)})
    assert code(stolen) == (401, "bad_signature")
    assert code(requests.post(f"{system.url}/hotline/calls/events", data=body,
                              timeout=30)) == (401, "bad_signature")
    assert code(cti(system, None, body=b"{not json")) == (400, "invalid_event")
    assert code(cti(system, {**voicemail, "event_id": "x3", "type": "hangup"})) == \
        (400, "invalid_event")
    assert code(cti(system, {**voicemail, "event_id": "x4", "transcript": "很" * 70_000})) == \
        (413, "too_large")
    # a secret being rotated out is still taken
    assert cti(system, event("x5", "ringing", "2026-11-24T23:00:00+08:00", call_id="call-y"),
               secret=OLD_SECRET).status_code == 200

    assert len(system.query("intake", "SELECT id FROM complaints")) == 1   # the one voicemail
    # only the office works the hotline; an unknown or unanswered call cannot be filed for
    assert requests.get(f"{system.url}/api/v1/staff/hotline/calls/call-x", headers=STUDENT,
                        timeout=30).status_code == 404
    for call in ("call-nope", "call-y"):
        assert requests.post(f"{system.url}/api/v1/staff/hotline/calls/{call}/complaints",
                             json={"category": "security", "content": "宿舍楼门禁坏了",
                                   "pledge_read": True}, headers=OFFICE,
                             timeout=30).status_code == 404
    assert requests.get(f"{system.url}/api/v1/categories", timeout=30).status_code == 200
