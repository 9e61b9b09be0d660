"""Circuit breakers by the book: a failure-rate window, a minimum of calls, bounded half-open probes.

One breaker per agent, and one per dependency the agents share (the store, `STORE`). While a breaker is
open its calls fail at once, so the turn takes its degraded path (or is refused, for the store) instead
of waiting out a timeout on something known to be down.

- Closed: the outcome of each call goes into a sliding window of the last `window` calls. The breaker
  opens when the window holds at least `min_calls` outcomes and at least `failure_rate` of them failed:
  a single failure after a quiet hour opens nothing, and neither does one slow call among many good ones.
- Open: no calls for `open_for_s`.
- Half-open: up to `probes` calls go through at once; when `probes` of them have succeeded the breaker
  closes with an empty window, and any probe failing opens it again for another `open_for_s`.

Why not a library: `aiobreaker` and `pybreaker` count consecutive failures (no rate window, one probe),
and `purgatory` has a window but keeps its state behind an async repository API and exposes no per-call
hook for a gRPC interceptor's done-callback; each would need the same metric code as here. This module
is small and its rules are tested directly (tests/coordinator/test_circuit_breaker.py).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

log = logging.getLogger(__name__)

# The name of the breaker for the agents' shared store (MongoDB-wire server): its failures arrive as
# `assist-cause: store` trailers (mesh/errors.py) and never count against an agent's own breaker.
STORE = "store"


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# `assist_circuit_breaker_state{agent}`: what the alert "breaker open" and the saturation panel read. The
# label keeps its name for the dashboards; for a dependency's breaker it holds the dependency (`store`).
STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_LIVE: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def _observe_states(_: CallbackOptions) -> Iterable[Observation]:
    """The worst state per breaker name (a process holds one breaker per name; tests may hold more)."""
    worst: dict[str, int] = {}
    for breaker in list(_LIVE):
        worst[breaker.name] = max(worst.get(breaker.name, 0), STATE_VALUES[breaker.state])
    return [Observation(value, {"agent": name}) for name, value in sorted(worst.items())]


metrics.get_meter("assist.coordinator").create_observable_gauge(
    "assist.circuit_breaker.state",
    callbacks=[_observe_states],
    description="Each agent's (and the store's) circuit breaker: 0 closed, 1 half-open (probes), 2 open.",
)


@dataclass(frozen=True)
class BreakerPolicy:
    """When a breaker opens and how it tries again; the defaults suit an agent called a few times a turn."""

    # Outcomes remembered (the last N calls) and the fewest that may open the breaker.
    window: int = 20
    min_calls: int = 10
    # The share of failures in the window that opens it.
    failure_rate: float = 0.5
    open_for_s: float = 5.0
    # Calls let through at once while half-open; this many successes close the breaker.
    probes: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.min_calls <= self.window or not 0 < self.failure_rate <= 1 or self.probes < 1:
            raise ValueError(f"inconsistent breaker policy: {self}")


@dataclass(eq=False)  # compared by identity: the live set holds each breaker once
class CircuitBreaker:
    """The state of calls to one agent or dependency; see the module's docstring for the rules."""

    name: str
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _outcomes: deque[bool] = field(init=False, repr=False)  # True: failed
    _opened_at: float | None = None
    _probes_in_flight: int = 0
    _probe_successes: int = 0

    def __post_init__(self) -> None:
        self._outcomes = deque(maxlen=self.policy.window)
        _LIVE.add(self)

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self._opened_at >= self.policy.open_for_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def failure_rate(self) -> float:
        """The share of failures among the calls in the window (0 when it is empty)."""
        return sum(self._outcomes) / len(self._outcomes) if self._outcomes else 0.0

    def allow(self) -> bool:
        """True when a call may go out now (half-open: while fewer than `probes` are in flight)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes_in_flight < self.policy.probes:
            self._probes_in_flight += 1
            return True
        return False

    def record_success(self) -> None:
        if self._opened_at is None:
            self._outcomes.append(False)
            return
        if self._probes_in_flight == 0:
            return  # a call let through before the breaker opened, finishing late: not a probe
        self._probes_in_flight -= 1
        self._probe_successes += 1
        if self._probe_successes >= self.policy.probes:
            log.info("circuit breaker closed: its probes succeeded", extra={"breaker": self.name})
            self._close()

    def record_failure(self) -> None:
        if self._opened_at is None:
            self._outcomes.append(True)
            enough = len(self._outcomes) >= self.policy.min_calls
            if enough and self.failure_rate >= self.policy.failure_rate:
                # ERROR: from now on turns degrade (or are refused, for the store) until it recovers.
                log.error(
                    "circuit breaker opened: calls fail at once",
                    extra={
                        "breaker": self.name,
                        "failure_rate": round(self.failure_rate, 2),
                        "calls": len(self._outcomes),
                        "open_for_s": self.policy.open_for_s,
                    },
                )
                self._open()
            return
        if self._probes_in_flight == 0:
            return  # late outcome of a call from before the breaker opened
        log.warning("circuit breaker probe failed: open again", extra={"breaker": self.name})
        self._open()  # a probe failed: open again, for a full period

    def record_cancelled(self) -> None:
        """A call let through ended without a verdict (cancelled by its caller): frees its probe slot."""
        if self._opened_at is not None and self._probes_in_flight > 0:
            self._probes_in_flight -= 1

    def _open(self) -> None:
        self._opened_at = self.clock()
        self._probes_in_flight = 0
        self._probe_successes = 0

    def _close(self) -> None:
        self._opened_at = None
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._outcomes.clear()
