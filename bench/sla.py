"""Benchmark of the SLA timer engine (services/sla/service.py): what one poll costs as the
number of pending timers grows, how fast a backlog of due timers drains with one and two
pollers, and how late timers fire when they fall due one by one.

    .venv/bin/python bench/sla.py                        # all three parts, default sizes
    .venv/bin/python bench/sla.py --parts poll           # just part 1
    .venv/bin/python bench/sla.py --parts drain --drain-count 100000 --batch-sizes 500,2000
    .venv/bin/python bench/sla.py --parts drain --profile   # + py-spy of the 1-poller drain
    .venv/bin/python bench/sla.py --parts lateness --late-count 5000 --late-window 60

It uses a PostgreSQL database of its own, jiesu_bench_sla (created, migrated with
services.common.migrate.upgrade("sla", ...), emptied before every measurement), and a RabbitMQ
vhost of its own (made and deleted through the management API), both on 127.0.0.1. Every part
is bounded in time and count. It prints figures and asserts nothing.

1. poll   Seeds N pending timers that are not due (30+ days ahead) plus D (200) due now, and
          times, over --ticks repeated ticks: (a) the claim SELECT exactly as
          SlaService.fire_batch builds it (same models, same statement), and (b) the whole
          SlaService.fire_batch (claim, load the deadlines, mark fired, one sla_alert per timer
          into the outbox, commit), called on the service's own code with a real unit of
          work. Between ticks the D timers are re-armed (status back to 'pending') and the
          outbox emptied. N = 20 000 and 2 000 000 by default. Prints EXPLAIN (ANALYZE,
          BUFFERS) of the claim at the largest N.
2. drain  Seeds --drain-count timers (4 per deadline) all due at the same instant a few
          seconds ahead, starts 1 (then 2) SLA processes (`python -m services.common.runner
          sla`, JIESU_* env), and once they are up and the instant has passed, measures how
          long until every timer is fired (no 'pending' left) and until the outbox is drained
          (every sla_alert published with a confirm and marked sent). A queue bound to
          sla.events/sla_alert (x-max-length 1000, so the broker keeps little) makes the
          publishes routable. Per batch size in --batch-sizes.
3. lateness  Seeds --late-count timers due at uniformly random moments over the next
          --late-window seconds (real clock), one SLA process, and reports fired_at - due_at
          (fired_at is the moment the batch that claimed the timer started) and outbox
          sent_at - due_at (when the alert was published) as p50/p99/max.

CPU seconds of the SLA processes, of RabbitMQ (beam.smp) and of every postgres process on the
host (so anyone else's queries too) are printed for parts 2 and 3.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")  # on import

import requests  # noqa: E402
from sqlalchemy import create_engine, inspect, select, text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from bench.intake import (OUT_DIR, RABBIT_API, RABBIT_AUTH, Profiler, Vhost,  # noqa: E402
                          host_cpu, machine, named_cpu_seconds, percentiles, proc_cpu_seconds)

DB_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_bench_sla"
RECIPIENTS = json.dumps({"handler": {"id": "u-bench", "name": "压测"},
                         "head": {"id": "u-bench-head", "name": "压测主管"}}, ensure_ascii=False)
KINDS = ("warning", "urge", "overdue", "escalate")


# ============================================================================ database
def prepare_database() -> None:
    import logging

    from services.common.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade("sla", DB_URL)


def empty(engine) -> None:
    with engine.begin() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                          + " RESTART IDENTITY CASCADE"))


def vacuum_analyze(engine, *tables: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.execute(text(f"VACUUM ANALYZE {table}"))


def seed_deadlines(conn, prefix: str, count: int, one_complaint_each: bool = True) -> int:
    """`count` pending resolution deadlines; returns the first id (ids are consecutive)."""
    first = conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM deadlines")).scalar()
    conn.execute(text(
        "INSERT INTO deadlines (complaint_id, kind, round, grade, unit_id, starts_at, due_at, "
        "status, state, number, category, recipients) "
        "SELECT :prefix || n, 'resolution', 0, 'general', 'logistics', now(), "
        "now() + interval '1 day', 'pending', 'normal', 'BENCH-' || n, 'logistics', :r "
        "FROM generate_series(1, :count) AS n"),
        {"prefix": prefix, "count": count, "r": RECIPIENTS})
    return first


def seed_timers(conn, count: int, first_deadline: int, deadlines: int, due_sql: str,
                complaint_sql: str = "'bench-' || (n % :deadlines)", **params) -> None:
    """`count` pending timers, timer n on deadline first + n % deadlines, due at `due_sql`
    (an SQL expression of n)."""
    conn.execute(text(
        "INSERT INTO timers (deadline_id, complaint_id, kind, level, due_at, status) "
        f"SELECT :first + (n % :deadlines), {complaint_sql}, "
        "(ARRAY['warning','urge','overdue','escalate'])[1 + n % 4], "
        "(ARRAY['handler','head'])[1 + n % 2], "
        f"{due_sql}, 'pending' FROM generate_series(1, :count) AS n"),
        {"first": first_deadline, "deadlines": deadlines, "count": count, **params})


# ====================================================================== part 1: poll
class _BenchDb:
    """What SlaService.fire_batch sees as `self.db`: a real unit of work on our engine."""

    def __init__(self, sessions, clock):
        self.sessions, self.clock = sessions, clock

    def unit_of_work(self):
        from services.common.db import unit_of_work

        return unit_of_work(self.sessions(), self.clock, None)


class _BenchWorker:
    """The slice of a SlaService worker that fire_batch uses (db and settings)."""

    def __init__(self, sessions, clock, batch_size):
        from services.common.settings import Settings

        self.db = _BenchDb(sessions, clock)
        self.settings = Settings().with_changes(sla_batch_size=batch_size)


def claim_statement(now, batch_size):
    """The claim exactly as SlaService.fire_batch builds it."""
    from services.sla.models import Timer

    return (select(Timer).where(Timer.status == "pending", Timer.due_at <= now)
            .order_by(Timer.due_at).limit(batch_size).with_for_update(skip_locked=True))


def part_poll(args, engine) -> None:
    from sqlalchemy.orm import sessionmaker

    from services.common.clock import SystemClock
    from services.common.db import make_engine
    from services.sla.service import SlaService

    print(f"\n== 1. poll: cost of one tick vs pending timers (D={args.due} due, batch "
          f"{args.poll_batch}, {args.ticks} ticks after {args.warm_ticks} warm-up)")
    empty(engine)
    with engine.begin() as conn:
        due_first = seed_deadlines(conn, "due-", args.due)
        seed_timers(conn, args.due, due_first, args.due,
                    "now() - n * interval '1 millisecond'", "'due-' || n")
        due_ids = [r[0] for r in conn.execute(text("SELECT id FROM timers"))]
        future_first = seed_deadlines(conn, "future-", 1000)
    service_engine = make_engine(DB_URL, 2)  # as the service makes it (psycogreen, pool)
    sessions = sessionmaker(service_engine, expire_on_commit=False)
    worker = _BenchWorker(sessions, SystemClock(), args.poll_batch)
    clock = SystemClock()
    seeded, results = 0, []
    try:
        for n in sorted(args.pending):
            started = time.perf_counter()
            with engine.begin() as conn:
                seed_timers(conn, n - seeded, future_first, 1000,
                            "now() + interval '30 days' + (:base + n) * interval '1 second'",
                            base=seeded)
            vacuum_analyze(engine, "timers", "deadlines", "outbox")
            print(f"  seeded {n:>9,} not-due pending timers (+{args.due} due) in "
                  f"{time.perf_counter() - started:.1f} s")
            seeded = n
            claim, tick = [], []
            for i in range(args.warm_ticks + args.ticks):
                with sessions() as session, session.begin():
                    t0 = time.perf_counter()
                    claimed = session.execute(claim_statement(clock.now(), args.poll_batch)
                                              ).scalars().all()
                    t1 = time.perf_counter()
                t2 = time.perf_counter()
                fired = SlaService.fire_batch(worker)
                t3 = time.perf_counter()
                if len(claimed) != args.due or fired != args.due:
                    print(f"  ! tick {i}: claimed {len(claimed)}, fired {fired}, "
                          f"expected {args.due}")
                if i >= args.warm_ticks:
                    claim.append(t1 - t0)
                    tick.append(t3 - t2)
                with engine.begin() as conn:  # re-arm, and keep the outbox small
                    conn.execute(text("UPDATE timers SET status = 'pending', fired_at = NULL "
                                      "WHERE id = ANY(:ids)"), {"ids": due_ids})
                    conn.execute(text("DELETE FROM outbox"))
            c, t = percentiles(claim), percentiles(tick)
            results.append((n, c, t))
            print(f"  N={n:>9,}  claim SELECT p50 {c['p50'] * 1e3:7.2f} ms  p95 "
                  f"{c['p95'] * 1e3:7.2f} ms | whole fire_batch ({args.due} alerts) p50 "
                  f"{t['p50'] * 1e3:7.1f} ms  p95 {t['p95'] * 1e3:7.1f} ms  "
                  f"({t['p50'] / args.due * 1e3:.2f} ms/alert)")
        if len(results) > 1:
            (n0, c0, t0_), (n1, c1, t1_) = results[0], results[-1]
            print(f"  ratio N={n1:,} / N={n0:,}: claim p50 x{c1['p50'] / c0['p50']:.2f}, "
                  f"p95 x{c1['p95'] / c0['p95']:.2f}; fire_batch p50 "
                  f"x{t1_['p50'] / t0_['p50']:.2f}, p95 x{t1_['p95'] / t0_['p95']:.2f}")
        sql = str(claim_statement(clock.now(), args.poll_batch).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        print(f"\n  EXPLAIN (ANALYZE, BUFFERS) of the claim at N={seeded:,} "
              f"(+{args.due} due):")
        print("    " + " ".join(sql.split()))
        with engine.connect() as conn:
            plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).scalars().all()
            conn.rollback()
        for line in plan:
            print("    " + line)
    finally:
        service_engine.dispose()


# ============================================================== parts 2 and 3: processes
class SlaProcesses:
    """`count` SLA service processes (python -m services.common.runner sla)."""

    def __init__(self, count: int, amqp_uri: str, batch_size: int, log_dir: Path, tag: str):
        log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, JIESU_AMQP_URI=amqp_uri, JIESU_DATABASE_URL=DB_URL,
                   JIESU_SLA_BATCH_SIZE=str(batch_size),
                   PYTHONWARNINGS="ignore::DeprecationWarning")
        self.logs = [open(log_dir / f"{tag}-sla{i}.log", "wb") for i in range(count)]
        self.procs = [subprocess.Popen([sys.executable, "-m", "services.common.runner", "sla"],
                                       cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
                      for log in self.logs]

    def cpu(self) -> float:
        return sum(proc_cpu_seconds(p.pid) or 0.0 for p in self.procs)

    def wait_ready(self, vhost: Vhost, timeout: float = 60) -> float:
        """Until the rpc-sla queue has one consumer per process (the container started)."""
        started = time.monotonic()
        url = f"{RABBIT_API}/queues/{quote(vhost.name, safe='')}/rpc-sla"
        while time.monotonic() - started < timeout:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"an SLA process exited with {proc.returncode}; "
                                       f"see {self.logs[0].name}")
            reply = requests.get(url, auth=RABBIT_AUTH, timeout=10)
            if reply.ok and reply.json().get("consumers", 0) >= len(self.procs):
                return time.monotonic() - started
            time.sleep(0.2)
        raise RuntimeError(f"SLA processes not ready after {timeout} s")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


def bind_alert_queue(amqp_uri: str) -> None:
    from kombu import Connection, Exchange, Queue

    queue = Queue("bench-sla-alerts", Exchange("sla.events", type="topic", durable=True),
                  routing_key="sla_alert", durable=True,
                  queue_arguments={"x-max-length": 1000})
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()


def counts(conn) -> tuple[int, int, int]:
    """(pending timers, outbox rows, unsent outbox rows)."""
    row = conn.execute(text(
        "SELECT (SELECT count(*) FROM timers WHERE status = 'pending'), "
        "(SELECT count(*) FROM outbox), (SELECT count(*) FROM outbox WHERE sent_at IS NULL)"
    )).one()
    conn.rollback()
    return row[0], row[1], row[2]


def cpu_snapshot(processes: SlaProcesses) -> dict:
    return {"sla": processes.cpu(), "rabbitmq": named_cpu_seconds(("beam.smp",)),
            "postgres": named_cpu_seconds(("postgres",)), "host": host_cpu(),
            "wall": time.perf_counter()}


def cpu_line(before: dict, after: dict) -> str:
    busy = after["host"][0] - before["host"][0]
    total = after["host"][1] - before["host"][1]
    return (f"CPU-s sla {after['sla'] - before['sla']:.1f}, rabbitmq "
            f"{after['rabbitmq'] - before['rabbitmq']:.1f}, postgres (host) "
            f"{after['postgres'] - before['postgres']:.1f}; host busy "
            f"{busy / max(total, 1):.0%} over {after['wall'] - before['wall']:.1f} s")


def part_drain(args, engine, vhost: Vhost, log_dir: Path) -> None:
    print(f"\n== 2. drain: {args.drain_count:,} timers due at the same instant "
          f"(pollers {args.pollers}, batch sizes {args.batch_sizes}, limit "
          f"{args.drain_timeout:.0f} s each)")
    for batch in args.batch_sizes:
        for pollers in args.pollers:
            empty(engine)
            with engine.begin() as conn:
                deadlines = max(1, args.drain_count // 4)
                first = seed_deadlines(conn, "drain-", deadlines)
                due_at = conn.execute(text("SELECT now() + :s * interval '1 second'"),
                                      {"s": args.lead}).scalar()
                seed_timers(conn, args.drain_count, first, deadlines, ":due", due=due_at)
            vacuum_analyze(engine, "timers", "deadlines")
            tag = f"drain-b{batch}-p{pollers}"
            processes = SlaProcesses(pollers, vhost.amqp_uri, batch, log_dir, tag)
            profiler = None
            try:
                ready = processes.wait_ready(vhost)
                lag = (dt.datetime.now(dt.timezone.utc) - due_at).total_seconds()
                if lag > 0:
                    print(f"  ! processes took {ready:.1f} s to start: the drain began "
                          f"{lag:.1f} s before they were up (raise --lead)")
                time.sleep(max(0.0, -lag))
                if args.profile and pollers == 1:
                    profiler = Profiler({f"sla-b{batch}": processes.procs[0].pid})
                    profiler.start()
                before = cpu_snapshot(processes)
                t0 = time.perf_counter()
                fired_s = sent_s = None
                with engine.connect() as conn:
                    while time.perf_counter() - t0 < args.drain_timeout:
                        pending, rows, unsent = counts(conn)
                        now = time.perf_counter() - t0
                        if fired_s is None and pending == 0:
                            fired_s = now
                            fired_cpu = cpu_snapshot(processes)
                        if fired_s is not None and rows >= args.drain_count and unsent == 0:
                            sent_s = now
                            break
                        time.sleep(0.2)
                    after = cpu_snapshot(processes)
                    stamps = conn.execute(text(
                        "SELECT min(fired_at), max(fired_at), count(*) FILTER "
                        "(WHERE status = 'fired') FROM timers")).one()
                    out = conn.execute(text(
                        "SELECT max(created_at), max(sent_at), count(*) FILTER "
                        "(WHERE sent_at IS NOT NULL) FROM outbox")).one()
                    pending, rows, unsent = counts(conn)
                if profiler:
                    profiler.stop()
                rate_f = f"{args.drain_count / fired_s:7.0f}/s" if fired_s else "   n/a"
                rate_s = f"{args.drain_count / sent_s:7.0f}/s" if sent_s else "   n/a"
                print(f"  batch {batch:>5} pollers {pollers}: all fired "
                      f"{_secs(fired_s)} ({rate_f}); outbox drained {_secs(sent_s)} "
                      f"({rate_s})  [ready in {ready:.1f} s]")
                if stamps[0] is not None:
                    print(f"    db: fired_at {_rel(stamps[0], due_at)} .. "
                          f"{_rel(stamps[1], due_at)} after due, {stamps[2]:,} fired; last "
                          f"outbox row created {_rel(out[0], due_at)}, last sent "
                          f"{_rel(out[1], due_at)}, {out[2]:,} sent; now pending {pending:,},"
                          f" unsent {unsent:,}")
                if fired_s is not None:
                    print(f"    until all fired: {cpu_line(before, fired_cpu)}")
                print(f"    until drained/limit: {cpu_line(before, after)}")
                if profiler:
                    print(profiler.report(after["wall"] - before["wall"], top=14))
            finally:
                processes.stop()


def part_lateness(args, engine, vhost: Vhost, log_dir: Path) -> None:
    print(f"\n== 3. lateness: {args.late_count:,} timers due at random over "
          f"{args.late_window:.0f} s, one SLA process, batch {args.late_batch}")
    empty(engine)
    with engine.begin() as conn:
        first = seed_deadlines(conn, "late-", args.late_count)
        start_at = conn.execute(text("SELECT now() + :s * interval '1 second'"),
                                {"s": args.lead}).scalar()
        conn.execute(text("SELECT setseed(0.42)"))
        seed_timers(conn, args.late_count, first - 1, args.late_count + 1,
                    ":start + random() * :w * interval '1 second'", "'late-' || n",
                    start=start_at, w=args.late_window)
    vacuum_analyze(engine, "timers", "deadlines")
    processes = SlaProcesses(1, vhost.amqp_uri, args.late_batch, log_dir, "lateness")
    try:
        ready = processes.wait_ready(vhost)
        lag = (dt.datetime.now(dt.timezone.utc) - start_at).total_seconds()
        if lag > 0:
            print(f"  ! the process took {ready:.1f} s to start, {lag:.1f} s after the "
                  f"window opened (raise --lead)")
        time.sleep(max(0.0, -lag))
        before = cpu_snapshot(processes)
        limit = time.perf_counter() + args.late_window + 60
        with engine.connect() as conn:
            while time.perf_counter() < limit:
                pending, rows, unsent = counts(conn)
                if pending == 0 and unsent == 0 and rows >= args.late_count:
                    break
                time.sleep(0.5)
            after = cpu_snapshot(processes)
            fired = [r[0] for r in conn.execute(text(
                "SELECT extract(epoch FROM fired_at - due_at) FROM timers "
                "WHERE status = 'fired'"))]
            sent = [r[0] for r in conn.execute(text(
                "SELECT extract(epoch FROM o.sent_at - t.due_at) FROM outbox o "
                "JOIN timers t ON t.complaint_id = (o.payload::json ->> 'complaint_id') "
                "WHERE o.sent_at IS NOT NULL"))]
            pending, rows, unsent = counts(conn)
    finally:
        processes.stop()
    for label, values in (("fired_at - due_at", fired), ("outbox sent_at - due_at", sent)):
        stats = percentiles([float(v) for v in values])
        if stats:
            print(f"  {label:<24} n={stats['n']:<5} p50 {stats['p50']:6.3f} s  p99 "
                  f"{stats['p99']:6.3f} s  max {stats['max']:6.3f} s  (min "
                  f"{min(values):.3f} s, mean {stats['mean']:.3f} s)")
    print(f"  left: {pending:,} pending, {unsent:,} unsent;  {cpu_line(before, after)}")


def _secs(value) -> str:
    return f"{value:6.1f} s" if value is not None else "NOT within the limit"


def _rel(moment, origin) -> str:
    return f"{(moment - origin).total_seconds():+.2f} s" if moment is not None else "n/a"


# ================================================================================ main
def run(args) -> int:
    started_at = dt.datetime.now().astimezone()
    print(f"date     {started_at:%Y-%m-%d %H:%M:%S %Z}")
    print(f"machine  {machine()}")
    print(f"python   {sys.version.split()[0]}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"run      {' '.join(sys.argv[1:]) or '(defaults)'}")
    print(f"options  {vars(args)}")
    prepare_database()
    engine = create_engine(DB_URL)
    log_dir = OUT_DIR / "logs" / f"sla-{started_at:%Y%m%d-%H%M%S}"
    try:
        if "poll" in args.parts:
            part_poll(args, engine)
        if {"drain", "lateness"} & set(args.parts):
            with Vhost() as vhost:
                bind_alert_queue(vhost.amqp_uri)
                print(f"\nvhost {vhost.name}; SLA process logs in "
                      f"{log_dir.relative_to(REPO_ROOT)}")
                if "drain" in args.parts:
                    part_drain(args, engine, vhost, log_dir)
                if "lateness" in args.parts:
                    part_lateness(args, engine, vhost, log_dir)
    finally:
        engine.dispose()
    print(f"\ndone in {(dt.datetime.now().astimezone() - started_at).total_seconds():.0f} s")
    return 0


def _ints(text_: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text_.split(",") if v.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="SLA timer engine: poll cost, drain time, lateness (see the docstring)")
    parser.add_argument("--parts", default="poll,drain,lateness",
                        help="comma-separated: poll, drain, lateness (default all three)")
    parser.add_argument("--pending", type=_ints, default=[20_000, 2_000_000],
                        help="part 1: not-due pending timers, comma-separated "
                             "(default 20000,2000000)")
    parser.add_argument("--due", type=int, default=200, help="part 1: due timers (200)")
    parser.add_argument("--poll-batch", type=int, default=500,
                        help="part 1: sla_batch_size (500, the default setting)")
    parser.add_argument("--ticks", type=int, default=30, help="part 1: measured ticks (30)")
    parser.add_argument("--warm-ticks", type=int, default=3, help="part 1: warm-up ticks (3)")
    parser.add_argument("--drain-count", type=int, default=100_000,
                        help="part 2: timers due at once (100000)")
    parser.add_argument("--pollers", type=_ints, default=[1, 2],
                        help="part 2: SLA processes, comma-separated (1,2)")
    parser.add_argument("--batch-sizes", type=_ints, default=[500],
                        help="part 2: sla_batch_size values, comma-separated (500)")
    parser.add_argument("--drain-timeout", type=float, default=420,
                        help="part 2: give up on one configuration after this (420 s)")
    parser.add_argument("--profile", action="store_true",
                        help="part 2: py-spy the 1-poller drain (py-spy in .venv)")
    parser.add_argument("--late-count", type=int, default=5000, help="part 3: timers (5000)")
    parser.add_argument("--late-window", type=float, default=60,
                        help="part 3: they fall due over this many seconds (60)")
    parser.add_argument("--late-batch", type=int, default=500,
                        help="part 3: sla_batch_size (500)")
    parser.add_argument("--lead", type=float, default=12,
                        help="parts 2, 3: seconds between seeding and the first due time, "
                             "for the processes to start (12)")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not set(args.parts) <= {"poll", "drain", "lateness"} or not args.parts:
        parser.error("--parts takes poll, drain, lateness")
    if max(args.pending, default=0) > 5_000_000 or args.drain_count > 1_000_000 \
            or args.late_count > 100_000 or args.late_window > 600:
        parser.error("bounded: --pending <= 5e6, --drain-count <= 1e6, --late-count <= 1e5, "
                     "--late-window <= 600")
    if min(args.pollers) < 1 or max(args.pollers) > 4 or args.ticks < 1 or args.due < 1:
        parser.error("--pollers 1..4, --ticks and --due positive")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
