"""The unit of work and the transactional outbox.

A service declares `db = Database("intake")`. In an entrypoint:

    with self.db.unit_of_work() as uow:
        if uow.already_applied(event, consumer="intake.on_assigned"):   # idempotent consumer
            return
        uow.session.add(...)                                   # the state change
        uow.emit("complaint_received", complaint_id, **fields)  # its event, same transaction

Leaving the block commits the state change, the inbox record and the outbox rows together,
or none of them. After the commit the relay (one greenthread per service process) is woken
and publishes the new outbox rows with publisher confirms, then marks them sent. A crash
anywhere leaves unsent rows that the relay's next pass publishes: an event can be published
twice (consumers skip what they have seen) but never lost, and never published for a
transaction that rolled back.
"""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from datetime import timedelta

import eventlet
from eventlet.queue import Empty, LightQueue
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from sqlalchemy import create_engine, event, make_url, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from services.common import contracts, metrics
from services.common.confirms import BatchPublisher, Outgoing
from services.common.clock import clock_from_config
from services.common.logs import CORRELATION_KEY
from services.common.messaging_tables import inbox, outbox
from services.common.settings import Settings

log = logging.getLogger(__name__)


def _patch_psycopg_for_eventlet() -> None:
    # Without this psycopg2 waits for PostgreSQL inside C and blocks every greenthread of
    # the process (tests/integration/test_infrastructure.py,
    # test_a_slow_query_does_not_block_other_greenthreads, checks that it does not).
    try:
        from psycogreen.eventlet import patch_psycopg
    except ImportError:  # pragma: no cover - psycogreen is a hard dependency
        return
    patch_psycopg()


_patch_psycopg_for_eventlet()


def make_engine(url: str, pool_size: int = 10):
    # X5: a failed statement's parameters (names, phones, texts) stay out of exception
    # messages and so out of logs and tracebacks; the statement itself is enough to debug.
    private = {"hide_parameters": True}
    if url.startswith("sqlite"):
        # One connection per process: SQLite locks the whole file, and a busy-wait inside
        # the C library would block every greenthread; queueing on the pool is green.
        connect_args = {"check_same_thread": False, "timeout": 30}
        if make_url(url).database in (None, "", ":memory:"):
            # An in-memory database lives in its connection: keep exactly that one.
            engine = create_engine(url, poolclass=StaticPool, connect_args=connect_args,
                                   **private)
        else:
            engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=60,
                                   connect_args=connect_args, **private)
        _sqlite_real_transactions(engine)
        return engine
    # No pre-ping: it costs a round trip per transaction. A connection broken by a database
    # restart fails its unit of work, which the consumer's retry or the relay's next pass
    # repeats on a fresh connection (SQLAlchemy discards the broken one).
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                         **private)


def _sqlite_real_transactions(engine) -> None:
    """pysqlite opens transactions lazily, on its own terms, which breaks SAVEPOINT and
    lets a "nested" commit escape the outer transaction. Take transaction control from the
    driver and issue BEGIN ourselves (the recipe in SQLAlchemy's SQLite dialect docs)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN")


class UnitOfWork:
    def __init__(self, session: Session, clock, correlation_id: str | None):
        self.session = session
        self.clock = clock
        self.correlation_id = correlation_id
        self.emitted: list[dict] = []

    def emit(self, event_type: str, complaint_id: str, **body) -> dict:
        """Record an outgoing event in this transaction's outbox (written, all events of the
        unit of work in one INSERT, just before the commit)."""
        wire = contracts.build_event(event_type, complaint_id, self.clock.now(),
                                     correlation_id=self.correlation_id, **body)
        self.emitted.append(wire)
        return wire

    def write_outbox(self) -> None:
        if not self.emitted:
            return
        now = self.clock.now()
        self.session.execute(outbox.insert(), [
            {"event_id": wire["event_id"], "event_type": wire["event_type"],
             "payload": json.dumps(wire, ensure_ascii=False),
             "correlation_id": self.correlation_id, "created_at": now}
            for wire in self.emitted])

    def already_applied(self, event: dict, consumer: str) -> bool:
        """True if `consumer` has applied this event before; otherwise record that it is
        applying it now, in the same transaction as its effect.

        One statement: the insert either records the event or, on the key of an earlier
        (or concurrently committing) delivery, does nothing and returns no row."""
        event_id = event["event_id"]
        recorded = self.session.execute(
            insert_for(self.session, inbox)
            .values(consumer=consumer, event_id=event_id, applied_at=self.clock.now())
            .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            .returning(inbox.c.event_id)).first()
        if recorded is None:
            metrics.DUPLICATES_SKIPPED.labels(consumer.split(".")[0], consumer).inc()
            log.info("skipping %s %s: already applied by %s", event.get("event_type"),
                     event_id, consumer)
            return True
        return False


def insert_for(session: Session, table):
    """The dialect's INSERT (PostgreSQL and SQLite both have ON CONFLICT … RETURNING)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


