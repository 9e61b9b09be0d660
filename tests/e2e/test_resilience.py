"""The mesh when its servers fail: MongoDB, Redis or Kafka stopped, a relay killed, a graceful stop.

Each test stops a real server or process and starts it again in a `finally`, so later tests find the
stack whole. Figures are printed (run with -s to see them) for the issue notes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest
from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from mesh.identity import user_metadata
from testing.event_counts import interaction_facts, interaction_records_on_topic
from testing.sse import new_conversation, send_message
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def client(mesh_up: MeshUnderTest) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as c:
        yield c


def _turn_ids_delivered(stack: Stack, turn_ids: set[str], timeout_s: float) -> dict[str, int]:
    return asyncio.run(interaction_records_on_topic(stack.kafka_bootstrap, turn_ids, timeout_s))


def _facts_for(mesh_up: MeshUnderTest, turn_ids: set[str], timeout_s: float) -> int:
    return asyncio.run(interaction_facts(mesh_up.mongo_uri, turn_ids, timeout_s))


def test_kafka_down_delays_events_but_loses_and_doubles_none(
    client: httpx.Client, mesh_up: MeshUnderTest, stack: Stack
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    turns = 200
    stack.stop("kafka")
    turn_ids: set[str] = set()
    try:
        started = time.monotonic()
        for i in range(turns):
            turn = send_message(
                client, conversation_id, f"what is due? #{i}", headers, client_message_id=uuid.uuid4().hex
            )
            assert turn.kinds()[-1] == "done", turn.events
            turn_ids.add(turn.first("done")["messageId"])
        outage_s = time.monotonic() - started
        if outage_s < 30:
            time.sleep(30 - outage_s)
    finally:
        stack.start("kafka")
    assert len(turn_ids) == turns
    facts = _facts_for(mesh_up, turn_ids, timeout_s=120)
    delivered = _turn_ids_delivered(stack, turn_ids, timeout_s=60)
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    print(
        f"\nkafka outage: {turns} turns answered while Kafka was down ({max(outage_s, 30):.0f} s); "
        f"records on the topic for them: {sum(delivered.values())} ({duplicates} duplicates); "
        f"counted in the aggregates: {facts}"
    )
    assert all(n >= 1 for n in delivered.values()), "every event reaches Kafka"
    assert facts == turns, "each event is counted exactly once"


def test_redis_down_chat_keeps_answering_and_recovers(
    client: httpx.Client, mesh_up: MeshUnderTest, stack: Stack
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    stack.stop("redis")
    try:
        turn = send_message(
            client, conversation_id, "What is late?", headers, client_message_id=uuid.uuid4().hex
        )
        assert turn.kinds()[-1] == "done"
        assert not turn.first("done").get("degradedComponents")
    finally:
        stack.start("redis")
    time.sleep(1.5)  # the stores pause one second after an outage before trying Redis again
    turn = send_message(
        client, conversation_id, "What is due this week?", headers, client_message_id=uuid.uuid4().hex
    )
    assert turn.kinds()[-1] == "done"


def test_mongo_down_answers_503_and_the_retry_after_recovery_runs_once(
    client: httpx.Client, mesh_up: MeshUnderTest, stack: Stack
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    message_id = uuid.uuid4().hex
    stack.stop("mongo")
    try:
        turn = send_message(client, conversation_id, "What is late?", headers, client_message_id=message_id)
        assert turn.status == 503
        assert turn.error_body is not None
        assert turn.error_body["error"]["retryable"] is True
        response = client.post("/v1/conversations", json={}, headers=headers)
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert "Traceback" not in response.text
    finally:
        stack.start("mongo")
    assert mesh_up.mesh.processes["coordinator"].poll() is None, "the coordinator survives the outage"
    deadline = time.monotonic() + 30
    while True:
        turn = send_message(client, conversation_id, "What is late?", headers, client_message_id=message_id)
        if turn.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert turn.status == 200 and turn.kinds()[-1] == "done"
    again = send_message(client, conversation_id, "What is late?", headers, client_message_id=message_id)
    assert again.first("accepted")["replayed"] is True
    history = client.get(f"/v1/conversations/{conversation_id}/messages", headers=headers).json()["messages"]
    assert len(history) == 2, "one turn for the client message id"


def test_relay_killed_mid_batch_loses_and_doubles_nothing(
    client: httpx.Client, mesh_up: MeshUnderTest, stack: Stack
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    mesh_up.mesh.stop("relay")
    turn_ids: set[str] = set()
    try:
        for i in range(60):
            turn = send_message(
                client, conversation_id, f"hello #{i}", headers, client_message_id=uuid.uuid4().hex
            )
            turn_ids.add(turn.first("done")["messageId"])
        mesh_up.mesh.start("relay")
        time.sleep(0.3)  # let it claim and start publishing, then kill it without warning
        os.kill(mesh_up.mesh.processes["relay"].pid, signal.SIGKILL)
        mesh_up.mesh.processes["relay"].wait()
    finally:
        mesh_up.mesh.start("relay")
    facts = _facts_for(mesh_up, turn_ids, timeout_s=120)
    delivered = _turn_ids_delivered(stack, turn_ids, timeout_s=60)
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    print(
        f"\nrelay killed: {len(turn_ids)} events; on the topic {sum(delivered.values())} ({duplicates} re-sent); counted {facts}"
    )
    assert all(n >= 1 for n in delivered.values())
    assert facts == len(turn_ids)


async def test_coordinator_sigterm_finishes_the_turn_in_flight(mesh_up: MeshUnderTest) -> None:
    async with mesh_up.coordinator_channel() as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        metadata = user_metadata("carol")
        created = await stub.CreateConversation(
            coordinator_pb2.CreateConversationRequest(), metadata=metadata
        )
        request = coordinator_pb2.ConverseRequest(
            conversation_id=created.conversation.conversation_id,
            client_message_id=uuid.uuid4().hex,
            text="Summarise my tasks that are due this week",
        )
        call = stub.Converse(request, metadata=metadata, timeout=30)
        first = await call.read()
        assert first.WhichOneof("event") == "accepted"
        mesh_up.mesh.processes["coordinator"].send_signal(signal.SIGTERM)
        events = [first]
        while (event := await call.read()) is not grpc.aio.EOF:
            events.append(event)
    try:
        assert events[-1].WhichOneof("event") == "done"
    finally:
        mesh_up.mesh.processes["coordinator"].wait(timeout=20)
        mesh_up.mesh.start("coordinator")
