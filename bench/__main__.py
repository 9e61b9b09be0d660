"""`python -m bench [--turns N]`: cold start of the whole mesh and turn latency through the edge."""

from __future__ import annotations

import argparse
import platform

from bench import turn_latency
from bench.harness import running_mesh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100, help="turns per measurement (default 100)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    with running_mesh() as bench:
        print(
            f"cold start of the mesh (launch to all healthy, {len(bench.mesh.components)} processes): "
            f"{bench.cold_start_s:.2f} s"
        )
        turn_latency.run(bench, args.turns)


if __name__ == "__main__":
    main()
