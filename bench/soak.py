"""`python -m bench --soak [--minutes 10] [--rate R]`: the mesh held at half its capacity for a long time.

WHY: a short load window hides what only time shows: memory that grows with every turn (a cache without a
bound, a task never collected), file descriptors that leak (a channel or a client never closed), latency
that creeps up as stores fill. So the soak first measures the capacity (closed-loop chats for
`--capacity-window` seconds) unless `--rate` gives it, then sends turns open-loop at half of it (a steady
arrival rate, not one that slows when the mesh does) for `--minutes`, and prints:
- resident memory and open file descriptors of each of our processes at the start and at the end;
- latency per minute (turns done, median, p95, failures);
- growth ratios: RSS end/start per process and in total, fds end/start, last minute's median and p95 over
  the first minute's. The goal (issue 13): RSS growth under 10 % and flat latency.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench import report
from bench.cpu import resident_mb
from bench.driver import QUESTION, client_for, median_ms, p95_ms, run_chats
from bench.harness import BenchMesh, running_mesh
from bench.load import NO_MODEL, mesh_target, prepare_users
from bench.sse import REFUSED, TurnOutcome, create_conversation, send_turn

USERS = 32
# A person's conversation does not run for hundreds of turns: a fresh one after this many keeps the history
# (and so the turn's cost) steady, so a latency trend is the mesh's, not the conversation's.
TURNS_PER_CONVERSATION = 20
# Turns in flight beyond this are not sent (counted as "driver backlog"): open-loop load on a mesh that
# stalls would otherwise pile up without bound in the driver itself.
MAX_IN_FLIGHT = 128


def add_arguments(parser: argparse._ActionsContainer) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length in minutes (default 10)")
    parser.add_argument("--rate", type=float, help="turns per second to hold (default: half the capacity)")
    parser.add_argument(
        "--capacity-window", type=float, default=15.0, help="seconds of the capacity measurement (default 15)"
    )
    parser.add_argument(
        "--capacity-chats", type=int, default=16, help="concurrent chats measuring capacity (default 16)"
    )


@dataclass(frozen=True)
class ProcessSample:
    rss_mb: float | None
    fds: int | None


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def sample(pids: dict[str, int]) -> dict[str, ProcessSample]:
    return {name: ProcessSample(resident_mb(pid), open_fds(pid)) for name, pid in pids.items()}


@dataclass
class Minute:
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)


@dataclass
class SoakRun:
    rate: float
    seconds: float
    minutes: dict[int, Minute] = field(default_factory=dict)
    backlog: int = 0

    def record(self, ended_at: float, outcome: TurnOutcome) -> None:
        minute = self.minutes.setdefault(int(ended_at // 60), Minute())
        if outcome.done:
            minute.latencies.append(outcome.seconds)
        else:
            minute.failures[outcome.failure] += 1


class _Chats:
    """The users' conversations, each replaced by a new one after TURNS_PER_CONVERSATION turns."""

    def __init__(self, bench: BenchMesh, client: httpx.AsyncClient) -> None:
        self._target = mesh_target(bench)
        self._client = client
        self._conversations: dict[str, tuple[str, int]] = {}

    async def next_turn(self, user: str) -> tuple[dict[str, str], str]:
        headers = self._target.auth(user)
        conversation, used = self._conversations.get(user, ("", TURNS_PER_CONVERSATION))
        if used >= TURNS_PER_CONVERSATION:
            conversation, used = await create_conversation(self._client, headers), 0
        self._conversations[user] = (conversation, used + 1)
        return headers, conversation


