"""Bootstrap for every gRPC server of the mesh: health, reflection, error mapping and a graceful stop.

A servicer is described once by `service_registration()`; `create_server()` (tests call it on port 0)
serves it with gRPC health, reflection, `rpc.server.duration` (mesh/red_metrics.py) and the error
interceptor (statuses and the store-failure metric),
and `serve_until_signalled()` runs it until SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

import grpc
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh.error_status import ErrorStatusInterceptor
from mesh.red_metrics import RpcServerMetricsInterceptor
from mesh.stop_gate import StopGate

log = logging.getLogger(__name__)

Registrar = Callable[[grpc.aio.Server], None]
S = TypeVar("S")


class Served(NamedTuple):
    """A started server: what `serve_until_signalled` needs to stop it well."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    gate: StopGate


class Registration(NamedTuple):
    """How to add a servicer to a server, and the full names of the services it implements."""

    register: Registrar
    service_names: Sequence[str]


def service_registration(
    add_to_server: Callable[[S, grpc.aio.Server], None], servicer: S, proto: FileDescriptor
) -> Registration:
    """The registration of `servicer` for the one service declared in `proto` (e.g. `guard_pb2.DESCRIPTOR`).

    `add_to_server` is the generated `add_XServiceServicer_to_server`.
    """
    services = list(proto.services_by_name.values())
    if len(services) != 1:
        raise ValueError(f"{proto.name} declares {len(services)} services; expected one")
    return Registration(lambda server: add_to_server(servicer, server), (services[0].full_name,))


async def create_server(
    register: Registrar,
    service_names: Sequence[str],
    *,
    address: str = "127.0.0.1:0",
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> Served:
    """Build and start a server with the given servicers; returns it with its bound port, health and gate.

    With `credentials` the port serves TLS (the coordinator: mutual TLS, mesh/tls.py); else plaintext.
    """
    gate = StopGate()
    server = grpc.aio.server(
        # Metrics outermost: they record the status the caller gets, after the error mapping; the gate
        # before the callers' checks, so a stopping server refuses without doing any work.
        interceptors=[RpcServerMetricsInterceptor(), gate, ErrorStatusInterceptor(), *interceptors],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4 * 1024 * 1024)],
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    if credentials is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, credentials)
    if port == 0:
        raise RuntimeError(f"could not bind the gRPC server to {address}")
    await server.start()
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return Served(server, port, health_servicer, gate)


async def stop_gracefully(served: Served, *, grace_seconds: float, drain_seconds: float = 0.0) -> None:
    """Health NOT_SERVING at once, new calls refused UNAVAILABLE, in-flight calls finish (up to grace).

    `drain_seconds` keeps the port open (refusing) that long before closing it: time for Kubernetes to take
    the pod out of its endpoints and for clients to see the health change, so callers get a clear
    refusal rather than a connection reset. `server.stop` then closes the port (a new connection is
    refused, also UNAVAILABLE) and cancels what still runs after `grace_seconds`.
    """
    await served.health.enter_graceful_shutdown()
    served.gate.close()
    if drain_seconds > 0:
        await asyncio.sleep(drain_seconds)
    await served.server.stop(grace_seconds)
    if served.gate.refused:
        log.info("refused calls while stopping", extra={"refused": served.gate.refused})


async def serve_until_signalled(
    served: Served, *, grace_seconds: float = 10.0, drain_seconds: float = 0.0
) -> None:
    """Run until SIGTERM or SIGINT, then stop as `stop_gracefully` says."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info(
        "stopping: finishing in-flight calls, refusing new ones",
        extra={"grace_seconds": grace_seconds, "drain_seconds": drain_seconds},
    )
    await stop_gracefully(served, grace_seconds=grace_seconds, drain_seconds=drain_seconds)
    log.info("stopped")
