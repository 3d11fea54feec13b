"""How much a /metrics scrape costs when intake holds a million cases.

    .venv/bin/python bench/metrics.py [--cases 1000000] [--open-share 0.05]

Fills a scratch PostgreSQL database (jiesu_bench_metrics_intake) with that many complaints,
a share of them open, spread over units, categories and states; then times the query behind
jiesu_backlog (the one gauge whose cost grows with the data) and a whole scrape of the
registry, cold (query run) and warm (served from the 10-second cache). Prints figures; asserts
nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime, timezone

from prometheus_client import REGISTRY, generate_latest
from sqlalchemy import create_engine, text

from services.common import metrics
from services.common.migrate import upgrade
from services.intake.lifecycle import Status

URL = os.environ.get("JIESU_BENCH_METRICS_URL",
                     "postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_bench_metrics_intake")
UNITS = ["logistics", "academic-affairs", "security", "student-affairs", "finance", "clinic",
         "network-center", "youth-league", "admissions-employment", "college-information"]
CATEGORIES = ["education", "logistics", "security", "student_status", "employment",
              "youth_league", "rewards_discipline", "finance", "special_care", "epidemic"]
OPEN = ["assigned", "signed", "in_progress", "replied", "returned", "redo", "supervised"]


def fill(engine, cases: int, open_share: float) -> None:
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE complaints, timeline, audit_log, communications, "
                          "case_links, attachments, daily_counters, outbox, inbox CASCADE"))
        conn.execute(text("""
            INSERT INTO complaints (id, number, status, channel, category, content, anonymous,
                complainant_id, filing_key, received_at, unit_id, round, disputed, proactive,
                instructed, urgent, sla_state)
            SELECT md5(n::text), 'JS-B-' || n,
                   CASE WHEN random() < :open_share
                        THEN (:open_states)[1 + (n % array_length(:open_states, 1))]
                        ELSE 'closed' END,
                   'app', (:categories)[1 + (n % 10)], 'bench', false, 's' || (n % 50000),
                   'k' || n, now() - (n || ' seconds')::interval, (:units)[1 + (n % 10)],
                   0, false, false, false, false, 'normal'
            FROM generate_series(1, :cases) AS n"""),
            {"cases": cases, "open_share": open_share, "open_states": OPEN,
             "categories": CATEGORIES, "units": UNITS})
    # VACUUM sets the visibility map, which index-only scans need (autovacuum would, later).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE complaints"))


def backlog_query(engine):
    def query():
        with engine.connect() as conn:
            return [((s, u, c), n) for s, u, c, n in conn.execute(text(
                "SELECT status, unit_id, category, count(*) FROM complaints "
                "WHERE status = ANY(:open) GROUP BY status, unit_id, category"),
                {"open": sorted(Status.OPEN)}).all()]
    return query


def timed(function, repeat):
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open-share", type=float, default=0.05)
    args = parser.parse_args()
    print(f"date     {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {os.cpu_count()} CPUs, Python {platform.python_version()}")
    upgrade("intake", URL)
    engine = create_engine(URL)
    started = time.perf_counter()
    fill(engine, args.cases, args.open_share)
    print(f"filled   {args.cases} complaints ({args.open_share:.0%} open) in "
          f"{time.perf_counter() - started:.1f} s")
    query = backlog_query(engine)
    median, worst = timed(query, 10)
    print(f"backlog query          median {median:8.1f} ms   max {worst:8.1f} ms   "
          f"({len(query())} series)")
    gauge = metrics.query_gauge("jiesu_backlog", "Open cases by state, unit and category",
                                ["state", "unit", "category"])
    gauge.source("bench", query)
    gauge.max_age = 0  # cold: every scrape runs the query
    median, worst = timed(lambda: generate_latest(REGISTRY), 10)
    print(f"scrape, cold           median {median:8.1f} ms   max {worst:8.1f} ms")
    gauge.max_age = 10
    generate_latest(REGISTRY)
    median, worst = timed(lambda: generate_latest(REGISTRY), 50)
    print(f"scrape, warm (cached)  median {median:8.1f} ms   max {worst:8.1f} ms")
    with engine.connect() as conn:
        plan = conn.execute(text(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT status, unit_id, category, count(*) FROM "
            "complaints WHERE status = ANY(:open) GROUP BY status, unit_id, category"),
            {"open": sorted(Status.OPEN)}).scalars().all()
    print("plan:\n  " + "\n  ".join(plan))
    engine.dispose()


if __name__ == "__main__":
    main()
