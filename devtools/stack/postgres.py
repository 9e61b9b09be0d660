"""FerretDB's PostgreSQL: a private cluster (Debian's binaries), loopback only, run as the postgres user by root.

initdb, postgres and pg_ctl refuse to run as root, so root runs them with `runuser` as Debian's `postgres`
user, in a directory outside the clone (STACK_PG_HOME), which a 0700 home or CI's folder would close to it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from devtools.probes import postgres_ready
from devtools.stack.kinds import ServerKind
from devtools.stack.processes import pid_alive, say
from devtools.stack.settings import Settings, StackError

PG_ROLE = "postgres"
PG_DATABASE = "ferretdb"
# The host site's task database (what the sync worker reads and the demo site writes): its own role and
# database in the same cluster, as a host's database would be apart from the assistant's.
HOST_ROLE = "hostsite"
HOST_DATABASE = "hostsite"
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name))


def bin_dir(settings: Settings, root: Path = DEBIAN_PG_ROOT) -> Path | None:
    """bin/ of the PostgreSQL to use: the cluster's own major version, else the newest installed."""
    version_file = settings.pg_data / "PG_VERSION"
    if version_file.is_file() and version_file.stat().st_size:
        version = "".join(ch for ch in version_file.read_text() if ch.isdigit() or ch == ".")
        candidate = root / version / "bin"
        return candidate if (candidate / "postgres").is_file() else None
    installed = [d for d in root.glob("*") if (d / "bin" / "initdb").is_file()]
    return max(installed, key=_version_key) / "bin" if installed else None


def require_bin_dir(settings: Settings) -> Path:
    found = bin_dir(settings)
    if found is not None:
        return found
    version_file = settings.pg_data / "PG_VERSION"
    if version_file.is_file():
        version = version_file.read_text().strip()
        raise StackError(
            f"{settings.pg_data} was created by PostgreSQL {version}, which is not installed "
            f"({DEBIAN_PG_ROOT / version / 'bin'}): install postgresql-{version} or delete {settings.pg_data}"
        )
    raise StackError("PostgreSQL is not installed: run scripts/stack.sh install")


def _log(settings: Settings) -> Path:
    return settings.pg_home / "postgres.log"


def _stdout(settings: Settings) -> Path:
    return settings.log_dir / "postgres.stdout.log"


def run_as_pg(settings: Settings, argv: Sequence[str]) -> int:
    """Runs a PostgreSQL program as the cluster's OS user; output appended to postgres.stdout.log."""
    command = list(argv)
    cwd = None
    if settings.run_as_root:
        command = ["runuser", "-u", settings.pg_os_user, "--", *command]
        cwd = "/"
    with _stdout(settings).open("ab") as out:
        return subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd
        ).returncode


def _chown(settings: Settings, *paths: Path) -> None:
    if settings.run_as_root:
        for path in paths:
            shutil.chown(path, settings.pg_os_user, settings.pg_os_user)


def _prepare_dirs(settings: Settings) -> None:
    """Directories the cluster's OS user writes to: owned by it, and reachable by it."""
    if settings.run_as_root:
        if shutil.which("runuser") is None:
            raise StackError(
                "'runuser' is required but not installed (util-linux's runuser runs PostgreSQL as the postgres user)"
            )
        try:
            pwd.getpwnam(settings.pg_os_user)
        except KeyError:
            raise StackError(
                f"no '{settings.pg_os_user}' system user (Debian's postgresql package creates it): PostgreSQL refuses to run as root"
            ) from None
    home, log = settings.pg_home, _log(settings)
    for d in (home, settings.log_dir, settings.data_dir):
        d.mkdir(parents=True, exist_ok=True)
    log.touch()
    if settings.run_as_root:
        with contextlib.suppress(OSError):
            home.parent.chmod(0o755)
        _chown(settings, home, log)
        home.chmod(0o700)
        if settings.pg_data.is_dir():
            subprocess.run(["chown", "-R", f"{settings.pg_os_user}:", str(settings.pg_data)], check=True)
        reachable = ["test", "-x", str(home), "-a", "-w", str(home), "-a", "-w", str(log)]
        if run_as_pg(settings, reachable) != 0:
            raise StackError(
                f"the '{settings.pg_os_user}' user cannot reach {home} (a parent directory is closed to other users): "
                "set STACK_PG_HOME to a directory it can reach"
            )
    link = settings.data_dir / "postgres-home"
    if home != link and not link.exists() and not link.is_symlink():
        link.symlink_to(home)


