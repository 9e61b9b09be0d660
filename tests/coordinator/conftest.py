"""Fixtures for the coordinator's tests: the scripted fake agents and the coordinator running over them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mesh.storage.mongo import Database
from tests.coordinator.fake_agents import FakeAgents, running_fake_agents
from tests.coordinator.turn_harness import InProcessCoordinator, running_coordinator


@pytest.fixture
async def fake_agents() -> AsyncIterator[FakeAgents]:
    """Six fake agents on ports of their own, answering plausibly until a test scripts them otherwise."""
    async with running_fake_agents() as agents:
        yield agents


@pytest.fixture
async def coordinator(db: Database, fake_agents: FakeAgents) -> AsyncIterator[InProcessCoordinator]:
    """The real coordinator over `fake_agents`, with production call caps, storing turns in `db`."""
    async with running_coordinator(db, fake_agents) as running:
        yield running
