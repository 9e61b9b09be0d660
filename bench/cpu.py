"""CPU time of processes from /proc, so a benchmark can say what a turn costs each process, not only how long
it took: a turn that waits cheaply and one that burns two cores look the same on a stopwatch.

A process is read as utime + stime from /proc/<pid>/stat. For a server that forks workers (PostgreSQL starts a
backend per connection) the group's time is its own, its reaped children's (cutime + cstime, kept by the
kernel once the parent waited for them) and its live children's, so a backend that exits during a window is
still counted exactly once.

The stack's servers are found by their pid files (`$STACK_HOME/run/<name>.pid`, as scripts/stack.sh writes
them) and otherwise by the process listening on the server's port, so the benchmark works from any checkout.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class _Stat:
    ppid: int
    own_ticks: int  # utime + stime
    reaped_children_ticks: int  # cutime + cstime


def _read_stat(pid: int) -> _Stat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after its closing one.
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17; ppid is field 4.
    return _Stat(
        ppid=int(fields[1]),
        own_ticks=int(fields[11]) + int(fields[12]),
        reaped_children_ticks=int(fields[13]) + int(fields[14]),
    )


def _pids() -> list[int]:
    with os.scandir("/proc") as entries:
        return [int(e.name) for e in entries if e.name.isdigit()]


def _children(parent: int) -> list[int]:
    out = []
    for pid in _pids():
        stat = _read_stat(pid)
        if stat is not None and stat.ppid == parent:
            out.append(pid)
    return out


def process_cpu_s(pid: int, *, with_children: bool = False) -> float:
    """CPU seconds used so far by `pid` (and its children, reaped or alive, when asked); 0 when it is gone."""
    stat = _read_stat(pid)
    if stat is None:
        return 0.0
    ticks = stat.own_ticks
    if with_children:
        ticks += stat.reaped_children_ticks
        for child in _children(pid):
            child_stat = _read_stat(child)
            if child_stat is not None:
                ticks += child_stat.own_ticks + child_stat.reaped_children_ticks
    return ticks / CLOCK_TICKS_PER_S


@dataclass(frozen=True)
class Watched:
    """One process (or a forking server with its children) whose CPU a benchmark reports."""

    name: str
    pid: int
    with_children: bool = False

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid, with_children=self.with_children)


class CpuWindow:
    """CPU seconds per watched process between `start()` and `stop()`."""

    def __init__(self, watched: Iterable[Watched]) -> None:
        self.watched = list(watched)
        self._before: dict[str, float] = {}
        self.used_s: dict[str, float] = {}

    def start(self) -> CpuWindow:
        self._before = {w.name: w.cpu_s() for w in self.watched}
        return self

    def stop(self) -> dict[str, float]:
        self.used_s = {w.name: w.cpu_s() - self._before[w.name] for w in self.watched}
        return self.used_s

    def total_s(self, names: Iterable[str]) -> float:
        return sum(self.used_s.get(n, 0.0) for n in names)


# ----------------------------------------------------------------------------- the stack's servers --


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(inode)
    return inodes


def pid_listening_on(port: int) -> int | None:
    """The process with a listening socket on `port` (any address), or None."""
    inodes = {f"socket:[{i}]" for i in _listening_inodes(port)}
    if not inodes:
        return None
    for pid in _pids():
        try:
            with os.scandir(f"/proc/{pid}/fd") as fds:
                if any(os.readlink(fd.path) in inodes for fd in fds):
                    return pid
        except OSError:
            continue
    return None


def _pid_from_file(run_dir: Path, name: str) -> int | None:
    try:
        pid = int((run_dir / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def _port(url: str, default: int) -> int:
    parsed = urlsplit(url if "//" in url else f"//{url}")
    return parsed.port or default


def _postgres_port_of(ferretdb_pid: int | None) -> int | None:
    """The PostgreSQL port in FerretDB's `--postgresql-url`, or None when it runs on SQLite."""
    if ferretdb_pid is None:
        return None
    try:
        args = Path(f"/proc/{ferretdb_pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return None
    for arg in args:
        if arg.startswith("--postgresql-url="):
            return _port(arg.split("=", 1)[1], 5432)
    return None


def stack_servers(env: Mapping[str, str], stack_home: Path) -> list[Watched]:
    """The database server (FerretDB, and PostgreSQL when FerretDB runs on it), Kafka and Redis, as running.

    Servers not found (PostgreSQL under FerretDB on SQLite, say) are left out.
    """
    run_dir = stack_home / "run"

    def find(pid_file: str, port: int | None) -> int | None:
        return _pid_from_file(run_dir, pid_file) or (pid_listening_on(port) if port else None)

    ferretdb = find("mongo", _port(env.get("MONGO_URI", ""), 27017))
    pids = {
        "ferretdb": ferretdb,
        "postgres": find("postgres", _postgres_port_of(ferretdb)),
        "kafka": find("kafka", _port(env.get("KAFKA_BOOTSTRAP", "").split(",")[0], 9092)),
        "redis": find("redis", _port(env.get("REDIS_URL", ""), 6379)),
    }
    return [
        Watched(name, pid, with_children=name == "postgres") for name, pid in pids.items() if pid is not None
    ]


DATABASE_SERVER = ("ferretdb", "postgres")


def resident_mb(pid: int) -> float | None:
    """The process's resident memory (VmRSS) in MB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
