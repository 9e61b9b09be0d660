"""Two coordinator replicas behind one edge: SIGTERM one while 16 chats run, and no turn fails.

The edge's channel balances over both replicas (COORDINATOR_ADDR lists them) and watches their health;
the stopping replica goes NOT_SERVING at once, finishes its turns in flight and refuses new calls with
UNAVAILABLE, which the channel resends to the other replica before any answer has started. A refusal
that still reaches a client (503, retryable) is resent by it with the same client_message_id, as the
widget does; those are counted and printed (run with -s), and each turn must be stored once.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import grpc
import httpx
import pytest
from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from devtools.probes import grpc_serving
from mesh.identity import user_metadata
from mesh.storage.mongo import connect, default_database
from mesh.tls import coordinator_channel
from testing.gemini_server import GeminiServer, echo
from testing.sse import TurnResult, new_conversation, send_message
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest, running_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHATS = 16
WINDOW_S = 10.0
# The SIGTERM: at this time at the earliest, once both replicas carry turns (later on a loaded machine).
STOP_AT_S = 4.0
# Chats go on at least this long after the SIGTERM.
AFTER_STOP_S = 4.0
MAX_RESENDS = 5


# The fake model holds each answer this long, so turns are in flight when a replica is stopped.
ANSWER_DELAY_S = 0.8
# How long a stopping coordinator keeps its port open refusing new calls (the chart's drain).
DRAIN_S = 1.0


@pytest.fixture(scope="module")
def replicated_mesh(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshUnderTest]:
    server = GeminiServer()
    fake = server.start()
    fake.responder = lambda _: echo(first_delay_s=ANSWER_DELAY_S)
    env = {
        "GEMINI_API_KEY": "fake-key",
        "GEMINI_BASE_URL": fake.base_url,
        "NLU_GEMINI_THRESHOLD": "0",
        "DRAIN_SECONDS": str(DRAIN_S),
    }
    try:
        with running_mesh(
            stack,
            tmp_path_factory.mktemp("replica-keys"),
            name="replicas",
            extra_env=env,
            coordinator_replicas=2,
        ) as mesh:
            yield mesh
    finally:
        server.stop()


async def _converse(channel: grpc.aio.Channel, user_id: str) -> grpc.aio.UnaryStreamCall:
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
    metadata = user_metadata(user_id)
    created = await stub.CreateConversation(coordinator_pb2.CreateConversationRequest(), metadata=metadata)
    request = coordinator_pb2.ConverseRequest(
        conversation_id=created.conversation.conversation_id,
        client_message_id=uuid.uuid4().hex,
        text="Summarise my tasks that are due this week",
    )
    return stub.Converse(request, metadata=metadata, timeout=30)


async def test_stopping_replica_finishes_its_turn_and_refuses_new_ones_retryably(
    replicated_mesh: MeshUnderTest,
) -> None:
    mesh = replicated_mesh.mesh
    address, tls = mesh.address("coordinator#2"), replicated_mesh.tls_dir("assist-cli")
    process = mesh.processes["coordinator#2"]
    try:
        async with coordinator_channel(address, tls) as busy, coordinator_channel(address, tls) as late:
            call = await _converse(busy, "dana")
            first = await call.read()
            assert first.WhichOneof("event") == "accepted"
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(late)
            metadata = user_metadata("erin")
            created = await stub.CreateConversation(
                coordinator_pb2.CreateConversationRequest(), metadata=metadata
            )
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            probe = replicated_mesh.tls_dir("probe")
            while await asyncio.to_thread(grpc_serving, address, 0.5, probe):
                assert time.monotonic() - signalled < 0.5, "health turns NOT_SERVING at once"
                await asyncio.sleep(0.02)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                late_call = stub.Converse(
                    coordinator_pb2.ConverseRequest(
                        conversation_id=created.conversation.conversation_id,
                        client_message_id=uuid.uuid4().hex,
                        text="What is late?",
                    ),
                    metadata=metadata,
                    timeout=10,
                )
                await late_call.read()
            events = [first]
            while (event := await call.read()) is not grpc.aio.EOF:
                events.append(event)
        print(f"\nnew turn on a stopping replica: {refused.value.code().name}: {refused.value.details()}")
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE, "a refusal gRPC retries"
        assert events[-1].WhichOneof("event") == "done", "the turn in flight finished"
        assert await asyncio.to_thread(process.wait, 30) == 0
    finally:
        if process.poll() is None:
            process.wait(timeout=30)
        mesh.start("coordinator#2")


@dataclass
class Tally:
    """What the chats saw, shared by their threads."""

    answered: int = 0
    answered_after_resend: int = 0
    refusals_resent: int = 0
    failed: list[str] = field(default_factory=list)
    sent_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _chat(mesh: MeshUnderTest, user_id: str, done: threading.Event, tally: Tally) -> None:
    """One person chatting: a message, its answer, the next, until `done`; 503s resent as the widget does."""
    headers = mesh.auth(user_id)
    with httpx.Client(base_url=mesh.edge_url, timeout=40) as client:
        conversation_id = new_conversation(client, headers)
        turn = 0
        while not done.is_set():
            turn += 1
            message_id = uuid.uuid4().hex
            with tally.lock:
                tally.sent_ids.append(message_id)
            result: TurnResult | None = None
            for attempt in range(MAX_RESENDS + 1):
                result = send_message(
                    client,
                    conversation_id,
                    f"What is due this week? ({turn})",
                    headers,
                    client_message_id=message_id,
                )
                retryable = result.error_body is not None and result.error_body["error"].get("retryable")
                if result.status == 503 and retryable and attempt < MAX_RESENDS:
                    with tally.lock:
                        tally.refusals_resent += 1
                    time.sleep(0.2)
                    continue
                break
            assert result is not None
            with tally.lock:
                if result.status == 200 and result.kinds()[-1] == "done":
                    tally.answered += 1
                    tally.answered_after_resend += attempt > 0
                else:
                    tally.failed.append(f"{result.status} {result.kinds()} {result.error_body}")


def _metric_sum(mesh: MeshUnderTest, name: str, metric: str) -> float:
    """The sum of a metric's series on one process's /metrics (`assist_turns_total`: turns it ran)."""
    text = httpx.get(mesh.mesh.metrics_url(name), timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(metric + "{"))


def _stored_turns(mongo_uri: str, message_ids: list[str]) -> Counter[str]:
    async def count() -> Counter[str]:
        client = connect(mongo_uri, 5000)
        try:
            turns = default_database(client)["turns"]
            found: Counter[str] = Counter()
            async for doc in turns.find(
                {"client_message_id": {"$in": message_ids}}, {"client_message_id": 1}
            ):
                found[doc["client_message_id"]] += 1
            return found
        finally:
            await client.close()

    return asyncio.run(count())


def test_sigterm_of_one_replica_under_load_fails_no_turn_and_stores_each_once(
    replicated_mesh: MeshUnderTest,
) -> None:
    mesh = replicated_mesh.mesh
    assert mesh.replicas("coordinator") == ["coordinator", "coordinator#2"]
    tally = Tally()
    done = threading.Event()
    replicas = mesh.replicas("coordinator")

    def carried() -> dict[str, float]:
        """Turns each replica has run or runs now."""
        return {
            name: _metric_sum(replicated_mesh, name, "assist_turns_total")
            + _metric_sum(replicated_mesh, name, "assist_turns_in_flight")
            for name in replicas
        }

    started = time.monotonic()
    with ThreadPoolExecutor(CHATS) as pool:
        chats = [pool.submit(_chat, replicated_mesh, f"replica-user-{i}", done, tally) for i in range(CHATS)]
        try:
            while True:
                time.sleep(0.5)
                served = carried()
                waited = time.monotonic() - started
                if (waited >= STOP_AT_S and all(served.values())) or waited > 60:
                    break
            stopping = mesh.processes["coordinator#2"]
            in_flight = _metric_sum(replicated_mesh, "coordinator#2", "assist_turns_in_flight")
            with tally.lock:
                answered_before = tally.answered
            stopping.send_signal(signal.SIGTERM)
            signalled_at = time.monotonic() - started
            exit_code = stopping.wait(timeout=30)
            stopped_after_s = time.monotonic() - started
            time.sleep(max(0.0, WINDOW_S - stopped_after_s, signalled_at + AFTER_STOP_S - stopped_after_s))
        finally:
            done.set()
        for chat in chats:
            chat.result()
    window_s = time.monotonic() - started
    stored = _stored_turns(replicated_mesh.mongo_uri, tally.sent_ids)
    print(
        f"\n2 coordinator replicas, {CHATS} chats for {window_s:.0f} s, SIGTERM to coordinator#2 at "
        f"{signalled_at:.1f} s with {in_flight:.0f} turn(s) in flight on it (exited {exit_code} at "
        f"{stopped_after_s:.1f} s; turns carried before by replica: {served}): {len(tally.sent_ids)} turns "
        f"sent, {tally.answered} answered "
        f"({tally.answered_after_resend} after a client resend; {tally.refusals_resent} refusals resent), "
        f"{len(tally.failed)} failed; stored {sum(stored.values())} turn(s) for them"
    )
    try:
        assert all(n > 0 for n in served.values()), f"the edge balanced over both replicas: {served}"
        assert exit_code == 0, "the replica stopped gracefully (in-flight turns finished in time)"
        assert tally.failed == []
        assert tally.answered == len(tally.sent_ids)
        assert tally.answered > answered_before, "turns kept being answered after the stop"
        doubles = {mid: n for mid, n in stored.items() if n != 1}
        assert doubles == {} and len(stored) == len(tally.sent_ids), "each turn stored once"
    finally:
        mesh.start("coordinator#2")