class OutboxRelay:
    """Publishes a service's unsent outbox rows. One per service process; several replicas
    share the table safely because rows are claimed with FOR UPDATE SKIP LOCKED."""

    def __init__(self, service: str, sessions: sessionmaker, nameko_config: dict, clock,
                 poll_seconds: float = 0.5, batch_size: int = 200):
        self.service = service
        self.sessions = sessions
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.exchange = get_event_exchange(service, nameko_config)
        # A pass's rows go out together and their confirms are awaited once
        # (services/common/confirms.py); mandatory: an event no queue is bound for yet stays
        # in the outbox instead of vanishing in the exchange (the consumer never started).
        self.publisher = BatchPublisher(nameko_config["AMQP_URI"], self.exchange)
        self._wakeups: LightQueue = LightQueue(maxsize=1)
        self._running = False

    def wake(self) -> None:
        try:
            self._wakeups.put_nowait(True)
        except eventlet.queue.Full:
            pass

    def run(self) -> None:
        self._running = True
        while self._running:
            try:
                while self.relay_once() == self.batch_size:
                    pass
            except Exception:  # keep relaying after a database or broker outage
                log.exception("outbox relay pass failed; retrying")
                eventlet.sleep(self.poll_seconds)
            try:
                self._wakeups.get(timeout=self.poll_seconds)
            except Empty:
                pass
        self.publisher.close()

    def stop(self) -> None:
        self._running = False
        self.wake()

    def relay_once(self) -> int:
        """Claim, publish and mark one batch. Returns how many rows were claimed."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            rows = session.execute(
                select(outbox.c.id, outbox.c.event_type, outbox.c.payload,
                       outbox.c.correlation_id, outbox.c.attempts)
                .where(outbox.c.sent_at.is_(None))
                .where((outbox.c.next_attempt_at.is_(None)) | (outbox.c.next_attempt_at <= now))
                .order_by(outbox.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)).all()
            sent = self._publish(session, rows)
            if sent:
                session.execute(update(outbox).where(outbox.c.id.in_([r.id for r in sent]))
                                .values(sent_at=self.clock.now(),
                                        attempts=outbox.c.attempts + 1))
        for row in sent:  # counted once committed
            metrics.EVENTS_PUBLISHED.labels(self.service, row.event_type).inc()
        return len(rows)

    def _publish(self, session: Session, rows) -> list:
        """Publish the rows (the stored JSON as it is) and wait once for the broker's
        confirms; the rows it confirmed. One no queue is bound for yet stays, with a
        backoff; one the broker refused stays for the next pass."""
        result = self.publisher.publish([
            Outgoing(row.id, row.event_type, row.payload,
                     {"nameko." + CORRELATION_KEY: row.correlation_id}
                     if row.correlation_id else {}) for row in rows])
        by_id = {row.id: row for row in rows}
        for row_id in result.unroutable:
            row = by_id[row_id]
            delay = min(60, 2 ** min(row.attempts, 6))
            log.warning("%s has no subscriber yet; keeping it in the outbox (retry in %ss)",
                        row.event_type, delay)
            session.execute(update(outbox).where(outbox.c.id == row.id).values(
                attempts=row.attempts + 1, last_error="unroutable: no queue bound",
                next_attempt_at=self.clock.now() + timedelta(seconds=delay)))
        if result.nacked:
            log.warning("the broker refused %d events; they stay in the outbox",
                        len(result.nacked))
        return [by_id[row_id] for row_id in result.confirmed]


@contextmanager
def unit_of_work(session: Session, clock, correlation_id: str | None, on_commit=None):
    """Commit on a clean exit, roll back on an exception. `on_commit` runs after a commit
    that emitted events."""
    uow = UnitOfWork(session, clock, correlation_id)
    try:
        with session.begin():
            yield uow
            uow.write_outbox()
    finally:
        session.close()
    if uow.emitted and on_commit is not None:
        on_commit()


class Database(DependencyProvider):
    """Engine, sessions and outbox relay of one service (`name` picks its database).
    Each worker gets its own sessions; whatever a worker leaves open is closed (and so
    rolled back) in worker_teardown."""

    def __init__(self, name: str):
        self.name = name
        self.clock = None
        self.engine = None
        self.sessions = None
        self.relay = None
        self._worker_sessions: dict = {}

    def setup(self):
        settings = Settings.from_container_config(self.container.config)
        self.clock = clock_from_config(self.container.config)
        url = self.container.config.get("DATABASE_URLS", {}).get(self.name) \
            or settings.database_url_for(self.name)
        self.engine = make_engine(url, settings.db_pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.relay = OutboxRelay(self.name, self.sessions, self.container.config, self.clock,
                                 settings.outbox_poll_seconds, settings.outbox_batch_size)
        metrics.outbox_lag_collectors(self.name, self.engine, self.clock)

    def start(self):
        self.container.spawn_managed_thread(self.relay.run, identifier=f"{self.name}.outbox")

    def stop(self):
        self.relay.stop()
        self.engine.dispose()

    def kill(self):
        self.relay.stop()

    def get_dependency(self, worker_ctx):
        self._worker_sessions[worker_ctx] = []
        return WorkerDatabase(self, worker_ctx)

    def worker_teardown(self, worker_ctx):
        for session in self._worker_sessions.pop(worker_ctx, ()):
            session.close()


def engine_of(container):
    """The engine of the Database a container declares (for work outside a worker, such as
    the metrics that read a service's own tables at scrape time)."""
    return next(ext.engine for ext in container.dependencies if isinstance(ext, Database))


class WorkerDatabase:
    """What an entrypoint sees as `self.db`."""

    def __init__(self, provider: Database, worker_ctx):
        self._provider = provider
        self._worker_ctx = worker_ctx

    def _new_session(self) -> Session:
        session = self._provider.sessions()
        self._provider._worker_sessions.setdefault(self._worker_ctx, []).append(session)
        return session

    def unit_of_work(self):
        return unit_of_work(self._new_session(), self._provider.clock,
                            self._worker_ctx.data.get(CORRELATION_KEY),
                            on_commit=self._provider.relay.wake)

    def session(self) -> Session:
        """A session for reads outside a unit of work (closed at the latest in teardown)."""
        return self._new_session()

    @property
    def clock(self):
        return self._provider.clock
