"""The outbox relay against FerretDB and Kafka: everything published, once, even with two relays or an outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from assist.v1 import common_pb2, events_pb2, nlg_pb2

from mesh.events.kafka import make_producer
from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import Database
from mesh.storage.turns import ConversationStore, TurnStore
from outbox_relay.relay import OutboxRelay
from tests.events.kafka_helpers import create_topic, event_id_counts, read_topic
from tests.local_stack import Stack
from tests.storage.outage import RESTARTED_ELSEWHERE, is_listening

pytestmark = pytest.mark.stack


def _factory(stack: Stack) -> Callable[[], AIOKafkaProducer]:
    return lambda: make_producer(stack.kafka_bootstrap, request_timeout_ms=3000)


async def _completed_turns(db: Database, topic: str, n: int, conversation_id: str = "c1") -> list[str]:
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


async def _pending_documents(db: Database) -> int:
    return sum(
        [await db[c].count_documents({"outbox_pending": True}) for c in ("turns", "feedback", "satisfaction")]
    )


async def _until_drained(db: Database, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await _pending_documents(db) == 0:
            return
        await asyncio.sleep(0.25)
    assert await _pending_documents(db) == 0


async def test_relay_publishes_every_outbox_entry_and_marks_it_sent(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    expected = await _completed_turns(db, topic, 3)
    conversation = await ConversationStore(db).create_conversation("u1", common_pb2.PageContext())
    [turn] = await _completed_turns(db, topic, 1, conversation.conversation_id)
    turn_doc = await db.turns.find_one({"conversation_id": conversation.conversation_id})
    assert turn_doc is not None
    feedback = FeedbackStore(db, topic=topic)
    await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_UP, "")
    await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_DOWN, "")
    await feedback.record_satisfaction("u1", conversation.conversation_id, 5, "")

    relay = OutboxRelay(db, _factory(stack), "relay-1")
    try:
        assert await relay.run_once() == 3 + 1 + 2 + 1
        assert await relay.run_once() == 0
    finally:
        await relay.close()

    envelopes = await read_topic(stack.kafka_bootstrap, topic, 7)
    counts = event_id_counts(envelopes)
    assert len(counts) == 7 and set(counts.values()) == {1}
    assert set(expected) | {turn} <= set(counts)
    kinds = sorted(e.WhichOneof("payload") or "" for e in envelopes)
    assert kinds == [
        "feedback",
        "feedback",
        "interaction",
        "interaction",
        "interaction",
        "interaction",
        "satisfaction",
    ]
    assert await _pending_documents(db) == 0
    states = {
        e["state"]
        for collection in ("turns", "feedback", "satisfaction")
        async for d in db[collection].find()
        for e in d["outbox"]
    }
    assert states == {"sent"}
    assert await db.claims.count_documents({}) == 0


async def test_two_relays_running_concurrently_over_100_turns_publish_each_event_exactly_once(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    expected = await _completed_turns(db, topic, 100)
    relays = [OutboxRelay(db, _factory(stack), f"relay-{i}", batch_size=20, idle_s=0.05) for i in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run_forever(stop)) for r in relays]
    try:
        await _until_drained(db, timeout_s=60)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 100, settle_s=2.0))
    assert set(counts) == set(expected)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}


async def test_an_entry_appended_while_publishing_stays_pending_for_the_next_pass(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    conversation = await ConversationStore(db).create_conversation("u1", common_pb2.PageContext())
    await _completed_turns(db, topic, 1, conversation.conversation_id)
    turn_doc = await db.turns.find_one({"conversation_id": conversation.conversation_id})
    assert turn_doc is not None
    feedback = FeedbackStore(db, topic=topic)
    await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_UP, "")
    relay = OutboxRelay(db, _factory(stack), "relay-1", collections=("feedback",))
    publish = relay._publish

    async def publish_while_the_user_changes_their_mind(entries: list[dict[str, object]]) -> None:
        await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_DOWN, "")
        await publish(entries)

    relay._publish = publish_while_the_user_changes_their_mind  # type: ignore[method-assign]
    try:
        assert await relay.run_once() == 1
        doc = await db.feedback.find_one({})
        assert doc is not None and doc["outbox_pending"] is True
        assert [e["state"] for e in doc["outbox"]] == ["sent", "pending"]
        relay._publish = publish  # type: ignore[method-assign]
        assert await relay.run_once() == 1
    finally:
        await relay.close()
    doc = await db.feedback.find_one({})
    assert (
        doc is not None
        and doc["outbox_pending"] is False
        and doc["rating"] == common_pb2.FEEDBACK_RATING_DOWN
    )


@pytest.mark.slow
async def test_relay_retries_while_kafka_is_down_and_delivers_everything_once_it_is_back(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    relay = OutboxRelay(db, _factory(stack), "relay-1", send_timeout_s=2.0, backoff_cap_s=1.0)
    stop = asyncio.Event()
    await asyncio.to_thread(stack.stop, "kafka")
    try:
        expected = await _completed_turns(db, topic, 10)
        task = asyncio.create_task(relay.run_forever(stop))
        await asyncio.sleep(3.0)
        if is_listening(stack.kafka_bootstrap):
            stop.set()
            await task
            pytest.skip(RESTARTED_ELSEWHERE.format("Kafka"))
        assert await _pending_documents(db) == 10  # nothing dropped, nothing marked sent
        assert not task.done()
    finally:
        await asyncio.to_thread(stack.start, "kafka")  # the relay keeps retrying while Kafka starts
    try:
        await _until_drained(db, timeout_s=90)
    finally:
        stop.set()
        await task
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 10))
    assert set(counts) == set(expected) and set(counts.values()) == {1}
