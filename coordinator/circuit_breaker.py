"""A per-agent circuit breaker: after repeated failures stop calling an agent for a while.

While open, calls fail at once (so the turn takes the degraded path without waiting out a timeout);
after `reset_after_s` one trial call is let through (half-open) and its result closes or re-opens it.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# `assist_circuit_breaker_state{agent}`: what the alert "breaker open" and the saturation panel read.
STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_LIVE: weakref.WeakSet[CircuitBreaker] = weakref.WeakSet()


def _observe_states(_: CallbackOptions) -> Iterable[Observation]:
    """The worst state per agent name (a process holds one breaker per agent; tests may hold more)."""
    worst: dict[str, int] = {}
    for breaker in list(_LIVE):
        worst[breaker.name] = max(worst.get(breaker.name, 0), STATE_VALUES[breaker.state])
    return [Observation(value, {"agent": name}) for name, value in sorted(worst.items())]


metrics.get_meter("assist.coordinator").create_observable_gauge(
    "assist.circuit_breaker.state",
    callbacks=[_observe_states],
    description="Each agent's circuit breaker: 0 closed, 1 half-open (one trial call), 2 open.",
)


@dataclass(eq=False)  # compared by identity: the live set holds each breaker once
class CircuitBreaker:
    """Counts consecutive failures of one agent."""

    name: str
    failure_threshold: int = 5
    reset_after_s: float = 5.0
    clock: object = field(default=time.monotonic, repr=False)
    _failures: int = 0
    _opened_at: float | None = None
    _trial_in_flight: bool = False

    def __post_init__(self) -> None:
        _LIVE.add(self)

    def _now(self) -> float:
        return self.clock()  # type: ignore[operator,no-any-return]

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._now() - self._opened_at >= self.reset_after_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """True when a call may go out now."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            self._opened_at = self._now()
