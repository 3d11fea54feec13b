"""How fast 分析研判 answers from stored words, and what a case costs when it arrives.

    createdb -h 127.0.0.1 -U postgres jiesu_ana_bench
    .venv/bin/python bench/analysis_bench.py \
        --url postgresql+psycopg2://postgres@127.0.0.1:5432/jiesu_ana_bench
    .venv/bin/python bench/analysis_bench.py --url sqlite:////tmp/analysis_bench.db -n 42000

Fills rating's analysis_cases (migrated to the head) with `-n` cases in November 2026, as many
in October and in November 2025 (環比 and 同比 read those), texts drawn from campus places ×
facilities × faults (bench/similarity.py's generator), cut once by the Analyzer as the
consumer does (a pool of distinct texts is cut, then reused: the cutting is not what is
timed). Then times, through RatingService's RPC entrypoints on that database:
- hot topics for the month (the issue's target: ≤ 2 s for ~42 000 cases);
- the seasonal view (24 months) and the month's problems;
- `-i` new cases through the complaint_received consumer (cut, post, link, repeat check,
  hot topics' roll-ups).
Hot topics are read from their daily roll-ups (analysis_topic_days, analysis_topic_cells),
written here from the same words as the consumer would.
Prints each figure; asserts nothing.
"""
from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nameko.testing.services import worker_factory  # noqa: E402
from sqlalchemy import delete, insert, select  # noqa: E402

from bench.similarity import CATEGORIES, complaint  # noqa: E402
from services.common.calendar import WorkingCalendar  # noqa: E402
from services.common.clock import ManualClock  # noqa: E402
from services.common.contracts import build_event  # noqa: E402
from services.common.migrate import upgrade  # noqa: E402
from services.common.testing import UrlDatabase  # noqa: E402
from services.rating.analysis import (AnalysisSettings, default_analyzer,  # noqa: E402
                                      document_terms, month_of)
from services.rating.analysis_models import (AnalysisCase, AnalysisTopicCell,  # noqa: E402
                                             AnalysisTopicDay, AnalysisWord)
from services.rating.assessment import load_rules  # noqa: E402
from services.rating.service import RatingService  # noqa: E402

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV_2026 = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)   # 2026-11-01 00:00 in Shanghai
MONTHS = {"now": NOV_2026, "previous": datetime(2026, 9, 30, 16, 0, tzinfo=UTC),
          "last_year": datetime(2025, 10, 31, 16, 0, tzinfo=UTC)}
UNITS = ["logistics", "academic-affairs", "security", "finance", "student-affairs",
         "college-agri", "college-mech", "college-it"]


