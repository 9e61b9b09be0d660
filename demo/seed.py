"""Seed the assistant's task store with the demo site's tasks: `python -m demo.seed` (uses MONGO_URI).

Stands in for the sync from the host site's task database, so the site and the assistant agree.
"""

from __future__ import annotations

import asyncio

from assist.v1 import common_pb2

from demo.data import DemoData, load_demo_data
from mesh.config import MongoSettings, load_settings
from mesh.storage.mongo import connect, default_database, ensure_indexes
from mesh.storage.tasks import TaskStore

_STATUS = {
    "TODO": common_pb2.TASK_STATUS_TODO,
    "IN_PROGRESS": common_pb2.TASK_STATUS_IN_PROGRESS,
    "BLOCKED": common_pb2.TASK_STATUS_BLOCKED,
    "DONE": common_pb2.TASK_STATUS_DONE,
}


def demo_tasks(data: DemoData) -> list[common_pb2.Task]:
    """The demo tasks as the contract's Task facts, with assignees' display names."""
    names = {u.user_id: u.display_name for u in data.users}
    return [
        common_pb2.Task(
            task_id=t.task_id,
            title=t.title,
            description=t.description,
            status=_STATUS[t.status],
            due_date=t.due_date,
            assignees=[common_pb2.Person(user_id=u, display_name=names[u]) for u in t.assignee_ids],
            project=t.project,
            priority=t.priority,
            blocked_by_task_ids=t.blocked_by,
            url=f"/tasks/{t.task_id}",
        )
        for t in data.tasks
    ]


async def seed_demo_tasks(mongo_uri: str, timeout_ms: int = 5000) -> int:
    """Upsert every demo task; returns how many were written."""
    client = connect(mongo_uri, timeout_ms)
    try:
        db = default_database(client)
        await ensure_indexes(db)
        store = TaskStore(db)
        written = 0
        for task in demo_tasks(load_demo_data()):
            written += await store.upsert(task)
        return written
    finally:
        await client.close()


def main() -> None:
    settings = load_settings(MongoSettings)
    written = asyncio.run(seed_demo_tasks(settings.mongo_uri, max(settings.mongo_timeout_ms, 5000)))
    print(f"seeded {written} demo tasks into {settings.mongo_uri}")


if __name__ == "__main__":
    main()
