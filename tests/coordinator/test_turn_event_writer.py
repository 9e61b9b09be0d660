"""A run's events written behind the turn (`RunEvents`), against real Redis.

Round trips are counted with Redis's own command statistics (`INFO commandstats`: one EXEC per pipeline).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from assist.v1 import coordinator_pb2
from redis.asyncio import Redis

from coordinator.turn_events import TurnEventLog
from mesh.storage.redis_store import make_redis

pytestmark = pytest.mark.stack


def _delta(text: str) -> coordinator_pb2.ConverseResponse:
    return coordinator_pb2.ConverseResponse(delta=coordinator_pb2.TextDelta(text=text))


def _done(text: str) -> coordinator_pb2.ConverseResponse:
    return coordinator_pb2.ConverseResponse(done=coordinator_pb2.TurnDone(message_id="t", text=text))


async def _exec_calls(redis: Redis) -> int:
    stats: Any = await redis.info("commandstats")
    return int(stats.get("cmdstat_exec", {}).get("calls", 0))


async def _kept(log: TurnEventLog, turn_id: str) -> list[tuple[int, str]]:
    events = await log.read_after(turn_id, 0, 0)
    assert events is not None
    return [(seq, e.delta.text or e.done.text) for seq, e in events]


async def test_events_put_close_together_are_written_in_one_round_trip_in_order(redis: Redis) -> None:
    log = TurnEventLog(redis, ttl_s=60, linger_s=0.05)
    turn_id = uuid.uuid4().hex
    writer = log.run_writer(turn_id, 0)
    before = await _exec_calls(redis)
    for seq, text in enumerate(["one", "two", "three"], start=1):
        writer.put(seq, _delta(text))
    await writer.flushed()
    assert await _exec_calls(redis) - before == 1
    assert await _kept(log, turn_id) == [(1, "one"), (2, "two"), (3, "three")]


async def test_events_put_while_a_write_is_in_flight_follow_it_in_order(redis: Redis) -> None:
    log = TurnEventLog(redis, ttl_s=60, linger_s=0.0)
    turn_id = uuid.uuid4().hex
    writer = log.run_writer(turn_id, 0)
    writer.put(1, _delta("first"))
    writer.put(2, _delta("second"))
    await writer.flushed()
    writer.put(3, _delta("third"))
    writer.put(4, _done("first second third"))
    await writer.flushed()
    assert await _kept(log, turn_id) == [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "first second third"),
    ]


async def test_with_redis_down_putting_events_neither_waits_nor_raises() -> None:
    dead = make_redis("redis://127.0.0.1:1/0", 0.2)
    try:
        writer = TurnEventLog(dead, linger_s=0.0).run_writer(uuid.uuid4().hex, 0)
        writer.put(1, _delta("kept nowhere"))
        writer.put(2, _done("kept nowhere"))
        await writer.flushed()
    finally:
        await dead.aclose()
