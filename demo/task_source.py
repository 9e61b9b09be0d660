"""Where the demo site's users and tasks come from: the host's PostgreSQL, or `data.json` without one.

A real host site reads and writes its own database; the demo does the same when HOST_DB_DSN is set (the
local stack and every end-to-end test set it), so a person's edit on a task page travels to the assistant
the way it would at a real host: PostgreSQL, then the sync worker. Without a database (a unit test of the
pages, a laptop without the stack) the site shows `data.json` read-only, and offers no edit form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import psycopg
from starlette.concurrency import run_in_threadpool

from demo import hostdb
from demo.data import DemoData, load_demo_data


class TaskSource(Protocol):
    """What the pages need: everything to show, and one edit."""

    @property
    def editable(self) -> bool:
        """Whether `update_task` can write (the pages show the edit form only then)."""
        ...

    async def load(self) -> DemoData: ...

    async def update_task(self, task_id: str, user_id: str, *, status: str, due_date: str) -> bool:
        """Set status and due date of the user's task; False when it is not theirs. ValueError on bad input."""
        ...


class JsonTaskSource:
    """`data.json`, read once; read-only."""

    editable = False

    def __init__(self, path: Path | None = None) -> None:
        self._data = load_demo_data(path)

    async def load(self) -> DemoData:
        return self._data

    async def update_task(self, task_id: str, user_id: str, *, status: str, due_date: str) -> bool:
        raise PermissionError("the demo site has no task database to write to (HOST_DB_DSN is not set)")


class HostDbTaskSource:
    """The host's PostgreSQL, read on every page so an edit made anywhere (the site, psql, a test) shows.

    Each call opens a short connection in a worker thread: the demo serves a handful of people, and psycopg's
    blocking calls must stay off the event loop that also carries the edge's streams.
    """

    editable = True

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    def _load(self) -> DemoData:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            return hostdb.load_site_data(conn)

    def _update(self, task_id: str, user_id: str, status: str, due_date: str) -> bool:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            return hostdb.update_task(conn, task_id, user_id, status=status, due_date=due_date)

    async def load(self) -> DemoData:
        return await run_in_threadpool(self._load)

    async def update_task(self, task_id: str, user_id: str, *, status: str, due_date: str) -> bool:
        return await run_in_threadpool(self._update, task_id, user_id, status, due_date)


def task_source_for(host_db_dsn: str | None, data_path: Path | None = None) -> TaskSource:
    """The host database when a DSN is given, else the read-only JSON file."""
    return HostDbTaskSource(host_db_dsn) if host_db_dsn else JsonTaskSource(data_path)
