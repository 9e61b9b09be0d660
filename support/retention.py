"""The retention period: conversations nobody touched for RETENTION_DAYS are deleted with all they hold.

`python -m support retention` runs daily (a CronJob in the Helm chart). A conversation expires when it was
created before the cutoff AND none of its turns is newer than the cutoff: a conversation someone still uses
is kept whole (its history record holds copies of earlier turns, so deleting turns out of the middle of a
live conversation would leave their text behind anyway). Deleted with it: its turns (and their outboxes),
the feedback on those turns, its satisfaction answer and the claims on all of them. Analytics facts are
per day; days before the cutoff are deleted too, so no fact outlives the conversation it counted.
Sessions and cached answers in Redis expire on their own TTLs (hours, minutes), far inside any period.

Idempotent and resumable: children go before the conversation, so a run stopped halfway finds the same
conversation next time and finishes it; a second run over the same data deletes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from mesh.storage.feedback import feedback_id_for, satisfaction_id_for
from mesh.storage.mongo import Database, Document, utcnow

BATCH = 200


@dataclass
class RetentionReport:
    cutoff: str
    days: int
    dry_run: bool
    deleted: Counter[str] = field(default_factory=Counter)
    # Old conversations kept because a turn newer than the cutoff exists.
    kept_active: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "days": self.days,
            "dry_run": self.dry_run,
            "deleted": dict(self.deleted),
            "kept_active": self.kept_active,
        }


async def _expire_conversation(db: Database, conversation_id: str, report: RetentionReport) -> None:
    turn_ids = [
        t["_id"] async for t in db.turns.find({"conversation_id": conversation_id}, projection={"_id": 1})
    ]
    resources = [f"turn:{t}" for t in turn_ids] + [f"outbox:turns:{t}" for t in turn_ids]
    resources += [f"outbox:feedback:{feedback_id_for(t)}" for t in turn_ids]
    resources.append(f"outbox:satisfaction:{satisfaction_id_for(conversation_id)}")
    deleted = report.deleted
    if report.dry_run:
        deleted["turns"] += len(turn_ids)
        deleted["conversations"] += 1
        return
    for resource in resources:
        deleted["claims"] += (await db.claims.delete_many({"resource": resource})).deleted_count
    for turn_id in turn_ids:
        deleted["feedback"] += (await db.feedback.delete_one({"_id": feedback_id_for(turn_id)})).deleted_count
    sat = await db.satisfaction.delete_one({"_id": satisfaction_id_for(conversation_id)})
    deleted["satisfaction"] += sat.deleted_count
    deleted["turns"] += (await db.turns.delete_many({"conversation_id": conversation_id})).deleted_count
    deleted["conversations"] += (await db.conversations.delete_one({"_id": conversation_id})).deleted_count


async def apply_retention(
    db: Database, days: int, *, now: datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Delete what is older than `days` (see the module docstring); the report says what went."""
    if days < 1:
        raise ValueError("retention must be at least one day")
    cutoff = (now or utcnow()) - timedelta(days=days)
    report = RetentionReport(cutoff=cutoff.isoformat(), days=days, dry_run=dry_run)
    last_id = ""
    while True:
        # Keyset pages by _id: deleted conversations leave the result, kept ones are stepped over.
        query: Document = {"create_time": {"$lt": cutoff}}
        if last_id:
            query["_id"] = {"$gt": last_id}
        cursor = db.conversations.find(query, projection={"_id": 1}, sort=[("_id", ASCENDING)], limit=BATCH)
        batch = [d["_id"] async for d in cursor]
        for conversation_id in batch:
            recent = await db.turns.find_one(
                {"conversation_id": conversation_id, "created_at": {"$gte": cutoff}}, projection={"_id": 1}
            )
            if recent is not None:
                report.kept_active += 1
                continue
            await _expire_conversation(db, conversation_id, report)
        if len(batch) < BATCH:
            break
        last_id = batch[-1]
    day = cutoff.date().isoformat()
    facts = {"day": {"$lt": day}}
    if dry_run:
        report.deleted["analytics_events"] += await db.analytics_events.count_documents(facts)
    else:
        report.deleted["analytics_events"] += (await db.analytics_events.delete_many(facts)).deleted_count
    return report
