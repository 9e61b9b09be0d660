"""Fixtures for the support tests: a Redis client on the local stack (the database fixture is shared)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from mesh.storage.redis_store import make_redis
from tests.local_stack import Stack


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    client = make_redis(stack.redis_url, 2.0)
    try:
        yield client
    finally:
        await client.aclose()
