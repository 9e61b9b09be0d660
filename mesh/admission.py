"""Admission control: a cap on the turns a process runs at once, and a fast, honest refusal beyond it.

Without a cap, a burst of chats makes every turn slower until all of them miss their deadline: the store's
queue grows, the model calls pile up, and turns that were already generated fail to be stored. With one,
the turns admitted keep their latency and the rest are told at once to come back (HTTP 503 with
Retry-After at the edge, gRPC UNAVAILABLE from the coordinator), before any agent or model is called, so a
refused turn costs nothing and loses nothing: the client resends the same message (same
client_message_id) and gets one turn.

The cap is fixed per process, from the load benchmark (`./dev bench --load`): on the reference machine the
mesh's throughput stops growing at about 16 turns in flight and latency grows linearly after, so the
default admits a few times that before refusing. Each replica applies its own cap; the Helm chart scales
replicas, not the cap.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prometheus_client import Counter, Gauge

# Trailing metadata of a refusal: seconds to wait before resending (the edge turns it into Retry-After).
RETRY_AFTER_METADATA_KEY = "retry-after"

TURNS_IN_FLIGHT = Gauge("assist_turns_in_flight", "Turns running in this process now.", ["component"])
TURNS_REFUSED = Counter(
    "assist_turns_refused_total",
    "Turns refused by admission control (over the in-flight cap).",
    ["component"],
)


class Overloaded(Exception):
    """The process runs as many turns as it may; the caller should retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("the assistant is busy right now; try again in a moment")
        self.retry_after_s = retry_after_s


class TurnAdmission:
    """Counts the turns in flight in one process and refuses new ones over `limit` (0: no cap)."""

    def __init__(self, component: str, limit: int, *, retry_after_s: int = 1) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self._gauge = TURNS_IN_FLIGHT.labels(component)
        self._refused = TURNS_REFUSED.labels(component)

    def enter(self) -> None:
        """Count one more turn, or raise Overloaded when the cap is reached (nothing counted then)."""
        if self.limit and self.in_flight >= self.limit:
            self._refused.inc()
            raise Overloaded(self.retry_after_s)
        self.in_flight += 1
        self._gauge.set(self.in_flight)

    def leave(self) -> None:
        """The turn entered earlier is over (answered, failed or cancelled)."""
        self.in_flight -= 1
        self._gauge.set(self.in_flight)

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """`with admission.admitted():` around one turn."""
        self.enter()
        try:
            yield
        finally:
            self.leave()
