"""The stack's settings, read from the same STACK_* environment variables the shell script always read.

One frozen value built once per command, so every module sees the same ports and paths, and unit tests can
build one from a plain dict.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
KAFKA_VERSION = "4.1.1"

# Default ports, each moved by STACK_PORT_OFFSET; the variable that overrides one alone.
DEFAULT_PORTS = {
    "redis": (16379, "STACK_REDIS_PORT"),
    "kafka": (19092, "STACK_KAFKA_PORT"),
    "kafka-controller": (19093, "STACK_KAFKA_CONTROLLER_PORT"),
    "mongo": (27027, "STACK_MONGO_PORT"),
    "postgres": (15432, "STACK_POSTGRES_PORT"),
    "prometheus": (19090, "STACK_PROMETHEUS_PORT"),
}
DEFAULT_TIMEOUTS = {"redis": 30, "kafka": 90, "mongo": 30, "postgres": 60, "prometheus": 30}
DEFAULT_KAFKA_HEAP = "-Xms256m -Xmx512m"


class StackError(Exception):
    """A failure the command reports as `[stack] ERROR: ...` and exits non-zero on."""


def posix_cksum(data: bytes) -> int:
    """The CRC `cksum` prints: the shell derived the test profile's port offset from it, so this must match."""
    crc = 0
    for byte in data:
        crc = _step(crc, byte)
    length = len(data)
    while length:
        crc = _step(crc, length & 0xFF)
        length >>= 8
    return ~crc & 0xFFFFFFFF


def _step(crc: int, byte: int) -> int:
    crc ^= byte << 24
    for _ in range(8):
        crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
    return crc & 0xFFFFFFFF


def offset_for_test_profile(repo_root: Path) -> int:
    """The tests' port offset: 200 to 695 in steps of 5, drawn from the clone's path (two clones rarely collide)."""
    return 200 + 5 * (posix_cksum(str(repo_root).encode()) % 100)


def root_pg_home(stack_home: Path) -> Path:
    """Where root's PostgreSQL cluster lives: outside the clone, which may be closed to the postgres user."""
    digest = hashlib.sha1(str(stack_home).encode()).hexdigest()[:16]
    return Path("/var/tmp/assist-stack-postgres") / digest


@dataclass(frozen=True)
class Settings:
    """Ports, paths and limits of one stack (one STACK_HOME)."""

    repo_root: Path
    home: Path
    cache: Path
    ports: Mapping[str, int]
    mongo_backend: str
    pg_home: Path
    pg_os_user: str
    run_as_root: bool
    timeouts: Mapping[str, int]
    kafka_heap: list[str] = field(default_factory=list)
    log_lines: int = 100
    host: str = HOST

    @property
    def stack_dir(self) -> Path:
        return self.repo_root / "stack"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def kafka_home(self) -> Path:
        return self.home / "kafka"

    @property
    def kafka_libs(self) -> Path:
        return self.cache / "kafka" / "libs"

    @property
    def ferretdb_bin(self) -> Path:
        return self.cache / "bin" / "ferretdb"

    @property
    def pg_data(self) -> Path:
        return self.pg_home / "data"

    def port(self, name: str) -> int:
        return self.ports[name]


def _absolute(path: str) -> Path:
    """Absolute without resolving links, as the script's `cd DIR && pwd` gave (root's PG home hashes it)."""
    return Path(os.path.normpath(os.path.abspath(path)))


def _number(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit():
        raise StackError(f"{name} must be a number, not {raw}")
    return int(raw)


def load_settings(
    env: Mapping[str, str],
    *,
    repo_root: Path = REPO_ROOT,
    is_root: bool | None = None,
    user: str | None = None,
) -> Settings:
    """Settings from the environment; `STACK_PROFILE=test` gives the tests' own home and port offset."""
    profile = env.get("STACK_PROFILE") or "dev"
    home_env = env.get("STACK_HOME") or ""
    offset_env = env.get("STACK_PORT_OFFSET") or ""
    if profile == "test":
        home_env = home_env or str(repo_root / ".local" / "test-stack")
        offset_env = offset_env or str(offset_for_test_profile(repo_root))
    elif profile != "dev":
        raise StackError(f"STACK_PROFILE must be dev or test, not {profile}")
    home = _absolute(home_env or str(repo_root / ".local"))
    cache = _absolute(env.get("STACK_CACHE") or str(repo_root / ".local"))
    if not offset_env.isdigit() and offset_env != "":
        raise StackError(f"STACK_PORT_OFFSET must be a number, not {offset_env}")
    offset = int(offset_env or 0)
    ports = {name: _number(env, var, base + offset) for name, (base, var) in DEFAULT_PORTS.items()}

    backend = env.get("STACK_MONGO_BACKEND") or "postgresql"
    if backend in ("postgresql", "postgres", "pg"):
        backend = "postgresql"
    elif backend != "sqlite":
        raise StackError(f"STACK_MONGO_BACKEND must be postgresql or sqlite, not {backend}")

    root = os.geteuid() == 0 if is_root is None else is_root
    if root:
        pg_os_user = "postgres"
        pg_home = Path(env["STACK_PG_HOME"]) if env.get("STACK_PG_HOME") else root_pg_home(home)
    else:
        pg_os_user = user or _current_user()
        pg_home = Path(env["STACK_PG_HOME"]) if env.get("STACK_PG_HOME") else home / "data" / "postgres-home"

    timeouts = {
        name: _number(env, f"STACK_{name.upper()}_TIMEOUT", default)
        for name, default in DEFAULT_TIMEOUTS.items()
    }
    return Settings(
        repo_root=repo_root,
        home=home,
        cache=cache,
        ports=ports,
        mongo_backend=backend,
        pg_home=pg_home,
        pg_os_user=pg_os_user,
        run_as_root=root,
        timeouts=timeouts,
        kafka_heap=(env.get("STACK_KAFKA_HEAP") or DEFAULT_KAFKA_HEAP).split(),
        log_lines=_number(env, "STACK_LOG_LINES", 100),
    )


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
