"""Channels and stubs for the agents, each behind its breakers and deadline, retried by its service config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

import grpc
from assist.v1 import (
    context_pb2_grpc,
    feedback_pb2_grpc,
    guard_pb2_grpc,
    nlg_pb2_grpc,
    nlu_pb2_grpc,
    tasks_pb2_grpc,
)

from coordinator.circuit_breaker import STORE, CircuitBreaker
from coordinator.interceptors import CircuitBreakerInterceptor, DeadlineInterceptor, channel_interceptors
from mesh.components import AGENT_NAMES
from mesh.red_metrics import rpc_client_metrics
from mesh.retry_policy import channel_options, service_config

# Unary agent RPCs that are safe to send twice (all of them read, or replace by id).
IDEMPOTENT_METHODS = frozenset(
    {
        "/assist.v1.GuardService/Screen",
        "/assist.v1.NluService/Understand",
        "/assist.v1.NlgService/Generate",
        "/assist.v1.ContextService/GetContext",
        "/assist.v1.TasksService/ListTasks",
        "/assist.v1.TasksService/GetTask",
        "/assist.v1.FeedbackService/RecordFeedback",
        "/assist.v1.FeedbackService/RecordSatisfaction",
    }
)
# The agents that read or write the store: their answers tell the store's breaker how the store is.
STORE_USERS = frozenset({"context", "tasks", "feedback"})
# Each agent channel's retries: idempotent unary calls on UNAVAILABLE, under gRPC's retry budget.
AGENT_SERVICE_CONFIG = service_config(IDEMPOTENT_METHODS)


@dataclass(frozen=True)
class CallCaps:
    """The longest any single call to an agent may take, whatever the turn has left (`<agent>_s`)."""

    guard_s: float = 1.0
    nlu_s: float = 2.0
    context_s: float = 1.5
    tasks_s: float = 2.0
    nlg_s: float = 25.0
    feedback_s: float = 3.0


@dataclass
class AgentClients:
    """One stub per agent; `breakers` lets health and tests see each agent's circuit, and the store's."""

    guard: guard_pb2_grpc.GuardServiceAsyncStub
    nlu: nlu_pb2_grpc.NluServiceAsyncStub
    nlg: nlg_pb2_grpc.NlgServiceAsyncStub
    context: context_pb2_grpc.ContextServiceAsyncStub
    tasks: tasks_pb2_grpc.TasksServiceAsyncStub
    feedback: feedback_pb2_grpc.FeedbackServiceAsyncStub
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    @property
    def store_breaker(self) -> CircuitBreaker | None:
        return self.breakers.get(STORE)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


def _channel(
    address: str, breaker: CircuitBreaker, store_breaker: CircuitBreaker | None, cap_s: float
) -> grpc.aio.Channel:
    interceptors = rpc_client_metrics() + channel_interceptors(
        CircuitBreakerInterceptor(breaker, store_breaker), DeadlineInterceptor(cap_s)
    )
    return grpc.aio.insecure_channel(
        address,
        interceptors=interceptors,
        options=[("grpc.keepalive_time_ms", 30_000), *channel_options(AGENT_SERVICE_CONFIG)],
    )


def connect_agents(addresses: Mapping[str, str], caps: CallCaps | None = None) -> AgentClients:
    """Open a channel per agent (lazily connected: an agent that is down now may be up for the next turn).

    `addresses` maps each agent of `mesh.components.AGENT_NAMES` to its host:port.
    """
    caps = caps or CallCaps()
    missing = [name for name in AGENT_NAMES if name not in addresses]
    if missing:
        raise ValueError(f"no address for agent(s) {', '.join(missing)}")
    breakers = {name: CircuitBreaker(name) for name in (*AGENT_NAMES, STORE)}
    chans = {
        name: _channel(
            addresses[name],
            breakers[name],
            breakers[STORE] if name in STORE_USERS else None,
            float(getattr(caps, f"{name}_s")),
        )
        for name in AGENT_NAMES
    }
    return AgentClients(
        guard=cast("guard_pb2_grpc.GuardServiceAsyncStub", guard_pb2_grpc.GuardServiceStub(chans["guard"])),
        nlu=cast("nlu_pb2_grpc.NluServiceAsyncStub", nlu_pb2_grpc.NluServiceStub(chans["nlu"])),
        nlg=cast("nlg_pb2_grpc.NlgServiceAsyncStub", nlg_pb2_grpc.NlgServiceStub(chans["nlg"])),
        context=cast(
            "context_pb2_grpc.ContextServiceAsyncStub", context_pb2_grpc.ContextServiceStub(chans["context"])
        ),
        tasks=cast("tasks_pb2_grpc.TasksServiceAsyncStub", tasks_pb2_grpc.TasksServiceStub(chans["tasks"])),
        feedback=cast(
            "feedback_pb2_grpc.FeedbackServiceAsyncStub",
            feedback_pb2_grpc.FeedbackServiceStub(chans["feedback"]),
        ),
        breakers=breakers,
        channels=list(chans.values()),
    )
