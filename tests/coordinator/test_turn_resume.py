"""Resuming a turn's stream on another coordinator replica, against real Redis and FerretDB.

Two `TurnResumer`s with Redis clients of their own stand for two replicas: one runs the turn (appends its
events), the other serves the resume. Redis down is a client pointed at a closed port.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from assist.v1 import common_pb2, coordinator_pb2, nlg_pb2
from grpc_interceptor.exceptions import FailedPrecondition

from coordinator.resume import TurnResumer
from coordinator.turn_deadline import turn_deadline
from coordinator.turn_events import EventId, TurnEventLog
from mesh.storage.mongo import Database
from mesh.storage.redis_store import make_redis
from mesh.storage.turns import BeginKind, Turn, TurnStore
from tests.local_stack import Stack

pytestmark = pytest.mark.stack

PAGE = common_pb2.PageContext()


@pytest.fixture
async def replicas(stack: Stack) -> AsyncIterator[tuple[TurnEventLog, TurnEventLog]]:
    clients = [make_redis(stack.redis_url, 0.5) for _ in range(2)]
    try:
        yield TurnEventLog(clients[0], ttl_s=60), TurnEventLog(clients[1], ttl_s=60)
    finally:
        for client in clients:
            await client.aclose()


def _delta(text: str) -> coordinator_pb2.ConverseResponse:
    return coordinator_pb2.ConverseResponse(delta=coordinator_pb2.TextDelta(text=text))


def _done(turn_id: str, text: str) -> coordinator_pb2.ConverseResponse:
    return coordinator_pb2.ConverseResponse(done=coordinator_pb2.TurnDone(message_id=turn_id, text=text))


async def _begin(turns: TurnStore) -> Turn:
    begun = await turns.begin_turn(uuid.uuid4().hex, "u1", "m-1", "what is due?", PAGE, lease_seconds=30)
    assert begun.kind is BeginKind.NEW
    return begun.turn


async def _append(log: TurnEventLog, turn: Turn, seq: int, event: coordinator_pb2.ConverseResponse) -> None:
    event.event_id = str(EventId(turn.user_message_id, "0", seq))
    assert await log.append(turn.turn_id, 0, seq, event)


async def _complete(turns: TurnStore, turn: Turn, answer: str) -> None:
    assert await turns.complete_turn(
        turn.turn_id,
        answer=answer,
        intent=common_pb2.INTENT_HELP,
        language=common_pb2.LANGUAGE_EN,
        degraded=[],
        writer=nlg_pb2.WRITER_LOCAL,
        generation={},
        events=[],
        attempt=0,
    )


def _resume_request(turn: Turn, last_event_id: str) -> coordinator_pb2.ConverseRequest:
    return coordinator_pb2.ConverseRequest(
        conversation_id=turn.conversation_id,
        client_message_id=turn.client_message_id,
        text=turn.text,
        last_event_id=last_event_id,
    )


async def _collect(resumer: TurnResumer, turn: Turn, after: str) -> list[coordinator_pb2.ConverseResponse]:
    with turn_deadline(10):
        return [e async for e in resumer.resume("u1", _resume_request(turn, after))]


async def test_another_replica_follows_a_running_turn_live_from_the_event_after_the_id(
    db: Database, replicas: tuple[TurnEventLog, TurnEventLog]
) -> None:
    running, other = replicas
    turns = TurnStore(db)
    turn = await _begin(turns)
    for seq, text in enumerate(("one ", "two "), start=1):
        await _append(running, turn, seq, _delta(text))

    async def go_on() -> None:
        await asyncio.sleep(0.4)  # the resume is waiting by now
        await _append(running, turn, 3, _delta("three"))
        await _complete(turns, turn, "one two three")
        await _append(running, turn, 4, _done(turn.turn_id, "one two three"))

    later = asyncio.create_task(go_on())
    got = await _collect(TurnResumer(turns, other), turn, str(EventId(turn.user_message_id, "0", 1)))
    await later
    assert [e.event_id.rsplit(":", 1)[1] for e in got] == ["2", "3", "4"]
    assert [e.delta.text for e in got[:2]] == ["two ", "three"] and got[-1].done.text == "one two three"


async def test_with_redis_down_a_resume_of_a_finished_turn_gets_the_stored_answer(db: Database) -> None:
    turns = TurnStore(db)
    turn = await _begin(turns)
    await _complete(turns, turn, "the stored answer")
    dead = make_redis("redis://127.0.0.1:1/0", 0.2)
    try:
        got = await _collect(TurnResumer(turns, TurnEventLog(dead)), turn, f"{turn.user_message_id}:0:3")
    finally:
        await dead.aclose()
    assert len(got) == 1 and got[0].done.text == "the stored answer"
    assert got[0].event_id == f"{turn.user_message_id}:s:4"


async def test_a_run_that_died_without_its_last_event_ends_with_a_retryable_error(
    db: Database, replicas: tuple[TurnEventLog, TurnEventLog]
) -> None:
    running, other = replicas
    turns = TurnStore(db)
    turn = await _begin(turns)
    await _append(running, turn, 1, _delta("half"))
    await turns.release_turn(turn.turn_id, attempt=0)  # its runner failed: the lease is given up
    resumer = TurnResumer(turns, other, check_every_s=0.1)
    got = await _collect(resumer, turn, f"{turn.user_message_id}:0:1")
    assert len(got) == 1 and got[0].error.code == "ABORTED" and got[0].error.retryable


async def test_an_id_of_another_message_is_refused(
    db: Database, replicas: tuple[TurnEventLog, TurnEventLog]
) -> None:
    turns = TurnStore(db)
    turn = await _begin(turns)
    with pytest.raises(FailedPrecondition):
        await _collect(TurnResumer(turns, replicas[0]), turn, f"{uuid.uuid4().hex}:0:1")
    with pytest.raises(FailedPrecondition):
        await _collect(TurnResumer(turns, replicas[0]), turn, f"{turn.user_message_id}:7:1")
