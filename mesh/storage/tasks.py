"""The assistant's copy of the host site's tasks, kept in step by the task sync and read by the tasks agent.

One document per task (`_id` = task id) holding the Task fields plus `assignee_ids` (indexed: "my tasks"
is the common question) and `due_sort` (the due date, or "9999-12-31" when there is none, so one index
orders tasks soonest-due first with undated tasks last). Changes carry the host's `updated_at`; an older
change never overwrites a newer one, so the sync may deliver changes twice or out of order. A deleted task
leaves a tombstone (`deleted: true`) for the same reason: a late, older upsert cannot bring it back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from assist.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from mesh.storage.mongo import Database, Document, find_by_ids, unavailable_as_store_error, utcnow

NO_DUE_DATE = "9999-12-31"
MAX_LIMIT = 500


def _to_doc(task: common_pb2.Task, assignee_ids: list[str], updated_at: datetime) -> Document:
    return {
        "title": task.title,
        "description": task.description,
        "status": int(task.status),
        "due_date": task.due_date,
        "due_sort": task.due_date or NO_DUE_DATE,
        "assignees": [{"user_id": p.user_id, "display_name": p.display_name} for p in task.assignees],
        "assignee_ids": assignee_ids,
        "project": task.project,
        "priority": task.priority,
        "blocked_by_task_ids": list(task.blocked_by_task_ids),
        "updated_at": updated_at,
        "url": task.url,
        "deleted": False,
    }


def _from_doc(doc: Document) -> common_pb2.Task:
    updated_at = Timestamp()
    updated_at.FromDatetime(doc["updated_at"])
    return common_pb2.Task(
        task_id=doc["_id"],
        title=doc.get("title", ""),
        description=doc.get("description", ""),
        status=common_pb2.TaskStatus.ValueType(doc.get("status", 0)),
        due_date=doc.get("due_date", ""),
        assignees=[
            common_pb2.Person(user_id=p["user_id"], display_name=p["display_name"])
            for p in doc.get("assignees", [])
        ],
        project=doc.get("project", ""),
        priority=doc.get("priority", ""),
        blocked_by_task_ids=list(doc.get("blocked_by_task_ids", [])),
        updated_at=updated_at,
        url=doc.get("url", ""),
    )


def _millis(value: datetime) -> datetime:
    """BSON dates hold milliseconds: compare changes at the precision that is stored."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


