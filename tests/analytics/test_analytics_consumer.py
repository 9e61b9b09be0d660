"""The analytics consumer: daily figures from Kafka, each event counted once despite redelivery and restarts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from assist.v1 import common_pb2, events_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from analytics.consumer import AnalyticsConsumer, daily_summary, prune_before, record_events
from mesh.events.kafka import encode, make_producer
from mesh.storage.mongo import Database
from tests.events.kafka_helpers import create_topic
from tests.local_stack import Stack

pytestmark = pytest.mark.stack

DAY = "2026-01-15"


def _at(hour: int, minute: int = 0, day: int = 15) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime(2026, 1, day, hour, minute, tzinfo=UTC))
    return ts


def _interaction(
    user: str, conversation: str, *, degraded: bool = False, hour: int = 9, day: int = 15
) -> events_pb2.EventEnvelope:
    return events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex,
        occur_time=_at(hour, day=day),
        interaction=events_pb2.InteractionEvent(
            user_id=user,
            conversation_id=conversation,
            turn_id=uuid.uuid4().hex,
            degraded_components=[common_pb2.COMPONENT_NLG] if degraded else [],
        ),
    )


def _feedback(user: str, message: str, rating: int, minute: int) -> events_pb2.EventEnvelope:
    return events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex,
        occur_time=_at(10, minute),
        feedback=events_pb2.FeedbackEvent(
            user_id=user,
            message_id=message,
            conversation_id="c1",
            rating=common_pb2.FeedbackRating.ValueType(rating),
        ),
    )


def _day_of_events() -> list[events_pb2.EventEnvelope]:
    """On DAY: 3 users, 3 conversations, 5 turns (1 degraded), 2 rated messages (one changed to down), 1 score;
    plus one turn on the next day (UTC), which DAY does not count."""
    return [
        _interaction("u1", "c1"),
        _interaction("u1", "c1", degraded=True),
        _interaction("u2", "c2"),
        _interaction("u3", "c3"),
        _feedback("u1", "m1", common_pb2.FEEDBACK_RATING_UP, minute=1),
        _feedback("u1", "m1", common_pb2.FEEDBACK_RATING_DOWN, minute=2),
        _feedback("u2", "m2", common_pb2.FEEDBACK_RATING_UP, minute=3),
        events_pb2.EventEnvelope(
            event_id=uuid.uuid4().hex,
            occur_time=_at(11),
            satisfaction=events_pb2.SatisfactionEvent(user_id="u2", conversation_id="c2", score=4),
        ),
        _interaction("u1", "c1", hour=23),
        _interaction("u9", "c9", day=16),
    ]


EXPECTED = {
    "day": DAY,
    "turns": 5,
    "degraded_turns": 1,
    "conversations": 3,
    "users": 3,
    "thumbs_up": 1,
    "thumbs_down": 1,
    "satisfaction_count": 1,
    "satisfaction_sum": 4,
    "satisfaction_avg": 4.0,
}


async def _produce(bootstrap: str, topic: str, envelopes: list[events_pb2.EventEnvelope]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(topic, encode(envelope), key=b"c1")
    finally:
        await producer.stop()


async def _consume(
    consumer: AnalyticsConsumer, records: int, *, commit: bool, timeout_s: float = 30.0
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while consumer.records_seen < records and loop.time() < deadline:
        if commit:
            await consumer.process_batch(timeout_ms=200)
        else:
            await consumer.poll_and_record(timeout_ms=200)
    assert consumer.records_seen == records


async def test_record_events_counts_each_event_once_even_when_recorded_concurrently(db: Database) -> None:
    events = _day_of_events()
    assert await record_events(db, events + events[:3]) == len(events)
    assert await record_events(db, events) == 0
    duplicate = _interaction("u4", "c4")
    assert sum(await asyncio.gather(*(record_events(db, [duplicate]) for _ in range(20)))) == 1
    task = events_pb2.EventEnvelope(event_id="t1", task_changed=events_pb2.TaskChangedEvent(deleted=True))
    assert await record_events(db, [task]) == 0  # task changes are not analytics facts
    summary = await daily_summary(db, DAY)
    assert summary == EXPECTED | {"turns": 6, "users": 4, "conversations": 4}
    assert (await daily_summary(db, "2026-01-16"))["turns"] == 1
    assert await prune_before(db, "2026-01-16") == len(events) - 1 + 1
    assert (await daily_summary(db, DAY))["turns"] == 0
    assert (await daily_summary(db, "2026-01-16"))["turns"] == 1


async def test_duplicate_envelopes_from_kafka_are_counted_once(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    events = _day_of_events()
    sent = events + events[:4] + [events[5]]  # the relay re-sent some
    await _produce(stack.kafka_bootstrap, topic, [*sent[:3], *sent])
    consumer = AnalyticsConsumer(db, stack.kafka_bootstrap, f"test-{uuid.uuid4().hex[:8]}", topics=[topic])
    await consumer.start()
    try:
        await _consume(consumer, len(sent) + 3, commit=True)
    finally:
        await consumer.stop()
    assert consumer.facts_stored == len(events)
    assert await daily_summary(db, DAY) == EXPECTED


async def test_consumer_restarted_before_committing_rereads_and_still_counts_once(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    events = _day_of_events()
    await _produce(stack.kafka_bootstrap, topic, events)
    group = f"test-{uuid.uuid4().hex[:8]}"
    first = AnalyticsConsumer(db, stack.kafka_bootstrap, group, topics=[topic])
    await first.start()
    try:
        await _consume(first, len(events), commit=False)  # stored, then "crashed" before committing
    finally:
        await first.stop()
    assert first.facts_stored == len(events)

    second = AnalyticsConsumer(db, stack.kafka_bootstrap, group, topics=[topic])
    await second.start()
    try:
        await _consume(second, len(events), commit=True)  # everything is delivered again...
    finally:
        await second.stop()
    assert second.facts_stored == 0  # ...and nothing is counted twice
    assert await daily_summary(db, DAY) == EXPECTED

    third = AnalyticsConsumer(db, stack.kafka_bootstrap, group, topics=[topic])
    await third.start()
    try:
        assert await third.process_batch(timeout_ms=1500) == 0  # committed: nothing to re-read
    finally:
        await third.stop()


async def test_a_malformed_record_is_skipped_and_does_not_block_the_partition(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    good = _interaction("u1", "c1")
    producer = make_producer(stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"\xff\xff not protobuf", key=b"c1")
        await producer.send_and_wait(topic, encode(good), key=b"c1")
    finally:
        await producer.stop()
    consumer = AnalyticsConsumer(db, stack.kafka_bootstrap, f"test-{uuid.uuid4().hex[:8]}", topics=[topic])
    await consumer.start()
    try:
        await _consume(consumer, 2, commit=True)
    finally:
        await consumer.stop()
    assert consumer.malformed == 1 and consumer.facts_stored == 1


async def test_an_idle_consumer_waits_long_but_stores_a_new_record_at_once_and_stops_at_once(
    stack: Stack, db: Database, topic: str
) -> None:
    """run_forever waits 5 s per idle fetch (issue 8), yet neither a new record nor a stop waits for it."""
    await create_topic(stack.kafka_bootstrap, topic)
    consumer = AnalyticsConsumer(db, stack.kafka_bootstrap, f"test-{uuid.uuid4().hex[:8]}", topics=[topic])
    await consumer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    running = asyncio.create_task(consumer.run_forever(stop))
    try:
        await asyncio.sleep(3)  # assigned, fetching, nothing there: inside a 5 s wait
        produced = loop.time()
        await _produce(stack.kafka_bootstrap, topic, [_interaction("u1", "c1")])
        while consumer.facts_stored < 1:
            assert loop.time() - produced < 3, "the record waited for the idle fetch to time out"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)  # back in an idle wait
        asked = loop.time()
        stop.set()
        await asyncio.wait_for(running, timeout=5)
        assert loop.time() - asked < 1
    finally:
        stop.set()
        await consumer.stop()
