"""Fixtures for the event tests: a fresh database with indexes, and topic names no other test uses."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from mesh.storage.mongo import Database, connect, ensure_indexes
from tests.local_stack import Stack, mongo_uri_for


@pytest.fixture
async def db(stack: Stack, database_name: str) -> AsyncIterator[Database]:
    """A fresh database with the indexes, through `connect()` as the relay and consumer open it."""
    client = connect(mongo_uri_for(stack, database_name), 5000)
    try:
        database = client[database_name]
        await ensure_indexes(database)
        yield database
        await client.drop_database(database_name)
    finally:
        await client.close()


@pytest.fixture
def topic() -> str:
    """A topic of this test's own, so records of other tests and runs are never counted."""
    return f"test.assist.{uuid.uuid4().hex[:12]}"
