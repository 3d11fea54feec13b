"""The chaos soak: file complaints steadily over three channels while service processes are
SIGKILLed and RabbitMQ is restarted, then count what was lost or duplicated.

    .venv/bin/python bench/chaos.py                         # 50 filings/s for 600 s
    .venv/bin/python bench/chaos.py --rate 20 --seconds 120 # a shorter run

What it runs: two replicas of every service and of the gateway (two `System`s sharing one
vhost and the PostgreSQL databases jiesu_chaos_{service}, each gateway on its own port, the
gateways' WeChat dialogues in Redis --redis-url) on a RabbitMQ node of its own
(tests/brokers.py: started for the run on free ports, so restarting it disturbs nobody else),
with the filing rate limits off.

The load: filing n goes out at t0 + n/rate, in turn over the app (one POST with an
Idempotency-Key), WeChat (the three-message dialogue, signed as WeChat signs) and the hotline
(the CTI's signed `ringing` and `answered` events, then the operator's filing with an
Idempotency-Key), alternating between the two gateways. Every content carries a marker
`#<run>-<n>`, so each case in the database is traced back to its filing. A request that fails
(a connection refused, a 5xx, a time-out) is retried the way its client retries — the same
Idempotency-Key, the same WeChat MsgId, the same CTI event id — until it succeeds or
`--give-up` seconds have passed; a filing that never succeeded is "refused", which the client
knows about (not lost).

The chaos: every 20–40 s (seeded) one random replica of a random process is SIGKILLed and
started again at once; the broker is restarted twice (at a third and at two thirds of the run:
`rabbitmqctl stop_app` / `start_app`, then a full node restart).

At the end it waits up to --drain seconds for every acknowledged filing to reach
`deadline_set`, and prints: filings acknowledged (201 or the WeChat 已受理 reply), cases in
the database for them, cases at deadline_set, cases lost (acknowledged, not in the database),
duplicate cases (a marker twice), duplicate notifications (one event sent twice to one
recipient with one template), events parked (messages in `*.parked` queues), processes that
exited on their own, and how long each fault took to recover from (the killed replica — its
gateway answering, or both replicas consuming the service's RPC queue — or every process after a
broker restart; and the longest a filing sent in the 30 s after the fault waited, retries
included). It exits non-zero if anything was lost or duplicated, a process exited on its own,
or a case did not reach deadline_set within --drain.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import random
import signal
import sys
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")  # on import

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.channels import (CATEGORY_CODES, CTI_SECRET, SHANGHAI, WECHAT_APP_ID,  # noqa: E402
                            WECHAT_AES_KEY, WECHAT_TOKEN, Client)
from bench.intake import BENCH_SECRET, OUT_DIR, free_port, machine  # noqa: E402
from gateway.auth import issue_token  # noqa: E402
from services.common.settings import SERVICE_NAMES  # noqa: E402
from services.common.signing import hmac_signature  # noqa: E402

DB_TEMPLATE = "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_chaos_{service}"
CONTENT = "学生公寓{n}号楼热水已经停了两天,请尽快维修。混沌测试 #{marker}"
CHANNELS = ("app", "wechat", "hotline")
PROCESSES = (*SERVICE_NAMES, "gateway")


class Retry(Exception):
    """A failure the client retries (connection refused, 5xx, time-out)."""


class Refused(Exception):
    """An answer no retry changes (a 4xx): a defect, counted apart."""


# =========================================================================== the load
class ChaosClient:
    """The three channels' clients, each retrying as the real one does."""

    def __init__(self, urls: list[str], secret: str, run_id: str, give_up: float):
        self.urls, self.secret, self.run_id, self.give_up = urls, secret, run_id, give_up
        self.local = threading.local()
        self.signer = Client(urls[0], secret, run_id)   # WeChat crypto, the office token
        self.msg_ids = iter(range(50_000_000, 10**9))
        self.lock = threading.Lock()

    def _session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def _send(self, url: str, method: str, path: str, ok=(200, 201), **kwargs):
        try:
            reply = self._session().request(method, url + path, timeout=15, **kwargs)
        except requests.RequestException as exc:
            raise Retry(f"{type(exc).__name__}") from None
        if reply.status_code in ok:
            return reply
        if reply.status_code >= 500 or reply.status_code in (408, 429):
            raise Retry(f"HTTP {reply.status_code}")
        raise Refused(f"{method} {path}: HTTP {reply.status_code} {reply.text[:160]!r}")

    def _until_done(self, step, stats):
        """Runs `step()` until it succeeds or give_up passes; every retry is counted."""
        deadline = time.monotonic() + self.give_up
        while True:
            try:
                return step()
            except Retry as failure:
                stats["retries"] += 1
                stats["retry_reasons"][str(failure)] += 1
                if time.monotonic() > deadline:
                    raise Refused(f"gave up after {self.give_up:.0f} s: {failure}") from None
                time.sleep(0.5)

    def file(self, n: int, stats) -> str:
        channel = CHANNELS[n % len(CHANNELS)]
        url = self.urls[n % len(self.urls)]
        marker = f"{self.run_id}-{n}"
        content = CONTENT.format(n=n, marker=marker)
        category = CATEGORY_CODES[n % len(CATEGORY_CODES)]
        getattr(self, channel)(url, n, category, content, stats)
        return marker

    def app(self, url, n, category, content, stats):
        token = issue_token(self.secret, f"chaos-{self.run_id}-{n}", f"混沌用户{n}",
                            expires_in=7200)
        headers = {"Authorization": f"Bearer {token}",
                   "Idempotency-Key": f"chaos-{self.run_id}-{n}"}
        body = {"category": category, "content": content, "pledge": True}
        self._until_done(lambda: self._send(url, "POST", "/api/v1/complaints", json=body,
                                            headers=headers), stats)

    def wechat(self, url, n, category, content, stats):
        openid = f"oChaos-{self.run_id}-{n}"
        for text_, expected in ((content, "类别"),
                                (str(CATEGORY_CODES.index(category) + 1), "如实反映"),
                                ("1 确认", "已受理")):
            with self.lock:
                msg_id = next(self.msg_ids)
            self._until_done(lambda: self._wechat_say(url, openid, msg_id, text_, expected),
                             stats)

    def _wechat_say(self, url, openid, msg_id, text_, expected):
        xml = (f"<xml><ToUserName><![CDATA[gh_jiesu]]></ToUserName>"
               f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
               f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]>"
               f"</MsgType><Content><![CDATA[{text_}]]></Content><MsgId>{msg_id}</MsgId></xml>")
        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"signature": self.signer.crypto.signature(timestamp, nonce),
                  "timestamp": timestamp, "nonce": nonce, "openid": openid}
        reply = self._send(url, "POST", "/wechat", params=params, data=xml.encode(),
                           headers={"Content-Type": "text/xml"}, ok=(200,))
        try:
            answer = ElementTree.fromstring(reply.content).find("Content").text or ""
        except ElementTree.ParseError:
            answer = reply.text
        if "系统繁忙" in answer:     # the gateway could not reach intake: WeChat's user resends
            raise Retry("wechat busy")
        if expected not in answer:
            raise Refused(f"wechat: unexpected reply {answer[:120]!r}")

    def hotline(self, url, n, category, content, stats):
        call_id = f"chaos-{self.run_id}-{n}"
        at = dt.datetime.now(SHANGHAI).isoformat(timespec="seconds")
        base = {"call_id": call_id, "at": at, "caller": f"139{n % 10**8:08d}"}
        for suffix, kind in (("r", "ringing"), ("a", "answered")):
            event = {**base, "event_id": f"{call_id}-{suffix}", "type": kind,
                     **({"operator": "op-chaos"} if kind == "answered" else {})}
            self._until_done(lambda: self._cti(url, event), stats)
        body = {"category": category, "content": content, "pledge_read": True}
        headers = {"Authorization": self.signer.office,
                   "Idempotency-Key": f"chaos-call-{self.run_id}-{n}"}
        self._until_done(lambda: self._send(
            url, "POST", f"/api/v1/staff/hotline/calls/{call_id}/complaints", json=body,
            headers=headers), stats)

    def _cti(self, url, event):
        body, timestamp = json.dumps(event).encode("utf-8"), str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-CTI-Timestamp": timestamp,
                   "X-CTI-Signature": hmac_signature(CTI_SECRET, timestamp, body)}
        # 409: this event id was received before (an earlier try got through): delivered.
        self._send(url, "POST", "/hotline/calls/events", data=body, headers=headers,
                   ok=(200, 409))


