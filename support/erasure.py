"""Erasing everything the assistant keeps about one user (LGPD art. 18, VI: "eliminação"), with a receipt.

What a user leaves behind, store by store (docs/data.md has the shapes):
- MongoDB: `conversations` (theirs), `turns` (their messages and answers, each with its outbox of events),
  `feedback` and `satisfaction` (their ratings, with outboxes), `claims` on those documents (the relay's
  and the turn runner's: ids, no content), `analytics_events` (facts carrying their user id).
- Redis: their sessions (`assist:session:<user>:*`), their rate-limit buckets (`assist:ratelimit:*:<user>`)
  and their cached answers. A task-scope answer's key is a one-way hash, but every such answer is stored
  with its user's tag (`user_cache_tag`, agents/nlg/cache.py), so exactly that user's answers are dropped;
  general answers (help, greetings) hold no user data and stay, as do other users' answers.
- Kafka: events already published stay in their topics until the topics' retention removes them; they
  cannot be deleted one by one. The erasure first leaves an erasure record (mesh/storage/erasures.py, a
  digest and a time): the analytics consumer drops every event of the user that occurred before it, so a
  lagging or replaying consumer cannot bring the facts back. The receipt counts the retained events, and
  `docs/support.md` says what that means.
Not erased: `tasks` (and the host sync's records): a copy of the host site's own task data, which the
host controls; erasing our copy would be undone by the next sync. The host erases it at the source.

Order: the erasure record, then children before parents (claims, analytics facts, feedback, satisfaction,
turns, then the conversations), so a run that stops halfway leaves the user findable and a second run finishes the job.
Every query matches on `user_id` (a field every one of these documents carries) or on ids derived from
the user's documents; the user-id sweeps read whole collections on purpose: no turn path needs such an
index, and an erasure request is rare.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

from mesh.storage.erasures import record_erasure, user_digest
from mesh.storage.feedback import feedback_id_for, satisfaction_id_for
from mesh.storage.mongo import Database, Document, utcnow
from mesh.storage.redis_store import ANSWER_CACHE_NAMESPACE, ResponseCache, user_cache_tag

SESSION_PREFIX = "assist:session"
RATELIMIT_PREFIX = "assist:ratelimit"
ANALYTICS_FACTS = "analytics_events"
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@dataclass
class Receipt:
    """What an erasure deleted, per store; kept as proof the request was answered (no personal data)."""

    request_id: str
    # A digest, not the id: the receipt outlives the data, and must not become personal data itself.
    user_id_sha256: str
    started_at: str
    finished_at: str = ""
    dry_run: bool = False
    deleted: dict[str, int] = field(default_factory=dict)
    # Events already published to Kafka: they expire with the topics' retention (see docs/support.md).
    kafka_events_published: int = 0
    # Events still in an outbox: deleted with their documents, so they are never published.
    kafka_events_unpublished: int = 0
    not_erased: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _glob_literal(text: str) -> str:
    """`text` escaped for a Redis MATCH pattern, so a user id with `*` or `?` matches only itself."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _outbox_counts(docs: list[Document]) -> tuple[int, int]:
    published = unpublished = 0
    for doc in docs:
        for entry in doc.get("outbox") or []:
            if entry.get("state") == "sent":
                published += 1
            else:
                unpublished += 1
    return published, unpublished


async def _delete_many(db: Database, collection: str, query: Document, dry_run: bool) -> int:
    if dry_run:
        return await db[collection].count_documents(query)
    return (await db[collection].delete_many(query)).deleted_count


async def _redis_keys(redis: Redis, pattern: str) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=pattern, count=500)]


async def _delete_keys(redis: Redis, keys: list[bytes], dry_run: bool) -> int:
    if not keys or dry_run:
        return len(keys)
    deleted = 0
    for start in range(0, len(keys), 500):
        deleted += int(await redis.delete(*keys[start : start + 500]))
    return deleted