class TaskStore:
    """Tasks by assignee, as the tasks agent reads them and the sync writes them."""

    def __init__(self, db: Database) -> None:
        self._tasks = db.tasks

    @unavailable_as_store_error
    async def upsert(self, task: common_pb2.Task, assignee_ids: Iterable[str] | None = None) -> bool:
        """Store the task unless a change at least as new is stored already; True when it was written.

        `assignee_ids` defaults to the task's assignees. A task without `updated_at` counts as changed now.
        """
        ids = sorted(set(assignee_ids if assignee_ids is not None else (p.user_id for p in task.assignees)))
        updated_at = _millis(task.updated_at.ToDatetime(UTC)) if task.HasField("updated_at") else utcnow()
        doc = _to_doc(task, ids, updated_at)
        try:
            result = await self._tasks.update_one(
                {"_id": task.task_id, "updated_at": {"$lt": updated_at}},
                {"$set": doc, "$inc": {"version": 1}},
                upsert=True,
            )
        except DuplicateKeyError:
            # The stored change is as new or newer: the filter missed, so the upsert tried to insert and collided.
            return False
        return result.upserted_id is not None or result.modified_count == 1

    @unavailable_as_store_error
    async def delete(self, task_id: str, *, deleted_at: datetime | None = None) -> bool:
        """Mark the task deleted (a tombstone, so an older upsert arriving later does not revive it)."""
        when = _millis(deleted_at) if deleted_at is not None else utcnow()
        try:
            result = await self._tasks.update_one(
                {"_id": task_id, "updated_at": {"$lt": when}},
                {
                    "$set": {
                        "deleted": True,
                        "assignee_ids": [],
                        "updated_at": when,
                        "due_sort": NO_DUE_DATE,
                    },
                    "$inc": {"version": 1},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return result.upserted_id is not None or result.modified_count == 1

    @unavailable_as_store_error
    async def synced_state(self, task_id: str) -> tuple[int, list[str]] | None:
        """What the sync last stored for the task: (its rank, -1 when it never did; the assignee ids)."""
        doc = await self._tasks.find_one({"_id": task_id}, projection={"sync_rank": 1, "assignee_ids": 1})
        if doc is None:
            return None
        return int(doc.get("sync_rank", -1)), list(doc.get("assignee_ids") or [])

    @unavailable_as_store_error
    async def apply_synced(
        self, task: common_pb2.Task, *, rank: int, deleted: bool, stored_rank: int | None
    ) -> bool:
        """Store a change read from the host if the stored task is still at `stored_rank`; True when written.

        `stored_rank` is what `synced_state` read (None: no document, -1: a document the sync never wrote);
        the caller has checked that `rank` is higher. The write is a compare-and-set on it, filtered by `_id`
        equality first so FerretDB serves it from an index (an `$or` would make it scan the collection).
        A deletion keeps the document as a tombstone with its rank, so an older change read later cannot
        revive the task.
        """
        updated_at = _millis(task.updated_at.ToDatetime(UTC)) if task.HasField("updated_at") else utcnow()
        fields: Document
        if deleted:
            fields = {"deleted": True, "assignee_ids": [], "due_sort": NO_DUE_DATE, "updated_at": updated_at}
        else:
            fields = _to_doc(task, sorted({p.user_id for p in task.assignees}), updated_at)
        guard: Document = {"_id": task.task_id}
        if stored_rank is not None:
            guard["sync_rank"] = stored_rank if stored_rank >= 0 else {"$exists": False}
        try:
            result = await self._tasks.update_one(
                guard,
                {"$set": {**fields, "sync_rank": rank}, "$inc": {"version": 1}},
                upsert=stored_rank is None,
            )
        except DuplicateKeyError:
            return False  # another writer inserted it meanwhile
        return result.upserted_id is not None or result.modified_count == 1

    @unavailable_as_store_error
    async def list_for_user(
        self,
        user_id: str,
        *,
        due_on_or_before: str = "",
        exclude_done: bool = False,
        title_query: str = "",
        limit: int = 50,
    ) -> list[common_pb2.Task]:
        """The user's tasks, soonest due first, undated last.

        `due_on_or_before` (YYYY-MM-DD) keeps dated tasks due then or earlier; `title_query` keeps titles
        containing it (case-insensitive, taken literally, not as a pattern).
        """
        query: Document = {"assignee_ids": user_id, "deleted": {"$ne": True}}
        if due_on_or_before:
            query["due_date"] = {"$ne": "", "$lte": due_on_or_before}
        if exclude_done:
            query["status"] = {"$ne": int(common_pb2.TASK_STATUS_DONE)}
        if title_query:
            query["title"] = {"$regex": re.escape(title_query), "$options": "i"}
        cursor = self._tasks.find(
            query, sort=[("due_sort", ASCENDING), ("_id", ASCENDING)], limit=max(1, min(limit, MAX_LIMIT))
        )
        return [_from_doc(doc) async for doc in cursor]

    @unavailable_as_store_error
    async def get_for_user(self, user_id: str, task_id: str) -> common_pb2.Task | None:
        """The task, or None when it does not exist, was deleted, or is not assigned to the user."""
        doc = await self._tasks.find_one({"_id": task_id, "assignee_ids": user_id, "deleted": {"$ne": True}})
        return None if doc is None else _from_doc(doc)

    @unavailable_as_store_error
    async def get_many(self, task_ids: list[str]) -> list[common_pb2.Task]:
        """The tasks that exist among `task_ids`, in the order asked (for blockers: no assignee check here)."""
        if not task_ids:
            return []
        docs = await find_by_ids(self._tasks, task_ids, also={"deleted": {"$ne": True}})
        return [_from_doc(doc) for doc in docs]