# ========================================================================== the chaos
class Replicas:
    """Two `System`s on one vhost: two replicas of each process."""

    def __init__(self, systems):
        self.systems = systems

    def kill_and_restart(self, rng) -> tuple[str, float]:
        index, name = rng.randrange(len(self.systems)), rng.choice(PROCESSES)
        system = self.systems[index]
        system.kill(name, signal.SIGKILL)
        started = time.monotonic()
        system.start([name])
        self._wait(lambda: self._up(system, name), f"{name}#{index + 1}")
        return f"SIGKILL {name}#{index + 1}", time.monotonic() - started

    def all_up(self) -> None:
        for index, system in enumerate(self.systems):
            for name in PROCESSES:
                self._wait(lambda: self._up(system, name), f"{name}#{index + 1}")

    def _up(self, system, name) -> bool:
        """This replica is back: its gateway answers, or both replicas consume the RPC queue
        (the other one alone does not count)."""
        if name == "gateway":
            return system._is_up("gateway")
        from kombu import Connection

        try:
            with Connection(system.settings.amqp_uri, connect_timeout=2) as conn:
                _, _, consumers = conn.default_channel.queue_declare(
                    queue=f"rpc-{name}", passive=True)
            return consumers >= len(self.systems)
        except Exception:  # noqa: BLE001 - the broker is still coming back
            return False

    @staticmethod
    def _wait(predicate, what: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not consuming again after {timeout:.0f} s")
            time.sleep(0.2)

    def exited(self) -> list[str]:
        return [f"{key}#{i + 1}" for i, s in enumerate(self.systems) for key in s.dead()]


def chaos_loop(replicas: Replicas, broker, seconds: float, rng, stop: threading.Event,
               faults: list):
    """Appends (what, started at, seconds until the faulted processes consume again)."""
    started = time.monotonic()
    broker_restarts = [seconds / 3, 2 * seconds / 3]
    next_kill = rng.uniform(20, 40)
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if elapsed > seconds:
            return
        try:
            if broker_restarts and elapsed >= broker_restarts[0]:
                full = len(broker_restarts) == 1
                broker_restarts.pop(0)
                at = time.monotonic()
                if full:
                    broker.restart()
                    what = "RabbitMQ full restart"
                else:
                    broker.stop_app()
                    time.sleep(3)
                    broker.start_app()
                    what = "RabbitMQ stop_app, 3 s, start_app"
                replicas.all_up()
                faults.append((what, at, time.monotonic() - at))
                print(f"chaos    {what}: every process consuming again "
                      f"{time.monotonic() - at:.1f} s after the stop", flush=True)
            elif elapsed >= next_kill:
                at = time.monotonic()
                what, took = replicas.kill_and_restart(rng)
                faults.append((what, at, took))
                print(f"chaos    {what}: consuming again after {took:.1f} s", flush=True)
                next_kill = elapsed + rng.uniform(20, 40)
        except Exception as exc:  # noqa: BLE001 - a fault that does not recover is a finding
            faults.append((f"recovery failed: {type(exc).__name__}: {exc}", time.monotonic(),
                           float("inf")))
            print(f"chaos    recovery FAILED: {exc}", flush=True)
        stop.wait(0.5)


def held_up(filings: list[tuple[float, float]], at: float, window: float = 30) -> float | None:
    """The longest a filing sent within `window` s of a fault waited for its acknowledgement
    (retries included): how long the fault held clients up. None if none was sent."""
    waits = [acked - sent for sent, acked in filings if at <= sent <= at + window]
    return max(waits) if waits else None


# ========================================================================= the counts
def count_results(markers: list[str], run_id: str, broker) -> dict:
    intake = create_engine(DB_TEMPLATE.format(service="intake"))
    notify = create_engine(DB_TEMPLATE.format(service="notify"))
    like = f"%#{run_id}-%"
    try:
        with intake.connect() as conn:
            rows = conn.execute(text(
                "SELECT c.content, EXISTS (SELECT 1 FROM timeline t WHERE t.complaint_id = c.id "
                "AND t.kind = 'deadline_set') FROM complaints c WHERE c.content LIKE :like"),
                {"like": like}).all()
        with notify.connect() as conn:
            duplicate_notes = conn.execute(text(
                "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM notifications "
                "GROUP BY event_id, recipient_id, template HAVING count(*) > 1) d")).scalar()
    finally:
        intake.dispose()
        notify.dispose()
    seen = collections.Counter(content.rsplit("#", 1)[1] for content, _ in rows)
    timed = {content.rsplit("#", 1)[1] for content, deadline in rows if deadline}
    wanted = set(markers)
    return {"cases": sum(seen[m] for m in wanted), "deadline_set": len(timed & wanted),
            "lost": len(wanted - set(seen)), "duplicates": sum(c - 1 for c in seen.values()),
            "duplicate_notifications": int(duplicate_notes), "parked": broker.parked()}


def wait_drained(markers, run_id, seconds) -> float:
    engine = create_engine(DB_TEMPLATE.format(service="intake"))
    started = time.monotonic()
    sql = text("SELECT count(DISTINCT c.id) FROM complaints c JOIN timeline t ON "
               "t.complaint_id = c.id AND t.kind = 'deadline_set' WHERE c.content LIKE :like")
    try:
        with engine.connect() as conn:
            while time.monotonic() - started < seconds:
                done = conn.execute(sql, {"like": f"%#{run_id}-%"}).scalar()
                conn.rollback()
                if done >= len(markers):
                    break
                time.sleep(0.5)
    finally:
        engine.dispose()
    return time.monotonic() - started


# ============================================================================ the run
def run(args) -> int:
    from bench.intake import prepare_databases
    from services.common.system import System
    from tests.brokers import PrivateRabbit

    import bench.intake as bench_intake

    bench_intake.DB_TEMPLATE = DB_TEMPLATE   # prepare_databases empties the chaos databases
    started_at = dt.datetime.now().astimezone()
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:6]
    log_dir = OUT_DIR / "logs" / ("chaos-" + started_at.strftime("%Y%m%d-%H%M%S"))
    prepare_databases()
    if args.redis_url:
        import redis

        redis.Redis.from_url(args.redis_url).flushdb()
    stats = {"retries": 0, "retry_reasons": collections.Counter()}
    markers: list[str] = []
    refused: list[str] = []
    filings: list[tuple[float, float]] = []   # (sent, acknowledged), monotonic
    faults: list = []
    systems = []
    with PrivateRabbit() as broker:
        env = {"JIESU_AMQP_URI": broker.amqp_uri, "JIESU_DATABASE_URL": DB_TEMPLATE,
               "JIESU_JWT_SECRET": BENCH_SECRET, "JIESU_METRICS_PORT": "0",
               "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
               "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0",
               "JIESU_WECHAT_TOKEN": WECHAT_TOKEN, "JIESU_WECHAT_AES_KEY": WECHAT_AES_KEY,
               "JIESU_WECHAT_APP_ID": WECHAT_APP_ID,
               "JIESU_HOTLINE_WEBHOOK_SECRETS": json.dumps([CTI_SECRET]),
               # replicas of the gateway share the WeChat dialogues (and limits) in Redis, as
               # docs/DEPLOY.md asks: a killed gateway then loses no half-finished dialogue
               "JIESU_GATEWAY_STATE_URL": args.redis_url}
        try:
            for index in range(2):
                system = System({**env, "JIESU_GATEWAY_PORT": str(free_port())},
                                log_dir=log_dir / f"replica{index + 1}")
                systems.append(system)
                system.start()
            for system in systems:
                system.wait_ready(timeout=180)
            urls = [s.gateway_url for s in systems]
            print(f"system   two replicas of {', '.join(PROCESSES)} on broker "
                  f"{broker.amqp_uri} (logs {log_dir.relative_to(REPO_ROOT)})", flush=True)
            client = ChaosClient(urls, BENCH_SECRET, run_id, args.give_up)
            replicas = Replicas(systems)
            stop = threading.Event()
            chaos = threading.Thread(target=chaos_loop, args=(
                replicas, broker, args.seconds, rng, stop, faults), daemon=True)
            lock = threading.Lock()

            def one(n):
                sent = time.monotonic()
                try:
                    marker = client.file(n, stats)
                except Refused as exc:
                    with lock:
                        refused.append(f"#{n}: {exc}")
                    return
                with lock:
                    markers.append(marker)
                    filings.append((sent, time.monotonic()))

            # At most `concurrency` filings in flight: when the system cannot take `rate`,
            # the schedule slips and the achieved rate is what it took (no unbounded queue).
            slots = threading.BoundedSemaphore(args.concurrency)

            def one_in_slot(n):
                try:
                    one(n)
                finally:
                    slots.release()

            t0 = time.monotonic()
            end = t0 + args.seconds
            next_report = t0 + 30
            sent = 0
            chaos.start()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                while time.monotonic() < end:
                    delay = t0 + sent / args.rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    slots.acquire()
                    pool.submit(one_in_slot, sent)
                    sent += 1
                    if time.monotonic() >= next_report:
                        next_report += 30
                        print(f"load     {time.monotonic() - t0:4.0f} s: {sent} sent, "
                              f"{len(markers)} acknowledged, {len(refused)} refused, "
                              f"{stats['retries']} retries", flush=True)
            total = sent
            last_filing = time.monotonic()
            stop.set()
            chaos.join()
            sent_seconds = last_filing - t0
            exited = replicas.exited()
            drained = wait_drained(markers, run_id, args.drain)
            counts = count_results(markers, run_id, broker)
        finally:
            for system in systems:
                system.stop()

    print()
    print(f"machine  {machine()}")
    print(f"date     {started_at:%Y-%m-%d %H:%M:%S %Z}")
    print(f"run      {total} filings over {', '.join(CHANNELS)} in {sent_seconds:.0f} s: "
          f"{total / sent_seconds:.1f}/s achieved of {args.rate}/s asked (at most "
          f"{args.concurrency} in flight), seed {args.seed}, two replicas of each process")
    print(f"filed    {len(markers)} acknowledged; {len(refused)} refused "
          f"(client gave up or a 4xx); {stats['retries']} retried requests "
          f"({dict(stats['retry_reasons'].most_common(6))})")
    for line in refused[:5]:
        print(f"  refused {line}")
    print(f"cases    {counts['cases']} in the database for them; {counts['deadline_set']} at "
          f"deadline_set {drained:.1f} s after the last filing (waited at most {args.drain} s)")
    print(f"lost     {counts['lost']}   duplicate cases {counts['duplicates']}   "
          f"duplicate notifications {counts['duplicate_notifications']}   "
          f"events parked {counts['parked']}")
    print(f"exited   {', '.join(exited) or 'none'} (processes that died on their own)")
    worst = max((f[2] for f in faults), default=0.0)
    print(f"faults   {len(faults)}; max time for the faulted processes to consume again "
          f"{worst:.1f} s")
    for what, at, took in faults:
        wait = held_up(filings, at)
        wait_text = f"{wait:.1f} s" if wait is not None else "none sent"
        print(f"  {what}: consuming again {took:.1f} s; longest wait of a filing sent in the "
              f"next 30 s {wait_text}")
    bad = (counts["lost"] or counts["duplicates"] or counts["duplicate_notifications"]
           or exited or counts["deadline_set"] < len(markers))
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="the chaos soak (see the module docstring)")
    parser.add_argument("--rate", type=int, default=50, help="filings per second (50)")
    parser.add_argument("--seconds", type=int, default=600, help="length of the load (600)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="client threads (64): filings in flight at once")
    parser.add_argument("--give-up", type=float, default=120,
                        help="seconds a client keeps retrying one request (120)")
    parser.add_argument("--drain", type=float, default=600,
                        help="seconds to wait for deadline_set after the last filing (600)")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14",
                        help="the gateways' shared state (emptied first); '' keeps it in each "
                             "gateway's memory, so a killed gateway loses its dialogues")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
