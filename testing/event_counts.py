"""Counting a turn's interaction events where they travel: on the Kafka topic and in analytics' facts.

A stored turn's event goes through the outbox to Kafka (at least once: a relay killed mid-batch re-sends)
and is recorded by the analytics consumer once (its fact's `_id` is the event id). Tests that break the
path on purpose (tests/e2e/test_resilience.py, tests/chaos) count both ends to prove nothing was lost and
nothing counted twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from mesh.events.kafka import INTERACTIONS_TOPIC, decode
from mesh.storage.mongo import connect, default_database

FACTS = "analytics_events"  # analytics/consumer.py's collection (tools do not import the process)


def _consumer(kafka_bootstrap: str) -> AIOKafkaConsumer:
    """A group-less consumer of the interactions topic: it is given every partition, reads from the start."""
    return AIOKafkaConsumer(
        INTERACTIONS_TOPIC,
        bootstrap_servers=kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def _assigned(consumer: AIOKafkaConsumer, timeout_s: float = 10.0) -> set[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    while True:
        partitions: set[TopicPartition] = consumer.assignment()
        if partitions or time.monotonic() > deadline:
            return partitions
        await asyncio.sleep(0.1)


async def interactions_topic_end(kafka_bootstrap: str) -> dict[int, int]:
    """The interactions topic's end offset per partition: where records written from now on begin."""
    consumer = _consumer(kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(sorted(await _assigned(consumer)))
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def interaction_records_on_topic(
    kafka_bootstrap: str,
    turn_ids: Collection[str],
    timeout_s: float,
    *,
    since: Mapping[int, int] | None = None,
) -> dict[str, int]:
    """How many records of the interactions topic carry each of these turns.

    Read from the start, or from `since` (offsets per partition, from `interactions_topic_end`) so a
    long-lived topic is not read whole each time. Stops once every turn was seen and the topic has been
    quiet for a second, or at `timeout_s`.
    """
    seen = dict.fromkeys(turn_ids, 0)
    consumer = _consumer(kafka_bootstrap)
    await consumer.start()
    try:
        for tp in await _assigned(consumer):
            if since is not None and tp.partition in since:
                consumer.seek(tp, since[tp.partition])
        deadline = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            records = [r for rs in batch.values() for r in rs]
            if records:
                idle_since = time.monotonic()
            for record in records:
                turn_id = decode(record.value).interaction.turn_id
                if turn_id in seen:
                    seen[turn_id] += 1
            if all(seen.values()) and time.monotonic() - idle_since > 1.0:
                break
    finally:
        await consumer.stop()
    return seen


async def interaction_facts(mongo_uri: str, turn_ids: Collection[str], timeout_s: float) -> int:
    """Wait until analytics has recorded these turns (or `timeout_s`); how many facts it holds for them."""
    client = connect(mongo_uri, 5000)
    try:
        facts = default_database(client)[FACTS]
        deadline = time.monotonic() + timeout_s
        while True:
            n = await facts.count_documents({"kind": "interaction", "turn_id": {"$in": sorted(turn_ids)}})
            if n >= len(turn_ids) or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.5)
    finally:
        await client.close()


async def interaction_facts_in_conversations(
    mongo_uri: str, conversation_ids: Collection[str], *, at_least: int, timeout_s: float
) -> list[str]:
    """The turn id of every interaction fact in these conversations, once there are `at_least` of them.

    After the count is reached it reads once more a second later, so a late extra fact (a turn stored
    twice, or stored although its client saw it fail) is counted rather than missed.
    """
    client = connect(mongo_uri, 5000)
    query = {"kind": "interaction", "conversation_id": {"$in": sorted(conversation_ids)}}
    try:
        facts = default_database(client)[FACTS]
        deadline = time.monotonic() + timeout_s
        while True:
            if await facts.count_documents(query) >= at_least or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        return [doc["turn_id"] async for doc in facts.find(query, {"turn_id": 1})]
    finally:
        await client.close()
