"""Test doubles for the common kit, for `worker_factory` unit tests (no broker).

`InMemoryDatabase` is the real unit of work on an in-memory SQLite database with the
service's tables, and no relay: events a worker emits are kept in `.outbox` (in commit order)
instead of being published, so a test sees exactly what would have gone on the bus.
`UrlDatabase` is the same on a database that already exists (the PostgreSQL test database, a
bench's), for workers made by worker_factory.
"""
from __future__ import annotations

import json
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from services.common.clock import ManualClock
from services.common.db import make_engine, unit_of_work
from services.common.messaging_tables import messaging_metadata, outbox


class UrlDatabase:
    """The unit of work on the database at `url` (migrated already), without a relay: the
    events stay in its outbox table."""

    def __init__(self, url: str, clock=None, correlation_id: str | None = None):
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.clock = clock or ManualClock()
        self.correlation_id = correlation_id

    def unit_of_work(self):
        return unit_of_work(self.sessions(), self.clock, self.correlation_id)

    def session(self):
        return self.sessions()


class InMemoryDatabase(UrlDatabase):
    def __init__(self, metadata, clock=None, correlation_id: str | None = "test-correlation"):
        super().__init__("sqlite://", clock, correlation_id)  # production's SQLite, in memory
        metadata.create_all(self.engine)
        messaging_metadata.create_all(self.engine)

    @property
    def outbox(self) -> list[dict]:
        """Every event committed so far, oldest first, as it would go on the wire."""
        with self.sessions() as session:
            rows = session.execute(select(outbox.c.payload).order_by(outbox.c.id)).scalars()
            return [json.loads(row) for row in rows]

    def events(self, event_type: str) -> list[dict]:
        return [event for event in self.outbox if event["event_type"] == event_type]
