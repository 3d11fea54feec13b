"""Benchmark of the gateway under slow clients (issue 10, point 1): the latency of ordinary
requests with 0 and with 100 slow clients held open.

    .venv/bin/python bench/slow_clients.py                  # -n 200 reads, 100 filings
    .venv/bin/python bench/slow_clients.py --slow 100 --slow 300 -n 50
    .venv/bin/python bench/slow_clients.py --url http://127.0.0.1:8000 --secret S

Like bench/intake.py (whose helpers it uses) it starts the whole system itself, one process
per service and the gateway (services.common.system.System), in a fresh RabbitMQ vhost
(deleted afterwards), on a free port, without the ops ports, with default settings otherwise (so
`request_read_timeout_seconds` 10, `gateway_max_workers` 100), on PostgreSQL databases
jiesu_bench_slow_{service} (created and migrated; filings only add to them; --databases
names others). With --url it drives a gateway that is already running; --secret is then its
JIESU_JWT_SECRET.

A slow client is what an attacker (or a phone on a bad network) does: it connects, sends the
headers of a filing with `Content-Length: 1000` and a valid token, then one byte of the body
a second. The gateway cuts it off with 408 after the read timeout; the client connects again
at once, so the number of slow connections stays where it was set. One thread drives them
all (a select loop), so they cost the host little CPU of their own.

For each number of slow clients (0 and 100 by default) it waits until they are all
connected, then one client (a keep-alive requests.Session) sends `--warmup` requests of each
kind unmeasured, then `-n` GET /api/v1/categories and `-n // 2` POST /api/v1/complaints
(each filing by another complainant), one at a time, and prints p50/p99/max of each as the
client sees it (timeouts, after 30 s, are counted and shown), how many slow connections were
open at the end, and how many 408s they received meanwhile.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import select
import socket
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")  # on import

import requests  # noqa: E402

from bench.intake import (BENCH_SECRET, LAYOUTS, OUT_DIR, Vhost, machine,  # noqa: E402
                          percentiles, start_system)
from gateway.auth import issue_token  # noqa: E402
from services.common.settings import SERVICE_NAMES  # noqa: E402

DB_TEMPLATE = "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_bench_slow_{service}"
TIMEOUT = 30
CONTENT = "学生公寓{n}号楼热水已经停了两天,请尽快维修。慢客户端压测 #{n}"


class SlowClients(threading.Thread):
    """`count` connections that each send a filing's headers and then a byte a second."""

    def __init__(self, url: str, secret: str, count: int, every: float = 1.0):
        super().__init__(daemon=True)
        where = urlsplit(url)
        self.address = (where.hostname, where.port)
        token = issue_token(secret, "bench-slow", expires_in=3600)
        self.head = (f"POST /api/v1/complaints HTTP/1.1\r\nHost: {where.netloc}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: 1000\r\n\r\n").encode("ascii") + b'{"content": "'
        self.count, self.every = count, every
        self.open: list[socket.socket] = []
        self.answered = 0          # answers received (408s, as the gateway cuts them off)
        self.statuses: dict[bytes, int] = {}
        self.stopping = threading.Event()

    def _connect(self) -> None:
        sock = socket.create_connection(self.address, timeout=5)
        sock.sendall(self.head)
        sock.setblocking(False)
        self.open.append(sock)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                while len(self.open) < self.count:
                    self._connect()
            except OSError:
                time.sleep(self.every)   # the gateway did not take the connection: later
            readable, _, _ = select.select(self.open, [], [], self.every)
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                status = data[9:12] if data.startswith(b"HTTP/") else b"closed"
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.answered += 1
                self.open.remove(sock)
                sock.close()
            for sock in list(self.open):
                try:
                    sock.send(b"x")
                except OSError:
                    self.open.remove(sock)
                    sock.close()
        for sock in self.open:
            sock.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)


def measure(url: str, secret: str, reads: int, filings: int, warmup: int, run_id: str):
    session = requests.Session()
    latencies = {"GET /api/v1/categories": [], "POST /api/v1/complaints": []}
    failures = {key: 0 for key in latencies}
    counter = iter(range(10 ** 9))

    def one(key: str, measured: bool) -> None:
        n = next(counter)
        started = time.perf_counter()
        try:
            if key.startswith("GET"):
                reply = session.get(f"{url}/api/v1/categories", timeout=TIMEOUT)
                ok = reply.status_code == 200
            else:
                token = issue_token(secret, f"bench-{run_id}-{n}")
                reply = session.post(f"{url}/api/v1/complaints", timeout=TIMEOUT, json={
                    "category": "logistics", "content": CONTENT.format(n=n), "pledge": True},
                    headers={"Authorization": f"Bearer {token}"})
                ok = reply.status_code == 201
        except requests.RequestException:
            ok = False
        elapsed = time.perf_counter() - started
        if measured and ok:
            latencies[key].append(elapsed)
        elif measured:
            failures[key] += 1

    for key, n in (("GET /api/v1/categories", reads), ("POST /api/v1/complaints", filings)):
        for _ in range(warmup):
            one(key, False)
        for _ in range(n):
            one(key, True)
    return latencies, failures


