"""The pages' server-side sessions on their own (gateway/pages/web.py PageSessions), with a
clock the test moves: idle and absolute expiry, realms apart, logout, one-use keys, and the
memory store forgetting the expired ones without tripping on anything else it keeps."""
from __future__ import annotations

from gateway.pages.web import CONSOLE, H5, PageSessions


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def test_a_session_ends_after_idling_and_after_its_maximum_whatever_its_use():
    clock = Clock()
    sessions = PageSessions(idle_seconds=60, max_seconds=300, clock=clock)
    made = sessions.create(CONSOLE, {"id": "u-hqc-1"})
    for _ in range(4):              # used every 50 s: alive, until the maximum
        clock.now += 50
        assert sessions.get(made["id"], CONSOLE) is not None
    clock.now += 101                # 301 s after it was made
    assert sessions.get(made["id"], CONSOLE) is None

    idle = sessions.create(CONSOLE, {"id": "u-hqc-1"})
    clock.now += 61
    assert sessions.get(idle["id"], CONSOLE) is None


def test_realms_are_apart_and_an_ended_session_is_gone():
    sessions = PageSessions(60, 300, clock=Clock())
    made = sessions.create(H5, {"id": "s2023001"})
    assert sessions.get(made["id"], CONSOLE) is None
    assert sessions.get(made["id"], H5)["principal"] == {"id": "s2023001"}
    sessions.end(made["id"])
    assert sessions.get(made["id"], H5) is None
    assert sessions.get("x" * 500, H5) is None and sessions.get("", H5) is None


def test_a_one_use_key_is_refused_again_until_its_time_has_passed():
    clock = Clock()
    sessions = PageSessions(60, 300, clock=clock)
    assert sessions.first_use("oauth-code:abc", 300)
    assert not sessions.first_use("oauth-code:abc", 300)
    clock.now += 301
    assert sessions.first_use("oauth-code:abc", 300)


def test_the_memory_store_forgets_expired_sessions_beside_one_use_keys():
    clock = Clock()
    sessions = PageSessions(60, 300, clock=clock)
    sessions.first_use("oauth-code:abc", 300)
    for _ in range(1100):
        sessions.create(H5, None)
    clock.now += 61
    kept = sessions.create(H5, {"id": "s1"})   # a save past 1000 sessions prunes
    assert list(sessions._memory) == [kept["id"]]
    assert not sessions.first_use("oauth-code:abc", 300)
