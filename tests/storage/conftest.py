"""Fixtures for the store tests: a Redis client (the database fixture is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from mesh.storage.redis_store import make_redis
from tests.local_stack import Stack


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    client = make_redis(stack.redis_url, 0.5)
    try:
        yield client
    finally:
        await client.aclose()
