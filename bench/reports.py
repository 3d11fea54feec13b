"""The office's reports on a school's two years: 1,000,000 cases over 24 months (issue 12).

    createdb -h 127.0.0.1 -U postgres jiesu_reports_bench
    .venv/bin/python bench/reports.py            # -n 1000000, PostgreSQL above
    .venv/bin/python bench/reports.py -n 100000  # a quick look

Fills rating's own tables (migrated to the head) the way its consumers leave them after two
years, written in bulk rather than event by event (what an event costs is bench/analysis_bench.py's
and the consumers' business; this measures what the office waits for):
- `case_facts`: one row per case, December 2024 to November 2026, units and handlers from
  config/org.yaml, every channel and category, 回访 answers of every kind, a few cases redone,
  supervised, overdue, still open (the last fortnight's);
- `figure_rollups`: the daily counters of those cases per unit × category × channel on both
  bases (a few cases excluded from the assessment basis);
- `analysis_cases`: each case's stored topic words (a pool of generated complaint texts cut by
  the Analyzer once, then reused: cutting is not what is timed);
- `analysis_topic_days` and `analysis_topic_cells`: hot topics' daily roll-ups of those words
  (documents and tf sums per word), as the analysis consumers keep them.

Then times, through RatingService's RPC entrypoints on that database (worker_factory, no
broker), each the best of three:
- the monthly assessment (2026-11, both bases, by unit and by category) — target ≤ 1 s;
- the weekly summary (2026-W48, generated afresh each time) — target ≤ 2 s; the monthly too;
- hot topics for the month with 环比 and 同比 — target ≤ 2 s.
Prints each figure and the table sizes; asserts nothing.
"""
from __future__ import annotations

import argparse
import io
import platform
import random
import sys
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg2.extensions  # noqa: E402
from nameko.testing.services import worker_factory  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench.similarity import complaint  # noqa: E402
from services.common.calendar import WorkingCalendar  # noqa: E402
from services.common.clock import ManualClock  # noqa: E402
from services.common.config_files import read_yaml  # noqa: E402
from services.common.contracts import CATEGORIES, CHANNELS  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from services.common.testing import UrlDatabase  # noqa: E402
from services.rating.analysis import (AnalysisSettings, default_analyzer,  # noqa: E402
                                      document_terms)
from services.rating.assessment import load_rules  # noqa: E402
from services.rating.figures import load_units  # noqa: E402
from services.rating.service import RatingService  # noqa: E402

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2024, 12, 1)
LAST_DAY = date(2026, 11, 30)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)          # 10:00 on 2026-12-01 in Shanghai
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
LEVELS = ("satisfied", "basically", "dissatisfied")
CHANNEL_WEIGHTS = {"app": 5, "wechat": 8, "hotline": 3, "open311": 1, "staff": 1}
# The columns written, in this order (COPY needs them listed).
FACT_COLUMNS = (
    "complaint_id", "number", "title", "channel", "category", "grade", "received_at",
    "anonymous", "complainant_id", "complainant_name", "contact_phone_masked", "location",
    "unit_id", "unit_name", "unit_kind", "handler_id", "handler_name", "status", "round",
    "dispatched_at", "sign_due_at", "signed_at", "reply_due_at", "replied_at", "closed_at",
    "closed_as", "redo_count", "return_count", "supervised", "leader_id", "instructed",
    "disputed", "overdue", "final_level", "contacted", "solved", "rated_at", "excluded",
    "due_round", "updated_at")
ANALYSIS_COLUMNS = (
    "complaint_id", "number", "title", "channel", "category", "received_at", "month",
    "location", "place_key", "unit_id", "unit_name", "status", "counted", "closed_at", "words",
    "cluster_id", "repeat_of", "repeat_times", "rated_level", "contacted", "solved", "rated_at",
    "unrated")
ROLLUP_COUNTERS = ("received", "dispatched", "signed", "signed_on_time", "sign_seconds",
                   "replied", "replied_on_time", "due", "reply_seconds", "closed", "rated",
                   "contacted", "solved", "satisfied", "basically", "dissatisfied", "unrated",
                   "redo", "supervised", "overdue")


