"""Fixtures shared by every test.

Integration tests run against the real RabbitMQ (each test in a vhost of its own, from
nameko's `rabbit_config`) and the real PostgreSQL (one database per service, named by
JIESU_TEST_DATABASE_URL, emptied before each test that asks for `databases`).
"""
from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from gateway.auth import issue_token
from services.common.migrate import upgrade
from services.common.settings import SERVICE_NAMES, Settings, nameko_config

TEST_DATABASE_URL = os.environ.get(
    "JIESU_TEST_DATABASE_URL",
    "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_test_{service}")
JWT_SECRET = "test-secret-0123456789abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_metrics_base() -> int:
    """A JIESU_METRICS_PORT whose six ops ports (base + 1 … base + 6) are all free."""
    for _ in range(50):
        base = random.randint(20000, 60000)
        sockets = []
        try:
            for offset in range(1, 7):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free block of six ports")


def _empty(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
            if not tables:
                return
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                                  + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))
    finally:
        engine.dispose()


class Databases(dict):
    """service name -> database URL, made from a `{service}` template, migrated."""

    def __init__(self, template: str):
        super().__init__({name: template.format(service=name) for name in SERVICE_NAMES})
        self.template = template
        for name, url in self.items():
            upgrade(name, url)

    def empty(self) -> "Databases":
        for url in self.values():
            _empty(url)
        return self


@pytest.fixture(scope="session")
def pg_databases():
    # `make test` has migrated them already; migrating here keeps plain `nameko test` working.
    return Databases(TEST_DATABASE_URL)


@pytest.fixture
def databases(pg_databases):
    """The PostgreSQL test databases, emptied."""
    return pg_databases.empty()


@pytest.fixture
def sqlite_databases(tmp_path):
    (tmp_path / "db").mkdir()
    return Databases(f"sqlite:///{tmp_path}/db/{{service}}.db")


@pytest.fixture
def settings():
    return Settings(jwt_secret=JWT_SECRET, database_url=TEST_DATABASE_URL, log_json=False,
                    outbox_poll_seconds=0.2, consumer_retry_delays_seconds=(0.2, 0.5))


@pytest.fixture
def service_config(rabbit_config, settings, databases):
    """A nameko config for container_factory: the test's vhost and the empty test databases."""
    return nameko_config(settings.with_changes(amqp_uri=rabbit_config["AMQP_URI"]),
                         AMQP_URI=rabbit_config["AMQP_URI"], DATABASE_URLS=databases)


def wait_until(predicate, timeout: float = 15, interval: float = 0.05, message: str = ""):
    """Poll until `predicate()` is truthy; returns its value. Not a timing assertion: the
    timeout only bounds how long a broken system can hang the suite."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message or predicate}")
        time.sleep(interval)


def token_for(sub: str, name: str | None = None, roles=("complainant",), **kwargs) -> str:
    return issue_token(JWT_SECRET, sub, name, roles, **kwargs)


def auth(sub: str, **kwargs) -> dict:
    return {"Authorization": f"Bearer {token_for(sub, **kwargs)}"}


class RunningSystem:
    """The whole system as separate processes, as `make run` starts it."""

    def __init__(self, system, database_urls):
        self.system = system
        self.database_urls = database_urls
        self.url = system.gateway_url

    def file(self, sub: str = "s2023001", **body):
        body.setdefault("category", "logistics")
        body.setdefault("content", "学生公寓3号楼热水已经停了两天,请尽快维修")
        body.setdefault("pledge", True)  # R3: the app's ticked pledge
        return requests.post(f"{self.url}/api/v1/complaints", json=body, headers=auth(sub),
                             timeout=30)

    def get(self, complaint_id: str, sub: str = "s2023001"):
        return requests.get(f"{self.url}/api/v1/complaints/{complaint_id}", headers=auth(sub),
                            timeout=30)

    def query(self, service: str, sql: str, **params):
        engine = create_engine(self.database_urls[service])
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).all()
        finally:
            engine.dispose()


@pytest.fixture
def start_system(rabbit_config, tmp_path):
    """Factory: start_system(databases, layout=None, **JIESU_env) -> RunningSystem."""
    from services.common.system import System

    started = []

    def start(databases, layout=None, **env):
        environment = {
            "JIESU_AMQP_URI": rabbit_config["AMQP_URI"],
            "JIESU_DATABASE_URL": databases.template,
            "JIESU_GATEWAY_PORT": str(free_port()),
            "JIESU_JWT_SECRET": JWT_SECRET,
            "JIESU_OUTBOX_POLL_SECONDS": "0.2",
            "JIESU_NOTIFY_RESEND_AFTER_SECONDS": "1",
            "JIESU_LOG_JSON": "true",
            "JIESU_METRICS_PORT": "0",  # tests that scrape set a free base port
            # the suite files in bursts from one address; the limits have tests of their own
            "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
            "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0",
            **{key: str(value) for key, value in env.items()},
        }
        system = System(environment, layout=layout, log_dir=Path(tmp_path) / "logs")
        started.append(system)
        system.start()
        system.wait_ready(timeout=90)
        return RunningSystem(system, databases)

    yield start
    for system in started:
        system.stop()