def _init_cluster(settings: Settings, bins: Path) -> None:
    """initdb on the first start, into a temporary directory renamed when complete."""
    if (settings.pg_data / "PG_VERSION").is_file():
        return
    tmp = settings.pg_home / "data.initdb"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tmp.chmod(0o700)
    _chown(settings, tmp)
    version = subprocess.run(
        [str(bins / "postgres"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    say(f"creating the PostgreSQL cluster in {settings.pg_data} ({version})")
    argv = [str(bins / "initdb"), "-D", str(tmp), "-U", PG_ROLE, "--auth-local=trust", "--auth-host=trust"]
    if run_as_pg(settings, [*argv, "-E", "UTF8", "--locale=C", "--no-sync"]) != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StackError(f"postgres: initdb failed (log: {_stdout(settings)})")
    with (tmp / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n# Settings of scripts/stack.sh (rewritten on every start)\ninclude_if_exists = 'stack.conf'\n"
        )
    tmp.rename(settings.pg_data)


def server_config(settings: Settings) -> str:
    """stack.conf: TCP on loopback only (no unix socket), durability traded for speed (a dev/test stack)."""
    return (
        f"listen_addresses = '{settings.host}'\n"
        f"port = {settings.port('postgres')}\n"
        "unix_socket_directories = ''\n"
        "max_connections = 100\n"
        "shared_buffers = 64MB\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
        "jit = off\n"
        # The autovacuum launcher starts a worker for each database every naptime (1 min by default: with
        # four databases a fork every 15 s while idle, issue 8). Test and dev databases churn little.
        "autovacuum_naptime = 5min\n"
        "huge_pages = off\n"
        "logging_collector = off\n"
        "log_min_messages = warning\n"
        "log_line_prefix = '%m [%p] '\n"
    )


def _postmaster_pid(settings: Settings) -> int | None:
    try:
        first = (settings.pg_data / "postmaster.pid").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(first) if first.strip().isdigit() else None


def _launch(settings: Settings) -> int:
    """pg_ctl start -w: it detaches the postmaster and waits until it accepts connections."""
    bins = require_bin_dir(settings)
    _prepare_dirs(settings)
    _init_cluster(settings, bins)
    conf = settings.pg_data / "stack.conf"
    tmp = conf.with_suffix(".conf.tmp")
    tmp.write_text(server_config(settings))
    _chown(settings, tmp)
    tmp.replace(conf)
    # A postmaster killed with SIGKILL stays a zombie until reaped, and its postmaster.pid blocks a new one.
    old = _postmaster_pid(settings)
    if old is not None and _exists(old) and not pid_alive(old):
        say(f"postgres: waiting for the previous postmaster (pid {old}, exited) to be reaped")
        for _ in range(50):
            if not _exists(old):
                break
            time.sleep(0.2)
    limit = settings.timeouts["postgres"]
    argv = [str(bins / "pg_ctl"), "start", "-D", str(settings.pg_data), "-l", str(_log(settings))]
    rc = run_as_pg(settings, [*argv, "-w", "-t", str(limit), "-s"])
    pid = _postmaster_pid(settings)
    if rc != 0:
        if pid is not None and pid_alive(pid):
            _request_stop(settings, pid)
        raise StackError(f"postgres: pg_ctl start failed, or the server was not ready within {limit}s")
    if pid is None or not pid_alive(pid):
        raise StackError(
            f"postgres: pg_ctl reported a start but {settings.pg_data}/postmaster.pid names no live process"
        )
    return pid


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _request_stop(settings: Settings, pid: int) -> None:
    """Fast shutdown: disconnect clients, checkpoint, exit (pg_ctl sends SIGINT and waits)."""
    bins = bin_dir(settings)
    argv = [
        str(bins / "pg_ctl") if bins else "pg_ctl",
        "stop",
        "-D",
        str(settings.pg_data),
        "-m",
        "fast",
        "-w",
    ]
    try:
        rc = run_as_pg(settings, [*argv, "-t", str(POSTGRES.grace_s), "-s"])
    except OSError:
        rc = 1
    if rc != 0:
        with contextlib.suppress(OSError):
            os.kill(pid, 2)


def _psql(settings: Settings, bins: Path, database: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(bins / "psql"), "-h", settings.host, "-p", str(settings.port("postgres")), "-U", PG_ROLE]
    return subprocess.run(
        [*argv, "-d", database, "-X", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def ensure_database(settings: Settings) -> None:
    """The database FerretDB uses (created once), with GIN partners for its indexes (ferretdb_gin.sql)."""
    bins = require_bin_dir(settings)
    where = f"{settings.host}:{settings.port('postgres')}"
    query = f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"
    done = _psql(settings, bins, "postgres", "-tA", "-v", "ON_ERROR_STOP=1", "-c", query)
    if done.returncode != 0:
        raise StackError(f"postgres: cannot query {where}: {done.stdout}{done.stderr}")
    if done.stdout.strip() != "1":
        say(f"creating PostgreSQL database {PG_DATABASE}")
        argv = [
            str(bins / "createdb"),
            "-h",
            settings.host,
            "-p",
            str(settings.port("postgres")),
            "-U",
            PG_ROLE,
        ]
        made = subprocess.run(
            [*argv, "-O", PG_ROLE, "-E", "UTF8", PG_DATABASE], capture_output=True, text=True
        )
        if made.returncode != 0:
            raise StackError(f"postgres: createdb {PG_DATABASE} failed: {made.stdout}{made.stderr}")
    sql = settings.stack_dir / "postgres" / "ferretdb_gin.sql"
    applied = _psql(settings, bins, PG_DATABASE, "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-f", str(sql))
    if applied.returncode != 0:
        raise StackError(
            f"postgres: applying stack/postgres/ferretdb_gin.sql failed: {applied.stdout}{applied.stderr}"
        )


def host_db_dsn(settings: Settings) -> str:
    """HOST_DB_DSN for the local host task database (trust auth on loopback: no password locally)."""
    return f"postgresql://{HOST_ROLE}@{settings.host}:{settings.port('postgres')}/{HOST_DATABASE}"


def ensure_host_database(settings: Settings) -> None:
    """The host site's role and database (created once); its schema belongs to the host (`demo.seed`)."""
    bins = require_bin_dir(settings)
    role = (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HOST_ROLE}') "
        f"THEN CREATE ROLE {HOST_ROLE} LOGIN; END IF; END $$"
    )
    done = _psql(settings, bins, "postgres", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", role)
    if done.returncode != 0:
        raise StackError(f"postgres: creating role {HOST_ROLE} failed: {done.stdout}{done.stderr}")
    query = f"SELECT 1 FROM pg_database WHERE datname = '{HOST_DATABASE}'"
    found = _psql(settings, bins, "postgres", "-tA", "-v", "ON_ERROR_STOP=1", "-c", query)
    if found.returncode != 0:
        raise StackError(f"postgres: cannot query the databases: {found.stdout}{found.stderr}")
    if found.stdout.strip() != "1":
        say(f"creating PostgreSQL database {HOST_DATABASE} (the host site's tasks)")
        create = f"CREATE DATABASE {HOST_DATABASE} OWNER {HOST_ROLE} ENCODING 'UTF8'"
        made = _psql(settings, bins, "postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c", create)
        if made.returncode != 0:
            raise StackError(f"postgres: creating {HOST_DATABASE} failed: {made.stdout}{made.stderr}")


def _ready(settings: Settings, port: int) -> bool:
    bins = bin_dir(settings)
    return bins is not None and postgres_ready(bins, settings.host, port, PG_ROLE)


POSTGRES = ServerKind(
    name="postgres",
    comm="postgres",
    grace_s=20,
    launch=_launch,
    ready=_ready,
    log_file=_log,
    request_stop=_request_stop,
)
