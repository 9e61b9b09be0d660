"""The task sync against a real host PostgreSQL, MongoDB and Redis: backfill, edits, deletes, bad rows,
late commits, idempotence, cache invalidation."""

from __future__ import annotations

import psycopg
import pytest
from assist.v1 import common_pb2

from host_sync.apply import CHANGES
from host_sync.worker import HostSync
from mesh.storage.mongo import Database
from mesh.storage.redis_store import ResponseCache, task_cache_tag
from mesh.storage.tasks import TaskStore

pytestmark = pytest.mark.stack


async def test_backfill_copies_every_host_task_and_a_second_sweep_changes_nothing(
    sync: HostSync, db: Database, host: psycopg.Connection
) -> None:
    first = await sync.sweep()
    assert (first.applied, first.bad) == (12, 0)
    assert first.pages >= 3, "12 rows in pages of 5"
    t101 = await TaskStore(db).get_for_user("ana", "T-101")
    assert t101 is not None
    assert t101.status == common_pb2.TASK_STATUS_IN_PROGRESS and t101.priority == "high"
    assert list(t101.blocked_by_task_ids) == ["T-102"] and t101.url == "/tasks/T-101"
    assert [p.display_name for p in t101.assignees] == ["Ana Souza"]
    again = await sync.sweep()
    assert again.applied == 0
    assert await db[CHANGES].count_documents({}) == 12


async def test_an_edit_in_the_host_database_reaches_the_store_with_one_event(
    sync: HostSync, db: Database, host: psycopg.Connection
) -> None:
    await sync.sweep()
    host.execute("UPDATE tasks SET state = 'done', due_on = '2030-01-02' WHERE id = 'T-101'")
    result = await sync.sweep()
    assert result.applied == 1
    task = await TaskStore(db).get_for_user("ana", "T-101")
    assert task is not None and task.status == common_pb2.TASK_STATUS_DONE and task.due_date == "2030-01-02"
    records = [doc async for doc in db[CHANGES].find({"task_id": "T-101"})]
    assert len(records) == 2 and all(r["outbox_pending"] for r in records)


async def test_a_new_assignee_touches_the_task_and_both_users_are_told(
    sync: HostSync, db: Database, host: psycopg.Connection
) -> None:
    await sync.sweep()
    host.execute("DELETE FROM task_assignees WHERE task_id = 'T-103'")
    host.execute("INSERT INTO task_assignees (task_id, user_id) VALUES ('T-103', 'carol')")
    await sync.sweep()
    store = TaskStore(db)
    assert await store.get_for_user("ana", "T-103") is None
    assert await store.get_for_user("carol", "T-103") is not None


async def test_a_soft_deleted_task_disappears_and_an_older_change_cannot_revive_it(
    sync: HostSync, db: Database, host: psycopg.Connection
) -> None:
    await sync.sweep()
    host.execute("UPDATE tasks SET deleted_at = now() WHERE id = 'T-103'")
    assert (await sync.sweep()).applied == 1
    store = TaskStore(db)
    assert await store.get_for_user("ana", "T-103") is None
    assert [t.task_id for t in await store.list_for_user("ana")].count("T-103") == 0
    doc = await db.tasks.find_one({"_id": "T-103"})
    assert doc is not None and doc["deleted"] is True
    # A second worker starting from scratch (empty memory) re-reads everything and revives nothing.
    fresh = HostSync(db, sync._source, sync._mapping, sync._applier, batch_size=50)
    assert (await fresh.sweep()).applied == 0
    assert await store.get_for_user("ana", "T-103") is None


async def test_a_bad_row_is_reported_once_and_skipped_and_the_rest_still_syncs(
    sync: HostSync, db: Database, host: psycopg.Connection
) -> None:
    host.execute("INSERT INTO tasks (id, title) VALUES ('BAD-1', '')")
    host.execute("INSERT INTO task_assignees (task_id, user_id) VALUES ('BAD-1', 'ana')")
    result = await sync.sweep()
    assert result.bad == 1 and result.applied == 12
    assert "BAD-1" in result.bad_rows[0] and "empty title" in result.bad_rows[0]
    assert await db.tasks.find_one({"_id": "BAD-1"}) is None
    assert (await sync.sweep()).bad == 0, "reported once, not once per sweep"
    host.execute("UPDATE tasks SET title = 'Fixed now' WHERE id = 'BAD-1'")
    assert (await sync.sweep()).applied == 1
    fixed = await TaskStore(db).get_for_user("ana", "BAD-1")
    assert fixed is not None and fixed.title == "Fixed now"


async def test_a_change_committed_after_newer_ones_were_read_is_not_lost(
    sync: HostSync, db: Database, host_dsn: str, host: psycopg.Connection
) -> None:
    await sync.sweep()
    with psycopg.connect(host_dsn) as slow:  # a transaction: its updated_at is taken now, seen at commit
        slow.execute("UPDATE tasks SET title = 'Slow writer' WHERE id = 'T-104'")
        host.execute("UPDATE tasks SET title = 'Fast writer' WHERE id = 'T-105'")
        await sync.sweep()  # the watermark moves past T-104's (uncommitted) updated_at
        slow.commit()
    await sync.sweep()
    t104 = await db.tasks.find_one({"_id": "T-104"})
    assert t104 is not None and t104["title"] == "Slow writer"


async def test_a_change_deletes_the_cached_answers_that_used_the_task(
    sync: HostSync, cache: ResponseCache, host: psycopg.Connection
) -> None:
    await sync.sweep()
    await cache.set("answer-about-t101", b"old answer", 60, tags=[task_cache_tag("T-101")])
    await cache.set("answer-about-t102", b"other answer", 60, tags=[task_cache_tag("T-102")])
    host.execute("UPDATE tasks SET state = 'done' WHERE id = 'T-101'")
    await sync.sweep()
    assert await cache.get("answer-about-t101") is None
    assert await cache.get("answer-about-t102") == b"other answer"


async def test_a_quiet_host_is_swept_less_often_up_to_the_idle_cap_and_at_once_after_a_change(
    sync: HostSync,
) -> None:
    """Defaults: 0.5 s after a sweep that applied something, then 1 s, then every 2 s while nothing changes."""
    assert [sync.pause_after(quiet) for quiet in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert sync.pause_after(10_000) == 2.0
