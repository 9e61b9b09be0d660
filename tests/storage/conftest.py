"""Fixtures for the store tests: a database opened the way the processes open it, and a Redis client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from mesh.storage.mongo import Database, connect, ensure_indexes
from mesh.storage.redis_store import make_redis
from tests.local_stack import Stack, mongo_uri_for


@pytest.fixture
async def db(stack: Stack, database_name: str) -> AsyncIterator[Database]:
    """A fresh database with the indexes, through `connect()` (tz-aware, w=majority, short timeouts)."""
    client = connect(mongo_uri_for(stack, database_name), 5000)
    try:
        database = client[database_name]
        await ensure_indexes(database)
        yield database
        await client.drop_database(database_name)
    finally:
        await client.close()


@pytest.fixture
async def redis(stack: Stack) -> AsyncIterator[Redis]:
    client = make_redis(stack.redis_url, 0.5)
    try:
        yield client
    finally:
        await client.aclose()
