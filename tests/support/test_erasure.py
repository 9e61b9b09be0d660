"""`erase-user`: nothing about the user remains in any collection or Redis key; another user is untouched."""

from __future__ import annotations

import uuid

from bson import BSON
from redis.asyncio import Redis

from mesh.storage.mongo import Database
from support.erasure import erase_user, user_digest
from tests.support.seed import Footprint, seed_user

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


async def test_erase_user_leaves_nothing_about_them_and_keeps_the_other_user(
    db: Database, redis: Redis
) -> None:
    erased = await seed_user(db, redis, f"ana-{uuid.uuid4().hex[:8]}")
    kept = await seed_user(db, redis, f"bruno-{uuid.uuid4().hex[:8]}")
    before_kept = await mongo_hits(db, kept.needles), await redis_hits(redis, kept.needles)
    assert await mongo_hits(db, erased.needles), "the seed must have written the user's data"
    assert await redis_hits(redis, erased.needles)

    receipt = await erase_user(db, redis, erased.user_id, request_id="req-1")

    assert await mongo_hits(db, erased.needles) == []
    assert await redis_hits(redis, erased.needles) == []
    # The other user's documents and keys are all still there (the shared answer cache aside: see below).
    assert await mongo_hits(db, kept.needles) == before_kept[0]
    assert await redis_hits(redis, kept.needles) == before_kept[1]
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
    # Cached answers cannot be attributed to a user (hashed keys): the whole answer cache goes.
    assert receipt.deleted["redis.answer_cache_all_users"] >= 2
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
