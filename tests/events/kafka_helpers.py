"""Reading back what the code under test published: every record of a topic, from the beginning."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiokafka import AIOKafkaConsumer
from assist.v1 import events_pb2

from mesh.events.kafka import decode, ensure_topics


async def read_topic(
    bootstrap: str, topic: str, expected: int, *, timeout_s: float = 30.0, settle_s: float = 1.0
) -> list[events_pb2.EventEnvelope]:
    """All envelopes on `topic`: waits for `expected` records, then `settle_s` more to catch extra copies."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    envelopes: list[events_pb2.EventEnvelope] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        settle_until: float | None = None
        while True:
            now = loop.time()
            if settle_until is None and len(envelopes) >= expected:
                settle_until = now + settle_s
            if now >= deadline or (settle_until is not None and now >= settle_until):
                break
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                envelopes.extend(decode(r.value) for r in records)
    finally:
        await consumer.stop()
    return envelopes


def event_id_counts(envelopes: list[events_pb2.EventEnvelope]) -> Counter[str]:
    return Counter(e.event_id for e in envelopes)


async def create_topic(bootstrap: str, topic: str) -> None:
    await ensure_topics(bootstrap, [topic], partitions=3)
