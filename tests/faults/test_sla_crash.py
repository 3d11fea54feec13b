"""Crash safety of the SLA timers across processes: the clock (shared through an offset
file) jumps past every deadline and escalation step, the SLA process is SIGKILLed while it
fires them, and after a restart every timer has fired exactly once and shows once."""
from __future__ import annotations

from collections import Counter

import eventlet
import pytest

from services.common.clock import OffsetClock
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e


def test_sla_killed_while_firing_loses_and_repeats_nothing(start_system, databases, tmp_path):
    offset_file = tmp_path / "clock-offset"
    clock = OffsetClock(offset_file)
    clock.set_offset(0)
    system = start_system(databases, JIESU_CLOCK_OFFSET_FILE=offset_file,
                          JIESU_SLA_BATCH_SIZE=3)
    filed = [system.file(content=f"{n}号楼热水已经停了两天,请尽快维修").json()["id"]
             for n in range(12)]
    wait_until(lambda: len(system.query("sla", "SELECT id FROM deadlines")) == 2 * len(filed),
               message="every case has its two targets")

    clock.set_offset(10 * 24 * 3600)   # ten days later: everything is due
    eventlet.sleep(0.3)                # the poller is firing in batches of three...
    system.system.kill("sla")          # ...and dies without a goodbye
    system.system.restart("sla")
    system.system.wait_ready(services=["sla"])

    def all_fired():
        pending = system.query("sla", "SELECT id FROM timers WHERE status = 'pending'")
        return not pending
    wait_until(all_fired, timeout=60, message="every timer fired after the restart")

    fired = Counter(cid for (cid,) in system.query(
        "sla", "SELECT complaint_id FROM timers WHERE status = 'fired'"))

    def shown():
        lines = Counter(cid for (cid,) in system.query(
            "intake", "SELECT complaint_id FROM timeline WHERE kind LIKE 'sla_%'"))
        return lines if lines == fired else None
    lines = wait_until(shown, timeout=60, message="each fired timer shown once on its case")
    assert set(lines) == set(filed)
    assert all(count >= 5 for count in lines.values())  # overdue and the whole ladder
    per_step = Counter(system.query(
        "intake", "SELECT complaint_id, text FROM timeline WHERE kind LIKE 'sla_%'"))
    assert set(per_step.values()) == {1}, "an alert was shown twice"