async def soak(bench: BenchMesh, rate: float, seconds: float) -> SoakRun:
    """Open-loop turns at `rate` per second for `seconds`, round-robin over the soak users."""
    run = SoakRun(rate, seconds)
    in_flight: set[asyncio.Task[None]] = set()
    async with client_for(mesh_target(bench), MAX_IN_FLIGHT + 4) as client:
        chats = _Chats(bench, client)
        opened = time.perf_counter()

        async def one(user: str) -> None:
            try:
                headers, conversation = await chats.next_turn(user)
                outcome = await send_turn(client, conversation, QUESTION, headers)
            except httpx.HTTPError as exc:
                outcome = TurnOutcome(seconds=0.0, status=0, transport_error=type(exc).__name__)
            run.record(time.perf_counter() - opened, outcome)

        users = itertools.cycle(f"soak-{i:03d}" for i in range(USERS))
        for n in itertools.count():
            due = opened + n / rate
            if due - opened >= seconds:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if len(in_flight) >= MAX_IN_FLIGHT:
                run.backlog += 1
                continue
            task = asyncio.create_task(one(next(users)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=60)
    return run


def _minute_lines(run: SoakRun) -> list[tuple[float, float]]:
    print(f"  {'minute':>6} {'turns':>6} {'median ms':>10} {'p95 ms':>8}  failures")
    figures = []
    for index in sorted(run.minutes):
        minute = run.minutes[index]
        med, p95 = median_ms(minute.latencies), p95_ms(minute.latencies)
        figures.append((med, p95))
        failed = ", ".join(f"{k}: {v}" for k, v in minute.failures.items()) or "0"
        print(f"  {index + 1:>6} {len(minute.latencies):>6} {med:>10.1f} {p95:>8.1f}  {failed}")
    return figures


def _memory_table(start: dict[str, ProcessSample], end: dict[str, ProcessSample]) -> None:
    print(f"  {'process':<14} {'RSS MB start':>12} {'end':>8} {'growth':>8}   {'fds start':>9} {'end':>5}")
    for name in sorted(start):
        a, b = start[name], end.get(name, ProcessSample(None, None))
        growth = report.ratio(b.rss_mb, a.rss_mb) if a.rss_mb and b.rss_mb else "gone"
        print(
            f"  {name:<14} {a.rss_mb or 0:>12.1f} {b.rss_mb or 0:>8.1f} {growth:>8}   "
            f"{a.fds if a.fds is not None else '-':>9} {b.fds if b.fds is not None else '-':>5}"
        )
    total_a = sum(s.rss_mb or 0 for s in start.values())
    total_b = sum(s.rss_mb or 0 for s in end.values())
    fds_a = sum(s.fds or 0 for s in start.values())
    fds_b = sum(s.fds or 0 for s in end.values())
    print(
        f"  {'all':<14} {total_a:>12.1f} {total_b:>8.1f} {report.ratio(total_b, total_a):>8}   {fds_a:>9} {fds_b:>5}"
    )


def run(args: argparse.Namespace) -> None:
    seconds = args.minutes * 60
    with running_mesh(NO_MODEL) as bench:
        users = [f"soak-{i:03d}" for i in range(USERS)]
        prepare_users(bench, [*users, *(f"cap-{i:03d}" for i in range(args.capacity_chats))])
        rate = args.rate
        if rate is None:
            print(f"== capacity: {args.capacity_chats} closed-loop chats for {args.capacity_window:.0f} s")
            measured = asyncio.run(
                run_chats(mesh_target(bench), args.capacity_chats, args.capacity_window, user_prefix="cap")
            )
            report.load_header()
            report.load_line("mesh", measured)
            rate = max(0.5, measured.turns_per_s / 2)
        print(f"\n== soak: {rate:.2f} turns/s (open loop) for {args.minutes:g} min over {USERS} users")
        start = sample(bench.pids())
        result = asyncio.run(soak(bench, rate, seconds))
        end = sample(bench.pids())
    figures = _minute_lines(result)
    total = sum(len(m.latencies) for m in result.minutes.values())
    failed = sum(sum(m.failures.values()) for m in result.minutes.values())
    refused = sum(m.failures.get(REFUSED, 0) for m in result.minutes.values())
    print(
        f"  turns done {total}, failed {failed - refused}, refused {refused}, driver backlog {result.backlog}"
    )
    print("\n== processes (resident memory and open file descriptors)")
    _memory_table(start, end)
    print("\n== growth")
    if len(figures) >= 2:
        (med_a, p95_a), (med_z, p95_z) = figures[0], figures[-1]
        print(
            f"  last minute / first minute: median {report.ratio(med_z, med_a)}, p95 {report.ratio(p95_z, p95_a)}"
        )
    total_a = sum(s.rss_mb or 0 for s in start.values())
    total_b = sum(s.rss_mb or 0 for s in end.values())
    growth = (total_b / total_a - 1) * 100 if total_a else float("nan")
    report.goal("RSS growth of our processes under 10 %", f"{growth:+.1f} %", growth < 10)
