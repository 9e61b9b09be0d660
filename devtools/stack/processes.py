"""Processes of the stack as files under STACK_HOME/run: pid and port files, liveness, the lock, logs.

The file layout is the one scripts/stack.sh always used (`run/<name>.pid`, `run/<name>.port`,
`run/stack.lock`), so a stack started by an older script is found, reported and stopped by this one.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from devtools.stack.settings import StackError


def say(message: str) -> None:
    """What the stack reports: on stderr, so `eval "$(scripts/stack.sh env)"` reads only the exports."""
    print(f"[stack] {message}", file=sys.stderr, flush=True)


def read_number(path: Path) -> int | None:
    """The digits of a pid or port file, or None when there is none."""
    try:
        digits = "".join(ch for ch in path.read_text() if ch.isdigit())
    except OSError:
        return None
    return int(digits) if digits else None


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child not yet reaped, e.g. a killed postmaster)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(") ")[2][:1] != "Z"


def process_name(pid: int) -> str:
    """/proc/PID/comm (not exe: Debian's redis-server is a link to redis-check-rdb)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def live_pid(pid_file: Path, comm: str) -> int | None:
    """The live process a pid file names, if it is still that server (pids get reused)."""
    pid = read_number(pid_file)
    if pid is None or not pid_alive(pid):
        return None
    name = process_name(pid)
    if name and name != comm:
        return None
    return pid


@contextmanager
def stack_lock(run_dir: Path, timeout_s: float = 1800.0) -> Iterator[None]:
    """Serialise start/stop between concurrent commands on one STACK_HOME (the same flock the script took)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "stack.lock").open("a") as lock:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"could not take {run_dir / 'stack.lock'} (another stack.sh is busy)"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def spawn(argv: Sequence[str], output: Path, env: Mapping[str, str] | None = None) -> int:
    """Start a server detached from this command (own session; no inherited descriptors), output appended."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    # The server outlives this command; its Popen must not warn about it at exit.
    proc.returncode = 0
    return proc.pid


class LogMarks:
    """Log sizes at launch, so a failed start shows only what this start wrote."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)
        self.sizes = {f: (f.stat().st_size if f.exists() else 0) for f in self.files}

    def show_tail(self, name: str, main_log: Path, lines: int = 40) -> None:
        shown = False
        for path in self.files:
            size = path.stat().st_size if path.exists() else 0
            start = self.sizes.get(path, 0)
            if size < start:  # rotated meanwhile
                start = 0
            if size <= start:
                continue
            with path.open("rb") as f:
                f.seek(start)
                text = f.read().decode(errors="replace")
            print(f"----- last lines of {path} -----", file=sys.stderr)
            print("\n".join(text.splitlines()[-lines:]), file=sys.stderr, flush=True)
            shown = True
        if not shown:
            say(f"{name} wrote nothing to {main_log} during this start")
