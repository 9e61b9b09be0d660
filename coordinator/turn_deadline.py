"""The turn's deadline, carried in a context variable so every agent call made for the turn can see it.

gRPC Python does not propagate deadlines: the coordinator reads what is left of the caller's deadline
(`context.time_remaining()`), stores it here, and the deadline interceptor gives each downstream call
what remains (never more than the call's own cap).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_TURN_BUDGET_S = 30.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("turn_deadline", default=None)


@contextmanager
def turn_deadline(seconds: float | None) -> Iterator[float]:
    """Set the turn's absolute deadline (monotonic) for the duration of the block; None -> default budget."""
    budget = DEFAULT_TURN_BUDGET_S if seconds is None else max(0.0, seconds)
    deadline = time.monotonic() + budget
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left in the current turn, or None outside a turn."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
