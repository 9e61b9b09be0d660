"""The relay's lease per collection: one holder at a time, takeover after the holder dies, few operations per event.

Short leases (`claim_s` of a few seconds) stand in for the 30 s of production so that expiry can be waited for.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import cast

import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient, monitoring

from mesh.storage.mongo import Database, Document, ensure_indexes
from outbox_relay.relay import OUTBOX_COLLECTIONS, OutboxRelay, lease_resource
from tests.events.kafka_helpers import create_topic, event_id_counts, read_topic
from tests.local_stack import Stack, mongo_uri_for
from tests.outbox_relay.outbox_helpers import completed_turns, factory, pending_documents, until_drained

SHORT_LEASE_S = 2.0


def _short_lease_relay(db: Database, stack: Stack, relay_id: str) -> OutboxRelay:
    return OutboxRelay(
        db, factory(stack), relay_id, collections=("turns",), claim_s=SHORT_LEASE_S, send_timeout_s=1.0
    )


async def _die(relay: OutboxRelay) -> None:
    """What a killed relay leaves behind: its producer gone, its leases not released."""
    await relay._drop_producer()


async def _leases(db: Database) -> list[Document]:
    return [d async for d in db.claims.find({"resource": {"$regex": "^outbox-lease:"}})]


def test_a_lease_shorter_than_a_publish_is_refused() -> None:
    with pytest.raises(ValueError, match="claim_s"):
        OutboxRelay(
            cast(Database, None), lambda: cast(AIOKafkaProducer, None), "r", claim_s=5.0, send_timeout_s=10.0
        )


@pytest.mark.stack
async def test_each_collection_has_one_lease_held_by_one_of_two_relays(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    relays = [OutboxRelay(db, factory(stack), f"relay-{i}") for i in range(2)]
    try:
        await asyncio.gather(*(r.run_once() for r in relays))  # both race for every lease at once
        held = [set(r.held_collections) for r in relays]
        assert held[0] | held[1] == set(OUTBOX_COLLECTIONS)
        assert not held[0] & held[1]
        leases = await _leases(db)
        assert sorted(d["resource"] for d in leases) == sorted(lease_resource(c) for c in OUTBOX_COLLECTIONS)
        owner_of = {d["resource"]: d["owner"] for d in leases}
        for relay, collections in zip(relays, held, strict=True):
            assert {owner_of[lease_resource(c)] for c in collections} <= {relay.relay_id}

        expected = await completed_turns(db, topic, 5)
        turns_holder = relays[0] if "turns" in held[0] else relays[1]
        standby = relays[1] if turns_holder is relays[0] else relays[0]
        assert await standby.run_once() == 0  # it skips the collection it does not hold
        assert await pending_documents(db) == 5
        assert await turns_holder.run_once() == 5
    finally:
        await asyncio.gather(*(r.close() for r in relays))
    assert await _leases(db) == []  # a relay that stops cleanly gives its leases back
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 5))
    assert set(counts) == set(expected) and set(counts.values()) == {1}


@pytest.mark.stack
async def test_a_standby_relay_takes_the_lease_over_after_its_holder_dies(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    holder, standby = _short_lease_relay(db, stack, "holder"), _short_lease_relay(db, stack, "standby")
    try:
        assert await holder.run_once() == 0
        await _die(holder)
        expected = await completed_turns(db, topic, 4)
        assert await standby.run_once() == 0  # the dead holder's lease is still valid
        await asyncio.sleep(SHORT_LEASE_S + 0.3)
        assert await standby.run_once() == 4
        assert standby.held_collections == ["turns"]
        [lease] = await _leases(db)  # the expired epoch was removed by the taker
        assert (lease["owner"], lease["epoch"]) == ("standby", 2)
    finally:
        await standby.close()
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 4))
    assert set(counts) == set(expected) and set(counts.values()) == {1}


@pytest.mark.stack
async def test_a_relay_dying_between_publish_and_mark_has_its_batch_sent_again_after_the_lease(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    holder, standby = _short_lease_relay(db, stack, "holder"), _short_lease_relay(db, stack, "standby")

    async def die_before_marking(
        collection: str, doc_id: str, size: int, sent: list[tuple[int, Document]]
    ) -> None:
        await _die(holder)

    holder._mark_sent = die_before_marking  # type: ignore[method-assign]
    expected = await completed_turns(db, topic, 3)
    assert await holder.run_once() == 3  # published, never marked
    assert await pending_documents(db) == 3
    try:
        await asyncio.sleep(SHORT_LEASE_S + 0.3)
        assert await standby.run_once() == 3
    finally:
        await standby.close()
    assert await pending_documents(db) == 0
    # At least once: every event twice, under the same event id, which consumers de-duplicate by.
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 6))
    assert set(counts) == set(expected) and set(counts.values()) == {2}


@pytest.mark.stack
async def test_a_pass_that_outlives_its_lease_does_not_publish_what_the_new_holder_publishes(
    stack: Stack, db: Database, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    slow, other = _short_lease_relay(db, stack, "slow"), _short_lease_relay(db, stack, "other")
    read_pending = slow._pending

    async def read_then_pause(collection: str) -> list[Document]:
        docs = await read_pending(collection)
        await asyncio.sleep(SHORT_LEASE_S + 1.0)  # a stall (GC, swapped out) longer than the lease
        return docs

    slow._pending = read_then_pause  # type: ignore[method-assign]
    expected = await completed_turns(db, topic, 3)
    try:
        stalled = asyncio.create_task(slow.run_once())
        await asyncio.sleep(SHORT_LEASE_S + 0.3)
        assert await other.run_once() == 3  # took the expired lease over
        assert await stalled == 0  # woke without its lease: published nothing
    finally:
        await asyncio.gather(slow.close(), other.close())
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 3))
    assert set(counts) == set(expected) and set(counts.values()) == {1}


@pytest.mark.stack
async def test_a_holder_renews_its_lease_past_half_and_keeps_it_beyond_the_first_term(
    stack: Stack, db: Database, topic: str
) -> None:
    holder, standby = _short_lease_relay(db, stack, "holder"), _short_lease_relay(db, stack, "standby")
    try:
        await holder.run_once()
        for _ in range(3):  # 3 x 0.8 s: well past the first 2 s term
            await asyncio.sleep(SHORT_LEASE_S * 0.4)
            await holder.run_once()
            assert await standby.run_once() == 0
        assert holder.held_collections == ["turns"] and standby.held_collections == []
        [lease] = await _leases(db)
        assert (lease["owner"], lease["epoch"]) == ("holder", 1)
    finally:
        await asyncio.gather(holder.close(), standby.close())


class _Commands(monitoring.CommandListener):
    """Every command sent, as (command name, collection, the command)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Document]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        collection = event.command.get(event.command_name)
        self.sent.append((event.command_name, str(collection), dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def count(self, name: str, collection: str) -> int:
        """Statements of `name` on `collection` (an update command may carry several)."""
        plural = {"update": "updates", "delete": "deletes", "insert": "documents"}.get(name)
        return sum(
            len(command[plural]) if plural else 1
            for sent_name, sent_collection, command in self.sent
            if (sent_name, sent_collection) == (name, collection)
        )


@pytest.fixture
async def monitored(stack: Stack, database_name: str) -> AsyncIterator[tuple[Database, _Commands]]:
    commands = _Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_uri_for(stack, database_name),
        event_listeners=[commands],
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
    )
    try:
        db = client[database_name]
        await ensure_indexes(db)
        yield db, commands
        await client.drop_database(database_name)
    finally:
        await client.close()


@pytest.mark.stack
async def test_a_batch_of_n_documents_is_published_in_one_pass_with_n_updates_and_no_per_document_claims(
    stack: Stack, monitored: tuple[Database, _Commands], topic: str
) -> None:
    db, commands = monitored
    await create_topic(stack.kafka_bootstrap, topic)
    n = 20
    expected = await completed_turns(db, topic, n)
    relay = OutboxRelay(db, factory(stack), "counted", collections=("turns",))
    try:
        commands.sent.clear()
        assert await relay.run_once() == n
        kinds = Counter((name, collection) for name, collection, _ in commands.sent)
        assert commands.count("find", "turns") == 1  # the pending query, outbox included
        assert commands.count("update", "turns") == n  # one mark per document
        assert commands.count("insert", "claims") == 1  # the lease, not a claim per document
        assert commands.count("find", "claims") == 1  # the lease's latest epoch
        assert commands.count("delete", "claims") == 0
        assert sum(kinds.values()) == n + 3, kinds

        commands.sent.clear()
        assert await relay.run_once() == 0
        assert [(name, collection) for name, collection, _ in commands.sent] == [("find", "turns")]
    finally:
        await relay.close()
    counts = event_id_counts(await read_topic(stack.kafka_bootstrap, topic, n))
    assert set(counts) == set(expected) and set(counts.values()) == {1}


@pytest.mark.stack
async def test_after_publishing_all_that_was_pending_the_relay_waits_instead_of_polling_again_at_once(
    stack: Stack, monitored: tuple[Database, _Commands], topic: str
) -> None:
    db, commands = monitored
    await create_topic(stack.kafka_bootstrap, topic)
    await completed_turns(db, topic, 3)
    relay = OutboxRelay(db, factory(stack), "waiting", collections=("turns",), batch_size=2, idle_s=1.0)
    stop = asyncio.Event()
    commands.sent.clear()
    task = asyncio.create_task(relay.run_forever(stop))
    try:
        await until_drained(db, timeout_s=10)
        await asyncio.sleep(0.5)  # within the idle wait that follows the last publishing pass
        # A full batch (2 of 3) is followed by a pass at once; the partial one (1) by the idle wait.
        assert commands.count("find", "turns") == 2
    finally:
        stop.set()
        await task