def fill(db: UrlDatabase, n: int, rng: random.Random, pool: int) -> None:
    analyzer = default_analyzer()
    texts = [complaint(rng) for _ in range(pool)]
    cut = [" ".join(analyzer.words(t)) for t in texts]
    terms = [[("", 0.0), *document_terms(c.split()).items()] for c in cut]
    topic_days: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    topic_cells: dict[tuple, list] = defaultdict(lambda: [0, 0.0])
    with db.engine.begin() as conn:
        for model in (AnalysisWord, AnalysisCase, AnalysisTopicDay, AnalysisTopicCell):
            conn.execute(delete(model))
        for label, start in MONTHS.items():
            rows = []
            for i in range(n):
                at = start + timedelta(seconds=rng.randrange(30 * 86400))
                k = rng.randrange(pool)
                category, unit = rng.choice(CATEGORIES), rng.choice(UNITS)
                day = at.astimezone(SHANGHAI).date()
                for word, tf in terms[k]:
                    for sums, key in ((topic_days, (day, word)),
                                      (topic_cells, (day, category, unit, word))):
                        sums[key][0] += 1
                        sums[key][1] += tf
                rows.append({"complaint_id": f"{label}-{i}", "number": f"JS-{label}-{i}",
                             "title": None, "channel": "app",
                             "category": category, "received_at": at,
                             "month": month_of(at), "location": None, "place_key": None,
                             "unit_id": unit, "unit_name": None,
                             "status": "closed", "counted": True, "closed_at": None,
                             "words": cut[k], "cluster_id": f"{label}-{i}", "repeat_of": None,
                             "repeat_times": 0, "unrated": False})
                if len(rows) == 5000:
                    conn.execute(insert(AnalysisCase), rows)
                    rows = []
            if rows:
                conn.execute(insert(AnalysisCase), rows)
        # The postings of the month's last week: what a new case is linked against.
        since = MONTHS["now"] + timedelta(days=23)
        postings = []
        for row in conn.execute(select(AnalysisCase.complaint_id, AnalysisCase.words,
                                       AnalysisCase.received_at).where(
                AnalysisCase.received_at >= since, AnalysisCase.complaint_id.like("now-%"))):
            postings += [{"word": w, "complaint_id": row.complaint_id,
                          "received_at": row.received_at} for w in set(row.words.split())]
        for i in range(0, len(postings), 10000):
            conn.execute(insert(AnalysisWord), postings[i:i + 10000])
        for model, sums, names in ((AnalysisTopicDay, topic_days, ("day", "word")),
                                   (AnalysisTopicCell, topic_cells,
                                    ("day", "category", "unit_id", "word"))):
            rows = [dict(zip(names, key), documents=n, tf=tf) for key, (n, tf) in sums.items()]
            for i in range(0, len(rows), 10000):
                conn.execute(insert(model), rows[i:i + 10000])
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            for name in ("analysis_cases", "analysis_words", "analysis_topic_days",
                         "analysis_topic_cells"):
                conn.exec_driver_sql(f"ANALYZE {name}")


def timed(what: str, call, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    print(f"{what}: {best:.3f} s (best of {repeat})")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/"
                                          "jiesu_ana_bench")
    parser.add_argument("-n", type=int, default=42_000, help="cases per month")
    parser.add_argument("-i", type=int, default=200, help="new cases ingested")
    parser.add_argument("--pool", type=int, default=5000, help="distinct texts")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    clock = ManualClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    upgrade("rating", args.url)
    db = UrlDatabase(args.url, clock)
    print(f"{platform.python_implementation()} {platform.python_version()}, "
          f"{db.engine.dialect.name}, {args.n} cases a month x 3 months")
    started = time.perf_counter()
    fill(db, args.n, rng, args.pool)
    print(f"filled in {time.perf_counter() - started:.1f} s")
    service = worker_factory(RatingService, db=db, rules=load_rules(),
                             calendar=WorkingCalendar(), analysis_settings=AnalysisSettings(),
                             analyzer=default_analyzer())
    office = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}
    month = {"from": "2026-11-01", "to": "2026-11-30"}
    answer = service.analysis_hot_topics(office, month)
    print(f"hot topics: {answer['documents']} documents, top "
          f"{[k['keyword'] for k in answer['keywords'][:5]]}")
    timed("hot topics for the month (target ≤ 2 s)",
          lambda: service.analysis_hot_topics(office, month))
    timed("hot topics for the month, one category",
          lambda: service.analysis_hot_topics(office, dict(month, category="logistics")))
    timed("seasonal view, 24 months", lambda: service.analysis_seasonal(office, {}))
    timed("problems for the month", lambda: service.analysis_problems(office, month), 1)

    at = NOV_2026 + timedelta(days=29)
    durations = []
    for i in range(args.i):
        event = build_event("complaint_received", f"new-{i}", at + timedelta(seconds=i),
                            number=f"JS-new-{i}", channel="app",
                            category=rng.choice(CATEGORIES), content=complaint(rng),
                            complainant={"id": "s1"})
        started = time.perf_counter()
        service.analysis_on_received(event)
        durations.append(time.perf_counter() - started)
    durations.sort()
    print(f"a new case through the consumer (cut, post, link, repeat check), {args.i} cases: "
          f"p50 {durations[len(durations) // 2] * 1000:.1f} ms, "
          f"p95 {durations[int(len(durations) * 0.95)] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
