"""Fixtures shared by the whole suite: the real local stack (Redis, Kafka, FerretDB), started once.

The stack is started with the same script the run command uses (`scripts/stack.sh`); tests never mock a
store. Tests that write to MongoDB use a database of their own (`database_name`).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from mesh.storage.mongo import Database, connect, ensure_indexes
from mesh.storage.redis_store import make_redis
from tests.local_stack import ROOT, STACK, Stack, mongo_uri_for, start_stack

# The whole mesh (fixture `mesh_up`), shared by tests/e2e and tests/browser: started once per session.
pytest_plugins = ["tests.mesh_fixture", "tests.span_capture"]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start Redis, Kafka and FerretDB (a no-op when they already run) and give their addresses."""
    yield start_stack()
    # Servers a test stopped are started again so later tests (and a developer's shell) find them.
    subprocess.run(["bash", str(STACK), "start"], check=False, cwd=ROOT)


@pytest.fixture
def database_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def db(stack: Stack, database_name: str) -> AsyncIterator[Database]:
    """A fresh database with the indexes, opened through `connect()` as the processes open it."""
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
    """A client of the stack's Redis with the processes' own timeout (0.5 s)."""
    client = make_redis(stack.redis_url, 0.5)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def topic() -> str:
    """A Kafka topic of this test's own, so records of other tests and runs are never counted."""
    return f"test.assist.{uuid.uuid4().hex[:12]}"


# Fixtures that need local servers, with the marker a test using them gets. Applied from each test's
# fixture closure (direct or through other fixtures), so `-m "not stack and not e2e"` (the fast lane,
# `./dev test --fast`) leaves out every test that needs a server without anyone remembering to mark it.
# `edge_url` reaches `mesh_up` through getfixturevalue, which a closure cannot see: it is listed itself.
# `kube_cluster` (tests/helm) starts a loopback Kubernetes control plane: not for the fast lane either.
SERVER_FIXTURE_MARKS = {"stack": "stack", "mesh_up": "e2e", "edge_url": "e2e", "kube_cluster": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, mark in SERVER_FIXTURE_MARKS.items():
            if fixture in used:
                item.add_marker(getattr(pytest.mark, mark))
