"""The mesh's processes, each declared once: name, module, kind, default ports and health check.

Everything that needs to know which processes exist reads this list: the development launcher, the
coordinator (which agents it calls and the variables naming their addresses), the benchmarks, the tests,
and later a generator of the Helm chart's values. It is plain data (no imports beyond the standard
library) so any of them can load it without pulling in gRPC or the stores.

Default ports are the ones a process uses when nothing else is said: the development launcher's
fixed-port mode (`./dev up`) and a deployment's container ports. Tests start every process on free ports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["grpc", "http", "worker"]
# How a supervisor knows a process is ready: the gRPC health service (overall status ""), an HTTP path
# answering 200, or nothing (a worker has no port; it is ready once started).
HealthCheck = Literal["grpc", "http", "none"]


@dataclass(frozen=True)
class Component:
    """One process of the mesh."""

    name: str
    # What `python -m` runs.
    module: str
    kind: Kind
    # The port it serves on (0 for a worker, which serves nothing).
    port: int
    # Its Prometheus /metrics port.
    metrics_port: int
    health: HealthCheck
    # For an HTTP health check, the path that answers 200 when the process is alive.
    health_path: str = ""
    # The variable through which its callers learn its address (host:port); "" when nothing calls it.
    address_env: str = ""


def _agent(name: str, port: int, metrics_port: int) -> Component:
    return Component(
        name=name,
        module=f"agents.{name}",
        kind="grpc",
        port=port,
        metrics_port=metrics_port,
        health="grpc",
        address_env=f"{name.upper()}_ADDR",
    )


# In start order: the agents before the coordinator that calls them, the edge last.
COMPONENTS: tuple[Component, ...] = (
    _agent("guard", 50061, 9101),
    _agent("nlu", 50062, 9102),
    _agent("nlg", 50063, 9103),
    _agent("context", 50064, 9104),
    _agent("tasks", 50065, 9105),
    _agent("feedback", 50066, 9106),
    Component(
        name="coordinator",
        module="coordinator",
        kind="grpc",
        port=50051,
        metrics_port=9107,
        health="grpc",
        address_env="COORDINATOR_ADDR",
    ),
    Component(name="relay", module="outbox_relay", kind="worker", port=0, metrics_port=9108, health="none"),
    Component(name="analytics", module="analytics", kind="worker", port=0, metrics_port=9109, health="none"),
    # Copies the host site's tasks (HOST_DB_DSN) into the assistant's store: host_sync/.
    Component(name="host-sync", module="host_sync", kind="worker", port=0, metrics_port=9111, health="none"),
    Component(
        name="edge",
        module="edge",
        kind="http",
        port=8080,
        metrics_port=9110,
        health="http",
        health_path="/healthz",
    ),
)

BY_NAME: dict[str, Component] = {c.name: c for c in COMPONENTS}

# The agents the coordinator calls, in the order above.
AGENTS: tuple[Component, ...] = tuple(c for c in COMPONENTS if c.module.startswith("agents."))
AGENT_NAMES: tuple[str, ...] = tuple(c.name for c in AGENTS)


def listen_address(name: str) -> str:
    """Where a gRPC process listens when LISTEN_ADDR is not set: its default port on every interface,
    which is what a container needs (the development launcher always sets a loopback address)."""
    return f"0.0.0.0:{component(name).port}"


def component(name: str) -> Component:
    """The component called `name`; KeyError names the unknown one."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no component {name!r}; known: {', '.join(BY_NAME)}") from None
