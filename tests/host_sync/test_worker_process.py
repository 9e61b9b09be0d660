"""The sync worker as a real process, killed with SIGKILL in the middle of a burst: when it comes back,
every host change is in the store once, and Kafka has exactly one event per recorded change."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from host_sync.apply import CHANGES
from mesh.events.kafka import make_producer
from mesh.storage.mongo import Database
from outbox_relay.relay import OutboxRelay
from tests.events.kafka_helpers import create_topic, event_id_counts, read_topic
from tests.host_sync.conftest import DEMO_MAPPING
from tests.local_stack import ROOT, Stack, mongo_uri_for, subprocess_env

pytestmark = pytest.mark.stack

BURST = 400


def _start_worker(stack: Stack, db: Database, host_dsn: str, topic: str) -> subprocess.Popen[bytes]:
    env = subprocess_env(
        MONGO_URI=mongo_uri_for(stack, db.name),
        REDIS_URL=stack.redis_url,
        HOST_DB_DSN=host_dsn,
        HOST_SYNC_MAPPING_FILE=str(DEMO_MAPPING),
        HOST_SYNC_BATCH_SIZE="20",
        HOST_SYNC_POLL_S="0.2",
        HOST_SYNC_TOPIC=topic,
        METRICS_PORT="0",
        SERVICE_NAME="host-sync-test",
    )
    return subprocess.Popen([sys.executable, "-m", "host_sync"], env=env, cwd=ROOT)


def _host_versions(host: psycopg.Connection) -> dict[str, int]:
    return {task_id: version for task_id, version in host.execute("SELECT id, row_version FROM tasks")}


async def _stored_ranks(db: Database) -> dict[str, int]:
    return {doc["_id"]: doc.get("sync_rank", -1) async for doc in db.tasks.find({}, {"sync_rank": 1})}


async def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    stack: Stack, db: Database, host_dsn: str, host: psycopg.Connection, topic: str
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    host.execute(
        "INSERT INTO tasks (id, title, due_on) SELECT 'B-' || g, 'Burst task ' || g, current_date + g %% 30 "
        "FROM generate_series(1, %s) g",
        (BURST,),
    )
    host.execute(
        "INSERT INTO task_assignees (task_id, user_id) SELECT id, 'carol' FROM tasks WHERE id LIKE 'B-%%'", ()
    )
    worker = _start_worker(stack, db, host_dsn, topic)
    try:
        deadline = time.monotonic() + 60
        while await db[CHANGES].count_documents({}) < 60:
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker applied nothing within 60 s"
            await asyncio.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        killed_at = await db[CHANGES].count_documents({})
        assert killed_at < BURST, "killed before the burst was done"
        # Changes while it is down, then a new worker from the checkpoint.
        host.execute("UPDATE tasks SET state = 'doing' WHERE id LIKE 'B-1%%'", ())
        host.execute("UPDATE tasks SET deleted_at = now() WHERE id IN ('B-2', 'B-3')")
        worker = _start_worker(stack, db, host_dsn, topic)
        expected = _host_versions(host)
        deadline = time.monotonic() + 90
        while await _stored_ranks(db) != expected:
            assert worker.poll() is None, "the restarted worker exited"
            assert time.monotonic() < deadline, "the restarted worker did not catch up within 90 s"
            await asyncio.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
    assert await db.tasks.count_documents({"deleted": True}) == 2
    records = [doc async for doc in db[CHANGES].find({}, {"task_id": 1, "rank": 1})]
    assert len({(r["task_id"], r["rank"]) for r in records}) == len(records)
    # Every task's newest version has its change record: nothing the store has went unannounced.
    assert {(task_id, version) for task_id, version in expected.items()} <= {
        (r["task_id"], r["rank"]) for r in records
    }

    relay = OutboxRelay(db, lambda: make_producer(stack.kafka_bootstrap), "relay-sync-test", batch_size=200)
    try:
        while await relay.run_once():
            pass
    finally:
        await relay.close()
    envelopes = await read_topic(stack.kafka_bootstrap, topic, len(records), timeout_s=60)
    counts = event_id_counts(envelopes)
    assert len(counts) == len(records) and set(counts.values()) == {1}
    assert {e.task_changed.task.task_id for e in envelopes} == set(expected)
