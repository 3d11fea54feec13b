"""`make run` beside another running jiesu (a second checkout, a bench, a forgotten terminal):
a taken port stops start-up with one sentence naming the port and the setting that moves
it; readiness is answered by this run's own gateway only; no port is shared through
SO_REUSEPORT; and each run's messages stay in a RabbitMQ vhost of its own."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from services.common import metrics
from services.common.ports import PortTaken
from services.common.settings import REPO_ROOT
from services.common.system import StartupError, System
from tests.conftest import JWT_SECRET, auth, free_metrics_base, free_port, wait_until

pytestmark = pytest.mark.e2e


class Run:
    """`python -m services.common.system` (what `make run` starts) in the background."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith("JIESU_")}
        self.env.update({"JIESU_JWT_SECRET": JWT_SECRET, "JIESU_LOG_JSON": "true",
                         "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
                         "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0", **env})
        self.lines: list[str] = []
        self.errors: list[str] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        migrated = subprocess.run([sys.executable, "-m", "services.common.migrate"],
                                  cwd=REPO_ROOT, env=self.env, capture_output=True, text=True)
        assert migrated.returncode == 0, migrated.stderr
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.common.system"], cwd=REPO_ROOT, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                         for stream, into in ((self.process.stdout, self.lines),
                                              (self.process.stderr, self.errors))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, into):
        for line in stream:
            into.append(line.rstrip("\n"))

    def up(self) -> bool:
        return any(line.startswith("jiesu is up") for line in self.lines)

    def outcome(self, timeout: float = 120) -> int | str:
        """'up' once it says so, or its exit status if it stops first."""
        return wait_until(lambda: "up" if self.up() else self.process.poll(), timeout=timeout,
                          interval=0.2, message="the run to come up or stop")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)  # the supervisor stops its children
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)


@pytest.fixture
def runs(tmp_path):
    started = []

    def run(env, name):
        started.append(Run(env, tmp_path / name))
        return started[-1]

    yield run
    for started_run in started:
        started_run.stop()


def _sqlite(tmp_path, name) -> dict:
    return {"JIESU_DATA_DIR": str(tmp_path / name),
            "JIESU_ATTACHMENTS_DIR": str(tmp_path / name / "attachments"),
            "JIESU_DATABASE_URL": f"sqlite:///{tmp_path / name}/{{service}}.db"}


def _one_sentence(run) -> str:
    assert run.errors, "nothing said on stderr"
    said = "\n".join(run.errors).strip()
    assert "\n" not in said and "Traceback" not in said, said
    return said


# ------------------------------------------------------------------------------ ports
def test_a_second_run_stops_at_a_taken_port_with_one_sentence(start_system, databases, runs,
                                                              rabbit_config, tmp_path):
    base = free_metrics_base()
    first = start_system(databases, JIESU_METRICS_PORT=base)
    gateway_port = first.url.rsplit(":", 1)[1]
    common = {"JIESU_AMQP_URI": rabbit_config["AMQP_URI"], **_sqlite(tmp_path, "second")}

    second = runs({**common, "JIESU_GATEWAY_PORT": gateway_port, "JIESU_METRICS_PORT": "0"},
                  "gateway-port")
    assert second.outcome() == 1, second.lines + second.errors
    said = _one_sentence(second)
    assert f"port {gateway_port}" in said and "JIESU_GATEWAY_PORT" in said, said

    third = runs({**common, "JIESU_GATEWAY_PORT": str(free_port()),
                  "JIESU_METRICS_PORT": str(base)}, "ops-ports")
    assert third.outcome() == 1, third.lines + third.errors
    said = _one_sentence(third)
    assert f"ports {base + 1}–{base + 6}" in said and "JIESU_METRICS_PORT" in said, said
    # and the first system was not disturbed
    assert first.file().status_code == 201
    assert first.system.dead() == []


def test_readiness_is_answered_by_this_runs_own_gateway(start_system, databases,
                                                        rabbit_config):
    first = start_system(databases)
    other = System({"JIESU_AMQP_URI": rabbit_config["AMQP_URI"],
                    "JIESU_GATEWAY_PORT": first.url.rsplit(":", 1)[1],
                    "JIESU_METRICS_PORT": "0"}, layout=[["gateway"]])
    # Its own gateway never started: the one answering on the port is the first system's.
    with pytest.raises(StartupError, match="JIESU_GATEWAY_PORT"):
        other.wait_ready(timeout=15)


def test_an_ops_port_is_never_shared():
    """eventlet.listen sets SO_REUSEPORT unless told not to: two processes could then serve
    one port and a scrape would reach either."""
    port = free_port()
    first = metrics.serve_ops("127.0.0.1", port, {})
    try:
        with pytest.raises(PortTaken, match=f"port {port} "):
            metrics.serve_ops("127.0.0.1", port, {})
    finally:
        first.close()


