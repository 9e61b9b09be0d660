"""Fixtures shared by the whole suite: the real local stack (Redis, Kafka, FerretDB), started once.

The stack is started with the same script the run command uses (`scripts/stack.sh`); tests never mock a
store. Each test that writes to MongoDB gets its own database, so tests do not see each other's data.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "scripts" / "stack.sh"


@dataclass(frozen=True)
class Stack:
    """Addresses of the running local servers, and a way to stop and start one of them."""

    mongo_uri: str
    redis_url: str
    kafka_bootstrap: str

    def stop(self, *names: str) -> None:
        subprocess.run(["bash", str(STACK), "stop", *names], check=True, cwd=ROOT)

    def start(self, *names: str) -> None:
        subprocess.run(["bash", str(STACK), "start", *names], check=True, cwd=ROOT)

    def env(self) -> dict[str, str]:
        return {
            "MONGO_URI": self.mongo_uri,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
        }


def _stack_env() -> dict[str, str]:
    out = subprocess.run(["bash", str(STACK), "env"], check=True, cwd=ROOT, capture_output=True, text=True)
    values: dict[str, str] = {}
    for line in out.stdout.splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line:
            key, _, value = line.partition("=")
            values[key] = value.strip("'\"")
    return values


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start Redis, Kafka and FerretDB (a no-op when they already run) and give their addresses."""
    subprocess.run(["bash", str(STACK), "start"], check=True, cwd=ROOT)
    values = _stack_env()
    yield Stack(values["MONGO_URI"], values["REDIS_URL"], values["KAFKA_BOOTSTRAP"])
    # Servers a test stopped are started again so later tests (and a developer's shell) find them.
    subprocess.run(["bash", str(STACK), "start"], check=False, cwd=ROOT)


def mongo_uri_for(stack: Stack, database: str) -> str:
    """The stack's MongoDB URI pointing at another database."""
    base, _, rest = stack.mongo_uri.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{database}" + (f"?{query}" if query else "")


@pytest.fixture
def database_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def mongo_db(stack: Stack, database_name: str) -> AsyncIterator[AsyncDatabase]:  # type: ignore[type-arg]
    """A fresh MongoDB database for one test, dropped afterwards."""
    client: AsyncMongoClient = AsyncMongoClient(stack.mongo_uri, serverSelectionTimeoutMS=5000)  # type: ignore[type-arg]
    try:
        yield client[database_name]
        await client.drop_database(database_name)
    finally:
        await client.close()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a mesh process started by a test: gen/ importable, plus the given values."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen")])
    env.update(extra)
    return env
