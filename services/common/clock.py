"""The one source of time. Everything that asks "what time is it" asks a Clock, so tests and
demos can move time instead of waiting for it."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

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


class OffsetClock:
    """The system clock moved by the number of seconds written in a file, so that several
    processes (every SLA replica, the test that drives them, a demo) share one moved time.
    The file is re-read only when it changes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._stamp = None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            self._stamp = stamp
            text = self.path.read_text().strip() if stamp is not None else ""
            self._offset = timedelta(seconds=float(text or 0))
        return utcnow() + self._offset

    def set_offset(self, seconds: float) -> None:
        """For tests and demos: write the offset atomically for every process to see."""
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(repr(float(seconds)))
        os.replace(temporary, self.path)


CLOCK_CONFIG_KEY = "JIESU_CLOCK"


def clock_from_config(config: dict):
    """The clock a container was given (tests put a ManualClock under JIESU_CLOCK), else an
    OffsetClock when the `clock_offset_file` setting names one, else the system clock. Every
    extension that needs time asks this, so they all agree."""
    if config.get(CLOCK_CONFIG_KEY):
        return config[CLOCK_CONFIG_KEY]
    offset_file = (config.get("JIESU") or {}).get("clock_offset_file")
    return OffsetClock(offset_file) if offset_file else SystemClock()


class ClockProvider(DependencyProvider):
    """Injects the service's clock into entrypoints as `self.clock`."""

    def setup(self):
        self.clock = clock_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.clock