def _cell(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


class Copier:
    """Rows to a table by PostgreSQL's COPY, in chunks (a million rows never sit in memory)."""

    def __init__(self, connection, table: str, columns, chunk: int = 50_000):
        self.connection, self.table, self.columns, self.chunk = connection, table, columns, chunk
        self.buffer, self.count = io.StringIO(), 0

    def add(self, row) -> None:
        self.buffer.write("\t".join(_cell(v) for v in row) + "\n")
        self.count += 1
        if self.count % self.chunk == 0:
            self.flush()

    def flush(self) -> None:
        self.buffer.seek(0)
        with self.connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {self.table} ({', '.join(self.columns)}) FROM STDIN",
                               self.buffer)
        self.buffer = io.StringIO()


def _units():
    raw = read_yaml("config/org.yaml", "the organisation directory", ValueError)
    units = load_units("config/org.yaml")
    staffed = [(u["id"], [h["id"] for h in u.get("handlers") or []],
                {h["id"]: h["name"] for h in u.get("handlers") or []})
               for u in raw["units"] if u.get("kind") in ("department", "college")]
    return units, staffed


def fill(engine, n: int, rng: random.Random, pool: int) -> None:
    analyzer = default_analyzer()
    texts = [complaint(rng) for _ in range(pool)]
    cut = [" ".join(analyzer.words(t)) for t in texts]
    # What each text adds to hot topics' roll-ups: a document, and per word one document and
    # its tf ("" counts the documents).
    terms = [[("", 0.0), *document_terms(c.split()).items()] for c in cut]
    topic_days: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    topic_cells: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    units, staffed = _units()
    days = (LAST_DAY - FIRST_DAY).days + 1
    channels = [c for c in CHANNELS for _ in range(CHANNEL_WEIGHTS[c])]
    categories = list(CATEGORIES)
    rollups: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(ROLLUP_COUNTERS))
    index = {name: i for i, name in enumerate(ROLLUP_COUNTERS)}
    # COPY cannot run under the green wait callback the service's engine installs.
    callback = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    raw = engine.raw_connection()
    try:
        facts = Copier(raw, "case_facts", FACT_COLUMNS)
        words = Copier(raw, "analysis_cases", ANALYSIS_COLUMNS)
        for i in range(n):
            # In order of receipt, as the consumers write them (a table filled in random
            # order would make every period's rows scattered over all its pages).
            day = FIRST_DAY + timedelta(days=i * days // n)
            received = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(
                seconds=rng.randrange(8 * 3600, 22 * 3600))
            received = received.astimezone(UTC)
            unit_id, handlers, names = rng.choice(staffed)
            unit = units[unit_id]
            handler = rng.choice(handlers) if handlers else None
            channel, category = rng.choice(channels), rng.choice(categories)
            k = rng.randrange(pool)
            recent = (LAST_DAY - day).days < 14
            still_open = recent and rng.random() < 0.4
            signed = received + timedelta(hours=rng.uniform(0.2, 30))
            sign_due = received + timedelta(hours=24)
            reply_due = received + timedelta(days=5)
            replied = None if still_open else received + timedelta(hours=rng.uniform(4, 150))
            redo = 1 if rng.random() < 0.05 else 0
            supervised = redo and rng.random() < 0.3
            rated = not still_open and rng.random() < 0.85
            level = rng.choices(LEVELS, (70, 20, 10))[0] if rated else None
            contacted = rng.random() < 0.95 if rated else None
            solved = rng.random() < 0.8 if rated else None
            rated_at = replied + timedelta(hours=rng.uniform(1, 60)) if rated else None
            closed_at = None if still_open else (rated_at or replied + timedelta(days=3))
            overdue = (replied or NOW) > reply_due
            excluded = rng.random() < 0.005
            status = "processing" if still_open else "closed"
            number = f"JS{day:%Y%m%d}{i:07d}"
            complaint_id = f"00000000-0000-4000-8000-{i:012d}"
            facts.add((complaint_id, number, texts[k][:20], channel, category, "normal", received,
                       False, f"s{i % 20000:07d}", "张三", "139****5678", None, unit_id,
                       unit.name, unit.kind, handler, names.get(handler), status, redo,
                       received, sign_due, signed, reply_due, replied, closed_at,
                       None if still_open else ("rated" if rated else "unrated"), redo, 0,
                       bool(supervised), None, bool(supervised), False, overdue, level,
                       contacted, solved, rated_at, excluded, 0, received))
            local = received.astimezone(SHANGHAI)
            words.add((complaint_id, number, None, channel, category, received,
                       f"{local:%Y-%m}", None, None, unit_id, unit.name, status, True, closed_at,
                       cut[k], complaint_id, None, 0, level, contacted, solved, rated_at,
                       not rated and not still_open))
            for word, tf in terms[k]:
                for sums, topic_key in ((topic_days, (day, word)),
                                        (topic_cells, (day, category, unit_id, word))):
                    sums[topic_key][0] += 1
                    sums[topic_key][1] += tf
            moves = {"received": 1, "dispatched": 1, "signed": 1,
                     "signed_on_time": int(signed <= sign_due),
                     "sign_seconds": int((signed - received).total_seconds()),
                     "redo": redo, "supervised": int(bool(supervised)), "overdue": int(overdue)}
            if replied:
                moves.update(replied=1, due=1, replied_on_time=int(replied <= reply_due),
                             reply_seconds=int((replied - received).total_seconds()), closed=1)
            key = (day, unit_id, category, channel)
            later = {}
            if rated:
                later = {"rated": 1, "contacted": int(contacted), "solved": int(solved),
                         level: 1}
            elif not still_open:
                later = {"unrated": 1}
            later_key = ((rated_at or received).astimezone(SHANGHAI).date(), unit_id, category,
                         channel)
            for basis in ("full", "assessment"):
                if basis == "assessment" and excluded:
                    continue
                for name, value in moves.items():
                    rollups[(basis, *key)][index[name]] += value
                for name, value in later.items():
                    rollups[(basis, *later_key)][index[name]] += value
        facts.flush()
        words.flush()
        table = Copier(raw, "figure_rollups",
                       ("basis", "day", "unit_id", "category", "channel") + ROLLUP_COUNTERS)
        for key, values in rollups.items():
            table.add((*key, *values))
        table.flush()
        for name, sums, names in (("analysis_topic_days", topic_days, ("day", "word")),
                                  ("analysis_topic_cells", topic_cells,
                                   ("day", "category", "unit_id", "word"))):
            table = Copier(raw, name, names + ("documents", "tf"))
            for key, (documents, tf) in sums.items():
                table.add((*key, documents, tf))
            table.flush()
        raw.commit()
    finally:
        raw.close()
        psycopg2.extensions.set_wait_callback(callback)
    with engine.begin() as conn:
        for name in ("case_facts", "analysis_cases", "figure_rollups", "analysis_topic_days",
                     "analysis_topic_cells"):
            conn.exec_driver_sql(f"ANALYZE {name}")


def timed(what: str, call, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    print(f"{what}: best {min(times):.3f} s, worst {max(times):.3f} s (of {repeat})",
          flush=True)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/"
                                          "jiesu_reports_bench")
    parser.add_argument("-n", type=int, default=1_000_000, help="cases over the 24 months")
    parser.add_argument("--pool", type=int, default=5000, help="distinct texts")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="reuse the filled tables")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    clock = ManualClock(NOW)
    upgrade("rating", args.url)
    db = UrlDatabase(args.url, clock)
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{db.engine.dialect.name}, {args.n} cases over 24 months, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    if not args.keep:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE case_facts, analysis_cases, figure_rollups, "
                                 "analysis_words, analysis_topic_days, "
                                 "analysis_topic_cells, summary_charts, summaries")
        started = time.perf_counter()
        fill(db.engine, args.n, rng, args.pool)
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
    with db.engine.connect() as conn:
        for name in ("case_facts", "figure_rollups", "analysis_cases", "analysis_topic_days",
                     "analysis_topic_cells"):
            print(f"  {name}: {conn.execute(text(f'SELECT count(*) FROM {name}')).scalar():,} rows")
    service = worker_factory(RatingService, db=db, rules=load_rules(),
                             calendar=WorkingCalendar(),
                             analysis_settings=AnalysisSettings(), analyzer=default_analyzer(),
                             org_units=load_units("config/org.yaml"))
    for basis in ("assessment", "full"):
        timed(f"monthly assessment 2026-11, {basis}, by unit",
              lambda: service.get_assessment("2026-11", basis, "unit", OFFICE))
    timed("monthly assessment 2026-11, assessment, by category",
          lambda: service.get_assessment("2026-11", "assessment", "category", OFFICE))

    def summary(kind, period):
        def make():
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM summary_charts")
                conn.exec_driver_sql("DELETE FROM summaries")
            service.generate_summary(OFFICE, {"kind": kind, "period": period})
        return make

    timed("weekly summary 2026-W48", summary("weekly", "2026-W48"))
    timed("monthly summary 2026-11", summary("monthly", "2026-11"))
    timed("hot topics 2026-11 (环比, 同比)", lambda: service.analysis_hot_topics(
        OFFICE, {"from": "2026-11-01", "to": "2026-11-30"}))


if __name__ == "__main__":
    main()
