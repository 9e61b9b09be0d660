"""A server stopping under calls, and a channel over several replicas, with real grpc.aio servers on port 0.

The stop: health NOT_SERVING at once, new calls refused UNAVAILABLE (what gRPC clients resend), calls in
flight finish. The channel (mesh/tls.py coordinator_channel): round robin over every address it is given,
over mutual TLS with the server name it is told to check, and a call refused by a stopping replica goes
to another one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from assist.v1 import nlu_pb2, nlu_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.grpc_server import Served, create_server, stop_gracefully
from mesh.stop_gate import STOPPING_DETAILS
from mesh.tls import TlsFiles, coordinator_channel, coordinator_target, ensure_dev_pki


class CountingNlu(nlu_pb2_grpc.NluServiceServicer):
    """Answers after `delay_s`, counting its calls."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls = 0

    async def Understand(self, request, context):  # type: ignore[no-untyped-def] # noqa: N802
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        return nlu_pb2.UnderstandResponse(confidence=0.5)


async def _serve(servicer: CountingNlu, credentials: grpc.ServerCredentials | None = None) -> Served:
    return await create_server(
        lambda s: nlu_pb2_grpc.add_NluServiceServicer_to_server(servicer, s),
        ["assist.v1.NluService"],
        credentials=credentials,
    )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return ensure_dev_pki(tmp_path / "tls")


def test_coordinator_addr_may_list_replicas_or_be_a_grpc_target() -> None:
    assert coordinator_target("127.0.0.1:50051") == "127.0.0.1:50051"
    assert coordinator_target("127.0.0.1:1, 127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert (
        coordinator_target("dns:///assist-coordinator-headless:50051")
        == "dns:///assist-coordinator-headless:50051"
    )
    assert coordinator_target("ipv4:10.0.0.1:1,10.0.0.2:1") == "ipv4:10.0.0.1:1,10.0.0.2:1"


async def test_a_stopping_server_refuses_new_calls_and_finishes_the_running_one() -> None:
    servicer = CountingNlu(delay_s=0.6)
    served = await _serve(servicer)
    address = f"127.0.0.1:{served.port}"
    # Plain channels: no client-side health checking, so the new call really reaches the stopping server.
    async with grpc.aio.insecure_channel(address) as busy, grpc.aio.insecure_channel(address) as late:
        running = asyncio.ensure_future(
            nlu_pb2_grpc.NluServiceStub(busy).Understand(nlu_pb2.UnderstandRequest())
        )
        await asyncio.sleep(0.2)
        await health_pb2_grpc.HealthStub(late).Check(health_pb2.HealthCheckRequest())  # connected
        stopping = asyncio.ensure_future(stop_gracefully(served, grace_seconds=5, drain_seconds=0.5))
        await asyncio.sleep(0.05)
        health = await health_pb2_grpc.HealthStub(late).Check(health_pb2.HealthCheckRequest())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await nlu_pb2_grpc.NluServiceStub(late).Understand(nlu_pb2.UnderstandRequest())
        reply = await running
        await stopping
    assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING, "NOT_SERVING at once"
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert refused.value.details() == STOPPING_DETAILS
    assert reply.confidence == pytest.approx(0.5), "the call in flight finished"
    assert servicer.calls == 1, "the refused call did no work"
    assert served.gate.refused == 1


@pytest.fixture
async def two_tls_replicas(pki: Path) -> AsyncIterator[tuple[list[CountingNlu], list[Served]]]:
    credentials = TlsFiles(pki / "coordinator").server_credentials()
    servicers = [CountingNlu(), CountingNlu()]
    served = [await _serve(s, credentials) for s in servicers]
    yield servicers, served
    for s in served:
        await s.server.stop(0)


async def test_calls_are_balanced_over_replicas_and_leave_a_stopping_one(
    pki: Path, two_tls_replicas: tuple[list[CountingNlu], list[Served]]
) -> None:
    servicers, served = two_tls_replicas
    addresses = ",".join(f"127.0.0.1:{s.port}" for s in served)
    async with coordinator_channel(addresses, pki / "edge", server_name="coordinator") as channel:
        stub = nlu_pb2_grpc.NluServiceStub(channel)
        for _ in range(10):
            await stub.Understand(nlu_pb2.UnderstandRequest(), timeout=5)
        balanced = [s.calls for s in servicers]
        stopping = asyncio.ensure_future(stop_gracefully(served[0], grace_seconds=2, drain_seconds=1.0))
        await asyncio.sleep(0.05)
        for _ in range(10):
            await stub.Understand(nlu_pb2.UnderstandRequest(), timeout=5)
        await stopping
    assert all(balanced), (
        f"round robin over both replicas (the first calls go to the first one connected): {balanced}"
    )
    assert servicers[0].calls == balanced[0], "the stopping replica got no new call"
    assert servicers[1].calls == balanced[1] + 10, "every call was answered by the other"


async def test_the_replicas_certificate_is_checked_against_the_server_name(
    pki: Path, two_tls_replicas: tuple[list[CountingNlu], list[Served]]
) -> None:
    _, served = two_tls_replicas
    addresses = ",".join(f"127.0.0.1:{s.port}" for s in served)
    async with coordinator_channel(addresses, pki / "edge", server_name="not-the-coordinator") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await nlu_pb2_grpc.NluServiceStub(channel).Understand(nlu_pb2.UnderstandRequest(), timeout=3)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
