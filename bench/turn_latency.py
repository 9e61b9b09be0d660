"""One turn's latency through the edge with the local writer, against baselines from the same run.

Baselines: the edge's /healthz round trip (HTTP cost alone) and the same turn sent straight to the
coordinator over gRPC (the mesh without the edge). Figures are medians of N turns, each a new message.
"""

from __future__ import annotations

import asyncio
import statistics
import uuid

import grpc
import httpx
from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from bench.harness import BenchMesh, summary, timed
from mesh.identity import user_metadata
from tests.e2e.sse import new_conversation, send_message

QUESTION = "What is late?"


def _edge_turns(bench: BenchMesh, n: int) -> list[float]:
    headers = bench.auth("carol")
    with httpx.Client(base_url=bench.mesh.edge_url, timeout=30) as client:
        conversation_id = new_conversation(client, headers)
        for _ in range(5):  # warm-up: connections, first-call paths
            send_message(client, conversation_id, QUESTION, headers, client_message_id=uuid.uuid4().hex)

        def one() -> None:
            turn = send_message(
                client, conversation_id, QUESTION, headers, client_message_id=uuid.uuid4().hex
            )
            assert turn.kinds()[-1] == "done", turn.events

        return timed(one, n)


def _healthz(bench: BenchMesh, n: int) -> list[float]:
    with httpx.Client(base_url=bench.mesh.edge_url, timeout=30) as client:
        client.get("/healthz")
        return timed(lambda: client.get("/healthz"), n)


async def _grpc_turns(bench: BenchMesh, n: int) -> list[float]:
    import time

    async with grpc.aio.insecure_channel(bench.mesh.coordinator_addr) as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        metadata = user_metadata("carol")
        created = await stub.CreateConversation(
            coordinator_pb2.CreateConversationRequest(), metadata=metadata
        )
        out = []
        for i in range(n + 5):
            request = coordinator_pb2.ConverseRequest(
                conversation_id=created.conversation.conversation_id,
                client_message_id=uuid.uuid4().hex,
                text=QUESTION,
            )
            t = time.perf_counter()
            events = [e async for e in stub.Converse(request, metadata=metadata, timeout=30)]
            if i >= 5:
                out.append(time.perf_counter() - t)
            assert events[-1].WhichOneof("event") == "done"
        return out


def run(bench: BenchMesh, n: int) -> None:
    edge = _edge_turns(bench, n)
    direct = asyncio.run(_grpc_turns(bench, n))
    health = _healthz(bench, n)
    print(summary("turn through the edge (HTTP+SSE)", edge))
    print(summary("turn straight to the coordinator (gRPC)", direct))
    print(summary("baseline: edge /healthz round trip", health))
    print(
        f"ratios: edge turn / gRPC turn = {statistics.median(edge) / statistics.median(direct):.2f}; "
        f"edge turn / healthz = {statistics.median(edge) / statistics.median(health):.1f}"
    )
