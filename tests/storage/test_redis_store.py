"""Sessions, the response cache and the rate limiter against the real Redis, including Redis being down."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import RedisError

from devtools.launcher import free_port
from mesh.storage.redis_store import RateLimiter, ResponseCache, SessionStore, make_redis
from tests.local_stack import Stack
from tests.storage.outage import RESTARTED_ELSEWHERE, is_listening

pytestmark = pytest.mark.stack


def _unique() -> str:
    return uuid.uuid4().hex


async def test_session_round_trip_sets_the_ttl(redis: Redis) -> None:
    sessions = SessionStore(redis, ttl_s=60)
    user = _unique()
    assert await sessions.get(user, "c1") is None
    await sessions.set(user, "c1", {"last_task_id": "T-1", "turns": 2})
    assert await sessions.get(user, "c1") == {"last_task_id": "T-1", "turns": 2}
    assert await sessions.get(user, "c2") is None
    ttl = await redis.ttl(sessions.key(user, "c1"))
    assert 55 <= ttl <= 60


async def test_response_cache_get_set_and_counts_hits_and_misses(redis: Redis) -> None:
    namespace = f"test-{_unique()[:8]}"
    cache = ResponseCache(redis, namespace)
    assert await cache.get("k1") is None
    await cache.set("k1", b"\x00answer", ttl_s=30)
    assert await cache.get("k1") == b"\x00answer"
    assert (cache.hits, cache.misses) == (1, 1)
    labels = {"namespace": namespace}
    assert REGISTRY.get_sample_value("assist_response_cache_hits_total", labels) == 1
    assert REGISTRY.get_sample_value("assist_response_cache_misses_total", labels) == 1
    assert 25 <= await redis.ttl(f"assist:cache:{namespace}:k1") <= 30


async def test_rate_limiter_allows_capacity_then_refuses_with_a_retry_after(redis: Redis) -> None:
    limiter = RateLimiter(redis, capacity=5, refill_per_s=2.0)
    key = _unique()
    results = [await limiter.allow(key) for _ in range(5)]
    assert all(allowed for allowed, _ in results)
    allowed, retry_after = await limiter.allow(key)
    assert not allowed and 0.1 < retry_after <= 0.5
    assert (await limiter.allow(_unique()))[0]  # other keys have their own bucket
    await asyncio.sleep(retry_after + 0.05)
    assert (await limiter.allow(key))[0]


async def test_rate_limiter_is_atomic_under_concurrent_requests(redis: Redis) -> None:
    limiter = RateLimiter(redis, capacity=10, refill_per_s=0.001)
    key = _unique()
    results = await asyncio.gather(*(limiter.allow(key) for _ in range(40)))
    assert sum(allowed for allowed, _ in results) == 10


@pytest.mark.slow
async def test_redis_down_makes_calls_return_quickly_without_raising(stack: Stack, redis: Redis) -> None:
    sessions = SessionStore(redis, ttl_s=60, pause_after_failure_s=0.2)
    cache = ResponseCache(redis, "test-down", pause_after_failure_s=0.2)
    limiter = RateLimiter(redis, capacity=1, refill_per_s=0.001, pause_after_failure_s=0.2)
    user = _unique()
    await sessions.set(user, "c1", {"a": 1})
    stack.stop("redis")
    try:
        started = time.monotonic()
        results: list[object] = []
        for _ in range(3):  # nothing raises...
            results.append(await sessions.get(user, "c1"))
            await sessions.set(user, "c1", {"a": 2})
            results.append(await cache.get("k"))
            await cache.set("k", b"v", ttl_s=5)
            results.append(await limiter.allow(user))
        assert time.monotonic() - started < 2.0  # ...and every call returns at once
        if is_listening(stack.redis_url):
            pytest.skip(RESTARTED_ELSEWHERE.format("Redis"))
        assert results == [None, None, (True, 0.0)] * 3  # empty session and cache; the limiter fails open
    finally:
        stack.start("redis")
    await asyncio.sleep(0.3)  # past the pause after the last failure
    await sessions.set(user, "c1", {"a": 3})
    assert await sessions.get(user, "c1") == {"a": 3}
    assert await limiter.allow(user) == (True, 0.0)
    allowed, retry_after = await limiter.allow(user)  # the bucket works again: capacity 1, used just above
    assert not allowed and retry_after > 0


async def test_drop_tag_deletes_only_the_tagged_answers_and_raises_when_redis_is_down(redis: Redis) -> None:
    cache = ResponseCache(redis, f"test-{_unique()}")
    await cache.set("mine-1", b"a", 30, tags=["user:x"])
    await cache.set("mine-2", b"b", 30, tags=["user:x", "task:T-1"])
    await cache.set("theirs", b"c", 30, tags=["user:y", "task:T-1"])

    assert await cache.drop_tag("user:x", dry_run=True) == 2
    assert await cache.get("mine-1") == b"a"
    assert await cache.drop_tag("user:x") == 2
    assert (await cache.get("mine-1"), await cache.get("mine-2"), await cache.get("theirs")) == (
        None,
        None,
        b"c",
    )
    assert await cache.drop_tag("user:x") == 0

    # An erasure must not report success over a cache it could not reach (invalidate_tag would say 0).
    unreachable = make_redis(f"redis://127.0.0.1:{free_port()}/0", 0.5)
    try:
        with pytest.raises(RedisError):
            await ResponseCache(unreachable, "test-down").drop_tag("user:x")
    finally:
        await unreachable.aclose()
