"""Where the WeChat channel keeps what must outlive one request: each user's place in the
filing dialogue (wechat.Dialogue's JSON state) and the replies of the last minute (WeChat
resends a message it got no answer to within 5 s; the resend is answered from memory).

Two stores with one interface, chosen by the `gateway_state_url` setting:
- `MemorySessions` (no URL): this gateway process's memory. Right for one process; with
  several replicas a user's next message or WeChat's retry may reach another replica, which
  would not know where the dialogue stood.
- `RedisSessions` (`redis://…`): shared by every gateway replica, kept across restarts of
  the gateway, and expired by Redis itself (keys carry their time to live).

A dialogue step is read, decided and written back without a lock: one user's messages come
one after the other (WeChat waits for each answer). The first delivery of a message `claim`s
its reply slot; WeChat's resend of a message still being handled finds it claimed and waits
for the answer, or handles it again if none comes, which files nothing twice (the filing key
is the message's MsgId, and the dialogue moves on only once a step is done).
"""
from __future__ import annotations

import functools
import json
import threading
import time

DIALOGUE_TTL_SECONDS = 30 * 60
REPLY_TTL_SECONDS = 60
PENDING = "pending"   # a message being handled: `claim` marks it, `remember` replaces it


class MemorySessions:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._states: dict[str, tuple[float, dict]] = {}
        self._replies: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def state(self, openid: str) -> dict | None:
        with self._lock:
            expires, state = self._states.get(openid, (0.0, None))
            return state if expires > self.clock() else None

    def keep_state(self, openid: str, state: dict | None) -> None:
        with self._lock:
            now = self.clock()
            self._states = {k: v for k, v in self._states.items() if v[0] > now}
            if state is None:
                self._states.pop(openid, None)
            else:
                self._states[openid] = (now + DIALOGUE_TTL_SECONDS, state)

    def remembered(self, key: str) -> str | None:
        with self._lock:
            expires, body = self._replies.get(key, (0.0, None))
            return body if expires > self.clock() else None

    def claim(self, key: str) -> bool:
        """True for the first delivery of a message (marked as being handled), False for a
        resend."""
        with self._lock:
            now = self.clock()
            expires, _ = self._replies.get(key, (0.0, None))
            if expires > now:
                return False
            self._replies[key] = (now + REPLY_TTL_SECONDS, PENDING)
            return True

    def remember(self, key: str, body: str) -> None:
        with self._lock:
            now = self.clock()
            self._replies = {k: v for k, v in self._replies.items() if v[0] > now}
            self._replies[key] = (now + REPLY_TTL_SECONDS, body)

    def forget(self, key: str) -> None:
        with self._lock:
            self._replies.pop(key, None)


@functools.lru_cache(maxsize=None)
def redis_client(url: str):
    """The process's client for `gateway_state_url`, one connection pool shared by the
    sessions store and the rate limits (connections are made when first used)."""
    import redis   # only the gateway needs it, and only when the setting asks

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2,
                                decode_responses=True)


class RedisSessions:
    PREFIX = "jiesu:wechat:"

    def __init__(self, url: str, client=None):
        self.client = client if client is not None else redis_client(url)

    def state(self, openid: str) -> dict | None:
        raw = self.client.get(f"{self.PREFIX}state:{openid}")
        return json.loads(raw) if raw else None

    def keep_state(self, openid: str, state: dict | None) -> None:
        key = f"{self.PREFIX}state:{openid}"
        if state is None:
            self.client.delete(key)
        else:
            self.client.set(key, json.dumps(state, ensure_ascii=False),
                            ex=DIALOGUE_TTL_SECONDS)

    def remembered(self, key: str) -> str | None:
        return self.client.get(f"{self.PREFIX}reply:{key}")

    def claim(self, key: str) -> bool:
        return bool(self.client.set(f"{self.PREFIX}reply:{key}", PENDING, nx=True,
                                    ex=REPLY_TTL_SECONDS))

    def remember(self, key: str, body: str) -> None:
        self.client.set(f"{self.PREFIX}reply:{key}", body, ex=REPLY_TTL_SECONDS)

    def forget(self, key: str) -> None:
        self.client.delete(f"{self.PREFIX}reply:{key}")

    def ping(self) -> bool:
        return bool(self.client.ping())


def sessions_for(url: str):
    """The store the `gateway_state_url` setting names."""
    if not url:
        return MemorySessions()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"gateway_state_url must be a redis:// URL, not {url.split(':')[0]!r}")
    return RedisSessions(url)
