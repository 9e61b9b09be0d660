"""Applying one host change to the assistant: the change record with its event, the task, the cache.

Order matters for "nothing lost, nothing duplicated" when the worker dies anywhere in between:
1. skip when the stored task already has this change (rank equal or higher): re-reads write nothing;
2. insert the change record `task_changes/<task id>:<rank>` holding the TaskChangedEvent in its outbox
   (the relay publishes it); its id is the change's, so inserting it again collides and adds nothing;
3. write the task, conditional on its rank (an older change never overwrites a newer one);
4. delete the cached answers that used the task.
Dying after 2 leaves the task older than its record: the next read of the row skips step 2 (collision) and
does step 3. The event id is derived from the change too, so a consumer sees one id per change.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from assist.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.errors import DuplicateKeyError

from host_sync.mapping import TaskChange
from mesh.events.kafka import TASKS_TOPIC
from mesh.storage.mongo import Database, Document, outbox_entry, unavailable_as_store_error, utcnow
from mesh.storage.redis_store import ResponseCache, task_cache_tag
from mesh.storage.tasks import TaskStore

log = logging.getLogger("assist.host_sync")

CHANGES = "task_changes"


def change_id(change: TaskChange) -> str:
    return f"{change.task.task_id}:{change.rank}"


def event_id(change: TaskChange) -> str:
    """The same change always gets the same event id, whoever reads it and however often."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"assist:task-change:{change_id(change)}").hex


@dataclass(frozen=True)
class Applied:
    """What applying one change did."""

    written: bool
    # True when the store now holds this change or a newer one (False only when a concurrent writer won
    # the compare-and-set with an older change: the change must be read again).
    done: bool = True
    invalidated: int = 0


class ChangeApplier:
    """Writes host changes into MongoDB (task + change record with its event) and clears stale answers."""

    def __init__(self, db: Database, cache: ResponseCache | None, *, topic: str = TASKS_TOPIC) -> None:
        self._db = db
        self._tasks = TaskStore(db)
        self._cache = cache
        self._topic = topic

    async def apply(self, change: TaskChange) -> Applied:
        task_id = change.task.task_id
        stored = await self._tasks.synced_state(task_id)
        if stored is not None and stored[0] >= change.rank:
            return Applied(written=False)
        before = stored[1] if stored is not None else []
        after = [p.user_id for p in change.task.assignees]
        await self._record(change, sorted(set(before) | set(after)))
        written = await self._tasks.apply_synced(
            change.task,
            rank=change.rank,
            deleted=change.deleted,
            stored_rank=stored[0] if stored is not None else None,
        )
        if not written:
            now = await self._tasks.synced_state(task_id)
            return Applied(written=False, done=now is not None and now[0] >= change.rank)
        invalidated = await self._cache.invalidate_tag(task_cache_tag(task_id)) if self._cache else 0
        return Applied(written=True, invalidated=invalidated)

    @unavailable_as_store_error
    async def _record(self, change: TaskChange, affected_user_ids: list[str]) -> None:
        occur = Timestamp()
        occur.FromDatetime(change.updated_at)
        envelope = events_pb2.EventEnvelope(
            event_id=event_id(change),
            occur_time=occur,
            task_changed=events_pb2.TaskChangedEvent(
                task=change.task, deleted=change.deleted, affected_user_ids=affected_user_ids
            ),
        )
        now = utcnow()
        doc: Document = {
            "_id": change_id(change),
            "task_id": change.task.task_id,
            "rank": change.rank,
            "deleted": change.deleted,
            "host_updated_at": change.updated_at,
            "created_at": now,
            "outbox": [outbox_entry(self._topic, change.task.task_id, envelope)],
            "outbox_pending": True,
            "outbox_since": now,
        }
        try:
            await self._db[CHANGES].insert_one(doc)
        except DuplicateKeyError:
            log.info("change %s was recorded before (re-read after a restart)", doc["_id"])
