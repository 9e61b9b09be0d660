"""Shared by the relay tests: turns with events in their outbox, and waiting for the outbox to drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaProducer

from mesh.events.kafka import make_producer
from mesh.storage.mongo import Database
from mesh.storage.turns import TurnStore
from testing.outbox_turns import completed_turn_with_event
from tests.local_stack import Stack


def factory(stack: Stack) -> Callable[[], AIOKafkaProducer]:
    return lambda: make_producer(stack.kafka_bootstrap, request_timeout_ms=3000)


async def completed_turns(db: Database, topic: str, n: int, conversation_id: str = "c1") -> list[str]:
    """n completed turns, each with one interaction event on `topic`; returns the event ids."""
    turns = TurnStore(db)
    return [
        await completed_turn_with_event(
            turns,
            topic,
            conversation_id=conversation_id,
            user_id="u1",
            client_message_id=f"m-{i}",
            text=f"q{i}",
            answer=f"a{i}",
        )
        for i in range(n)
    ]


async def pending_documents(db: Database) -> int:
    return sum(
        [await db[c].count_documents({"outbox_pending": True}) for c in ("turns", "feedback", "satisfaction")]
    )


async def until_drained(db: Database, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await pending_documents(db) == 0:
            return
        await asyncio.sleep(0.25)
    assert await pending_documents(db) == 0
