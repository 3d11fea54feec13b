"""The hotline loses nothing when intake dies: voicemails arrive while intake is SIGKILLed and
restarted, the call centre retries what was not acknowledged (as README's "Channels" section
asks of it), and every voicemail ends up as exactly one case."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from services.common.signing import hmac_signature as signature

pytestmark = pytest.mark.e2e

SECRET = "cti-crash-secret"
CALLS = 30


def deliver(url, event, deadline):
    """The call centre's side: resend with a fresh timestamp until a 200 or a 409 (already
    received: delivered); anything else (503, a reset connection) is retried."""
    body = json.dumps(event).encode()
    while time.monotonic() < deadline:
        timestamp = str(int(time.time()))
        try:
            reply = requests.post(url, data=body, timeout=15, headers={
                "X-CTI-Timestamp": timestamp,
                "X-CTI-Signature": signature(SECRET, timestamp, body)})
            if reply.status_code in (200, 409):
                return reply.status_code
        except requests.RequestException:
            pass
        time.sleep(0.5)
    return None


def test_voicemails_survive_an_intake_killed_mid_stream(start_system, databases):
    system = start_system(databases, layout=[["intake"], ["routing"], ["sla"], ["notify"],
                                             ["rating"], ["gateway"]],
                          JIESU_HOTLINE_WEBHOOK_SECRETS=json.dumps([SECRET]),
                          JIESU_RPC_TIMEOUT_SECONDS="3")
    url = f"{system.url}/hotline/calls/events"
    deadline = time.monotonic() + 120
    outcomes = {}

    def call(n):
        voicemail = {"event_id": f"vm-{n}", "call_id": f"call-{n}", "type": "voicemail",
                     "at": "2026-11-24T23:30:00+08:00", "caller": f"1390000{n:04d}",
                     "transcript": f"宿舍{n}号楼的热水器坏了,请派人维修"}
        outcomes[n] = deliver(url, voicemail, deadline)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(CALLS)]
    for index, thread in enumerate(threads):
        thread.start()
        if index == CALLS // 3:
            system.system.kill("intake")       # SIGKILL: no ack, no clean shutdown
        if index == CALLS // 2:
            system.system.restart("intake")
        time.sleep(0.05)
    system.system.wait_ready(services=["intake"])
    for thread in threads:
        thread.join()

    assert all(outcomes[n] in (200, 409) for n in range(CALLS)), outcomes
    rows = system.query("intake", "SELECT call_id, count(*) FROM complaints GROUP BY call_id")
    assert dict(rows) == {f"call-{n}": 1 for n in range(CALLS)}
    calls = system.query("intake", "SELECT call_id, complaint_id FROM hotline_calls")
    assert len(calls) == CALLS and all(complaint for _, complaint in calls)