def prepare_databases(template: str) -> None:
    import logging

    from services.common.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in SERVICE_NAMES:
        upgrade(name, template.format(service=name))


def ms(value) -> str:
    return "–" if value is None else f"{value * 1000:.0f}"


def run(args) -> int:
    started_at = dt.datetime.now().astimezone()
    system = vhost = None
    rows = []
    try:
        if args.url:
            url, secret = args.url.rstrip("/"), args.secret
        else:
            prepare_databases(args.databases)
            vhost = Vhost().__enter__()
            log_dir = OUT_DIR / "logs" / ("slow-" + started_at.strftime("%Y%m%d-%H%M%S"))
            system = start_system(vhost, BENCH_SECRET, LAYOUTS[args.layout], log_dir,
                                  JIESU_DATABASE_URL=args.databases,
                                  JIESU_METRICS_PORT="0")   # not measured; may be taken
            url, secret = system.gateway_url, BENCH_SECRET
            print(f"system   {', '.join(system.processes)} up at {url} (vhost {vhost.name}; "
                  f"logs {log_dir.relative_to(REPO_ROOT)})", flush=True)
        run_id = uuid.uuid4().hex[:8]
        for count in args.slow:
            slow = SlowClients(url, secret, count)
            slow.start()
            deadline = time.monotonic() + 30
            while len(slow.open) < count and time.monotonic() < deadline:
                time.sleep(0.1)
            held_at_start = len(slow.open)
            began = time.monotonic()
            latencies, failures = measure(url, secret, args.n, args.n // 2, args.warmup,
                                          f"{run_id}-{count}")
            seconds = time.monotonic() - began
            held_at_end = len(slow.open)
            slow.stop()
            rows.append((count, held_at_start, held_at_end, slow.answered, dict(slow.statuses),
                         seconds, latencies, failures))
            print(f"slow     {count}: measured in {seconds:.1f} s; slow connections open "
                  f"{held_at_start} at the start, {held_at_end} at the end; answers to them "
                  f"{slow.statuses or 'none'}", flush=True)
    finally:
        if system is not None:
            system.stop()
        if vhost is not None:
            vhost.__exit__(None, None, None)

    print()
    print(f"machine  {machine()}")
    print(f"date     {started_at:%Y-%m-%d %H:%M:%S %Z}")
    print(f"run      -n {args.n} reads and {args.n // 2} filings per round, --warmup "
          f"{args.warmup}, one request at a time, --layout {args.layout}"
          + (f", against {args.url}" if args.url else ""))
    print()
    print("| slow clients | request | n | p50 | p99 | max | failed or timed out |")
    print("|---|---|---|---|---|---|---|")
    failed = 0
    for count, _, _, _, _, _, latencies, failures in rows:
        for key, values in latencies.items():
            stats = percentiles(values) if values else {"n": 0, "p50": None, "p99": None,
                                                        "max": None}
            failed += failures[key]
            print(f"| {count} | {key} | {stats['n']} | {ms(stats['p50'])} | "
                  f"{ms(stats['p99'])} | {ms(stats['max'])} | {failures[key]} |")
    print()
    print("latencies in ms as the client sees them (a keep-alive session, one request at a "
          "time)")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="latency under slow clients (see the module docstring)")
    parser.add_argument("-n", type=int, default=200,
                        help="measured reads per round; filings are half as many (default 200)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--slow", type=int, action="append",
                        help="slow clients in a round (repeat it; default 0 and 100)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="one-per-service")
    parser.add_argument("--databases", default=DB_TEMPLATE,
                        help="the services' PostgreSQL databases, with {service}")
    parser.add_argument("--url", help="a running gateway instead of starting the system")
    parser.add_argument("--secret", help="with --url: its JIESU_JWT_SECRET")
    args = parser.parse_args(argv)
    args.slow = args.slow or [0, 100]
    if args.url and not args.secret:
        parser.error("--url needs --secret")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
