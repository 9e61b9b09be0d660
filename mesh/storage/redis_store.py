"""Redis-backed helpers that make the assistant faster or fairer but are never needed for an answer.

Session state, the response cache and the rate limiter all tolerate Redis being down: the session and the
cache behave as empty, the limiter lets requests through (fail open: an outage of a helper must not become
an outage of the assistant). Each reports the outage once in the log, not once per call, and calls return
within the client's short socket timeout; after a failure Redis is left alone for `pause_after_failure_s`,
so an outage costs nothing per call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("assist.storage.redis")

T = TypeVar("T")

CACHE_HITS = Counter(
    "assist_response_cache_hits_total", "Response cache lookups that found an answer.", ["namespace"]
)
CACHE_MISSES = Counter(
    "assist_response_cache_misses_total",
    "Response cache lookups that found nothing (or Redis was down).",
    ["namespace"],
)

# Token bucket, atomic in Redis: the bucket is a hash {tokens, ts}; the clock is Redis's own (TIME), so
# several processes with skewed clocks share one bucket correctly. Returns {allowed, retry_after_ms}.
_TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local refill_per_ms = tonumber(ARGV[2]) / 1000.0
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * refill_per_ms)
local allowed = 0
local retry_after = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_after = math.ceil((cost - tokens) / refill_per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / refill_per_ms) + 1000)
return {allowed, retry_after}
"""


def make_redis(url: str, timeout_s: float) -> Redis:
    """A client that gives up after `timeout_s` and does not retry (redis-py retries 3 times by default,
    which would turn a dead Redis into a multi-second stall on every request)."""
    return Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )


class RedisGuard:
    """Runs Redis calls, turning an outage into a default value, one log line, and a short pause."""

    def __init__(self, name: str, *, pause_after_failure_s: float = 1.0) -> None:
        self._name = name
        self._pause_s = pause_after_failure_s
        self._down_since: float | None = None
        self._skip_until = 0.0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    async def run(self, call: Callable[[], Awaitable[T]], default: T) -> T:
        if self._down_since is not None and time.monotonic() < self._skip_until:
            return default
        try:
            result = await call()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._down_since is None:
                log.warning("redis unavailable for %s, carrying on without it: %s", self._name, exc)
                self._down_since = time.monotonic()
            self._skip_until = time.monotonic() + self._pause_s
            return default
        if self._down_since is not None:
            log.info("redis back for %s after %.1f s", self._name, time.monotonic() - self._down_since)
            self._down_since = None
        return result


class SessionStore:
    """A small JSON dict per (user, conversation) that expires `ttl_s` after its last write."""

    def __init__(
        self, redis: Redis, ttl_s: int, *, prefix: str = "assist:session", pause_after_failure_s: float = 1.0
    ) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._prefix = prefix
        self._guard = RedisGuard("sessions", pause_after_failure_s=pause_after_failure_s)

    def key(self, user_id: str, conversation_id: str) -> str:
        return f"{self._prefix}:{user_id}:{conversation_id}"

    async def get(self, user_id: str, conversation_id: str) -> dict[str, Any] | None:
        """The session, or None when there is none, it expired, or Redis is down."""
        raw = await self._guard.run(lambda: self._redis.get(self.key(user_id, conversation_id)), None)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def set(self, user_id: str, conversation_id: str, values: Mapping[str, Any]) -> None:
        """Replace the session and restart its TTL; silently skipped when Redis is down."""
        payload = json.dumps(dict(values), separators=(",", ":"))
        await self._guard.run(
            lambda: self._redis.set(self.key(user_id, conversation_id), payload, ex=self._ttl_s), None
        )


# The NLG agent's answers; the task sync invalidates them by task tag (`task_cache_tag`).
ANSWER_CACHE_NAMESPACE = "nlg"


def task_cache_tag(task_id: str) -> str:
    """The tag of every cached answer whose prompt used this task's facts."""
    return f"task:{task_id}"


def user_cache_tag(user_id: str) -> str:
    """The tag of every cached answer written for this user, so an erasure drops only theirs.

    A digest, not the id: the tag is a Redis key name, and key names must not hold personal data.
    """
    return f"user:{hashlib.sha256(user_id.encode()).hexdigest()}"


