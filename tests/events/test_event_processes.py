"""`python -m outbox_relay` and `python -m analytics` as real processes: they work and stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable

import pytest
from assist.v1 import events_pb2

from mesh.events.kafka import INTERACTIONS_TOPIC, encode, make_producer
from mesh.storage.mongo import Database, outbox_entry, utcnow
from tests.events.kafka_helpers import create_topic, event_id_counts, read_topic
from tests.local_stack import ROOT, Stack, mongo_uri_for, subprocess_env

pytestmark = [pytest.mark.stack, pytest.mark.slow]


async def _start(module: str, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, cwd=ROOT, env=subprocess_env(**env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def _stop(process: asyncio.subprocess.Process) -> list[dict[str, object]]:
    """SIGTERM, then the JSON log lines; the process must exit 0 within 15 s."""
    process.send_signal(signal.SIGTERM)
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=15)
    lines = stdout.decode().splitlines()
    assert process.returncode == 0, "\n".join(lines)
    return [json.loads(line) for line in lines if line.startswith("{")]


async def _eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.25)
    raise AssertionError("condition not met in time")


@pytest.fixture
def env(stack: Stack, db: Database) -> dict[str, str]:
    return {"MONGO_URI": mongo_uri_for(stack, db.name), "KAFKA_BOOTSTRAP": stack.kafka_bootstrap}


async def test_relay_process_publishes_the_outbox_and_stops_on_sigterm(
    stack: Stack, db: Database, topic: str, env: dict[str, str]
) -> None:
    await create_topic(stack.kafka_bootstrap, topic)
    envelope = events_pb2.EventEnvelope(event_id=uuid.uuid4().hex, interaction=events_pb2.InteractionEvent())
    now = utcnow()
    await db.turns.insert_one(
        {"_id": "t1", "state": "done", "outbox": [outbox_entry(topic, "c1", envelope)], "outbox_pending": True,
         "outbox_since": now}
    )  # fmt: skip
    process = await _start("outbox_relay", RELAY_ID="relay-under-test", **env)
    try:
        await _eventually(lambda: _no_pending(db))
    finally:
        logs = await _stop(process)
    assert event_id_counts(await read_topic(stack.kafka_bootstrap, topic, 1)) == {envelope.event_id: 1}
    messages = [str(line.get("message")) for line in logs]
    assert "relay relay-under-test started" in messages and "relay relay-under-test stopped" in messages
    assert all(line.get("service") == "relay" for line in logs)


async def _no_pending(db: Database) -> bool:
    return await db.turns.count_documents({"outbox_pending": True}) == 0


async def test_analytics_process_stores_facts_and_stops_on_sigterm(
    stack: Stack, db: Database, env: dict[str, str]
) -> None:
    envelope = events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex, interaction=events_pb2.InteractionEvent(user_id="u1", conversation_id="c1")
    )
    envelope.occur_time.FromDatetime(utcnow())
    producer = make_producer(stack.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(INTERACTIONS_TOPIC, encode(envelope), key=b"c1")
    finally:
        await producer.stop()
    process = await _start("analytics", ANALYTICS_GROUP_ID=f"test-{uuid.uuid4().hex[:8]}", **env)
    try:
        await _eventually(lambda: _stored(db, envelope.event_id), timeout_s=60)
    finally:
        logs = await _stop(process)
    assert any(line.get("message") == "analytics consumer stopped" for line in logs)


async def _stored(db: Database, event_id: str) -> bool:
    return await db.analytics_events.find_one({"_id": event_id}) is not None
