"""The one source of time. Everything that asks "what time is it" asks a Clock, so tests and
demos can move time instead of waiting for it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from nameko.extensions import DependencyProvider


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock a test sets and moves by hand."""

    def __init__(self, start: datetime | None = None):
        self._now = start or utcnow()
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment

    def advance(self, **delta) -> datetime:
        self._now = self._now + timedelta(**delta)
        return self._now


CLOCK_CONFIG_KEY = "JIESU_CLOCK"


def clock_from_config(config: dict):
    """The clock a container was given (tests put a ManualClock under JIESU_CLOCK), else
    the system clock. Every extension that needs time asks this, so they all agree."""
    return config.get(CLOCK_CONFIG_KEY) or SystemClock()


class ClockProvider(DependencyProvider):
    """Injects the service's clock into entrypoints as `self.clock`."""

    def setup(self):
        self.clock = clock_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.clock
