"""Each run of a turn keeps its events in a Redis stream, so a client cut off mid-answer can resume.

Why Redis and not the coordinator's memory: the edge balances over several coordinator replicas, so the
request that resumes a turn may land on a replica that is not running it. Every replica can read the stream
(XRANGE for what is already there, XREAD BLOCK to follow the rest live). The stream is a cache, never the
record: it expires `ttl_s` after its last event and holds at most `max_len` of them. When Redis is down, or
the events are gone, the caller falls back to the turn's stored answer (mesh/storage/turns.py).

An event's id is `<user_message_id>:<run>:<seq>`: `run` is the turn's attempt (a turn taken over after its
runner died is run again, with other text, so its events must not continue the first run's) or `s` for the
replay of a stored answer; `seq` counts the run's events from 1. The stream's own entry ids are `0-<seq>`,
so "everything after event k" is XREAD from `0-k`.

A run writes its events behind the stream it sends (`RunEvents`): the client never waits for Redis, and
events that come close together (the acceptance and the intent, the last text and `done`) go in one round
trip. A resume that arrives in that short gap finds the stream a few milliseconds behind and follows it live
(or, when nothing is written yet, falls back to the stored answer), as it does when Redis blinks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assist.v1 import coordinator_pb2
from redis.asyncio import Redis

from mesh.storage.redis_store import RedisGuard

STORED_RUN = "s"
_EVENT_ID = re.compile(r"^([0-9a-f]{32}):(s|[0-9]{1,4}):([0-9]{1,6})$")
# The longest id a client may send back (a user message id is 32 hex digits).
MAX_EVENT_ID_CHARS = 48


@dataclass(frozen=True)
class EventId:
    """A parsed event id: which message, which run of its turn, which event of the run."""

    user_message_id: str
    run: str
    seq: int

    def __str__(self) -> str:
        return f"{self.user_message_id}:{self.run}:{self.seq}"


def parse_event_id(value: str) -> EventId | None:
    """The id's parts, or None when it is not shaped like an event id."""
    match = _EVENT_ID.match(value)
    if match is None:
        return None
    return EventId(match[1], match[2], int(match[3]))


def _decoded(entry: Any) -> tuple[int, coordinator_pb2.ConverseResponse]:
    """A stream entry (`(b"0-<seq>", {b"e": event})`, untyped in redis-py) as (seq, event)."""
    entry_id, fields = entry
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[1]), coordinator_pb2.ConverseResponse.FromString(fields[b"e"])


def is_last_event(event: coordinator_pb2.ConverseResponse) -> bool:
    """`done` and `error` end a turn's stream."""
    return event.WhichOneof("event") in ("done", "error")


class TurnEventLog:
    """Append a run's events; read those after an event, waiting for new ones when asked."""

    def __init__(
        self,
        redis: Redis | None,
        *,
        ttl_s: int = 900,
        max_len: int = 4096,
        pause_after_failure_s: float = 1.0,
        linger_s: float = 0.02,
    ) -> None:
        self._redis = redis
        # How long a run's writer waits for more events before a round trip (not after the last event).
        self._linger_s = linger_s
        # Writers' tasks, referenced until they end (the event loop keeps only weak references).
        self._writing: set[asyncio.Task[None]] = set()
        self._ttl_s = ttl_s
        self._max_len = max_len
        self._guard = RedisGuard("turn-events", pause_after_failure_s=pause_after_failure_s)

    @staticmethod
    def key(turn_id: str, run: int) -> str:
        return f"assist:turn-events:{turn_id}:{run}"

    async def append(self, turn_id: str, run: int, seq: int, event: coordinator_pb2.ConverseResponse) -> bool:
        """Keep the event; False when it could not be kept (no Redis, or Redis down: the turn goes on)."""
        return await self.append_many(turn_id, run, [(seq, event)])

    async def append_many(
        self, turn_id: str, run: int, events: Sequence[tuple[int, coordinator_pb2.ConverseResponse]]
    ) -> bool:
        """Keep events (seq, event), in order, in one round trip; False when they could not be kept."""
        redis = self._redis
        if redis is None or not events:
            return False
        key = self.key(turn_id, run)

        async def write() -> bool:
            async with redis.pipeline(transaction=True) as pipe:
                for seq, event in events:
                    pipe.xadd(key, {"e": event.SerializeToString()}, id=f"0-{seq}", maxlen=self._max_len)
                pipe.expire(key, self._ttl_s)
                await pipe.execute()
            return True

        return await self._guard.run(write, False)

    def run_writer(self, turn_id: str, run: int) -> RunEvents:
        """A writer for one run's events that never makes the turn wait (see `RunEvents`)."""
        return RunEvents(self, turn_id, run, self._linger_s, self._writing)

    async def read_after(
        self, turn_id: str, run: int, after_seq: int, *, block_ms: int = 0
    ) -> list[tuple[int, coordinator_pb2.ConverseResponse]] | None:
        """The kept events after `after_seq`, oldest first, waiting up to `block_ms` for one when there is
        none yet (0: do not wait). None when Redis is down or not configured: the caller cannot know."""
        redis = self._redis
        if redis is None:
            return None
        key = self.key(turn_id, run)

        async def read() -> list[tuple[int, coordinator_pb2.ConverseResponse]]:
            entries: Any
            if block_ms > 0:
                answer: Any = await redis.xread({key: f"0-{after_seq}"}, block=block_ms, count=256)
                entries = answer[0][1] if answer else []
            else:
                entries = await redis.xrange(key, min=f"(0-{after_seq}", count=4096)
            return [_decoded(entry) for entry in entries]

        return await self._guard.run(read, None)

    async def first_kept(self, turn_id: str, run: int) -> int | None:
        """The seq of the oldest event still kept (the length cap trims from the front); None when the
        stream is gone (expired, never written) or Redis is down."""
        redis = self._redis
        if redis is None:
            return None
        key = self.key(turn_id, run)

        async def first() -> int | None:
            entries: Any = await redis.xrange(key, count=1)
            return _decoded(entries[0])[0] if entries else None

        return await self._guard.run(first, None)


class RunEvents:
    """Writes one run's events behind the turn: `put` never waits; one task writes what is pending.

    The task lingers `linger_s` for more events before each round trip, unless the run's last event is
    already pending, so a turn costs two or three round trips instead of one per event. Events are written
    in the order put; a failed write leaves a gap the resumer detects (coordinator/resume.py).
    """

    def __init__(
        self, log: TurnEventLog, turn_id: str, run: int, linger_s: float, tasks: set[asyncio.Task[None]]
    ) -> None:
        self._log = log
        self._turn_id = turn_id
        self._run = run
        self._linger_s = linger_s
        self._tasks = tasks
        self._pending: list[tuple[int, coordinator_pb2.ConverseResponse]] = []
        self._last_put = False
        self._task: asyncio.Task[None] | None = None

    def put(self, seq: int, event: coordinator_pb2.ConverseResponse) -> None:
        self._pending.append((seq, event))
        self._last_put = self._last_put or is_last_event(event)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_pending())
            self._tasks.add(self._task)
            self._task.add_done_callback(self._tasks.discard)

    async def flushed(self) -> None:
        """Wait until every event put so far is written (or failed to be)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _write_pending(self) -> None:
        # No await between the loop's test and the task's end: a `put` cannot slip in unseen.
        while self._pending:
            if not self._last_put and self._linger_s > 0:
                await asyncio.sleep(self._linger_s)
            batch, self._pending = self._pending, []
            await self._log.append_many(self._turn_id, self._run, batch)
