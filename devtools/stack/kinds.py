"""What the supervisor needs to know about one kind of server; each kind lives in a module of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.stack.settings import Settings


@dataclass(frozen=True)
class ServerKind:
    """One server of the stack: how to launch it, how to tell it is ready, how to stop it."""

    name: str
    # /proc/PID/comm of its process: a pid file naming another program is stale (pid reuse).
    comm: str
    # Seconds between the polite stop and SIGKILL.
    grace_s: int
    # Starts the server and returns its pid (pid and port files are the supervisor's business).
    launch: Callable[[Settings], int]
    # One readiness probe against the given port.
    ready: Callable[[Settings, int], bool]
    # The server's own log (output of the process when it has no other).
    log_file: Callable[[Settings], Path]
    # Asks the server to stop; None: SIGTERM.
    request_stop: Callable[[Settings, int], None] | None = None

    def log_files(self, settings: Settings) -> list[Path]:
        """Every log a start of it may write: its own, and `<name>.stdout.log` (a JVM's or pg_ctl's output)."""
        return [self.log_file(settings), settings.log_dir / f"{self.name}.stdout.log"]
