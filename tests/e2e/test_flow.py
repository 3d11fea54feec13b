"""The walking skeleton end to end: HTTP in, every hop over RabbitMQ, each service in its own
process, on PostgreSQL and again on SQLite."""
from __future__ import annotations

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

N_COMPLAINTS = 12


def _assigned_with_deadline(system, complaint_id):
    reply = system.get(complaint_id)
    body = reply.json()
    if body.get("status") == "assigned" and body.get("deadline"):
        return body
    return None


def _file_and_follow(system):
    filed = []
    categories = ["logistics", "education", "security", "finance", "epidemic", "student_status"]
    for index in range(N_COMPLAINTS):
        reply = system.file(category=categories[index % len(categories)],
                            contact_phone="13912345678")
        assert reply.status_code == 201, reply.text
        body = reply.json()
        assert body["status"] == "received"
        assert body["number"].startswith("JS-")
        filed.append(body)

    for complaint in filed:
        body = wait_until(lambda: _assigned_with_deadline(system, complaint["id"]),
                          message=f"{complaint['number']} assigned with a deadline")
        assert body["assigned_unit"]["name"]
        assert body["handler"]["name"]
        assert body["grade"] in ("simple", "general", "complex")
        assert [line["kind"] for line in body["timeline"]] == \
            ["received", "assigned", "deadline_set"]
        assert body["contact_phone"] == "139****5678"

    ids = [c["id"] for c in filed]
    wait_until(lambda: len(system.query("notify", "SELECT id FROM notifications "
                                        "WHERE status = 'sent'")) == 2 * N_COMPLAINTS,
               message="two notifications sent per complaint")
    rows = system.query("notify", "SELECT complaint_id, recipient_role FROM notifications")
    for complaint_id in ids:
        roles = sorted(role for cid, role in rows if cid == complaint_id)
        assert roles == ["complainant", "handler"]
    return filed


def test_flow_on_postgresql(start_system, databases):
    system = start_system(databases)
    _file_and_follow(system)


def test_flow_on_sqlite(start_system, sqlite_databases):
    system = start_system(sqlite_databases)
    _file_and_follow(system)


def test_others_cannot_read_a_case(start_system, databases):
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                              "gateway"]])
    filed = system.file(sub="s-owner").json()
    assert system.get(filed["id"], sub="s-owner").status_code == 200
    stranger = system.get(filed["id"], sub="s-stranger")
    assert stranger.status_code == 404
    assert stranger.json()["error"]["code"] == "not_found"


def test_a_retried_post_with_an_idempotency_key_files_once(start_system, databases):
    system = start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                              "gateway"]])
    import requests

    from tests.conftest import auth
    body = {"category": "finance", "content": "奖学金什么时候发放到卡上?", "pledge": True}
    headers = {**auth("s-retry"), "Idempotency-Key": "retry-0123456789"}
    first = requests.post(f"{system.url}/api/v1/complaints", json=body, headers=headers,
                          timeout=30)
    again = requests.post(f"{system.url}/api/v1/complaints", json=body, headers=headers,
                          timeout=30)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert len(system.query("intake", "SELECT id FROM complaints")) == 1

    short = requests.post(f"{system.url}/api/v1/complaints", json=body,
                          headers={**auth("s-retry"), "Idempotency-Key": "x"}, timeout=30)
    assert short.status_code == 400
    assert short.json()["error"]["code"] == "invalid_idempotency_key"
