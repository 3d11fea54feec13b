#!/usr/bin/env python3
"""Make sure the broker (and, for tests, PostgreSQL and RabbitMQ's management API) are up.

    python3 scripts/ensure_infra.py run     # RabbitMQ
    python3 scripts/ensure_infra.py test    # RabbitMQ + management plugin + PostgreSQL + Redis

A local server that is installed but stopped is started. Anything that cannot be had stops
the command with one sentence saying what is missing and how to get it. Standard library
only: this runs before the virtualenv exists.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

LOCAL = {"127.0.0.1", "localhost", "::1"}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: int) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if reachable(host, port):
            return True
        time.sleep(1)
    return False


def fail(sentence: str) -> None:
    print(f"error: {sentence}", file=sys.stderr)
    sys.exit(1)


def ensure_local_server(name: str, url: str, default_port: int, variable: str, package: str,
                        command: list[str], seconds: int, logs: str) -> None:
    """Nothing to do if `url` answers; a local server that is installed but stopped is
    started with `command`; anything else stops with what is missing and how to get it."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if reachable(host, port):
        return
    if host not in LOCAL:
        fail(f"{name} is not reachable at {host}:{port}; start it or set {variable}.")
    if not shutil.which(command[0]):
        fail(f"{name} is not running on {host}:{port} and is not installed: "
             f"install it with 'apt-get install {package}' (or set {variable}).")
    print(f"starting the local {name} ({' '.join(command[:3])} ...) ...", flush=True)
    subprocess.run(command, check=False)
    if not wait_for(host, port, seconds):
        fail(f"{name} did not come up on {host}:{port} within {seconds} s; {logs}.")


def ensure_rabbitmq(amqp_uri: str) -> None:
    ensure_local_server("RabbitMQ", amqp_uri, 5672, "JIESU_AMQP_URI", "rabbitmq-server",
                        ["rabbitmq-server", "-detached"], 90, "see /var/log/rabbitmq for why")


def ensure_management(api_uri: str) -> None:
    url = urlparse(api_uri)
    host, port = url.hostname or "127.0.0.1", url.port or 15672
    if reachable(host, port):
        return
    if host not in LOCAL or not shutil.which("rabbitmq-plugins"):
        fail(f"the tests need RabbitMQ's management API on {host}:{port}: run "
             "'rabbitmq-plugins enable rabbitmq_management' on the broker.")
    print("enabling the RabbitMQ management plugin ...", flush=True)
    subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_management"], check=False,
                   stdout=subprocess.DEVNULL)
    if not wait_for(host, port, 60):
        fail(f"RabbitMQ's management API did not come up on {host}:{port}; "
             "enable it with 'rabbitmq-plugins enable rabbitmq_management'.")


def ensure_postgres(database_url: str) -> None:
    url = urlparse(database_url.replace("postgresql+psycopg2", "postgresql"))
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    if reachable(host, port):
        return
    clusters = glob.glob("/etc/postgresql/*")
    if host not in LOCAL or not clusters or not shutil.which("pg_ctlcluster"):
        fail(f"PostgreSQL is not reachable at {host}:{port}: install it with "
             "'apt-get install postgresql' or set JIESU_TEST_DATABASE_URL to a running one.")
    version = os.path.basename(sorted(clusters)[-1])
    print(f"starting the local PostgreSQL {version} ...", flush=True)
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                   check=False)
    if not wait_for(host, port, 60):
        fail(f"PostgreSQL did not come up on {host}:{port}; see /var/log/postgresql.")


def ensure_redis(redis_url: str) -> None:
    """The gateway tests share WeChat sessions and rate limits between replicas through Redis
    (JIESU_TEST_REDIS_URL). It keeps nothing the tests need across runs, so no data dir."""
    ensure_local_server("Redis", redis_url, 6379, "JIESU_TEST_REDIS_URL", "redis-server",
                        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1",
                         "--port", str(urlparse(redis_url).port or 6379), "--save", "",
                         "--appendonly", "no"], 30, "see redis-server's output above")


def ensure_prometheus() -> None:
    """The ops tests run Debian's prometheus (a real server) and promtool."""
    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        fail("the tests need Prometheus and promtool: install Debian's package with "
             "'apt-get install prometheus'.")
    print("installing Debian's prometheus package (for the ops tests) ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env,
                   stdout=subprocess.DEVNULL)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           "prometheus"], check=False, env=env, stdout=subprocess.DEVNULL)
    # The package starts a server on :9090 that the tests do not want; they run their own.
    subprocess.run(["pkill", "-x", "prometheus"], check=False)
    if done.returncode != 0 or not shutil.which("promtool"):
        fail("could not install Debian's prometheus package; install it with "
             "'apt-get install prometheus'.")


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "run"
    ensure_rabbitmq(os.environ.get("JIESU_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    if mode == "test":
        ensure_management(os.environ.get("JIESU_RABBIT_API_URI",
                                         "http://guest:guest@127.0.0.1:15672"))
        ensure_postgres(os.environ.get(
            "JIESU_TEST_DATABASE_URL",
            "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_test_{service}"))
        ensure_redis(os.environ.get("JIESU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
        ensure_prometheus()
    else:
        if os.environ.get("JIESU_DATABASE_URL", "").startswith("postgresql"):
            ensure_postgres(os.environ["JIESU_DATABASE_URL"])
        if os.environ.get("JIESU_GATEWAY_STATE_URL", "").startswith("redis"):
            ensure_redis(os.environ["JIESU_GATEWAY_STATE_URL"])


if __name__ == "__main__":
    main()
