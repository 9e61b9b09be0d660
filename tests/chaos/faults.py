"""The faults the chaos suite injects under load, one at a time: each is a name, `inject()` and `heal()`.

A fault is built from the running system it breaks (`ChaosTarget`), so the list below is plain data:
`FAULTS` maps a row's name to its builder, and the suite runs one row per entry. Adding a fault is one
more entry.

The mesh runs two coordinator replicas behind the edge, so one of them can be stopped like a rollout does.

`inject()` and `heal()` block (they stop and start real processes): the runner calls them in a thread
while the chats go on.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from devtools.launcher import Mesh
from testing.gemini_server import OutageMode
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest


@dataclass(frozen=True)
class FakeGeminiProcess:
    """The fake Gemini run as its own process (`python -m testing.gemini_server`), switched over HTTP.

    Its own process, not a thread of the test's: the load driver would otherwise starve the model of CPU
    and every answer would look slow for a reason no deployment has.
    """

    base_url: str

    def set_outage(self, mode: OutageMode) -> None:
        response = httpx.put(f"{self.base_url}/_fake/outage", json={"mode": mode}, timeout=10)
        response.raise_for_status()


@dataclass(frozen=True)
class ChaosTarget:
    """What faults act on: the mesh's processes, the local stack's servers and the fake Gemini."""

    mesh: MeshUnderTest
    stack: Stack
    gemini: FakeGeminiProcess


@dataclass(frozen=True)
class Fault:
    """One fault: how to cause it, how to end it, how long it lasts, and what a turn may do meanwhile."""

    name: str
    inject: Callable[[], None]
    heal: Callable[[], None]
    # Seconds between the end of inject() and the start of heal().
    hold_s: float
    # True where the product has a degraded answer for this fault: then no turn may fail at all, not
    # even with a retryable error. False where it has none (the turn store down): a turn may end in a
    # clear retryable error, which the client resends with the same client_message_id.
    degraded_answer: bool = True
    # Also rate every answer (the feedback agent is on no turn's path; rating is what reaches it).
    rate_answers: bool = False


FaultBuilder = Callable[[ChaosTarget], Fault]

AGENTS = ("guard", "nlu", "context", "tasks", "nlg", "feedback")
AGENT_DOWN_S = 3.0
STORE_DOWN_S = 10.0
MODEL_OUTAGE_S = 5.0


def _signalled(mesh: Mesh, name: str, signum: signal.Signals) -> Callable[[], None]:
    """An injection that sends `signum` to the mesh's process `name` and waits until it has exited."""

    def inject() -> None:
        process = mesh.processes[name]
        process.send_signal(signum)
        process.wait()

    return inject


def agent_killed(name: str) -> FaultBuilder:
    """SIGKILL an agent (no goodbye, in-flight calls cut), then start it again on the same port."""

    def build(target: ChaosTarget) -> Fault:
        mesh = target.mesh.mesh
        return Fault(
            f"SIGKILL {name}",
            _signalled(mesh, name, signal.SIGKILL),
            lambda: mesh.start(name),
            hold_s=AGENT_DOWN_S,
            rate_answers=name == "feedback",
        )

    return build


def server_stopped(service: str, label: str, *, degraded_answer: bool) -> FaultBuilder:
    """Stop one of the local stack's servers with its own supervisor (scripts/stack.sh), then start it."""

    def build(target: ChaosTarget) -> Fault:
        return Fault(
            f"{label} stopped {STORE_DOWN_S:.0f} s",
            lambda: target.stack.stop(service),
            lambda: target.stack.start(service),
            hold_s=STORE_DOWN_S,
            degraded_answer=degraded_answer,
        )

    return build


def coordinator_replica_stopped(target: ChaosTarget) -> Fault:
    """SIGTERM one of the two coordinator replicas (a rollout's stop: drain, finish in-flight turns, exit),
    then start it again. A turn the stopping replica refuses is resent by the edge to the other one; a
    client may still see a retryable error, so this fault has no degraded answer to insist on."""
    mesh = target.mesh.mesh
    replica = mesh.replicas("coordinator")[-1]
    return Fault(
        f"SIGTERM {replica} (of 2)",
        _signalled(mesh, replica, signal.SIGTERM),
        lambda: mesh.start(replica),
        hold_s=AGENT_DOWN_S,
        degraded_answer=False,
    )


def model_outage(mode: OutageMode, label: str) -> FaultBuilder:
    """Every Gemini model (primary and fallback) misbehaves as `mode` says, then serves normally again."""

    def build(target: ChaosTarget) -> Fault:
        return Fault(
            f"Gemini {label}",
            lambda: target.gemini.set_outage(mode),
            lambda: target.gemini.set_outage("none"),
            hold_s=MODEL_OUTAGE_S,
        )

    return build


# The rows `./dev test` (and so CI) runs: one of each kind of fault, so the whole suite stays within its
# time budget; `CHAOS_ROWS=all` runs every row (docs/chaos.md). The agents left out fail the same way as
# the two kept (a killed process its breaker opens on; context also uses the store).
CI_ROWS = (
    "kill-context",
    "kill-nlg",
    "stop-coordinator-replica",
    "redis-down",
    "kafka-down",
    "mongo-down",
    "gemini-500",
    "gemini-cut",
)


def selected_rows(choice: str) -> list[str]:
    """The rows to run: `all`, or a comma-separated list of row names, or (empty) the CI rows."""
    if choice == "all":
        return list(FAULTS)
    if choice:
        names = [name.strip() for name in choice.split(",") if name.strip()]
        unknown = sorted(set(names) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown chaos rows {unknown}; known: {', '.join(FAULTS)}")
        return names
    return list(CI_ROWS)


# The rows of the chaos table, in the order they run.
FAULTS: dict[str, FaultBuilder] = {
    **{f"kill-{name}": agent_killed(name) for name in AGENTS},
    "stop-coordinator-replica": coordinator_replica_stopped,
    "redis-down": server_stopped("redis", "Redis", degraded_answer=True),
    "kafka-down": server_stopped("kafka", "Kafka", degraded_answer=True),
    # MongoDB holds the turn and its outbox: without it there is no turn to answer, only a retryable 503.
    "mongo-down": server_stopped("mongo", "MongoDB (FerretDB)", degraded_answer=False),
    "gemini-429": model_outage("429", "answers 429"),
    "gemini-500": model_outage("500", "answers 500"),
    "gemini-hang": model_outage("hang", "hangs"),
    "gemini-cut": model_outage("cut", "cuts streams mid-answer"),
}
