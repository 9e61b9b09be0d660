"""Redis: Debian's redis-server, its own instance on the stack's port (Debian's service on 6379 is not used)."""

from __future__ import annotations

import shutil
from pathlib import Path

from devtools.probes import redis_ready
from devtools.stack.kinds import ServerKind
from devtools.stack.processes import spawn
from devtools.stack.settings import Settings, StackError


def _log(settings: Settings) -> Path:
    return settings.log_dir / "redis.log"


def _launch(settings: Settings) -> int:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not installed: run scripts/stack.sh install")
    data = settings.data_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "--bind", settings.host,
        "--port", str(settings.port("redis")),
        "--protected-mode", "yes",
        "--dir", str(data),
        "--dbfilename", "dump.rdb",
        "--appendonly", "no",
        "--save", "60 1",
        "--daemonize", "no",
        # Background tasks (active key expiry, client timeouts) 2 times a second instead of 10: a local
        # Redis holds a few keys (issue 8). A blocked XREAD's timeout may fire up to 0.5 s late.
        "--hz", "2",
        "--logfile", "",
    ]  # fmt: skip
    return spawn(argv, _log(settings))


REDIS = ServerKind(
    name="redis",
    comm="redis-server",
    grace_s=20,
    launch=_launch,
    ready=lambda settings, port: redis_ready(settings.host, port),
    log_file=_log,
)
