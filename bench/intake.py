"""Benchmark of complaint intake: how many complaints per second jiesu takes in, and how long
each one takes to be filed, assigned and given a deadline.

    .venv/bin/python bench/intake.py                      # -n 2000 -c 16, one process per service
    .venv/bin/python bench/intake.py -n 2000 -c 4
    .venv/bin/python bench/intake.py --layout single-process
    .venv/bin/python bench/intake.py --profile            # + py-spy profile of every process
    .venv/bin/python bench/intake.py --url http://127.0.0.1:8000 --secret S \\
        --intake-db postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_intake

By default the bench starts the whole system itself (services.common.system.System) on
PostgreSQL databases named jiesu_bench_{service} (created, migrated and emptied), in a fresh
RabbitMQ vhost (deleted afterwards), on a free gateway port. With --url it drives a gateway
that is already running; --secret is then its JIESU_JWT_SECRET, and --intake-db (optional)
lets it read the intake timeline for the latency of the asynchronous steps.

The load comes from a second process (multiprocessing, spawn): a pool of `-c` threads, one
keep-alive requests.Session each, POSTing /api/v1/complaints to 127.0.0.1 with a different
complainant (`sub`) per request and the ten categories in turn. `--warmup` requests go first
and are not measured. It prints:

  * sustained complaints/s over the measured requests (first measured send to last reply);
  * p50/p95/p99/max of (a) the HTTP POST as the client sees it, and (b) from the intake
    `timeline` table: received->assigned, assigned->deadline_set, received->deadline_set
    (the 'received' line is the filing time, the others the occurred_at of routing's and
    sla's events), once every measured complaint has its deadline_set line or --drain-timeout
    has passed (it says how many made it);
  * the CPU seconds each process used during the measured window, and the host's CPU use;
  * the machine, the Python version and the date.

--profile records every service process with py-spy (`pip install py-spy` into .venv) during
the measured window (non-blocking sampling, so the figures of a profiled run are a little
lower) and prints the hottest frames per process. The collapsed stacks are kept in
bench/out/profile-<process>.txt (bench/out/ is not committed); feed them to flamegraph.pl or
inferno for a picture.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")  # on import

import requests  # noqa: E402

from services.common.contracts import CATEGORIES  # noqa: E402
from services.common.settings import SERVICE_NAMES  # noqa: E402

OUT_DIR = REPO_ROOT / "bench" / "out"
BENCH_SECRET = "bench-secret-" + "0123456789abcdef" * 2
DB_TEMPLATE = "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_bench_{service}"
RABBIT_API = "http://127.0.0.1:15672/api"
RABBIT_AUTH = ("guest", "guest")
LAYOUTS = {
    "one-per-service": [[name] for name in SERVICE_NAMES] + [["gateway"]],
    "single-process": [[*SERVICE_NAMES, "gateway"]],
}
CONTENT = "学生公寓{n}号楼热水已经停了两天,请尽快维修。压测诉求 #{n}"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# =================================================================== the load (2nd process)
def _load_worker(url: str, secret: str, warmup: int, count: int, concurrency: int,
                 time_limit: float, results) -> None:
    """Runs in the load process: warm-up, then the measured requests. Puts one dict on
    `results`."""
    from gateway.auth import issue_token

    categories = list(CATEGORIES)
    run_id = uuid.uuid4().hex[:8]
    # Tokens are made before the clock starts: signing is the client's cost, not jiesu's.
    tokens = [issue_token(secret, f"bench-{run_id}-{i:06d}", f"压测用户{i}", expires_in=7200)
              for i in range(warmup + count)]
    local = threading.local()
    deadline = [time.monotonic() + time_limit]

    def post(index: int):
        if time.monotonic() > deadline[0]:
            return index, None, None, "skipped (time limit)", None
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        body = {"category": categories[index % len(categories)],
                "content": CONTENT.format(n=index), "contact_phone": "13912345678",
                "pledge": True}
        started = time.perf_counter()
        try:
            reply = session.post(f"{url}/api/v1/complaints", json=body, timeout=30,
                                 headers={"Authorization": f"Bearer {tokens[index]}"})
        except requests.RequestException as exc:
            return index, started, time.perf_counter(), type(exc).__name__, None
        ended = time.perf_counter()
        complaint_id = reply.json().get("id") if reply.status_code == 201 else None
        return index, started, ended, reply.status_code, complaint_id

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(warmup)))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        deadline[0] = time.monotonic() + time_limit
        rows = list(pool.map(post, range(warmup, warmup + count)))
        cpu1, wall1 = time.process_time(), time.perf_counter()
    results.put({"rows": rows, "load_cpu": cpu1 - cpu0, "wall": wall1 - wall0})


# ========================================================================== measuring
def percentiles(values) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def pick(q):  # nearest rank
        return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]

    return {"n": len(ordered), "p50": pick(.50), "p95": pick(.95), "p99": pick(.99),
            "max": ordered[-1], "mean": statistics.fmean(ordered)}


def format_row(label: str, stats: dict, unit: float = 1000.0) -> str:
    if not stats:
        return f"  {label:<28} (no data)"
    return (f"  {label:<28} n={stats['n']:<5} p50 {stats['p50'] * unit:8.1f}  "
            f"p95 {stats['p95'] * unit:8.1f}  p99 {stats['p99'] * unit:8.1f}  "
            f"max {stats['max'] * unit:8.1f}  ms")


def timeline_latencies(intake_url: str, ids: list[str], expected: int, timeout: float):
    """Waits until `expected` complaints have a deadline_set line (or `timeout`), then returns
    ({id: {kind: at}}, seconds waited)."""
    from sqlalchemy import bindparam, create_engine, text

    engine = create_engine(intake_url)
    count_sql = text("SELECT count(*) FROM timeline WHERE kind = 'deadline_set' "
                     "AND complaint_id IN :ids").bindparams(bindparam("ids", expanding=True))
    rows_sql = text("SELECT complaint_id, kind, at FROM timeline WHERE complaint_id IN :ids "
                    "AND kind IN ('received', 'assigned', 'deadline_set')"
                    ).bindparams(bindparam("ids", expanding=True))
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            while True:
                done = conn.execute(count_sql, {"ids": ids}).scalar()
                conn.rollback()
                if done >= expected or time.monotonic() - started > timeout:
                    break
                time.sleep(0.25)
            waited = time.monotonic() - started
            lines: dict = collections.defaultdict(dict)
            for complaint_id, kind, at in conn.execute(rows_sql, {"ids": ids}):
                lines[complaint_id].setdefault(kind, at)
    finally:
        engine.dispose()
    return lines, waited


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def named_cpu_seconds(names: tuple[str, ...]) -> float:
    """CPU seconds of every process on the host whose command is one of `names`."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in names:
                total += proc_cpu_seconds(int(entry.name)) or 0.0
        except OSError:
            continue
    return total


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole host."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return (f"{os.cpu_count()} CPUs ({model}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}")


