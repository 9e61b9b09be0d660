"""Erasure records: which users were erased and when, so events published before an erasure stay forgotten.

An erasure (`python -m support erase-user`) deletes a user's analytics facts, but their events already in
Kafka cannot be deleted one by one: a consumer that reads them later (lagging, rewound, a new group reading
from the earliest offset) would re-create the facts. Each erasure therefore leaves a record here first, and
the analytics consumer drops every event of that user that occurred at or before the erasure. Events after
it (the person came back and used the assistant again) count as usual.

The record holds a SHA-256 of the user id (as the erasure receipt does), never the id: it outlives the
data on purpose and must not become personal data itself. Records are tiny and are kept as long as the
topics keep events (docs/support.md); deleting one early only reopens the window for events still retained.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from mesh.storage.mongo import Database, as_utc

ERASURES = "erasures"


def user_digest(user_id: str) -> str:
    """The user id as erasure records and receipts keep it: one-way, so they hold no personal data."""
    return hashlib.sha256(user_id.encode()).hexdigest()


async def record_erasure(db: Database, user_id: str, at: datetime) -> None:
    """Remember that `user_id` was erased at `at` (a later erasure of the same user moves the time on)."""
    await db[ERASURES].update_one({"_id": user_digest(user_id)}, {"$max": {"erased_at": at}}, upsert=True)


async def erased_at(db: Database, user_ids: Iterable[str]) -> dict[str, datetime]:
    """For those of `user_ids` that were erased: user id -> when (the latest erasure)."""
    by_digest = {user_digest(u): u for u in set(user_ids) if u}
    if not by_digest:
        return {}
    found = db[ERASURES].find({"_id": {"$in": list(by_digest)}})
    return {by_digest[doc["_id"]]: as_utc(doc["erased_at"]) async for doc in found}
