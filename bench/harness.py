"""A mesh started for a benchmark: real processes on the local stack, a database of its own.

The one module of bench/ that imports devtools.launcher: the rest take ROOT, free_port and the processes' pids
from here, so moving the launcher means changing this file only.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from demo.keyring import load_or_create
from demo.seed import seed_demo_tasks
from devtools.launcher import ROOT, Mesh, free_port, plan_mesh
from mesh.auth import TokenSigner

__all__ = ["ROOT", "BenchMesh", "free_port", "process_env", "running_mesh", "stack_env", "stack_home"]


@dataclass
class BenchMesh:
    mesh: Mesh
    signer: TokenSigner
    cold_start_s: float

    database: str = ""

    def auth(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.sign(user_id)}"}

    @property
    def mongo_uri(self) -> str:
        return self.mesh.env["MONGO_URI"]

    def pids(self) -> dict[str, int]:
        """Our processes by component name (agents, coordinator, relay, analytics, edge)."""
        return {name: proc.pid for name, proc in self.mesh.processes.items()}


def process_env() -> dict[str, str]:
    """The environment for a `python -m` process of this checkout (the project is installed in .venv)."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stack_home() -> Path:
    """Where scripts/stack.sh keeps the servers' pid files: $STACK_HOME, else this checkout's .local."""
    return Path(os.environ.get("STACK_HOME") or ROOT / ".local")


def stack_env() -> dict[str, str]:
    missing = [k for k in ("MONGO_URI", "REDIS_URL", "KAFKA_BOOTSTRAP") if k not in os.environ]
    if missing:
        raise SystemExit(f'set {", ".join(missing)} (eval "$(scripts/stack.sh env)"), or run ./dev bench')
    return {k: os.environ[k] for k in ("MONGO_URI", "REDIS_URL", "KAFKA_BOOTSTRAP")}


@contextmanager
def running_mesh(
    extra_env: dict[str, str] | None = None, *, database: str | None = None
) -> Iterator[BenchMesh]:
    """Start every component and time the cold start (launch to every health check passing).

    On a database of its own (a new one unless `database` names one to reuse, such as a seeded one).
    """
    env = {**stack_env(), **(extra_env or {})}
    database = database or f"bench_{uuid.uuid4().hex[:8]}"
    base = env["MONGO_URI"].rsplit("/", 1)[0]
    env["MONGO_URI"] = f"{base}/{database}"
    asyncio.run(seed_demo_tasks(env["MONGO_URI"]))
    keys = ROOT / ".local" / "bench-keys"
    signer = load_or_create(keys).signer()
    mesh = plan_mesh(
        env,
        log_dir=Path(ROOT / ".local" / "logs" / database),
        extra_env={
            "DEV_KEYS_DIR": str(keys),
            "TURN_RATE_BURST": "100000",
            # Thousands of model turns by a few demo users: the daily budget has its own tests.
            "DAILY_TOKEN_BUDGET": "1000000000",
            "IP_RATE_BURST": "100000",
            "IP_RATE_PER_S": "100000",
            **(extra_env or {}),
        },
    )
    started = time.perf_counter()
    try:
        mesh.start()
        yield BenchMesh(mesh, signer, time.perf_counter() - started, database)
    finally:
        mesh.stop()


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Run fn n times; seconds per run."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"{name:<38} median {statistics.median(samples) * 1000:8.2f} ms   p95 {p95 * 1000:8.2f} ms   n={len(samples)}"
