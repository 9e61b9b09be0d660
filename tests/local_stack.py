"""The local stack as tests see it: addresses of the real servers and a way to stop and start them.

Kept apart from conftest.py so test modules and fixture plugins import it like any module.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "scripts" / "stack.sh"
# The suite runs on a stack of its own (own data, own ports), never on the one `./dev up` started: some
# tests stop and restart servers. `./dev test` sets the same; exporting STACK_PROFILE=dev overrides it.
os.environ.setdefault("STACK_PROFILE", "test")


@dataclass(frozen=True)
class Stack:
    """Addresses of the running local servers, and a way to stop and start one of them."""

    mongo_uri: str
    redis_url: str
    kafka_bootstrap: str
    # The host site's task database (PostgreSQL), which the sync worker reads.
    host_db_dsn: str
    # The stack's Prometheus; a mesh given PROMETHEUS_TARGETS_DIR registers its metrics ports there.
    prometheus_url: str = ""
    prometheus_targets_dir: str = ""

    def stop(self, *names: str) -> None:
        subprocess.run(["bash", str(STACK), "stop", *names], check=True, cwd=ROOT)

    def start(self, *names: str) -> None:
        subprocess.run(["bash", str(STACK), "start", *names], check=True, cwd=ROOT)

    def env(self) -> dict[str, str]:
        env = {
            "MONGO_URI": self.mongo_uri,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "HOST_DB_DSN": self.host_db_dsn,
        }
        if self.prometheus_targets_dir:
            env["PROMETHEUS_URL"] = self.prometheus_url
            env["PROMETHEUS_TARGETS_DIR"] = self.prometheus_targets_dir
        return env


def start_stack() -> Stack:
    """Start Redis, Kafka, FerretDB and Prometheus with scripts/stack.sh (a no-op when they run) and read their addresses."""
    subprocess.run(["bash", str(STACK), "start"], check=True, cwd=ROOT)
    out = subprocess.run(["bash", str(STACK), "env"], check=True, cwd=ROOT, capture_output=True, text=True)
    values: dict[str, str] = {}
    for line in out.stdout.splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line:
            key, _, value = line.partition("=")
            values[key] = value.strip("'\"")
    return Stack(
        values["MONGO_URI"],
        values["REDIS_URL"],
        values["KAFKA_BOOTSTRAP"],
        values["HOST_DB_DSN"],
        values.get("PROMETHEUS_URL", ""),
        values.get("PROMETHEUS_TARGETS_DIR", ""),
    )


def mongo_uri_for(stack: Stack, database: str) -> str:
    """The stack's MongoDB URI pointing at another database."""
    base, _, rest = stack.mongo_uri.rpartition("/")
    query = rest.partition("?")[2]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a mesh process started by a test: the test's own, plus the given values."""
    env = dict(os.environ)
    env.update(extra)
    return env
