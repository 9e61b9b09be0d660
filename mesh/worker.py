"""What the non-gRPC processes (the outbox relay, the analytics consumer, the host sync) share: a stop event on
signals, a wait that a stop ends early, and the one capped doubling behind their retry backoffs and the
slowing of their polls while there is nothing to do."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, so a worker finishes its batch and exits cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, waking early when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def doubled(base_s: float, times: int, cap_s: float) -> float:
    """`base_s` doubled `times` times (none for 0 or less), at most `cap_s`."""
    return min(cap_s, base_s * 2.0 ** min(max(times, 0), 30))
