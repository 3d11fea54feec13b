"""The filing path inside intake alone: `IntakeService.file_complaint` through worker_factory
on the production SQLite set-up in memory, no broker, no gateway. What it measures is the
code between the RPC's arguments and the committed case (schemas, the unit of work, the
aggregate, the timeline, the audit row, the outbox row), so two versions of that code can be
compared on one machine within a minute, without the noise of six processes sharing two cores.

    .venv/bin/python bench/filing_path.py                 # -n 3000, 3 rounds
    PYTHONPATH=/path/to/other/checkout .venv/bin/python /path/to/other/checkout/bench/filing_path.py

Prints the best round's CPU µs per filing (process time, so other load on the host counts
less) and the wall µs, and the Python version and date.
"""
from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone

from nameko.testing.services import worker_factory

from services.common.clock import ManualClock
from services.common.settings import Settings
from services.common.testing import InMemoryDatabase
from services.intake.models import metadata
from services.intake.screening import ScreeningRules
from services.intake.service import IntakeService

PLEDGE = "诉求人在APP提交前确认:所反映情况真实准确,如有不实愿承担相应责任。"
STUDENT = {"id": "s2023001", "name": "张三", "roles": ["complainant"]}


def one_round(n: int) -> tuple[float, float]:
    clock = ManualClock(datetime(2026, 11, 24, 1, 0, tzinfo=timezone.utc))
    service = worker_factory(IntakeService, db=InMemoryDatabase(metadata, clock=clock),
                             settings=Settings(), clock=clock,
                             screening=ScreeningRules.load("config/screening.yaml"))
    filing = {"category": "logistics", "title": "热水", "content": "学生公寓3号楼热水已经停了两天",
              "contact_phone": "13912345678", "location": "3号楼"}
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        service.file_complaint(filing, STUDENT, "app", pledge=PLEDGE)
    return ((time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    one_round(200)  # warm-up: imports, the screening rules, SQLAlchemy's statement caches
    rounds = [one_round(args.n) for _ in range(args.rounds)]
    cpu, wall = min(rounds)
    print(f"file_complaint  n={args.n} x {args.rounds}  best: {cpu:.0f} µs CPU, "
          f"{wall:.0f} µs wall per filing  (all rounds CPU: "
          f"{', '.join(f'{c:.0f}' for c, _ in rounds)} µs)")
    print(f"Python {platform.python_version()}, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
