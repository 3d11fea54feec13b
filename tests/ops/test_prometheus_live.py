"""A real Prometheus server (Debian's `prometheus`) on loopback scrapes every process of a
running system; what PromQL says about the backlog, the warning queue and the intake matches
what the test did."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import requests
import yaml

from services.common.clock import OffsetClock
from tests.conftest import auth, free_metrics_base, free_port, wait_until
from tests.e2e.test_lifecycle import PEOPLE

pytestmark = [pytest.mark.e2e, pytest.mark.prometheus]

SERVICES = ("intake", "routing", "sla", "notify", "rating", "gateway")


@pytest.fixture
def prometheus(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Prometheus is not installed: install Debian's prometheus package "
                    "(make test does: apt-get install -y prometheus)")
    servers = []

    def start(targets):
        port = free_port()
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "jiesu", "static_configs": [
                      {"targets": [f"127.0.0.1:{p}" for p in targets]}]}]}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        server = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(url + "/-/ready"), timeout=60, message="prometheus ready")
        return url

    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=30)


def _ok(url):
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _query(url, promql):
    reply = requests.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert reply["status"] == "success", reply
    return reply["data"]["result"]


def _value(url, promql):
    result = _query(url, promql)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_sees_what_was_done(start_system, databases, prometheus, tmp_path):
    offset = OffsetClock(tmp_path / "clock-offset")
    offset.set_offset(0)
    base = free_metrics_base()
    # Demo limits: every case is due an hour after filing, warned at 45 minutes.
    system = start_system(databases, JIESU_METRICS_PORT=base, JIESU_SLA_DEMO_SECONDS=3600,
                          JIESU_CLOCK_OFFSET_FILE=offset.path)
    url = prometheus([base + n for n in range(1, 7)])
    wait_until(lambda: _value(url, 'count(up{job="jiesu"} == 1)') == 6, timeout=60,
               message="prometheus scrapes all six processes")
    assert {r["metric"]["service"] for r in _query(url, "jiesu_up")} == set(SERVICES)

    filed = [system.file(category="logistics").json()["id"] for _ in range(4)]
    filed += [system.file(category="finance", content="奖学金什么时候发放到卡上?").json()["id"]
              for _ in range(2)]
    wait_until(lambda: len(system.query("intake", "SELECT id FROM complaints WHERE "
                                                  "due_at IS NOT NULL")) == 6)
    handler = dict(PEOPLE["handler"])
    headers = auth(handler.pop("sub"), **handler)
    for case_id in filed[:2]:  # two logistics cases signed for
        reply = requests.post(f"{system.url}/api/v1/staff/cases/{case_id}/sign_for", json={},
                              headers=headers, timeout=30)
        assert reply.status_code == 200, reply.text

    # Every figure is waited for, never read once: Prometheus scrapes each process every
    # second, so a single read may come before the scrape that shows what was just done.
    _until(url, "sum by (state) (jiesu_backlog)", {"assigned": 4.0, "signed": 2.0}, "state")
    _until(url, 'sum(jiesu_backlog{unit="logistics"})', 4.0)
    _until(url, 'sum by (category) (jiesu_complaints_received_total{channel="app"})',
           {"logistics": 4.0, "finance": 2.0}, "category")

    offset.set_offset(50 * 60)  # 50 minutes later: past the 45-minute warning, not yet due
    _until(url, "sum by (unit) (jiesu_sla_warning_queue)",
           {"logistics": 4.0, "finance": 2.0}, "unit")
    # The alerts are published by SLA's outbox relay after the warnings are committed (and
    # counted in the queue above), so their counter may trail it by a relay pass and a scrape.
    wait_until(lambda: (_value(url, 'sum(jiesu_events_published_total{'
                                    'event_type="sla_alert"})') or 0) >= 6,
               timeout=60, message="six sla_alert events published")
    assert (_value(url, "sum(jiesu_sla_overdue)") or 0.0) == 0.0


def _until(url, promql, want, by: str | None = None, timeout: float = 60):
    """Until `promql` answers `want`: a number, or {label value: number} grouped by `by`."""
    seen = []

    def answer():
        if by is None:
            seen.append(_value(url, promql))
        else:
            seen.append({r["metric"].get(by): float(r["value"][1])
                         for r in _query(url, promql)})
        return seen[-1] == want
    try:
        wait_until(answer, timeout=timeout, interval=0.5)
    except AssertionError:
        raise AssertionError(f"{promql}: wanted {want}, last answer {seen[-1:]}") from None