async def erase_user(
    db: Database, redis: Redis, user_id: str, *, request_id: str = "", dry_run: bool = False
) -> Receipt:
    """Delete every record about `user_id` (or, with `dry_run`, count them) and return the receipt."""
    if not user_id:
        raise ValueError("a user id is required")
    receipt = Receipt(
        request_id=request_id or uuid.uuid4().hex,
        user_id_sha256=user_digest(user_id),
        started_at=utcnow().isoformat(),
        dry_run=dry_run,
        not_erased={
            "tasks": "the host site's task data, synced from it: erased at the host, the sync follows",
            "kafka": "published events expire with the topics' retention; analytics ignores them (erasure record)",
        },
    )
    if not dry_run:
        # First, so analytics stops counting the user's retained events before their facts are deleted.
        await record_erasure(db, user_id, utcnow())
    mine = {"user_id": user_id}
    turns = [d async for d in db.turns.find(mine, projection={"conversation_id": 1, "outbox": 1})]
    ratings = [d async for d in db.feedback.find(mine, projection={"outbox": 1})]
    scores = [d async for d in db.satisfaction.find(mine, projection={"outbox": 1})]
    conversations = [d["_id"] async for d in db.conversations.find(mine, projection={"_id": 1})]
    receipt.kafka_events_published, receipt.kafka_events_unpublished = _outbox_counts(
        turns + ratings + scores
    )

    resources = [f"turn:{t['_id']}" for t in turns]
    resources += [f"outbox:turns:{t['_id']}" for t in turns]
    resources += [f"outbox:feedback:{d['_id']}" for d in ratings]
    resources += [f"outbox:feedback:{feedback_id_for(t['_id'])}" for t in turns]
    resources += [f"outbox:satisfaction:{d['_id']}" for d in scores]
    resources += [f"outbox:satisfaction:{satisfaction_id_for(c)}" for c in conversations]
    claims = 0
    for resource in dict.fromkeys(resources):
        claims += await _delete_many(db, "claims", {"resource": resource}, dry_run)

    deleted = receipt.deleted
    deleted["mongo.claims"] = claims
    deleted[f"mongo.{ANALYTICS_FACTS}"] = await _delete_many(db, ANALYTICS_FACTS, mine, dry_run)
    deleted["mongo.feedback"] = await _delete_many(db, "feedback", mine, dry_run)
    deleted["mongo.satisfaction"] = await _delete_many(db, "satisfaction", mine, dry_run)
    deleted["mongo.turns"] = await _delete_many(db, "turns", mine, dry_run)
    deleted["mongo.conversations"] = await _delete_many(db, "conversations", mine, dry_run)

    literal = _glob_literal(user_id)
    sessions = await _redis_keys(redis, f"{SESSION_PREFIX}:{literal}:*")
    limits = await _redis_keys(redis, f"{RATELIMIT_PREFIX}:*:{literal}")
    limits += await _redis_keys(redis, f"{RATELIMIT_PREFIX}:{literal}")
    deleted["redis.sessions"] = await _delete_keys(redis, sessions, dry_run)
    deleted["redis.rate_limits"] = await _delete_keys(redis, limits, dry_run)
    answers = ResponseCache(redis, ANSWER_CACHE_NAMESPACE)
    deleted["redis.cached_answers"] = await answers.drop_tag(user_cache_tag(user_id), dry_run=dry_run)
    receipt.finished_at = utcnow().isoformat()
    return receipt


def receipt_text(receipt: Receipt, user_id: str) -> str:
    """The receipt for a person: what was asked, when, and what each store gave up."""
    verb = "would delete (dry run)" if receipt.dry_run else "deleted"
    lines = [
        f"Erasure receipt {receipt.request_id}",
        f"  user            {user_id}  (sha256 {receipt.user_id_sha256[:16]}...)",
        f"  started         {receipt.started_at}",
        f"  finished        {receipt.finished_at}",
        f"  {verb}:",
        *(f"    {store:<34} {count:>6}" for store, count in receipt.deleted.items()),
        f"  events never published (deleted with their outbox): {receipt.kafka_events_unpublished}",
        f"  events already in Kafka (expire with topic retention): {receipt.kafka_events_published}",
        "  not erased here:",
        *(f"    {store:<10} {why}" for store, why in receipt.not_erased.items()),
    ]
    return "\n".join(lines)
