"""Fixtures for the event tests: topic names no other test uses (the database fixture is in tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def topic() -> str:
    """A topic of this test's own, so records of other tests and runs are never counted."""
    return f"test.assist.{uuid.uuid4().hex[:12]}"
