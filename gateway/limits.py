"""Abuse limits: how many filings an identity and an IP address may make per minute.

A token bucket per key. Where the buckets live follows `gateway_state_url`: this gateway
process (`TokenBuckets`; with N replicas behind a load balancer a client may get up to N
times the rate), or Redis shared by every replica (`RedisTokenBuckets`: one atomic script
per check, refilled by Redis's own clock). If Redis cannot be reached, the check falls back
to the process's buckets rather than refusing or waving everyone through.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict

log = logging.getLogger("jiesu.gateway.limits")


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


# KEYS[1] the bucket; ARGV rate per second, burst. Returns the seconds to wait (0: taken).
# Time comes from Redis (TIME), so replicas whose clocks differ share one bucket fairly.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RedisTokenBuckets:
    """The same buckets in Redis, shared by every gateway replica."""
    PREFIX = "jiesu:limits:"

    def __init__(self, client, name: str, rate_per_minute: float,
                 burst: float | None = None, fallback: TokenBuckets | None = None):
        self.client = client
        self.name = name
        self.rate = rate_per_minute / 60.0
        self.burst = burst if burst is not None else max(1.0, rate_per_minute)
        self.fallback = fallback or TokenBuckets(rate_per_minute, burst)
        self._take = client.register_script(_TAKE)

    def take(self, key: str) -> float:
        if self.rate <= 0:
            return 0.0
        try:
            return float(self._take(keys=[f"{self.PREFIX}{self.name}:{key}"],
                                    args=[self.rate, self.burst]))
        except Exception as exc:  # Redis unreachable: this process's own count meanwhile
            log.warning("rate limit store unavailable (%s): counting in this process",
                        type(exc).__name__)
            return self.fallback.take(key)


class FilingLimits:
    def __init__(self, per_identity_per_minute: float, per_ip_per_minute: float,
                 clock=time.monotonic, redis_client=None):
        if redis_client is None:
            self.identity = TokenBuckets(per_identity_per_minute, clock=clock)
            self.ip = TokenBuckets(per_ip_per_minute, clock=clock)
        else:
            self.identity = RedisTokenBuckets(redis_client, "identity", per_identity_per_minute)
            self.ip = RedisTokenBuckets(redis_client, "ip", per_ip_per_minute)

    def check(self, identity: str | None, ip: str | None) -> None:
        for buckets, key, what in ((self.ip, ip, "address"), (self.identity, identity, "user")):
            if key:
                wait = buckets.take(key)
                if wait:
                    raise RateLimited(max(1, math.ceil(wait)), what)
