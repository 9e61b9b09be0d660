"""`python -m bench [--turns N] [--only latency|cache]`: the mesh's cold start, turn latency through the
edge with the local writer, and Gemini cache hits against misses. Figures are printed, never asserted.

`python -m bench --load [--parts ...] [--sizes ...] [--window S]`: the load benchmark instead (bench/load.py):
the raw skeleton beside the mesh, cost by stored turns, concurrent chats, idle CPU.

`python -m bench --soak [--minutes M] [--rate R]`: the soak (bench/soak.py): half the measured capacity for M
minutes (default 10), RSS and open file descriptors per process at start and end, latency per minute."""

from __future__ import annotations

import argparse
import platform
import signal
import sys
from types import FrameType

from bench import cache_latency, load, soak, turn_latency
from bench.harness import running_mesh


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C, so every running mesh and skeleton is stopped on the way out (the default
    action kills this process alone and leaves its eleven children running: found burning the stack's CPU
    and holding the analytics group's partitions an hour later)."""
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100, help="turns per measurement (default 100)")
    parser.add_argument("--only", choices=["latency", "cache"], help="run one benchmark")
    parser.add_argument(
        "--model-delay",
        type=float,
        action="append",
        help="the fake Gemini's time to first token in seconds (repeatable; default: 0 and 0.4)",
    )
    parser.add_argument("--load", action="store_true", help="run the load benchmark (bench/load.py)")
    load.add_arguments(parser.add_argument_group("--load options"))
    parser.add_argument("--soak", action="store_true", help="run the soak benchmark (bench/soak.py)")
    soak.add_arguments(parser.add_argument_group("--soak options"))
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    if args.load:
        load.run(args)
        return
    if args.soak:
        soak.run(args)
        return
    if args.only in (None, "latency"):
        # The local writer, whatever model key the shell has.
        with running_mesh({"GEMINI_API_KEY": ""}) as bench:
            print(
                f"cold start of the mesh (launch to all healthy, {len(bench.mesh.components)} processes): "
                f"{bench.cold_start_s:.2f} s"
            )
            turn_latency.run(bench, args.turns)
    if args.only in (None, "cache"):
        for delay in args.model_delay or [0.0, 0.4]:
            print(
                f"NLG on Gemini (the fake server, first token after {delay:.1f} s), answers cached in Redis:"
            )
            cache_latency.run(args.turns, delay)


if __name__ == "__main__":
    main()
