"""The outbox relay against FerretDB and Kafka: everything published, once, even with two relays or an outage."""

from __future__ import annotations

import asyncio

import pytest
from assist.v1 import common_pb2

from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import Database
from mesh.storage.turns import ConversationStore
from outbox_relay.relay import OutboxRelay
from tests.events.kafka_helpers import create_topic, event_id_counts, read_topic
from tests.local_stack import Stack
from tests.outbox_relay.outbox_helpers import completed_turns, factory, pending_documents, until_drained
from tests.storage.outage import RESTARTED_ELSEWHERE, is_listening

pytestmark = pytest.mark.stack


async def test_relay_publishes_every_outbox_entry_and_marks_it_sent(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    expected = await completed_turns(db, topic, 3)
    conversation = await ConversationStore(db).create_conversation("u1", common_pb2.PageContext())
    [turn] = await completed_turns(db, topic, 1, conversation.conversation_id)
    turn_doc = await db.turns.find_one({"conversation_id": conversation.conversation_id})
    assert turn_doc is not None
    feedback = FeedbackStore(db, topic=topic)
    await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_UP, "")
    await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_DOWN, "")
    await feedback.record_satisfaction("u1", conversation.conversation_id, 5, "")

    relay = OutboxRelay(db, factory(stack), "relay-1")
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
    assert await pending_documents(db) == 0
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
    expected = await completed_turns(db, topic, 100)
    relays = [OutboxRelay(db, factory(stack), f"relay-{i}", batch_size=20, idle_s=0.05) for i in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run_forever(stop)) for r in relays]
    try:
        await until_drained(db, timeout_s=60)
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
    await completed_turns(db, topic, 1, conversation.conversation_id)
    turn_doc = await db.turns.find_one({"conversation_id": conversation.conversation_id})
    assert turn_doc is not None
    feedback = FeedbackStore(db, topic=topic)
    await feedback.record_feedback("u1", turn_doc["_id"], common_pb2.FEEDBACK_RATING_UP, "")
    relay = OutboxRelay(db, factory(stack), "relay-1", collections=("feedback",))
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
    relay = OutboxRelay(db, factory(stack), "relay-1", send_timeout_s=2.0, backoff_cap_s=1.0)
    stop = asyncio.Event()
    await asyncio.to_thread(stack.stop, "kafka")
    try:
        expected = await completed_turns(db, topic, 10)
        task = asyncio.create_task(relay.run_forever(stop))
        await asyncio.sleep(3.0)
        if is_listening(stack.kafka_bootstrap):
            stop.set()
            await task
            pytest.skip(RESTARTED_ELSEWHERE.format("Kafka"))
        assert await pending_documents(db) == 10  # nothing dropped, nothing marked sent
        assert not task.done()
    finally:
        await asyncio.to_thread(stack.start, "kafka")  # the relay keeps retrying while Kafka starts
    try:
        await until_drained(db, timeout_s=90)
    finally:
        stop.set()
        await task
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 10))
    assert set(counts) == set(expected) and set(counts.values()) == {1}
