"""Fixtures shared by the whole suite: the real local stack (Redis, Kafka, FerretDB), started once.

The stack is started with the same script the run command uses (`scripts/stack.sh`); tests never mock a
store. Tests that write to MongoDB use a database of their own (`database_name`).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from tests.local_stack import ROOT, STACK, Stack, start_stack

# The whole mesh (fixture `mesh_up`), shared by tests/e2e and tests/browser: started once per session.
pytest_plugins = ["tests.mesh_fixture"]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start Redis, Kafka and FerretDB (a no-op when they already run) and give their addresses."""
    yield start_stack()
    # Servers a test stopped are started again so later tests (and a developer's shell) find them.
    subprocess.run(["bash", str(STACK), "start"], check=False, cwd=ROOT)


@pytest.fixture
def database_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"
