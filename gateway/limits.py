"""Abuse limits: how many filings an identity and an IP address may make per minute.

A token bucket per key, in this gateway process: with several gateway replicas behind a
load balancer each enforces the limit on what it sees (a client spread over N replicas gets
up to N times the rate); a shared store (Redis) is the next step if that matters.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict


class RateLimited(Exception):
    def __init__(self, retry_after: int, what: str):
        super().__init__(f"too many requests from this {what}")
        self.retry_after = retry_after
        self.what = what


class TokenBuckets:
    """`rate_per_minute` tokens per key, refilled continuously; at most `max_keys` keys kept
    (the least recently seen are forgotten, which only ever errs on the generous side)."""

    def __init__(self, rate_per_minute: float, burst: float | None = None,
                 max_keys: int = 100_000, clock=time.monotonic):
        self.rate = rate_per_minute / 60.0
        self.burst = burst if burst is not None else max(1.0, rate_per_minute)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if allowed (a token is taken), else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


class FilingLimits:
    def __init__(self, per_identity_per_minute: float, per_ip_per_minute: float,
                 clock=time.monotonic):
        self.identity = TokenBuckets(per_identity_per_minute, clock=clock)
        self.ip = TokenBuckets(per_ip_per_minute, clock=clock)

    def check(self, identity: str | None, ip: str | None) -> None:
        for buckets, key, what in ((self.ip, ip, "address"), (self.identity, identity, "user")):
            if key:
                wait = buckets.take(key)
                if wait:
                    raise RateLimited(max(1, math.ceil(wait)), what)
