"""`erase-user`: nothing about the user remains in any collection or Redis key; another user is untouched."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from assist.v1 import events_pb2
from bson import BSON
from redis.asyncio import Redis

from analytics.consumer import AnalyticsConsumer, record_events
from mesh.events.kafka import encode, make_producer
from mesh.storage.erasures import user_digest
from mesh.storage.mongo import Database
from support.erasure import erase_user
from tests.events.kafka_helpers import create_topic
from tests.local_stack import Stack
from tests.support.seed import Footprint, cache_general_answer, interaction, seed_user

# The host site's task data is not the assistant's to erase (support/erasure.py says why); none is seeded.
NOT_OURS = {"tasks"}


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


async def mongo_hits(db: Database, needles: list[str]) -> list[str]:
    """Every (collection, _id) whose stored bytes contain one of `needles`: keys, values, outbox payloads."""
    hits = []
    for name in await db.list_collection_names():
        if name in NOT_OURS:
            continue
        async for doc in db[name].find({}):
            raw: bytes = BSON.encode(doc)
            hits += [f"{name}/{doc['_id']}: {n}" for n in needles if n.encode() in raw]
    return hits


async def redis_hits(redis: Redis, needles: list[str]) -> list[str]:
    """Every Redis key whose name or value contains one of `needles` (strings, hashes and sets)."""
    hits = []
    async for key in redis.scan_iter(count=1000):
        kind = _bytes(await redis.type(key)).decode()
        value = b""
        if kind == "string":
            value = _bytes(await redis.get(key) or b"")
        elif kind == "hash":
            pairs = (await redis.hgetall(key)).items()
            value = b" ".join(_bytes(k) + b"=" + _bytes(v) for k, v in pairs)
        elif kind == "set":
            value = b" ".join(_bytes(m) for m in await redis.smembers(key))
        name = _bytes(key)
        hits += [f"{name!r}: {n}" for n in needles if n.encode() in name or n.encode() in value]
    return hits


async def produce(bootstrap: str, topic: str, envelopes: list[events_pb2.EventEnvelope]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(topic, encode(envelope))
    finally:
        await producer.stop()


async def consume(consumer: AnalyticsConsumer, records: int, timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while consumer.records_seen < records and loop.time() < deadline:
        await consumer.process_batch(timeout_ms=200)
    assert consumer.records_seen == records


async def test_erase_user_leaves_nothing_about_them_and_keeps_the_other_user(
    stack: Stack, db: Database, redis: Redis, topic: str
) -> None:
    erased = await seed_user(db, redis, f"ana-{uuid.uuid4().hex[:8]}")
    kept = await seed_user(db, redis, f"bruno-{uuid.uuid4().hex[:8]}")
    general_answer = await cache_general_answer(redis)
    before_kept = await mongo_hits(db, kept.needles), await redis_hits(redis, kept.needles)
    assert await mongo_hits(db, erased.needles), "the seed must have written the user's data"
    assert await redis_hits(redis, erased.needles)
    assert await redis.exists(*erased.cached_answer_keys) == 2

    receipt = await erase_user(db, redis, erased.user_id, request_id="req-1")

    assert await mongo_hits(db, erased.needles) == []
    assert await redis_hits(redis, erased.needles) == []
    assert await redis.exists(*erased.cached_answer_keys) == 0
    # The other user's documents, keys and cached answers are all still there, and so are shared answers.
    assert await mongo_hits(db, kept.needles) == before_kept[0]
    assert await redis_hits(redis, kept.needles) == before_kept[1]
    assert await redis.exists(*kept.cached_answer_keys, general_answer) == 3

    # Their events are still in Kafka: a consumer reading the topic from the start (a new group, a replay)
    # counts the other user's events and none of theirs.
    await create_topic(stack.kafka_bootstrap, topic)
    await produce(stack.kafka_bootstrap, topic, erased.published + kept.published)
    await db.analytics_events.delete_many({"user_id": kept.user_id})
    consumer = AnalyticsConsumer(db, stack.kafka_bootstrap, f"replay-{uuid.uuid4().hex[:8]}", topics=[topic])
    await consumer.start()
    try:
        await consume(consumer, len(erased.published) + len(kept.published))
    finally:
        await consumer.stop()
    assert consumer.facts_stored == len(kept.published) == 6
    assert await mongo_hits(db, erased.needles) == []
    assert await db.analytics_events.count_documents({"user_id": kept.user_id}) == 6
    assert receipt.request_id == "req-1"
    assert receipt.user_id_sha256 == user_digest(erased.user_id)
    assert receipt.deleted["mongo.conversations"] == 2
    assert receipt.deleted["mongo.turns"] == 4
    assert receipt.deleted["mongo.feedback"] == 2
    assert receipt.deleted["mongo.satisfaction"] == 2
    # 4 interactions + the first conversation's feedback and satisfaction reached analytics.
    assert receipt.deleted["mongo.analytics_events"] == 6
    assert receipt.deleted["mongo.claims"] >= 4
    assert receipt.deleted["redis.sessions"] == 2
    assert receipt.deleted["redis.rate_limits"] == 1
    # Their two cached answers, found by their user tag; nobody else's.
    assert receipt.deleted["redis.cached_answers"] == 2
    assert (receipt.kafka_events_published, receipt.kafka_events_unpublished) == (6, 2)
    assert erased.user_id not in str(receipt.as_json())


async def test_erase_user_dry_run_counts_without_deleting(db: Database, redis: Redis) -> None:
    user: Footprint = await seed_user(db, redis, f"carla-{uuid.uuid4().hex[:8]}", turns=1)
    before = await mongo_hits(db, user.needles)

    receipt = await erase_user(db, redis, user.user_id, dry_run=True)

    assert receipt.dry_run
    assert receipt.deleted["mongo.turns"] == 2
    assert await mongo_hits(db, user.needles) == before
    again = await erase_user(db, redis, user.user_id)
    assert again.deleted["mongo.turns"] == 2
    assert (await erase_user(db, redis, user.user_id)).deleted["mongo.turns"] == 0


async def test_a_user_id_with_glob_characters_erases_only_itself(db: Database, redis: Redis) -> None:
    plain = await seed_user(db, redis, f"dora{uuid.uuid4().hex[:6]}", turns=1)
    starred = "*"

    receipt = await erase_user(db, redis, starred)

    assert receipt.deleted["redis.sessions"] == 0
    assert await redis_hits(redis, [plain.user_id])


async def test_events_of_an_erased_user_from_before_the_erasure_are_not_counted_later_ones_are(
    db: Database, redis: Redis
) -> None:
    user = await seed_user(db, redis, f"eva-{uuid.uuid4().hex[:8]}", turns=1)
    await erase_user(db, redis, user.user_id)

    # Redelivered old events are dropped; the person comes back later and their new turn counts.
    assert await record_events(db, user.published) == 0
    later = interaction(user.user_id, "c-after", uuid.uuid4().hex)
    later.occur_time.FromDatetime(later.occur_time.ToDatetime() + timedelta(seconds=5))
    assert await record_events(db, [later]) == 1
    assert await db.analytics_events.count_documents({"user_id": user.user_id}) == 1
