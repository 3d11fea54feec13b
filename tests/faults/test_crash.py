"""Crash safety: a service process killed with SIGKILL while complaints flow loses nothing
and does nothing twice once it is back."""
from __future__ import annotations

from collections import Counter

import eventlet
import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

BURST = 25


def _burst(system, count):
    pool = eventlet.GreenPool(8)
    replies = list(pool.imap(lambda _: system.file(), range(count)))
    assert all(reply.status_code == 201 for reply in replies), [r.text for r in replies]
    return [reply.json()["id"] for reply in replies]


@pytest.mark.parametrize("victims", [("routing", "sla"), ("intake", "notify")])
def test_sigkill_mid_flow_loses_nothing_and_duplicates_nothing(start_system, databases,
                                                               victims):
    system = start_system(databases)
    filed = []
    for victim in victims:
        filed += _burst(system, BURST)
        system.system.kill(victim)          # SIGKILL: no ack, no clean shutdown, no flush
        if victim != "intake":
            filed += _burst(system, BURST)  # piles up in RabbitMQ while the victim is dead
        system.system.restart(victim)
        system.system.wait_ready(services=[victim])
    filed += _burst(system, BURST)

    def all_have_deadlines():
        rows = system.query("intake", "SELECT id FROM complaints WHERE due_at IS NOT NULL")
        return len(rows) >= len(filed)
    wait_until(all_have_deadlines, timeout=120, message="every complaint reaches deadline_set")
    # no case filed twice (an RPC redelivered after its worker died is recognised by its key)
    assert sorted(cid for (cid,) in system.query("intake", "SELECT id FROM complaints")) == \
        sorted(filed)

    lines = Counter((cid, kind) for cid, kind in system.query(
        "intake", "SELECT complaint_id, kind FROM timeline"))
    for complaint_id in filed:
        for kind in ("received", "assigned", "deadline_set"):
            assert lines[(complaint_id, kind)] == 1, (complaint_id, kind)

    assignments = Counter(cid for (cid,) in system.query(
        "routing", "SELECT complaint_id FROM assignments"))
    deadlines = Counter(cid for (cid,) in system.query(
        "sla", "SELECT complaint_id FROM deadlines WHERE kind = 'resolution'"))
    assert set(assignments) == set(filed) and set(assignments.values()) == {1}
    assert set(deadlines) == set(filed) and set(deadlines.values()) == {1}

    def notifications_recorded():
        rows = system.query("notify", "SELECT complaint_id, recipient_role FROM notifications")
        return rows if len(rows) >= 2 * len(filed) else None
    rows = wait_until(notifications_recorded, timeout=60, message="both notifications each")
    per_case = Counter(cid for cid, _ in rows)
    assert set(per_case) == set(filed) and set(per_case.values()) == {2}
    # and every outbox drained: nothing left behind by a relay killed half-way
    for service in ("intake", "routing", "sla"):
        wait_until(lambda: not system.query(service, "SELECT id FROM outbox "
                                                     "WHERE sent_at IS NULL"),
                   message=f"{service}'s outbox drained")