# ====================================================================== infrastructure
class Vhost:
    """A RabbitMQ vhost of our own, made and removed through the management API."""

    def __init__(self):
        self.name = f"jiesu-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.url = f"{RABBIT_API}/vhosts/{quote(self.name, safe='')}"

    def __enter__(self):
        requests.put(self.url, auth=RABBIT_AUTH, timeout=10).raise_for_status()
        requests.put(f"{RABBIT_API}/permissions/{quote(self.name, safe='')}/guest",
                     json={"configure": ".*", "write": ".*", "read": ".*"},
                     auth=RABBIT_AUTH, timeout=10).raise_for_status()
        return self

    @property
    def amqp_uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{quote(self.name, safe='')}"

    def __exit__(self, *exc):
        requests.delete(self.url, auth=RABBIT_AUTH, timeout=30)


def prepare_databases(template: str = DB_TEMPLATE) -> dict[str, str]:
    """`template`'s databases (jiesu_bench_{service}): created, migrated to head, every
    table emptied."""
    import logging

    from sqlalchemy import create_engine, inspect, text

    from services.common.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    urls = {name: template.format(service=name) for name in SERVICE_NAMES}
    for name, url in urls.items():
        upgrade(name, url)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
                if tables:
                    conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                                      + " RESTART IDENTITY CASCADE"))
        finally:
            engine.dispose()
    return urls


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ============================================================================ profiling
class Profiler:
    """py-spy record (non-blocking, collapsed stacks) on each process while it runs."""

    def __init__(self, pids: dict[str, int], rate: int = 100):
        self.exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) \
            or shutil.which("py-spy")
        if not self.exe:
            raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
        self.pids, self.rate = pids, rate
        self.recorders: dict[str, subprocess.Popen] = {}
        self.files: dict[str, Path] = {}

    def start(self) -> None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        for key, pid in self.pids.items():
            path = self.files[key] = OUT_DIR / f"profile-{key}.txt"
            self.recorders[key] = subprocess.Popen(
                [self.exe, "record", "--pid", str(pid), "--format", "raw", "--nonblocking",
                 "--full-filenames", "--rate", str(self.rate), "-o", str(path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # let py-spy attach before the load starts

    def stop(self) -> None:
        for recorder in self.recorders.values():
            recorder.send_signal(signal.SIGINT)
        for recorder in self.recorders.values():
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()

    def report(self, seconds: float, top: int = 12) -> str:
        return "\n".join(summarise_profile(key, path, self.rate, seconds, top)
                         for key, path in self.files.items())


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def frame_category(path: str) -> str:
    """Which library (or part of jiesu) a source file belongs to."""
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return package.removesuffix(".py").split(".", 1)[0].split("-", 1)[0]
    if path.startswith(str(REPO_ROOT)):
        parts = Path(path).relative_to(REPO_ROOT).parts
        return "jiesu:" + "/".join(parts[:2] if parts[0] == "services" else parts[:1])
    stem = Path(path).stem if "/" in path else path
    parent = Path(path).parent.name
    if parent in ("json", "logging", "email", "http", "concurrent", "asyncio", "importlib"):
        return f"stdlib:{parent}"
    return f"stdlib:{stem}"


def summarise_profile(key: str, path: Path, rate: int, seconds: float, top: int) -> str:
    """Self time by library, and the hottest frames (self and inclusive) of one process."""
    if not path.exists():
        return f"[{key}] no profile written"
    self_by_cat: collections.Counter = collections.Counter()
    self_by_frame: collections.Counter = collections.Counter()
    incl_by_frame: collections.Counter = collections.Counter()
    incl_by_cat: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        count = int(count)
        total += count
        frames = []
        for raw in stack.split(";"):
            match = _FRAME.match(raw.strip())
            if not match:
                continue
            file = match["file"]
            short = re.sub(r".*site-packages/", "", file).replace(str(REPO_ROOT) + "/", "")
            short = re.sub(r".*/lib/python3\.\d+/", "", short)
            frames.append((f"{match['func']} ({short})", frame_category(file)))
        if not frames:
            continue
        leaf, leaf_cat = frames[-1]
        self_by_frame[leaf] += count
        self_by_cat[leaf_cat] += count
        for name in {f for f, _ in frames}:
            incl_by_frame[name] += count
        for cat in {c for _, c in frames}:
            incl_by_cat[cat] += count
    if not total:
        return f"[{key}] no samples"
    busy = total / rate
    lines = [f"[{key}] {total} samples = {busy:.1f} CPU-s sampled over ~{seconds:.0f} s "
             f"({busy / max(seconds, 1e-9):.0%} of one core)",
             "  self time by library: " + ", ".join(
                 f"{cat} {n / total:.0%}" for cat, n in self_by_cat.most_common(10)),
             "  inclusive by library: " + ", ".join(
                 f"{cat} {n / total:.0%}" for cat, n in incl_by_cat.most_common(12)),
             "  hottest self frames:"]
    lines += [f"    {n / total:6.1%}  {frame}" for frame, n in self_by_frame.most_common(top)]
    # Inclusive frames that say something: skip the ones on (nearly) every stack.
    interesting = [(f, n) for f, n in incl_by_frame.most_common() if n < 0.9 * total]
    lines.append("  hottest inclusive frames (below the greenthread/hub plumbing):")
    lines += [f"    {n / total:6.1%}  {frame}" for frame, n in interesting[:top + 8]]
    return "\n".join(lines)


# ================================================================================ main
def start_system(vhost, secret: str, layout, log_dir: Path, **settings):
    """The whole system on the bench databases and vhost, ready; `settings` are more JIESU_*
    variables."""
    from services.common.system import System

    system = System({
        "JIESU_AMQP_URI": vhost.amqp_uri,
        "JIESU_DATABASE_URL": DB_TEMPLATE,
        "JIESU_GATEWAY_PORT": str(free_port()),
        "JIESU_JWT_SECRET": secret,
        # the load comes from one address and many users: measure, do not throttle
        "JIESU_RATE_LIMIT_IDENTITY_PER_MINUTE": "0",
        "JIESU_RATE_LIMIT_IP_PER_MINUTE": "0",
        **settings,
    }, layout=layout, log_dir=log_dir)
    system.start()
    system.wait_ready(timeout=120)
    return system


def run(args) -> int:
    started_at = dt.datetime.now().astimezone()
    print(f"date     {started_at:%Y-%m-%d %H:%M:%S %Z}")
    print(f"machine  {machine()}")
    print(f"run      -n {args.complaints} -c {args.concurrency} --warmup {args.warmup} "
          f"--layout {args.layout}{' --profile' if args.profile else ''}"
          f"{' --url ' + args.url if args.url else ''}")

    system = vhost = None
    intake_db = args.intake_db
    secret = args.secret or BENCH_SECRET
    pids: dict[str, int] = {}
    try:
        if args.url:
            url = args.url.rstrip("/")
        else:

            dbs = prepare_databases()
            intake_db = dbs["intake"]
            vhost = Vhost().__enter__()
            log_dir = OUT_DIR / "logs" / started_at.strftime("%Y%m%d-%H%M%S")
            system = start_system(vhost, secret, LAYOUTS[args.layout], log_dir)
            url = system.gateway_url
            pids = {key: process.pid for key, process in system.processes.items()}
            print(f"system   {', '.join(pids)} up at {url} (vhost {vhost.name}; "
                  f"logs {log_dir.relative_to(REPO_ROOT)})")

        profiler = Profiler(pids) if args.profile and pids else None
        if args.profile and not pids:
            print("--profile needs the bench to start the system (no --url); not profiling")

        # The load process runs the warm-up and then the measured phase.
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        loader = context.Process(target=_load_worker, args=(
            url, secret, args.warmup, args.complaints, args.concurrency, args.time_limit,
            results))
        if profiler:
            profiler.start()
        cpu_before = {key: proc_cpu_seconds(pid) for key, pid in pids.items()}
        infra_before = {"rabbitmq (beam.smp)": named_cpu_seconds(("beam.smp",)),
                        "postgres (all, host)": named_cpu_seconds(("postgres",))}
        host_before = host_cpu()
        wall_before = time.perf_counter()
        loader.start()
        outcome = results.get(timeout=args.time_limit * 2 + 600)
        loader.join(timeout=30)

        rows = outcome["rows"]
        ok = [r for r in rows if r[3] == 201]
        failed = collections.Counter(str(r[3]) for r in rows if r[3] != 201)
        measured_ids = [r[4] for r in ok]
        if ok:
            span = max(r[2] for r in ok) - min(r[1] for r in ok)
        else:
            span = outcome["wall"]
        print()
        print(f"(a) HTTP   {len(ok)} of {args.complaints} measured POSTs answered 201"
              + (f"; others: {dict(failed)}" if failed else ""))
        print(f"  sustained                    {len(ok) / span if span else 0:8.1f} "
              f"complaints/s  ({len(ok)} in {span:.2f} s, concurrency {args.concurrency})")
        print(format_row("POST /api/v1/complaints", percentiles([r[2] - r[1] for r in ok])))

        if intake_db and measured_ids:
            lines, waited = timeline_latencies(intake_db, measured_ids, len(measured_ids),
                                               args.drain_timeout)
            complete = [v for v in lines.values() if {"received", "assigned",
                                                       "deadline_set"} <= v.keys()]
            print(f"(b) timeline   {len(complete)} of {len(measured_ids)} reached deadline_set "
                  f"(waited {waited:.1f} s after the last POST"
                  f"{'' if len(complete) == len(measured_ids) else ', TIMED OUT'})")
            if complete:
                def gap(a, b):
                    return [(v[b] - v[a]).total_seconds() for v in complete]

                print(format_row("received -> assigned", percentiles(gap("received",
                                                                         "assigned"))))
                print(format_row("assigned -> deadline_set",
                                 percentiles(gap("assigned", "deadline_set"))))
                print(format_row("received -> deadline_set",
                                 percentiles(gap("received", "deadline_set"))))
                first = min(v["received"] for v in complete)
                last = max(v["deadline_set"] for v in complete)
                pipeline = (last - first).total_seconds()
                print(f"  end to end                   {len(complete) / pipeline:8.1f} "
                      f"complaints/s  (first received -> last deadline_set {pipeline:.2f} s; "
                      f"drain after last POST ~{waited:.1f} s)")
        else:
            print("(b) timeline   skipped (no --intake-db)")

        # CPU is counted from the start of the load until the pipeline has drained.
        wall = time.perf_counter() - wall_before
        cpu_after = {key: proc_cpu_seconds(pid) for key, pid in pids.items()}
        infra_after = {"rabbitmq (beam.smp)": named_cpu_seconds(("beam.smp",)),
                       "postgres (all, host)": named_cpu_seconds(("postgres",))}
        host_after = host_cpu()
        if pids:
            busy = host_after[0] - host_before[0]
            total = host_after[1] - host_before[1]
            print(f"CPU from the first warm-up POST until drained ({wall:.1f} s wall; host busy "
                  f"{busy / total:.0%} of {os.cpu_count()} CPUs):")
            used = {key: cpu_after[key] - cpu_before[key] for key in pids
                    if cpu_after[key] is not None and cpu_before[key] is not None}
            used.update({key: infra_after[key] - infra_before[key] for key in infra_after})
            print("  " + ", ".join(f"{key} {seconds:.1f}s" for key, seconds in used.items())
                  + f", load generator (measured phase) {outcome['load_cpu']:.1f}s")
            jiesu = sum(used[key] for key in pids if key in used)
            print(f"  jiesu processes: {jiesu * 1000 / (args.complaints + args.warmup):.1f} "
                  f"CPU-ms per complaint (warm-up included)")

        if profiler:
            profiler.stop()
            print()
            print("profile (py-spy, 100 Hz, idle samples excluded; "
                  f"collapsed stacks in {OUT_DIR.relative_to(REPO_ROOT)}/profile-*.txt):")
            print(profiler.report(wall))
    finally:
        if system is not None:
            system.stop()
        if vhost is not None:
            vhost.__exit__(None, None, None)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="complaint intake throughput and latency (see the module docstring)")
    parser.add_argument("-n", "--complaints", type=int, default=2000,
                        help="measured complaints (default 2000)")
    parser.add_argument("-c", "--concurrency", type=int, default=16,
                        help="concurrent HTTP clients (default 16)")
    parser.add_argument("--warmup", type=int, default=100,
                        help="complaints filed first and not measured (default 100)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="one-per-service")
    parser.add_argument("--profile", action="store_true",
                        help="profile every service process with py-spy")
    parser.add_argument("--url", help="drive this running gateway instead of starting one")
    parser.add_argument("--secret", help="JIESU_JWT_SECRET of the gateway given by --url")
    parser.add_argument("--intake-db", help="SQLAlchemy URL of the intake database (--url)")
    parser.add_argument("--time-limit", type=float, default=600,
                        help="stop sending after this many seconds (default 600)")
    parser.add_argument("--drain-timeout", type=float, default=180,
                        help="wait at most this long for the last deadline_set (default 180)")
    args = parser.parse_args(argv)
    if args.url:
        host = re.sub(r"^https?://", "", args.url).split("/")[0].rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            parser.error("--url must point at 127.0.0.1")
        if not args.secret:
            parser.error("--url needs --secret (the gateway's JIESU_JWT_SECRET)")
    if args.complaints < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("-n and -c must be positive, --warmup not negative")
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
