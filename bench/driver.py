"""The load driver: sends turns to an edge (the mesh's or the skeleton's) one at a time or as many chats.

A chat is one user with one conversation who sends the next message when the previous answer's `done` (or
failure) arrived, as a person does, only without reading time: closed-loop load, so the turns in flight
never exceed the number of chats. A turn refused with 503 + Retry-After is retried after the wait the server
asked for, as the widget does.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.sse import REFUSED, TurnOutcome, create_conversation, send_turn

QUESTION = "What is late?"


@dataclass(frozen=True)
class Target:
    """One system under test, as the driver sees it."""

    name: str
    base_url: str
    auth: Callable[[str], dict[str, str]]  # user id -> request headers


def client_for(target: Target, connections: int = 8) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=target.base_url, timeout=60, limits=limits)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000 if samples else float("nan")


def p95_ms(samples: list[float]) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000


@dataclass
class LoadResult:
    """Every turn of a window, with when it ended (seconds after the window opened)."""

    chats: int
    window_s: float
    outcomes: list[tuple[float, TurnOutcome]] = field(default_factory=list)
    driver_cpu_s: float = 0.0  # this process's CPU over the window: the driver shares the machine

    @property
    def driver_percent(self) -> float:
        """The load driver's CPU as % of one core: near 100 means it, not the system, set the pace."""
        return self.driver_cpu_s * 100 / self.window_s

    @property
    def done_in_window(self) -> list[TurnOutcome]:
        return [o for t, o in self.outcomes if o.done and t <= self.window_s]

    @property
    def turns_per_s(self) -> float:
        return len(self.done_in_window) / self.window_s

    @property
    def latencies(self) -> list[float]:
        return [o.seconds for _, o in self.outcomes if o.done]

    @property
    def failures(self) -> Counter[str]:
        return Counter(o.failure for _, o in self.outcomes if not o.done)

    @property
    def refused(self) -> int:
        return self.failures.get(REFUSED, 0)

    @property
    def failed(self) -> int:
        """Turns that ended in anything but `done` or a refusal by admission control (those are resent)."""
        return sum(self.failures.values()) - self.refused


async def _chat(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    conversation_id: str,
    opened: float,
    window_s: float,
    result: LoadResult,
) -> None:
    message_id = uuid.uuid4().hex
    while time.perf_counter() - opened < window_s:
        outcome = await send_turn(client, conversation_id, QUESTION, headers, client_message_id=message_id)
        result.outcomes.append((time.perf_counter() - opened, outcome))
        if outcome.retry_after_s is not None:  # refused: wait as asked, then send the SAME message again
            left = window_s - (time.perf_counter() - opened)
            await asyncio.sleep(max(0.0, min(outcome.retry_after_s, left)))
        else:
            message_id = uuid.uuid4().hex


async def run_chats(target: Target, chats: int, window_s: float, *, user_prefix: str) -> LoadResult:
    """`chats` concurrent chats (one user each, `{user_prefix}-{i}`) for `window_s` seconds."""
    result = LoadResult(chats, window_s)
    async with client_for(target, chats + 4) as client:
        headers = [target.auth(f"{user_prefix}-{i:03d}") for i in range(chats)]
        conversations = await asyncio.gather(*(create_conversation(client, h) for h in headers))
        opened = time.perf_counter()
        await asyncio.gather(
            *(
                _chat(client, h, c, opened, window_s, result)
                for h, c in zip(headers, conversations, strict=True)
            )
        )
    return result


async def alternating_turns(
    targets: list[Target],
    turns: int,
    *,
    user: str,
    on_measured_start: Callable[[], object] | None = None,
    warm_up: int = 3,
) -> dict[str, list[TurnOutcome]]:
    """One turn on each target in turn, `turns` rounds after `warm_up` unmeasured ones: A/B at concurrency 1.

    `on_measured_start` is called once the warm-up is over (to open a CPU window).
    """
    out: dict[str, list[TurnOutcome]] = {t.name: [] for t in targets}
    clients = [client_for(t) for t in targets]
    try:
        conversations = [
            await create_conversation(c, t.auth(user)) for c, t in zip(clients, targets, strict=True)
        ]
        for i in range(warm_up + turns):
            if i == warm_up and on_measured_start is not None:
                on_measured_start()
            for target, client, conversation in zip(targets, clients, conversations, strict=True):
                outcome = await send_turn(client, conversation, QUESTION, target.auth(user))
                if i >= warm_up:
                    out[target.name].append(outcome)
    finally:
        for client in clients:
            await client.aclose()
    return out


async def one_conversation(target: Target, turns: int, *, user: str) -> list[TurnOutcome]:
    """`turns` turns in one conversation, one after the other (the history grows with each)."""
    async with client_for(target) as client:
        headers = target.auth(user)
        conversation = await create_conversation(client, headers)
        return [await send_turn(client, conversation, QUESTION, headers) for _ in range(turns)]
