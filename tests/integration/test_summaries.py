"""周汇总 / 月总结 on the real broker and PostgreSQL, with a clock the test moves: two rating
replicas race to make the same due summaries (both gather, one stores and publishes), notify
posts each summary once to a local fake WeCom robot, and asking again makes nothing new."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import eventlet
import pytest
from nameko.testing.services import entrypoint_hook, worker_factory
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common.clock import CLOCK_CONFIG_KEY, ManualClock
from services.common.db import make_engine
from services.common.messaging_tables import outbox
from services.notify.models import Notification, WorkgroupPost
from services.notify.service import NotifyService
from services.notify.tests.test_workgroup import serving
from services.common.calendar import calendar_for
from services.common.settings import Settings
from services.common.testing import UrlDatabase
from services.rating import summaries_entrypoints
from services.rating.figures_models import CaseFact, FigureRollup
from services.rating.assessment import load_rules
from services.rating.service import RatingService
from services.rating.summaries_models import Summary
from services.rating.summaries_sources import FactSources
from tests.conftest import wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office"}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def clock():
    return ManualClock(local(2026, 11, 30, 8, 30))   # Monday: last week's summary is due


@pytest.fixture
def wecom():
    yield from serving("wecom")


class RacingSources(FactSources):
    """The real sources, slowed so that both replicas are inside `make_summary` at once."""
    gathered: list = []

    def gather(self, period, now):
        RacingSources.gathered.append((period.kind, period.label))
        eventlet.sleep(0.5)
        return super().gather(period, now)


@pytest.fixture
def racing(monkeypatch):
    RacingSources.gathered = []
    monkeypatch.setattr(summaries_entrypoints, "FactSources", RacingSources)
    return RacingSources.gathered


def seed(url):
    """A few cases of the weeks before, so the summaries have figures and charts."""
    engine = make_engine(url)
    with sessionmaker(engine)() as session:
        for n, (day, level) in enumerate([(24, "satisfied"), (25, "basically"),
                                          (26, "dissatisfied"), (27, "satisfied")]):
            session.add(CaseFact(
                complaint_id=f"case-{n}", number=f"JS-202611{day}-000{n}",
                title="宿舍热水器坏了", channel="app", category="logistics",
                received_at=local(2026, 11, day, 9), unit_id="logistics",
                unit_name="后勤管理处", unit_kind="department", handler_name="冯涛",
                status="closed", closed_as="rated", closed_at=local(2026, 11, day, 15),
                final_level=level, contacted=True, solved=level != "dissatisfied",
                rated_at=local(2026, 11, day, 15)))
            # The figures' roll-up of that rating: a week's 三率 are read from these.
            session.add(FigureRollup(
                basis="assessment", day=date(2026, 11, day), unit_id="logistics",
                category="logistics", channel="app", rated=1, contacted=1,
                solved=int(level != "dissatisfied"), **{level: 1}))
        session.commit()
    return engine


def race(first, second):
    with entrypoint_hook(first, "make_due_summaries") as one, \
            entrypoint_hook(second, "make_due_summaries") as two:
        for thread in [eventlet.spawn(one), eventlet.spawn(two)]:
            thread.wait()


def test_two_replicas_make_each_summary_once_and_the_group_gets_it_once(
        container_factory, service_config, clock, databases, wecom, racing):
    rating_engine = seed(databases["rating"])
    config = dict(service_config, **{CLOCK_CONFIG_KEY: clock})
    first, second = (container_factory(RatingService, config) for _ in range(2))
    notify = container_factory(NotifyService, dict(config, JIESU=dict(
        config["JIESU"], workgroup_webhook_url=wecom.url,
        public_base_url="https://jiesu.example.edu.cn")))
    for container in (notify, first, second):
        container.start()

    race(first, second)
    # Both replicas made both due summaries (last week, and October: catch-up) ...
    assert sorted(racing) == sorted([("weekly", "2026-W48"), ("monthly", "2026-10")] * 2)
    with sessionmaker(rating_engine)() as session:
        made = session.execute(select(Summary.kind, Summary.period)).all()
    # ... and one of each was kept.
    assert sorted(made) == [("monthly", "2026-10"), ("weekly", "2026-W48")]

    notify_engine = make_engine(databases["notify"])
    sessions = sessionmaker(notify_engine)

    def sent():
        with sessions() as session:
            return session.execute(select(Notification.complaint_id).where(
                Notification.status == "sent")).scalars().all()
    wait_until(lambda: len(sent()) == 2, message="both summaries posted")
    eventlet.sleep(1.5)   # more than a relay poll: nothing else may follow
    markdown = [m["markdown"]["content"] for m in wecom.messages if m["msgtype"] == "markdown"]
    assert sum("周汇总" in m.split("\n")[0] for m in markdown) == 1
    assert sum("月总结" in m.split("\n")[0] for m in markdown) == 1
    assert all(len(m.encode("utf-8")) <= 4096 for m in markdown)
    images = [m for m in wecom.messages if m["msgtype"] == "image"]
    assert len(images) >= 2   # the week's 三率 and received-per-day charts, md5 checked

    # The next morning nothing new is due; on the month's first working day (Tuesday
    # 12-01) November's is, once.
    clock.set(local(2026, 11, 30, 17, 0))
    race(first, second)
    clock.set(local(2026, 12, 1, 8, 30))
    race(first, second)
    race(first, second)
    with sessionmaker(rating_engine)() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 3
    wait_until(lambda: len(sent()) == 3, message="November's summary posted")

    # The office asking for a made period gets it back; nothing is posted again.
    with entrypoint_hook(second, "generate_summary") as generate:
        again = generate(OFFICE, {"kind": "weekly", "period": "2026-W48"})
    assert again["created"] is False
    posted = len(wecom.messages)
    eventlet.sleep(1.5)
    assert len(wecom.messages) == posted
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(WorkgroupPost)) == 3
    rating_engine.dispose()
    notify_engine.dispose()
    assert clock.now() - local(2026, 12, 1, 8, 30) == timedelta(0)


def test_many_workers_racing_on_postgresql_publish_each_summary_once(databases, clock,
                                                                      racing):
    """Six workers (three replicas' worth) start making the same two summaries at the same
    moment; the unique row lets one of each through, with its one event in the outbox."""
    seed(databases["rating"]).dispose()
    db = UrlDatabase(databases["rating"], clock)
    calendar = calendar_for(Settings())
    workers = [worker_factory(RatingService, db=db, rules=load_rules(), calendar=calendar)
               for _ in range(6)]
    threads = [eventlet.spawn(worker.make_due_summaries) for worker in workers]
    for thread in threads:
        thread.wait()
    assert len(racing) == 12    # every worker gathered both
    with db.session() as session:
        made = session.execute(select(Summary.kind, Summary.period)).all()
        events = session.execute(select(outbox.c.event_type)).scalars().all()
    assert sorted(made) == [("monthly", "2026-10"), ("weekly", "2026-W48")]
    assert events == ["summary_published"] * 2
    db.engine.dispose()
