"""Printing the load benchmark's figures: tables of latency, CPU per turn and throughput, and the goals."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from bench.driver import LoadResult, median_ms, p95_ms
from bench.sse import TurnOutcome


def ratio(a: float, b: float) -> str:
    if b <= 0 or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:.2f}x"


def latency_line(name: str, outcomes: list[TurnOutcome]) -> str:
    done = [o.seconds for o in outcomes if o.done]
    failed = len(outcomes) - len(done)
    return (
        f"  {name:<34} median {median_ms(done):8.1f} ms   p95 {p95_ms(done):8.1f} ms   "
        f"n={len(done)}{f'   FAILED {failed}' if failed else ''}"
    )


def cpu_table(
    title: str, used_s: Mapping[str, float], turns: int, groups: Mapping[str, Iterable[str]]
) -> None:
    """CPU ms per turn for each process, then for each named group of processes."""
    print(f"  {title}: CPU per turn by process (ms), over {turns} turns")
    per_turn = {name: s * 1000 / max(1, turns) for name, s in used_s.items()}
    cells = [f"{name} {ms:.1f}" for name, ms in sorted(per_turn.items(), key=lambda kv: -kv[1])]
    for first in range(0, len(cells), 6):
        print("    " + ", ".join(cells[first : first + 6]))
    for group, names in groups.items():
        total = sum(per_turn.get(n, 0.0) for n in names)
        print(f"    = {group}: {total:.1f} ms per turn")


def load_header() -> None:
    print(
        f"  {'system':<10} {'chats':>5} {'turns/s':>8} {'median ms':>10} {'p95 ms':>9} {'done':>6} "
        f"{'failed':>7} {'refused 503':>12} {'driver %':>9}  failures"
    )


def load_line(system: str, result: LoadResult) -> None:
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(result.failures.items())) or "-"
    print(
        f"  {system:<10} {result.chats:>5} {result.turns_per_s:>8.1f} {median_ms(result.latencies):>10.1f} "
        f"{p95_ms(result.latencies):>9.1f} {len(result.latencies):>6} {result.failed:>7} {result.refused:>12} "
        f"{result.driver_percent:>9.0f}  "
        f"{detail}"
    )


def goal(text: str, measured: str, met: bool | None) -> None:
    verdict = "n/a" if met is None else ("met" if met else "NOT met")
    print(f"  {text:<52} {measured:<34} {verdict}")