def test_the_gateway_does_not_share_its_port(tmp_path):
    """Another gateway already listens (with SO_REUSEPORT, as eventlet binds by default):
    this one must not bind beside it."""
    port = free_port()
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen()
    env = {key: value for key, value in os.environ.items() if not key.startswith("JIESU_")}
    env.update({"JIESU_GATEWAY_PORT": str(port), "JIESU_METRICS_PORT": "0",
                "JIESU_LOG_JSON": "false", **_sqlite(tmp_path, "gw")})
    try:
        gateway = subprocess.run([sys.executable, "-m", "services.common.runner", "gateway"],
                                 cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                 timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gateway kept running on port {port}, which another one holds")
    finally:
        squatter.close()
    assert gateway.returncode != 0
    assert f"port {port}" in gateway.stderr and "JIESU_GATEWAY_PORT" in gateway.stderr


# ----------------------------------------------------------------------------- vhosts
def _on_private_broker(rabbit, runs, tmp_path):
    """A first run on the test's own RabbitMQ, left at vhost "/"; and the settings a second
    run on that broker starts from."""
    common = {"JIESU_AMQP_URI": rabbit.amqp_uri,
              "JIESU_RABBIT_API_URI": rabbit.management_uri, "JIESU_METRICS_PORT": "0"}
    first = runs({**common, "JIESU_GATEWAY_PORT": str(free_port()),
                  **_sqlite(tmp_path, "first")}, "first")
    assert first.outcome(timeout=180) == "up", first.lines + first.errors
    return first, {**common, "JIESU_GATEWAY_PORT": str(free_port()),
                   **_sqlite(tmp_path, "second")}


def test_two_runs_on_one_broker_keep_their_messages_apart(private_rabbit, runs, tmp_path):
    """Two checkouts' `make run` on one RabbitMQ, both left at the default vhost "/": each
    chooses (and creates) a vhost of its own, so neither applies the other's events."""
    rabbit = private_rabbit
    first, second_settings = _on_private_broker(rabbit, runs, tmp_path)
    second = runs(second_settings, "second")
    assert second.outcome(timeout=180) == "up", second.lines + second.errors
    vhosts = set(rabbit.vhosts())
    assert {f"jiesu:{tmp_path / 'first'}", f"jiesu:{tmp_path / 'second'}"} <= vhosts, vhosts
    assert any(f"jiesu:{tmp_path / 'first'}" in line for line in first.lines), first.lines

    url = next(line for line in first.lines if line.startswith("jiesu is up")).split()[4]
    for _ in range(3):
        filed = requests.post(f"{url}/api/v1/complaints", headers=auth("s2023001"), timeout=30,
                              json={"category": "logistics", "pledge": True,
                                    "content": "学生公寓3号楼热水已经停了两天,请尽快维修"})
        assert filed.status_code == 201, filed.text
    from sqlalchemy import create_engine, text

    def count(name, service, sql):
        engine = create_engine(f"sqlite:///{tmp_path / name}/{service}.db")
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()

    wait_until(lambda: count("first", "intake", "SELECT count(*) FROM timeline WHERE "
                                                "kind = 'deadline_set'") == 3,
               timeout=60, message="the first run's cases reach deadline_set")
    assert count("first", "routing", "SELECT count(*) FROM assignments") == 3
    for service, table in (("routing", "assignments"), ("sla", "deadlines"),
                           ("notify", "notifications")):
        assert count("second", service, f"SELECT count(*) FROM {table}") == 0, service


def test_a_run_refuses_a_vhost_another_run_consumes(private_rabbit, runs, tmp_path):
    _, second_settings = _on_private_broker(private_rabbit, runs, tmp_path)
    second = runs({**second_settings, "JIESU_AMQP_VHOST": f"jiesu:{tmp_path / 'first'}"},
                  "second")
    assert second.outcome() == 1, second.lines + second.errors
    said = _one_sentence(second)
    assert "JIESU_AMQP_VHOST" in said and f"jiesu:{tmp_path / 'first'}" in said, said


def test_a_vhost_that_cannot_be_created_is_said_so(private_rabbit, monkeypatch):
    from services.common.settings import with_vhost
    from services.common.system import ensure_vhost

    monkeypatch.setenv("JIESU_RABBIT_API_URI", f"http://guest:guest@127.0.0.1:{free_port()}")
    with pytest.raises(StartupError) as failed:
        ensure_vhost(with_vhost(private_rabbit.amqp_uri, "jiesu:/nowhere"))
    said = str(failed.value)
    assert "'jiesu:/nowhere' does not exist and could not be created" in said, said
    assert "rabbitmqctl add_vhost" in said and "JIESU_AMQP_VHOST" in said, said

    monkeypatch.setenv("JIESU_RABBIT_API_URI", private_rabbit.management_uri)
    ensure_vhost(with_vhost(private_rabbit.amqp_uri, "jiesu:/somewhere"))
    assert "jiesu:/somewhere" in private_rabbit.vhosts()


def test_the_vhost_setting_replaces_the_uris_vhost():
    from services.common.settings import Settings, vhost_of

    settings = Settings.load(environ={"JIESU_AMQP_URI": "amqp://u:p@broker:5672/other",
                                      "JIESU_AMQP_VHOST": "jiesu:/srv/jiesu/data"})
    assert settings.amqp_uri == "amqp://u:p@broker:5672/jiesu%3A%2Fsrv%2Fjiesu%2Fdata"
    assert vhost_of(settings.amqp_uri) == "jiesu:/srv/jiesu/data"
    # what every process reads back from its container config is the same
    assert Settings.from_container_config({"JIESU": settings.as_dict()}) == settings
    assert vhost_of(Settings.load(environ={}).amqp_uri) == "/"