class ResponseCache:
    """Cached answers by a caller-computed key hash (the caller decides what makes two questions equal).

    An answer may carry tags (the tasks it used): a tag is a Redis set of key hashes, so a change to a task
    deletes the answers that used it (`invalidate_tag`) instead of leaving them to their TTL.
    """

    def __init__(self, redis: Redis, namespace: str, *, pause_after_failure_s: float = 1.0) -> None:
        self._redis = redis
        self._namespace = namespace
        self._guard = RedisGuard(f"cache:{namespace}", pause_after_failure_s=pause_after_failure_s)
        self.hits = 0
        self.misses = 0

    def _key(self, key_hash: str) -> str:
        return f"assist:cache:{self._namespace}:{key_hash}"

    async def get(self, key_hash: str) -> bytes | None:
        """The cached value, or None on a miss or when Redis is down (counted as a miss)."""
        raw = await self._guard.run(lambda: self._redis.get(self._key(key_hash)), None)
        value = raw.encode() if isinstance(raw, str) else raw
        if value is None:
            self.misses += 1
            CACHE_MISSES.labels(self._namespace).inc()
        else:
            self.hits += 1
            CACHE_HITS.labels(self._namespace).inc()
        return value

    def _tag_key(self, tag: str) -> str:
        return f"assist:cache:{self._namespace}:tag:{tag}"

    async def set(self, key_hash: str, value: bytes, ttl_s: int, *, tags: Sequence[str] = ()) -> None:
        """Store the value; each tag's set remembers the key (and lives as long as its newest member)."""

        async def write() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._key(key_hash), value, ex=ttl_s)
                for tag in tags:
                    pipe.sadd(self._tag_key(tag), key_hash)
                    pipe.expire(self._tag_key(tag), ttl_s, gt=True)
                    pipe.expire(self._tag_key(tag), ttl_s, nx=True)
                await pipe.execute()

        await self._guard.run(write, None)

    async def invalidate_tag(self, tag: str) -> int:
        """Delete every cached value stored with `tag`; how many were deleted (0 when Redis is down)."""

        async def drop() -> int:
            members = await self._redis.smembers(self._tag_key(tag))
            keys = [self._key(m.decode() if isinstance(m, bytes) else m) for m in members]
            deleted = int(await self._redis.delete(*keys)) if keys else 0
            await self._redis.delete(self._tag_key(tag))
            return deleted

        return await self._guard.run(drop, 0)

    async def drop_tag(self, tag: str, *, dry_run: bool = False) -> int:
        """Delete (or, with `dry_run`, count) the values stored with `tag`, and the tag itself.

        Unlike `invalidate_tag` this raises when Redis is down: an erasure must not report success
        over cached answers it could not reach.
        """
        members = await self._redis.smembers(self._tag_key(tag))
        keys = [self._key(m.decode() if isinstance(m, bytes) else m) for m in members]
        if dry_run:
            return int(await self._redis.exists(*keys)) if keys else 0
        deleted = int(await self._redis.delete(*keys)) if keys else 0
        await self._redis.delete(self._tag_key(tag))
        return deleted


class RateLimiter:
    """A token bucket per key (user, client app), shared by every process through Redis.

    `capacity` requests may come at once; then `refill_per_s` per second. Fails open when Redis is down.
    """

    def __init__(
        self,
        redis: Redis,
        capacity: int,
        refill_per_s: float,
        *,
        prefix: str = "assist:ratelimit",
        pause_after_failure_s: float = 1.0,
    ) -> None:
        if capacity <= 0 or refill_per_s <= 0:
            raise ValueError("capacity and refill_per_s must be positive")
        self._redis = redis
        self._capacity = capacity
        self._refill_per_s = refill_per_s
        self._prefix = prefix
        self._script = redis.register_script(_TOKEN_BUCKET)
        self._guard = RedisGuard("rate limiter", pause_after_failure_s=pause_after_failure_s)

    async def allow(self, key: str, cost: int = 1) -> tuple[bool, float]:
        """(allowed, seconds to wait before a retry may succeed); (True, 0.0) when Redis is down."""
        result = await self._guard.run(
            lambda: self._script(
                keys=[f"{self._prefix}:{key}"], args=[self._capacity, self._refill_per_s, cost]
            ),
            None,
        )
        if result is None:
            return True, 0.0
        allowed, retry_after_ms = int(result[0]), int(result[1])
        return allowed == 1, retry_after_ms / 1000.0
