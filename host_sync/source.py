"""Reading changed rows from the host's PostgreSQL, and the sync's checkpoint in MongoDB."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from host_sync.mapping import HostMapping
from mesh.storage.mongo import Database, unavailable_as_store_error, utcnow

log = logging.getLogger("assist.host_sync")

Position = tuple[datetime, str]
BEGINNING: Position = (datetime(1970, 1, 1, tzinfo=UTC), "")


class HostUnavailable(Exception):
    """The host database cannot be reached or refused the query; the worker retries later."""


class HostSource:
    """One connection to the host database, reopened after a failure; reads in autocommit (each page is
    its own statement, so no long transaction holds back the host's vacuum)."""

    def __init__(self, dsn: str, mapping: HostMapping, *, connect_timeout_s: int = 5) -> None:
        self._dsn = dsn
        self._mapping = mapping
        self._timeout = connect_timeout_s
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None

    async def fetch(self, after: Position, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows changed after `after`, in (updated_at, id) order."""
        params = {"after_updated_at": after[0], "after_id": after[1], "limit": limit}
        try:
            conn = await self._connection()
            async with conn.cursor() as cur:
                await cur.execute(self._mapping.query.encode(), params)
                return await cur.fetchall()
        except psycopg.Error as exc:
            await self.close()
            raise HostUnavailable(f"{type(exc).__name__}: {str(exc).strip()[:300]}") from exc

    async def _connection(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, row_factory=dict_row, connect_timeout=self._timeout
            )
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


class Checkpoint:
    """The newest position the sync has applied, per source, in `sync_checkpoints` (microseconds kept:
    BSON dates hold milliseconds, so the time is stored as an integer)."""

    def __init__(self, db: Database, source: str) -> None:
        self._checkpoints = db.sync_checkpoints
        self._source = source

    @unavailable_as_store_error
    async def load(self) -> Position:
        doc = await self._checkpoints.find_one({"_id": self._source})
        if doc is None:
            return BEGINNING
        micros = int(doc["after_updated_at_us"])
        when = datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
        return when, str(doc["after_id"])

    @unavailable_as_store_error
    async def save(self, position: Position) -> None:
        when, task_id = position
        micros = int(when.timestamp()) * 1_000_000 + when.microsecond
        await self._checkpoints.update_one(
            {"_id": self._source},
            {"$set": {"after_updated_at_us": micros, "after_id": task_id, "saved_at": utcnow()}},
            upsert=True,
        )
