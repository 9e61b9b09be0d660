"""A daily budget of model tokens per user, kept in Redis under one key per user and UTC day.

WHY: rate limits bound how often a person may ask, not what the answers cost; a long question every few
seconds can still spend a lot of model tokens. The NLG agent adds what each answer used (the SDK's usage
metadata, or an estimate for the local writer's answers, which cost no model tokens and are not counted)
and the edge refuses a new message once the day's budget is spent, before anything is called, with a 429
whose Retry-After runs to midnight UTC: retrying sooner cannot help. The NLG agent checks again before it
calls the model (a turn admitted just under the budget does not get a model answer over it: the local
writer answers). Redis down: no budget is enforced (fail open, as the rate limits).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from mesh.storage.redis_store import RedisGuard

PREFIX = "assist:tokens"
# Kept a day past its own so a clock a little behind still finds yesterday's count.
KEY_TTL_S = 2 * 86400


def day_of(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%d")


def seconds_to_midnight_utc(now: datetime) -> int:
    """Whole seconds until the next UTC day starts (at least 1): when a spent budget is whole again."""
    now = now.astimezone(UTC)
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    return max(1, math.ceil((midnight - now).total_seconds()))


class DailyTokenBudget:
    """`limit` tokens per user per UTC day; 0 means no budget."""

    def __init__(self, redis: Redis | None, limit: int, *, prefix: str = PREFIX) -> None:
        self._redis = redis
        self.limit = limit
        self._prefix = prefix
        self._guard = RedisGuard("token budget")

    def key(self, user_id: str, now: datetime | None = None) -> str:
        return f"{self._prefix}:{user_id}:{day_of(now or datetime.now(UTC))}"

    async def used(self, user_id: str) -> int:
        redis = self._redis
        if redis is None or not self.limit or not user_id:
            return 0
        value = await self._guard.run(lambda: redis.get(self.key(user_id)), None)
        return int(value or 0)

    async def exhausted(self, user_id: str) -> bool:
        return bool(self.limit) and await self.used(user_id) >= self.limit

    async def spend(self, user_id: str, tokens: int) -> None:
        redis = self._redis
        if redis is None or not user_id or tokens <= 0:
            return
        key = self.key(user_id)

        async def add() -> None:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.incrby(key, tokens)
                pipe.expire(key, KEY_TTL_S)
                await pipe.execute()

        await self._guard.run(add, None)
