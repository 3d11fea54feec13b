"""Abuse limits: a burst is allowed up to the rate, then 429 with a Retry-After that is
honest about when the next request will be accepted."""
import pytest

from gateway.limits import FilingLimits, RateLimited, TokenBuckets


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_burst_up_to_the_rate_then_a_wait():
    clock = Clock()
    buckets = TokenBuckets(6, clock=clock)  # 6 a minute: one every 10 s
    assert [buckets.take("s1") for _ in range(6)] == [0.0] * 6
    assert buckets.take("s1") == pytest.approx(10.0)
    clock.now += 10
    assert buckets.take("s1") == 0.0


def test_keys_do_not_share_buckets():
    buckets = TokenBuckets(1, clock=Clock())
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0
    assert buckets.take("a") > 0


def test_the_address_and_the_user_are_both_limited():
    clock = Clock()
    limits = FilingLimits(per_identity_per_minute=2, per_ip_per_minute=3, clock=clock)
    limits.check("s1", "10.0.0.1")
    limits.check("s1", "10.0.0.1")
    with pytest.raises(RateLimited) as by_user:
        limits.check("s1", "10.0.0.2")
    assert by_user.value.what == "user" and by_user.value.retry_after == 30
    limits.check("s2", "10.0.0.1")
    with pytest.raises(RateLimited) as by_address:
        limits.check("s3", "10.0.0.1")
    assert by_address.value.what == "address"


def test_a_zero_rate_turns_the_limit_off():
    buckets = TokenBuckets(0, clock=Clock())
    assert all(buckets.take("x") == 0 for _ in range(1000))


def test_only_so_many_keys_are_remembered():
    buckets = TokenBuckets(1, max_keys=3, clock=Clock())
    for key in "abcd":
        buckets.take(key)
    assert buckets.take("a") == 0.0  # forgotten, so generous again


# ------------------------------------------------- shared by replicas through Redis
def _redis():
    import os

    from gateway.sessions import redis_client
    return redis_client(os.environ.get("JIESU_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))


@pytest.mark.redis
def test_replicas_share_one_budget_through_redis():
    import uuid

    client = _redis()
    first = FilingLimits(3, 0, redis_client=client)     # two gateway replicas
    second = FilingLimits(3, 0, redis_client=client)
    user = f"test-{uuid.uuid4()}"
    first.check(user, None)
    second.check(user, None)
    first.check(user, None)
    with pytest.raises(RateLimited) as limited:
        second.check(user, None)                         # the fourth, wherever it lands
    assert 1 <= limited.value.retry_after <= 20
    second.check(f"test-{uuid.uuid4()}", None)           # someone else is not affected
    client.delete(*client.keys("jiesu:limits:identity:test-*"))


def test_without_redis_each_process_counts_for_itself():
    from gateway.sessions import redis_client

    down = redis_client("redis://127.0.0.1:9/0")        # nothing listens there
    limits = FilingLimits(2, 0, redis_client=down)
    limits.check("s1", None)
    limits.check("s1", None)
    with pytest.raises(RateLimited):
        limits.check("s1", None)
