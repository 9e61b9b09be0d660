"""Shared by the relay tests: turns with events in their outbox, and waiting for the outbox to drain."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from assist.v1 import common_pb2, events_pb2, nlg_pb2

from mesh.events.kafka import make_producer
from mesh.storage.mongo import Database
from mesh.storage.turns import TurnStore
from tests.local_stack import Stack


def factory(stack: Stack) -> Callable[[], AIOKafkaProducer]:
    return lambda: make_producer(stack.kafka_bootstrap, request_timeout_ms=3000)


async def completed_turns(db: Database, topic: str, n: int, conversation_id: str = "c1") -> list[str]:
    """n completed turns, each with one interaction event on `topic`; returns the event ids."""
    turns = TurnStore(db)
    event_ids = []
    for i in range(n):
        begin = await turns.begin_turn(conversation_id, "u1", f"m-{i}", f"q{i}", common_pb2.PageContext(), 30)
        envelope = events_pb2.EventEnvelope(
            event_id=uuid.uuid4().hex,
            interaction=events_pb2.InteractionEvent(
                conversation_id=conversation_id, turn_id=begin.turn.turn_id
            ),
        )
        await turns.complete_turn(
            begin.turn.turn_id,
            answer=f"a{i}",
            intent=common_pb2.INTENT_HELP,
            language=common_pb2.LANGUAGE_EN,
            degraded=[],
            writer=nlg_pb2.WRITER_LOCAL,
            generation={},
            events=[(topic, conversation_id, envelope)],
        )
        event_ids.append(envelope.event_id)
    return event_ids


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
