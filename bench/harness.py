"""A mesh started for a benchmark: real processes on the local stack, a database of its own."""

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

from demo.seed import seed_demo_tasks
from devtools.launcher import ROOT, Mesh, plan_mesh
from mesh.auth import TokenSigner, load_or_create_dev_keypair


@dataclass
class BenchMesh:
    mesh: Mesh
    signer: TokenSigner
    cold_start_s: float

    def auth(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.signer.sign(user_id)}"}


def stack_env() -> dict[str, str]:
    missing = [k for k in ("MONGO_URI", "REDIS_URL", "KAFKA_BOOTSTRAP") if k not in os.environ]
    if missing:
        raise SystemExit(f'set {", ".join(missing)} (eval "$(scripts/stack.sh env)"), or run ./dev bench')
    return {k: os.environ[k] for k in ("MONGO_URI", "REDIS_URL", "KAFKA_BOOTSTRAP")}


@contextmanager
def running_mesh(extra_env: dict[str, str] | None = None) -> Iterator[BenchMesh]:
    """Start every component and time the cold start (launch to every health check passing)."""
    env = {**stack_env(), **(extra_env or {})}
    database = f"bench_{uuid.uuid4().hex[:8]}"
    base = env["MONGO_URI"].rsplit("/", 1)[0]
    env["MONGO_URI"] = f"{base}/{database}"
    asyncio.run(seed_demo_tasks(env["MONGO_URI"]))
    keys = ROOT / ".local" / "bench-keys"
    private_pem, _ = load_or_create_dev_keypair(keys)
    mesh = plan_mesh(
        env,
        log_dir=Path(ROOT / ".local" / "logs" / database),
        extra_env={"DEV_KEYS_DIR": str(keys), "TURN_RATE_BURST": "100000", **(extra_env or {})},
    )
    started = time.perf_counter()
    try:
        mesh.start()
        yield BenchMesh(mesh, TokenSigner(private_pem), time.perf_counter() - started)
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
