"""The synced task copy: idempotent, newest-wins upserts, tombstones, and the per-user queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from assist.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from mesh.storage.mongo import Database
from mesh.storage.tasks import TaskStore

pytestmark = pytest.mark.stack

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _task(task_id: str, *, title: str = "", due: str = "", status: int = 1, at: datetime = T0,
          assignees: tuple[str, ...] = ("u1",)) -> common_pb2.Task:  # fmt: skip
    updated_at = Timestamp()
    updated_at.FromDatetime(at)
    return common_pb2.Task(
        task_id=task_id,
        title=title or f"Task {task_id}",
        description="details",
        status=common_pb2.TaskStatus.ValueType(status),
        due_date=due,
        assignees=[common_pb2.Person(user_id=a, display_name=a.upper()) for a in assignees],
        project="Apollo",
        priority="high",
        blocked_by_task_ids=["X"],
        updated_at=updated_at,
        url=f"https://tasks.example/t/{task_id}",
    )


async def test_upsert_round_trips_every_field_and_is_idempotent(db: Database) -> None:
    store = TaskStore(db)
    task = _task("T1", due="2026-03-05")
    assert await store.upsert(task)
    assert not await store.upsert(task)  # same change again: nothing to do
    assert await store.get_for_user("u1", "T1") == task
    doc = await db.tasks.find_one({"_id": "T1"})
    assert doc is not None and doc["assignee_ids"] == ["u1"] and doc["version"] == 1


async def test_only_a_newer_change_overwrites(db: Database) -> None:
    store = TaskStore(db)
    assert await store.upsert(_task("T1", title="new", at=T0 + timedelta(minutes=5)))
    assert not await store.upsert(_task("T1", title="old", at=T0))
    got = await store.get_for_user("u1", "T1")
    assert got is not None and got.title == "new"
    assert await store.upsert(_task("T1", title="newer", at=T0 + timedelta(minutes=6)))
    got = await store.get_for_user("u1", "T1")
    assert got is not None and got.title == "newer"


async def test_deleted_task_disappears_and_an_older_upsert_does_not_revive_it(db: Database) -> None:
    store = TaskStore(db)
    await store.upsert(_task("T1"))
    assert await store.delete("T1", deleted_at=T0 + timedelta(minutes=1))
    assert await store.get_for_user("u1", "T1") is None
    assert await store.list_for_user("u1") == []
    assert not await store.upsert(_task("T1", at=T0))
    assert await store.get_many(["T1"]) == []
    assert await store.upsert(_task("T1", at=T0 + timedelta(minutes=2)))  # re-created on the host later
    assert await store.get_for_user("u1", "T1") is not None


def ids(tasks: list[common_pb2.Task]) -> list[str]:
    return [t.task_id for t in tasks]


async def test_list_for_user_orders_by_due_date_with_undated_last_and_filters(db: Database) -> None:
    store = TaskStore(db)
    await store.upsert(_task("A", title="Write report", due="2026-03-10"))
    await store.upsert(_task("B", title="Fix login bug", due="2026-03-02"))
    await store.upsert(_task("C", title="Plan offsite"))
    await store.upsert(
        _task("D", title="Ship LOGIN page", due="2026-03-04", status=common_pb2.TASK_STATUS_DONE)
    )
    await store.upsert(_task("E", title="Someone else's", due="2026-03-01", assignees=("u2",)))
    await store.upsert(_task("F", title="Shared (a+b)", due="2026-03-20", assignees=("u1", "u2")))

    assert ids(await store.list_for_user("u1")) == ["B", "D", "A", "F", "C"]
    assert ids(await store.list_for_user("u1", due_on_or_before="2026-03-04")) == ["B", "D"]
    assert ids(await store.list_for_user("u1", exclude_done=True)) == ["B", "A", "F", "C"]
    assert ids(await store.list_for_user("u1", title_query="login")) == ["B", "D"]
    assert ids(await store.list_for_user("u1", title_query="(a+b)")) == ["F"]  # literal, not a pattern
    assert ids(await store.list_for_user("u1", limit=2)) == ["B", "D"]
    assert ids(await store.list_for_user("u2")) == ["E", "F"]


async def test_get_for_user_hides_tasks_of_others_and_get_many_keeps_the_order_asked(db: Database) -> None:
    store = TaskStore(db)
    await store.upsert(_task("A"))
    await store.upsert(_task("B", assignees=("u2",)))
    assert await store.get_for_user("u1", "B") is None
    assert await store.get_for_user("u1", "missing") is None
    assert [t.task_id for t in await store.get_many(["B", "missing", "A", "B"])] == ["B", "A"]
    assert await store.get_many([]) == []


async def test_reassignment_moves_the_task_between_users(db: Database) -> None:
    store = TaskStore(db)
    await store.upsert(_task("A", assignees=("u1",)))
    await store.upsert(_task("A", assignees=("u2",), at=T0 + timedelta(seconds=1)))
    assert await store.list_for_user("u1") == []
    assert [t.task_id for t in await store.list_for_user("u2")] == ["A"]
