"""mongo: FerretDB (MongoDB wire) on PostgreSQL (`STACK_MONGO_BACKEND=sqlite`: on SQLite files)."""

from __future__ import annotations

from pathlib import Path

from devtools.probes import mongo_ready
from devtools.stack.kinds import ServerKind
from devtools.stack.postgres import PG_DATABASE, PG_ROLE
from devtools.stack.processes import spawn
from devtools.stack.settings import Settings, StackError


def backend_file(settings: Settings) -> Path:
    """Which backend the running FerretDB uses: `start` refuses to switch a running one."""
    return settings.run_dir / "mongo.backend"


def running_backend(settings: Settings) -> str:
    """The running FerretDB's backend (sqlite for one started before the PostgreSQL backend existed)."""
    try:
        text = backend_file(settings).read_text()
    except OSError:
        return "sqlite"
    return "".join(ch for ch in text if ch.islower()) or "sqlite"


def _log(settings: Settings) -> Path:
    return settings.log_dir / "mongo.log"


def _launch(settings: Settings) -> int:
    binary = settings.ferretdb_bin
    if not binary.is_file():
        raise StackError(f"FerretDB is not built ({binary}): run scripts/stack.sh install")
    if settings.mongo_backend == "postgresql":
        pg = f"postgres://{PG_ROLE}@{settings.host}:{settings.port('postgres')}/{PG_DATABASE}"
        backend = ["--handler=postgresql", f"--postgresql-url={pg}"]
    else:
        sqlite_dir = settings.data_dir / "ferretdb"
        sqlite_dir.mkdir(parents=True, exist_ok=True)
        backend = ["--handler=sqlite", f"--sqlite-url=file:{sqlite_dir}/"]
    state = settings.data_dir / "ferretdb-state"
    state.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary),
        *backend,
        f"--listen-addr={settings.host}:{settings.port('mongo')}",
        f"--state-dir={state}",
        "--telemetry=disable",
        "--debug-addr=-",
        "--log-level=info",
        "--log-format=text",
    ]
    pid = spawn(argv, _log(settings))
    backend_file(settings).write_text(settings.mongo_backend + "\n")
    return pid


FERRETDB = ServerKind(
    name="mongo",
    comm="ferretdb",
    grace_s=20,
    launch=_launch,
    ready=lambda settings, port: mongo_ready(settings.host, port),
    log_file=_log,
)
