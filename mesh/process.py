"""The life of one agent process: settings, logs, telemetry, the server, and a graceful stop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

import grpc

from mesh import event_loop
from mesh.config import CommonSettings
from mesh.grpc_server import Registration, create_server, serve_until_signalled
from mesh.logs import configure_logging
from mesh.telemetry import configure_telemetry

log = logging.getLogger(__name__)

# Builds the process's dependencies (clients, models) and yields how to register its servicers; cleans
# up after the server has stopped.
ServiceFactory = Callable[[], AbstractAsyncContextManager[Registration]]


class AgentSettings(CommonSettings):
    """Where an agent listens: each process's class defaults LISTEN_ADDR to its port in mesh.components."""

    listen_addr: str
    # On SIGTERM: how long in-flight calls may run on, and how long the port stays open refusing new
    # calls first (mesh/grpc_server.py stop_gracefully; the chart sets a drain so endpoints can update).
    grace_seconds: float = 10.0
    drain_seconds: float = 0.0


def run_agent(
    settings: AgentSettings,
    factory: ServiceFactory,
    *,
    grpc_client: bool = False,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> None:
    """Run an agent until SIGTERM; in-flight calls finish before it exits.

    `interceptors` and `credentials` (TLS) are the coordinator's: it checks who calls it (mesh/tls.py).
    """
    configure_logging(settings.service_name, settings.log_level)
    configure_telemetry(settings, grpc_client=grpc_client)

    async def main() -> None:
        async with factory() as (register, names):
            served = await create_server(
                register,
                names,
                address=settings.listen_addr,
                interceptors=interceptors,
                credentials=credentials,
            )
            log.info("listening", extra={"port": served.port, "services": list(names)})
            await serve_until_signalled(
                served, grace_seconds=settings.grace_seconds, drain_seconds=settings.drain_seconds
            )

    event_loop.run(main())
