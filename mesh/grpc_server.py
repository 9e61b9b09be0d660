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

log = logging.getLogger(__name__)

Registrar = Callable[[grpc.aio.Server], None]
S = TypeVar("S")


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
) -> tuple[grpc.aio.Server, int, health.aio.HealthServicer]:
    """Build and start a server with the given servicers; returns it with its bound port and health.

    With `credentials` the port serves TLS (the coordinator: mutual TLS, mesh/tls.py); else plaintext.
    """
    server = grpc.aio.server(
        # Metrics outermost: they record the status the caller gets, after the error mapping.
        interceptors=[RpcServerMetricsInterceptor(), ErrorStatusInterceptor(), *interceptors],
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
    return server, port, health_servicer


async def serve_until_signalled(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    *,
    grace_seconds: float = 10.0,
) -> None:
    """Run until SIGTERM or SIGINT, then stop taking calls and let in-flight ones finish (up to grace)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: finishing in-flight calls", extra={"grace_seconds": grace_seconds})
    await health_servicer.enter_graceful_shutdown()
    await server.stop(grace_seconds)
    log.info("stopped")
