"""The WeChat sessions stores: this process's memory, and Redis shared by replicas (tested
against the real Redis that make test starts, JIESU_TEST_REDIS_URL)."""
import os
import uuid

import pytest

from gateway import wechat
from gateway.sessions import (DIALOGUE_TTL_SECONDS, REPLY_TTL_SECONDS, MemorySessions,
                              RedisSessions, sessions_for)

REDIS_URL = os.environ.get("JIESU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_memory_sessions_forget_after_their_time():
    clock = Clock()
    sessions = MemorySessions(clock)
    sessions.keep_state("o1", {"step": "category", "content": "热水停了两天"})
    sessions.remember("wechat:msg:1", "<xml>reply</xml>")
    assert sessions.state("o1")["step"] == "category"
    assert sessions.remembered("wechat:msg:1") == "<xml>reply</xml>"
    clock.now += REPLY_TTL_SECONDS + 1
    assert sessions.remembered("wechat:msg:1") is None
    assert sessions.state("o1") is not None
    clock.now += DIALOGUE_TTL_SECONDS
    assert sessions.state("o1") is None
    sessions.keep_state("o2", {"step": "content"})
    sessions.keep_state("o2", None)
    assert sessions.state("o2") is None


def test_the_setting_names_the_store():
    assert isinstance(sessions_for(""), MemorySessions)
    assert isinstance(sessions_for(REDIS_URL), RedisSessions)
    with pytest.raises(ValueError, match="redis://"):
        sessions_for("memcached://127.0.0.1:11211")


@pytest.fixture
def replicas():
    """Two gateway replicas' stores on one Redis."""
    first, second = RedisSessions(REDIS_URL), RedisSessions(REDIS_URL)
    assert first.ping()
    yield first, second
    keys = first.client.keys(f"{RedisSessions.PREFIX}*test-*")
    if keys:
        first.client.delete(*keys)


def test_a_dialogue_goes_on_whichever_replica_takes_each_message(replicas):
    openid, dialogue = f"test-{uuid.uuid4()}", wechat.Dialogue()

    def message(text, at):
        return {"msg_type": "text", "content": text, "create_time": at, "from_user": openid}

    steps = []
    for replica, text, at in zip(replicas * 2, ("学生公寓3号楼热水已经停了两天,请尽快维修", "2",
                                                 "1 确认"), (100, 110, 120)):
        state, action = dialogue.handle(replica.state(openid), message(text, at))
        replica.keep_state(openid, state)
        steps.append(action)
    assert steps[-1] == {"type": "file", "category": "logistics",
                         "content": "学生公寓3号楼热水已经停了两天,请尽快维修"}
    assert replicas[0].state(openid) is None and replicas[1].state(openid) is None


def test_a_reply_remembered_by_one_replica_answers_the_retry_at_another(replicas):
    first, second = replicas
    key = f"wechat:msg:test-{uuid.uuid4()}"
    assert second.remembered(key) is None
    first.remember(key, "<xml>已受理</xml>")
    assert second.remembered(key) == "<xml>已受理</xml>"
    ttl = first.client.ttl(f"{RedisSessions.PREFIX}reply:{key}")
    assert 0 < ttl <= REPLY_TTL_SECONDS
    first.keep_state(f"test-{key}", {"step": "content"})
    assert 0 < first.client.ttl(f"{RedisSessions.PREFIX}state:test-{key}") <= \
        DIALOGUE_TTL_SECONDS
