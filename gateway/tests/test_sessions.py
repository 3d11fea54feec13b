"""The WeChat sessions stores: this process's memory, and Redis shared by replicas (tested
against the real Redis that make test starts, JIESU_TEST_REDIS_URL)."""
import os
import uuid
from types import SimpleNamespace

import pytest

from gateway import wechat
from gateway.sessions import (DIALOGUE_TTL_SECONDS, PENDING, REPLY_TTL_SECONDS,
                              MemorySessions, RedisSessions, sessions_for)

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


@pytest.mark.redis
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


@pytest.mark.redis
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


@pytest.mark.redis
def test_the_first_delivery_claims_the_reply_and_a_resend_does_not(replicas):
    first, second = replicas
    key = f"wechat:msg:test-{uuid.uuid4()}"
    assert first.claim(key) is True
    assert second.claim(key) is False
    assert second.remembered(key) == PENDING
    first.remember(key, "<xml>已受理</xml>")
    assert second.claim(key) is False and second.remembered(key) == "<xml>已受理</xml>"
    memory = MemorySessions()
    assert memory.claim(key) is True and memory.claim(key) is False
    for store in (first, memory):   # a failed handling is forgotten: the resend is handled
        store.forget(key)
        assert store.remembered(key) is None and store.claim(key) is True


def test_a_resend_waits_for_the_answer_being_prepared():
    """WeChat resends a message its first delivery has not answered within 5 s: the resend
    is answered with the first delivery's reply instead of being handled again."""
    import eventlet
    from nameko.testing.services import worker_factory

    from gateway.service import GatewayService

    sessions = MemorySessions()
    service = worker_factory(GatewayService, wechat=SimpleNamespace(sessions=sessions))
    assert service._wechat_remembered("wechat:msg:1") is None      # first delivery: handle it
    eventlet.spawn_after(0.5, sessions.remember, "wechat:msg:1", "<xml>编号 JS-1</xml>")
    assert service._wechat_remembered("wechat:msg:1") == "<xml>编号 JS-1</xml>"
    # a first delivery that never answers (its process died): the resend handles it itself
    assert service._wechat_remembered("wechat:msg:2") is None
    assert service._wechat_remembered("wechat:msg:2") is None
