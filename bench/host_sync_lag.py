"""`python -m bench.host_sync_lag [--tasks N] [--updates N]`: the task sync's lag under a burst of updates.

Against the running local stack (`eval "$(scripts/stack.sh env)"`): a host schema of its own in HOST_DB_DSN
with N tasks, a fresh MongoDB database, and the real worker process (`python -m host_sync`). It measures
the backfill, then commits a burst of updates (one UPDATE per task, 100 per transaction, as fast as
PostgreSQL takes them) and reports how long the worker took to have all of them, and the per-change delay
from the host's updated_at to the change record's creation. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from demo import hostdb
from mesh.storage.mongo import connect

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "host_sync" / "mappings" / "demo.yaml"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _wait_for(db_uri: str, database: str, count: int, timeout_s: float) -> float:
    """Seconds until `task_changes` holds `count` records (polled every second)."""
    client = connect(db_uri, 60_000)  # counting scans the collection on FerretDB: slow under load
    started = time.monotonic()
    try:
        while await client[database].task_changes.count_documents({}) < count:
            if time.monotonic() - started > timeout_s:
                raise SystemExit(f"the worker did not reach {count} changes within {timeout_s:.0f} s")
            await asyncio.sleep(1.0)
        return time.monotonic() - started
    finally:
        await client.close()


async def _delays(db_uri: str, database: str, since_rank: int) -> list[float]:
    client = connect(db_uri, 60_000)
    try:
        cursor = client[database].task_changes.find({"rank": {"$gt": since_rank}})
        return [(d["created_at"] - d["host_updated_at"]).total_seconds() async for d in cursor]
    finally:
        await client.close()


async def _drop(db_uri: str, database: str) -> None:
    client = connect(db_uri, 5000)
    try:
        await client.drop_database(database)
    finally:
        await client.close()


def run(tasks: int, updates: int, batch_size: int) -> None:
    dsn, mongo_base = os.environ["HOST_DB_DSN"], os.environ["MONGO_URI"]
    schema, database = f"bench_{uuid.uuid4().hex[:8]}", f"bench_sync_{uuid.uuid4().hex[:8]}"
    mongo_uri = f"{mongo_base.rpartition('/')[0]}/{database}"
    bench_dsn = make_conninfo(dsn, options=f"-csearch_path={schema}")
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    worker: subprocess.Popen[bytes] | None = None
    try:
        with psycopg.connect(bench_dsn, autocommit=True) as host:
            hostdb.apply_schema(host)
            host.execute("INSERT INTO users (id, display_name) VALUES ('carol', 'Carol Smith')")
            host.execute(
                "INSERT INTO tasks (id, title, due_on) SELECT 'L-' || g, 'Load task ' || g, current_date + g %% 30 "
                "FROM generate_series(1, %s) g",
                (tasks,),
            )
            host.execute("INSERT INTO task_assignees (task_id, user_id) SELECT id, 'carol' FROM tasks", ())
            env = {
                **os.environ,
                "MONGO_URI": mongo_uri,
                "HOST_DB_DSN": bench_dsn,
                "HOST_SYNC_MAPPING_FILE": str(MAPPING),
                "HOST_SYNC_BATCH_SIZE": str(batch_size),
                "METRICS_PORT": "0",
                "LOG_LEVEL": "WARNING",
            }
            started = time.monotonic()
            worker = subprocess.Popen([sys.executable, "-m", "host_sync"], env=env, cwd=ROOT)
            backfill_s = asyncio.run(_wait_for(mongo_base, database, tasks, 600))
            print(
                f"backfill: {tasks} tasks in {backfill_s:.1f} s ({tasks / backfill_s:.0f} tasks/s, worker start included)"
            )
            (before,) = host.execute("SELECT max(row_version) FROM tasks").fetchone() or (0,)
            burst_start = time.monotonic()
            ids = [f"L-{1 + i % tasks}" for i in range(updates)]
            for offset in range(0, updates, 100):
                with host.transaction():
                    for task_id in ids[offset : offset + 100]:
                        host.execute("UPDATE tasks SET state = 'doing' WHERE id = %s", (task_id,))
            committed_s = time.monotonic() - burst_start
            expected = tasks + updates
            drained_s = asyncio.run(_wait_for(mongo_base, database, expected, 900)) + committed_s
            delays = asyncio.run(_delays(mongo_base, database, int(before)))
            print(
                f"burst: {updates} updates committed in {committed_s:.1f} s; the worker had all of them "
                f"{drained_s:.1f} s after the burst began ({updates / drained_s:.0f} changes/s)"
            )
            print(
                "per-change lag (host updated_at -> change recorded): "
                f"p50 {statistics.median(delays):.2f} s, p95 {_percentile(delays, 0.95):.2f} s, "
                f"p99 {_percentile(delays, 0.99):.2f} s, max {max(delays):.2f} s over {len(delays)} changes"
            )
            print(f"total time including setup: {time.monotonic() - started:.1f} s")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
        asyncio.run(_drop(mongo_base, database))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tasks", type=int, default=10_000, help="tasks in the host database (default 10,000)"
    )
    parser.add_argument("--updates", type=int, default=10_000, help="updates in the burst (default 10,000)")
    parser.add_argument("--batch-size", type=int, default=500, help="HOST_SYNC_BATCH_SIZE (default 500)")
    args = parser.parse_args()
    if args.updates > args.tasks:
        parser.error("--updates must not exceed --tasks (each update touches its own task)")
    run(args.tasks, args.updates, args.batch_size)


if __name__ == "__main__":
    main()
