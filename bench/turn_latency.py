"""One turn's latency through the edge with the local writer, against baselines from the same run.

Baselines: the edge's /healthz round trip (HTTP cost alone) and the same turn sent straight to the
coordinator over gRPC (the mesh without the edge). The three are interleaved, one of each per round, so
they see the same machine load and the same database size (FerretDB's scans grow with the turns stored).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import httpx
from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from bench.harness import BenchMesh, summary
from mesh.identity import user_metadata
from mesh.tls import coordinator_channel
from testing.sse import new_conversation, send_message

QUESTION = "What is late?"
WARM_UP = 5


async def _rounds(bench: BenchMesh, n: int) -> tuple[list[float], list[float], list[float]]:
    edge: list[float] = []
    direct: list[float] = []
    health: list[float] = []
    headers = bench.auth("carol")
    metadata = user_metadata("carol")
    # The bench's own certificate (ops/internal-clients.yaml lets it act for users).
    async with coordinator_channel(bench.mesh.coordinator_addr, bench.mesh.tls_dir("bench")) as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        created = await stub.CreateConversation(
            coordinator_pb2.CreateConversationRequest(), metadata=metadata
        )
        grpc_conversation = created.conversation.conversation_id
        with httpx.Client(base_url=bench.mesh.edge_url, timeout=30) as client:
            http_conversation = new_conversation(client, headers)
            for i in range(n + WARM_UP):
                t = time.perf_counter()
                turn = send_message(
                    client, http_conversation, QUESTION, headers, client_message_id=uuid.uuid4().hex
                )
                edge_s = time.perf_counter() - t
                assert turn.kinds()[-1] == "done", turn.events

                request = coordinator_pb2.ConverseRequest(
                    conversation_id=grpc_conversation, client_message_id=uuid.uuid4().hex, text=QUESTION
                )
                t = time.perf_counter()
                events = [e async for e in stub.Converse(request, metadata=metadata, timeout=30)]
                direct_s = time.perf_counter() - t
                assert events[-1].WhichOneof("event") == "done"

                t = time.perf_counter()
                client.get("/healthz")  # noqa: ASYNC212 - one request at a time is the point here
                health_s = time.perf_counter() - t
                if i >= WARM_UP:
                    edge.append(edge_s)
                    direct.append(direct_s)
                    health.append(health_s)
    return edge, direct, health


def run(bench: BenchMesh, n: int) -> None:
    edge, direct, health = asyncio.run(_rounds(bench, n))
    print(summary("turn through the edge (HTTP+SSE)", edge))
    print(summary("turn straight to the coordinator (gRPC)", direct))
    print(summary("baseline: edge /healthz round trip", health))
    print(
        f"ratios: edge turn / gRPC turn = {statistics.median(edge) / statistics.median(direct):.2f}; "
        f"edge turn / healthz = {statistics.median(edge) / statistics.median(health):.1f}"
    )
