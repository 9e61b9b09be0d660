"""Start, stop and report on the stack's servers, one STACK_HOME at a time.

`mongo` is FerretDB plus (on the postgresql backend) its PostgreSQL, started first and stopped last;
`postgres` can also be named alone. A start is a no-op for a server already running (pid file, live
process, answering its probe) and refuses a port another process holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from devtools.probes import tcp_open
from devtools.stack import postgres, prometheus
from devtools.stack.ferretdb import FERRETDB, running_backend
from devtools.stack.kafka import KAFKA
from devtools.stack.postgres import POSTGRES
from devtools.stack.processes import LogMarks, live_pid, pid_alive, read_number, say
from devtools.stack.prometheus import PROMETHEUS
from devtools.stack.redis import REDIS
from devtools.stack.settings import Settings, StackError

KINDS = {kind.name: kind for kind in (REDIS, KAFKA, FERRETDB, POSTGRES, PROMETHEUS)}
ALL_SERVERS = ("redis", "kafka", "mongo", "prometheus")
STATUS_SERVERS = ("redis", "kafka", "mongo", "postgres", "prometheus")
_ALIASES = {
    "redis": "redis",
    "kafka": "kafka",
    "mongo": "mongo",
    "mongodb": "mongo",
    "ferretdb": "mongo",
    "postgres": "postgres",
    "postgresql": "postgres",
    "pg": "postgres",
    "prometheus": "prometheus",
    "prom": "prometheus",
}


def canonical_names(names: list[str]) -> list[str]:
    """The servers a command names (all of redis, kafka, mongo, prometheus when none)."""
    if not names:
        return list(ALL_SERVERS)
    unknown = [n for n in names if n not in _ALIASES]
    if unknown:
        raise StackError(
            f"unknown server '{unknown[0]}' (expected: redis, kafka, mongo, prometheus; or postgres, FerretDB's backend)"
        )
    return [_ALIASES[n] for n in names]


class Supervisor:
    """The servers of one stack, found through their pid and port files under STACK_HOME/run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _pid_file(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.pid"

    def _port_file(self, name: str) -> Path:
        return self.settings.run_dir / f"{name}.port"

    def _forget(self, name: str) -> None:
        for suffix in ("pid", "port"):
            (self.settings.run_dir / f"{name}.{suffix}").unlink(missing_ok=True)

    def live_pid(self, name: str) -> int | None:
        return live_pid(self._pid_file(name), KINDS[name].comm)

    def running_port(self, name: str) -> int:
        """The port a running server was started with (may differ from today's settings)."""
        return read_number(self._port_file(name)) or self.settings.port(name)

    def ready(self, name: str, port: int | None = None) -> bool:
        return KINDS[name].ready(self.settings, port or self.settings.port(name))

    # ---------------------------------------------------------------- start --
    def start(self, names: list[str]) -> None:
        for d in (self.settings.data_dir, self.settings.log_dir, self.settings.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        for name in names:
            if name == "mongo":
                self._start_mongo()
            elif name == "postgres":
                self.start_server("postgres")
                postgres.ensure_database(self.settings)
                postgres.ensure_host_database(self.settings)
            else:
                self.start_server(name)

    def _start_mongo(self) -> None:
        wanted = self.settings.mongo_backend
        pid = self.live_pid("mongo")
        if pid is not None and running_backend(self.settings) != wanted:
            running = running_backend(self.settings)
            raise StackError(
                f"mongo from {self.settings.home} is already running on the {running} backend (pid {pid}), "
                f"not {wanted}: stop it first (scripts/stack.sh stop mongo), or set STACK_MONGO_BACKEND={running}"
            )
        if wanted == "postgresql":
            self.start_server("postgres")
            postgres.ensure_database(self.settings)
            postgres.ensure_host_database(self.settings)
        self.start_server("mongo")

    def start_server(self, name: str) -> None:
        kind, host, port = KINDS[name], self.settings.host, self.settings.port(name)
        pid = self.live_pid(name)
        if pid is not None:
            if self.running_port(name) != port:
                raise StackError(
                    f"{name} from {self.settings.home} is already running on port {self.running_port(name)} "
                    f"(pid {pid}), not {port}: stop it first, or use another STACK_HOME"
                )
            if self.ready(name):
                say(f"{name} already running (pid {pid}, {host}:{port})")
                return
            say(f"{name}: pid {pid} alive but not ready yet, waiting")
            if not self._wait_ready(name, pid, LogMarks(kind.log_files(self.settings))):
                raise StackError(f"{name} is not healthy (see log above)")
            return
        self._forget(name)
        if tcp_open(host, port):
            raise StackError(
                f"{name}: port {host}:{port} is already taken by another process (not ours: no live pid in "
                f"{self._pid_file(name)}); set STACK_{name.upper()}_PORT to use another port"
            )
        controller = self.settings.port("kafka-controller")
        if name == "kafka" and tcp_open(host, controller):
            raise StackError(
                f"kafka: controller port {host}:{controller} is already taken; set STACK_KAFKA_CONTROLLER_PORT"
            )
        started = time.monotonic()
        marks = LogMarks(kind.log_files(self.settings))
        try:
            pid = kind.launch(self.settings)
        except StackError as failure:
            say(str(failure))
            marks.show_tail(name, kind.log_file(self.settings))
            raise StackError(f"{name} failed to start (log: {kind.log_file(self.settings)})") from None
        self._pid_file(name).write_text(f"{pid}\n")
        self._port_file(name).write_text(f"{port}\n")
        if not self._wait_ready(name, pid, marks):
            raise StackError(f"{name} failed to start (log: {kind.log_file(self.settings)})")
        say(f"{name} ready (pid {pid}, {host}:{port}, {int(time.monotonic() - started)}s)")

    def _wait_ready(self, name: str, pid: int, marks: LogMarks) -> bool:
        """Polls until ready; on exit or timeout shows what this start logged and stops what is left."""
        kind, limit = KINDS[name], self.settings.timeouts[name]
        deadline = time.monotonic() + limit
        while True:
            if not pid_alive(pid):
                say(f"{name} (pid {pid}) exited during start-up")
                marks.show_tail(name, kind.log_file(self.settings))
                self._forget(name)
                return False
            if self.ready(name):
                return True
            if time.monotonic() >= deadline:
                say(
                    f"{name} did not become ready on {self.settings.host}:{self.settings.port(name)} within {limit}s"
                )
                marks.show_tail(name, kind.log_file(self.settings))
                self.stop_server(name)
                return False
            time.sleep(0.5)

    # ----------------------------------------------------------------- stop --
    def stop(self, names: list[str]) -> None:
        for name in names:
            self.stop_server(name)
            if name == "mongo":
                self.stop_server("postgres")

    def stop_server(self, name: str) -> None:
        """The polite stop, then SIGKILL after the grace period (Kafka 60 s, the others 20 s)."""
        kind = KINDS[name]
        pid = self.live_pid(name)
        if pid is None:
            self._forget(name)
            return
        say(f"stopping {name} (pid {pid})")
        if kind.request_stop is not None:
            kind.request_stop(self.settings, pid)
        else:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + kind.grace_s
        while pid_alive(pid):
            if time.monotonic() >= deadline:
                say(f"{name} (pid {pid}) still alive after {kind.grace_s}s, sending SIGKILL")
                _signal(pid, signal.SIGKILL)
                time.sleep(0.5)
                break
            time.sleep(0.2)
        for _ in range(10):  # a zombie waits for its parent to reap it
            if not pid_alive(pid):
                break
            time.sleep(0.2)
        if pid_alive(pid):
            raise StackError(f"{name} (pid {pid}) survived SIGKILL")
        self._forget(name)
        if name == "mongo":
            (self.settings.run_dir / "mongo.backend").unlink(missing_ok=True)

    # --------------------------------------------------------------- status --
    def status_line(self, name: str) -> str:
        host, port = self.settings.host, self.settings.port(name)
        pid = self.live_pid(name)
        if pid is not None:
            port = self.running_port(name)
            state = "running" if self.ready(name, port) else "starting"
        else:
            state = "stopped (port taken by another process)" if tcp_open(host, port) else "stopped"
        extra = ""
        if name == "mongo":
            backend = running_backend(self.settings) if pid is not None else self.settings.mongo_backend
            extra = f" backend={backend}"
        return f"{name:<8} {state:<10} pid={pid if pid is not None else '-':<8} {host}:{port}{extra}"

    def env_lines(self) -> list[str]:
        host, ports = self.settings.host, self.settings.ports
        return [
            f"export MONGO_URI=mongodb://{host}:{ports['mongo']}/assist",
            f"export REDIS_URL=redis://{host}:{ports['redis']}/0",
            f"export KAFKA_BOOTSTRAP={host}:{ports['kafka']}",
            # Meshes started with these in their environment register their metrics ports (launcher).
            f"export PROMETHEUS_URL={prometheus.url(self.settings)}",
            f"export PROMETHEUS_TARGETS_DIR={prometheus.targets_dir(self.settings)}",
            f"export HOST_DB_DSN={postgres.host_db_dsn(self.settings)}",
        ]

    def log_paths(self, names: list[str], all_named: bool) -> list[Path]:
        """Logs of the named servers; mongo (or all) includes FerretDB's PostgreSQL."""
        if all_named or "mongo" in names:
            names = [*names, "postgres"]
        return [path for name in names for path in KINDS[name].log_files(self.settings) if path.is_file()]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, sig)
