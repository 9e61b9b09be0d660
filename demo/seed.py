"""Seed the demo host site's task database: `python -m demo.seed [--reset] [--mongo]`.

The host's PostgreSQL (HOST_DB_DSN) gets its schema (`demo/host_schema.sql`) and the demo users and tasks;
the sync worker (`python -m host_sync`) then copies them into the assistant's store, as it would for a real
host. `--mongo` also writes the tasks straight into the assistant's store (MONGO_URI), for runs without the
sync (the end-to-end fixtures and the benchmarks call `seed_demo_tasks` for that).
"""

from __future__ import annotations

import argparse
import asyncio

import psycopg
from assist.v1 import common_pb2
from pydantic_settings import BaseSettings, SettingsConfigDict

from demo import hostdb
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


class HostDbSettings(BaseSettings):
    """Where the host site's task database is: HOST_DB_DSN (a PostgreSQL connection string)."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    host_db_dsn: str


def seed_host_database(dsn: str, *, reset: bool = False) -> int:
    """Apply the host schema and insert the demo data that is missing; returns the tasks written."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        hostdb.apply_schema(conn)
        return hostdb.seed(conn, load_demo_data(), reset=reset)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--reset", action="store_true", help="put every demo task back as data.json has it")
    parser.add_argument("--mongo", action="store_true", help="also write the tasks into MONGO_URI directly")
    args = parser.parse_args()
    host = load_settings(HostDbSettings)
    written = seed_host_database(host.host_db_dsn, reset=args.reset)
    print(f"host database: {written} demo tasks written ({host.host_db_dsn})")
    if args.mongo:
        settings = load_settings(MongoSettings)
        written = asyncio.run(seed_demo_tasks(settings.mongo_uri, max(settings.mongo_timeout_ms, 5000)))
        print(f"seeded {written} demo tasks into {settings.mongo_uri}")


if __name__ == "__main__":
    main()
