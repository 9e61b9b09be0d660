"""Telling "the agent's own store failed" apart from "the agent is broken", across a gRPC call.

A circuit breaker protects callers from an agent that is down or wedged; opening it because the agent's
database was slow for a moment turns a short store hiccup into minutes of degraded answers for everyone
(measured in wave one: 16 concurrent chats on a slow store opened the context agent's breaker and most
turns failed). So an agent that fails because a store failed says so in the trailing metadata of its
UNAVAILABLE status, and the coordinator's breaker does not count that call against the agent.
"""

from __future__ import annotations

from collections.abc import Iterable

CAUSE_METADATA_KEY = "assist-cause"
STORE_CAUSE = "store"


def store_cause_trailer() -> tuple[tuple[str, str], ...]:
    """The trailing metadata an agent sets when a store it depends on failed the call."""
    return ((CAUSE_METADATA_KEY, STORE_CAUSE),)


def failed_on_store(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
    """True when the call's trailing metadata says it failed because the agent's store did."""
    return any(key == CAUSE_METADATA_KEY and value == STORE_CAUSE for key, value in trailing_metadata or ())
