"""The sync loop: backfill, then changes by watermark, re-reading a lag window so late commits are not lost.

The watermark is the newest (updated_at, id) applied. A transaction on the host may commit *after* rows
with a newer updated_at were read (its updated_at was taken when it ran, not when it committed); reading
strictly after the watermark would skip it forever. So every sweep starts `lag_window_s` before the
watermark and reads forward in bounded pages to the end: a late commit is found as long as it commits
within the window. Rows read again are recognised by (task id, rank) — in memory for the window, in
MongoDB after a restart — and change nothing. The first sweep from an empty checkpoint is the backfill.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge, Histogram

from host_sync.apply import ChangeApplier
from host_sync.mapping import BadRow, HostMapping, TaskChange
from host_sync.source import Checkpoint, HostSource, HostUnavailable, Position
from mesh.storage.mongo import Database, StoreUnavailable
from mesh.worker import doubled, wait_or_stop

log = logging.getLogger("assist.host_sync")

CHANGES = Counter(
    "assist_host_sync_rows_total",
    "Host rows read by the task sync, by outcome (applied, unchanged: already applied, bad: skipped).",
    ["outcome"],
)
LAG = Gauge(
    "assist_host_sync_lag_seconds",
    "Age of the oldest change applied in the last sweep (host updated_at to applied); 0 when idle.",
)
DELAY = Histogram(
    "assist_host_sync_apply_delay_seconds",
    "Per change: from the host's updated_at to the assistant having it.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
WATERMARK = Gauge("assist_host_sync_watermark_timestamp_seconds", "updated_at of the newest change applied.")


@dataclass
class SweepResult:
    """What one sweep did."""

    read: int = 0
    applied: int = 0
    unchanged: int = 0
    bad: int = 0
    pages: int = 0
    lag_s: float = 0.0
    bad_rows: list[str] = field(default_factory=list)


class HostSync:
    """Keeps the assistant's tasks in step with the host's, one sweep at a time."""

    def __init__(
        self,
        db: Database,
        source: HostSource,
        mapping: HostMapping,
        applier: ChangeApplier,
        *,
        batch_size: int = 500,
        lag_window_s: float = 30.0,
        poll_s: float = 0.5,
        idle_max_s: float = 2.0,
        backoff_cap_s: float = 10.0,
        parallel: int = 16,
    ) -> None:
        self._parallel = asyncio.Semaphore(parallel)
        self._source = source
        self._mapping = mapping
        self._applier = applier
        self._checkpoint = Checkpoint(db, mapping.source)
        self._batch = batch_size
        self._window = timedelta(seconds=lag_window_s)
        self._poll_s = poll_s
        self._idle_max_s = max(poll_s, idle_max_s)
        self._backoff_cap_s = backoff_cap_s
        # (task id, rank) of changes read within the window, so re-reads cost no MongoDB round trip.
        self._seen: dict[tuple[str, int], datetime] = {}
        self._reported: dict[Position, str] = {}

    async def sweep(self, stop: asyncio.Event | None = None) -> SweepResult:
        """Read from the watermark minus the window to the end, applying each new change, page by page.

        The checkpoint is saved after every page, once the page's changes are stored: a crash re-reads at
        most the window plus one page, and re-reading is harmless.
        """
        result = SweepResult()
        watermark = await self._checkpoint.load()
        start = (watermark[0] - self._window, "")
        self._forget_before(start[0])
        position, newest = start, watermark
        while True:
            rows = await self._source.fetch(position, self._batch)
            result.pages += 1
            result.read += len(rows)
            changes: dict[str, list[TaskChange]] = {}
            for row in rows:
                position, change = self._read(row, position, result)
                if change is not None:
                    changes.setdefault(change.task.task_id, []).append(change)
                newest = max(newest, position)
            # Tasks in parallel (bounded), the changes of one task in order.
            await asyncio.gather(*(self._apply_in_order(group, result) for group in changes.values()))
            if newest > watermark:
                await self._checkpoint.save(newest)
                watermark = newest
                WATERMARK.set(newest[0].timestamp())
            if len(rows) < self._batch or (stop is not None and stop.is_set()):
                break
        LAG.set(result.lag_s)
        return result

    def _read(
        self, row: dict[str, object], position: Position, result: SweepResult
    ) -> tuple[Position, TaskChange | None]:
        """The row's position and its change; None for a bad row (reported once) or one already applied."""
        try:
            position = self._mapping.position(row)
            change = self._mapping.to_change(row)
        except BadRow as exc:
            if position not in self._reported:  # once per row version, not once per sweep
                self._reported[position] = str(exc)
                where = f"task {position[1]!r} updated {position[0].isoformat()}"
                log.warning("host row skipped: %s: %s", where, exc)
                result.bad_rows.append(f"{where}: {exc}")
                result.bad += 1
                CHANGES.labels("bad").inc()
            return position, None
        if (change.task.task_id, change.rank) in self._seen:
            result.unchanged += 1
            return position, None
        return position, change

    async def _apply_in_order(self, changes: list[TaskChange], result: SweepResult) -> None:
        for change in changes:
            async with self._parallel:
                applied = await self._applier.apply(change)
            if applied.done:
                self._seen[(change.task.task_id, change.rank)] = change.updated_at
            if applied.written:
                delay = max(0.0, (datetime.now(UTC) - change.updated_at).total_seconds())
                DELAY.observe(delay)
                result.lag_s = max(result.lag_s, delay)
                result.applied += 1
                CHANGES.labels("applied").inc()
            else:
                result.unchanged += 1
                CHANGES.labels("unchanged").inc()

    def _forget_before(self, when: datetime) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v >= when}
        self._reported = {k: v for k, v in self._reported.items() if k[0] >= when}

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Sweep until `stop`; a host or MongoDB outage is logged once per streak and retried with backoff."""
        failures = 0
        quiet = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = await self.sweep(stop)
            except (HostUnavailable, StoreUnavailable) as exc:
                failures += 1
                if failures == 1:
                    log.warning("task sync paused: %s", exc)
                await wait_or_stop(stop, doubled(0.5, failures, self._backoff_cap_s))
                continue
            if failures:
                log.info("task sync resumed after %d failed sweeps", failures)
                failures = 0
            quiet = 0 if result.applied or result.bad else quiet + 1
            if result.applied or result.bad:
                log.info(
                    "task sync: %d applied, %d bad, %d unchanged in %.2f s (lag %.2f s)",
                    result.applied,
                    result.bad,
                    result.unchanged,
                    time.monotonic() - started,
                    result.lag_s,
                )
            await wait_or_stop(stop, self.pause_after(quiet))

    def pause_after(self, quiet_sweeps: int) -> float:
        """The wait before the next sweep: `poll_s` after a sweep that applied something, then doubling per
        quiet sweep up to `idle_max_s`. Each sweep is queries on the host's PostgreSQL and on MongoDB; a quiet
        host is swept every 2 s instead of twice a second (issue 8: an idle stack under 2% of a core), and
        the first change after a quiet spell waits at most that long."""
        return doubled(self._poll_s, quiet_sweeps, self._idle_max_s)
