"""Fixtures for the task sync: a host database of the test's own (a PostgreSQL schema in the stack's host
database, with the demo host schema and data), and the sync wired to the test's MongoDB and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from redis.asyncio import Redis

from demo import hostdb
from demo.data import load_demo_data
from host_sync.apply import ChangeApplier
from host_sync.mapping import HostMapping, load_mapping
from host_sync.source import HostSource
from host_sync.worker import HostSync
from mesh.storage.mongo import Database
from mesh.storage.redis_store import ANSWER_CACHE_NAMESPACE, ResponseCache, make_redis
from tests.local_stack import ROOT, Stack

DEMO_MAPPING = ROOT / "host_sync" / "mappings" / "demo.yaml"


@pytest.fixture
def host_dsn(stack: Stack) -> Iterator[str]:
    """A DSN whose search_path is a fresh schema holding the demo host's tables and data."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(stack.host_db_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    dsn = make_conninfo(stack.host_db_dsn, options=f"-csearch_path={schema}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        hostdb.apply_schema(conn)
        hostdb.seed(conn, load_demo_data())
    yield dsn
    with psycopg.connect(stack.host_db_dsn, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def host(host_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection to the test's host database, as the host site's code would hold it."""
    with psycopg.connect(host_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def mapping() -> HostMapping:
    return load_mapping(DEMO_MAPPING)


@pytest.fixture
async def cache(stack: Stack) -> AsyncIterator[ResponseCache]:
    redis: Redis = make_redis(stack.redis_url, 0.5)
    try:
        yield ResponseCache(redis, f"{ANSWER_CACHE_NAMESPACE}-{uuid.uuid4().hex[:8]}")
    finally:
        await redis.aclose()


@pytest.fixture
async def sync(
    db: Database, host_dsn: str, mapping: HostMapping, cache: ResponseCache
) -> AsyncIterator[HostSync]:
    source = HostSource(host_dsn, mapping)
    try:
        yield HostSync(db, source, mapping, ChangeApplier(db, cache), batch_size=5, lag_window_s=5.0)
    finally:
        await source.close()
