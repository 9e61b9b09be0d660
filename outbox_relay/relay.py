"""The outbox relay: publishes the events stored inside turn, feedback, satisfaction and task change documents.

Writers never talk to Kafka: they store an event in the outbox of the document whose change it announces, in
the same single-document write (so no event is lost or invented when a process dies mid-way), and set
`outbox_pending`. This relay finds such documents, claims one at a time, publishes its pending entries,
and marks them sent. Delivery is at least once: a relay that dies between publishing and marking re-sends
after its claim expires, and consumers de-duplicate by event id. Kafka being down only delays events: the
relay backs off (exponential, with jitter, capped) and retries the same entries, never dropping one.

Claims are inserts into the `claims` collection (see mesh.storage.mongo.try_claim), not a
find_one_and_update on the document: FerretDB does not make the latter atomic, and two relays would then
both publish the same document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo import ASCENDING

from mesh.event_metrics import record_relay_lag, set_outbox_backlog
from mesh.storage.mongo import (
    Database,
    Document,
    StoreUnavailable,
    as_utc,
    latest_claim,
    release_claim,
    try_claim,
    unavailable_as_store_error,
    utcnow,
)

log = logging.getLogger("assist.events.outbox")

ProducerFactory = Callable[[], AIOKafkaProducer]
OUTBOX_COLLECTIONS = ("turns", "feedback", "satisfaction", "task_changes", "study")


class PublishError(Exception):
    """Kafka did not confirm the records in time; they stay pending and are sent again later."""


class OutboxRelay:
    """Moves pending outbox entries to Kafka; several relays may run at once (each document has one owner)."""

    def __init__(
        self,
        db: Database,
        producer_factory: ProducerFactory,
        relay_id: str,
        collections: Sequence[str] = OUTBOX_COLLECTIONS,
        *,
        batch_size: int = 100,
        concurrency: int = 4,
        claim_s: float = 30.0,
        send_timeout_s: float = 10.0,
        idle_s: float = 0.2,
        idle_max_s: float = 2.0,
        backoff_base_s: float = 0.1,
        backoff_cap_s: float = 5.0,
    ) -> None:
        self._db = db
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self.relay_id = relay_id
        self._collections = tuple(collections)
        self._batch_size = batch_size
        self._concurrency = asyncio.Semaphore(concurrency)
        self._producer_lock = asyncio.Lock()
        self._pass_failed = False
        self._claim = timedelta(seconds=claim_s)
        self._send_timeout_s = send_timeout_s
        self._idle_s = idle_s
        self._idle_max_s = idle_max_s
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s

    async def run_once(self) -> int:
        """One pass over every collection; returns how many entries were published.

        Raises PublishError when Kafka fails (the entries stay pending) and StoreUnavailable when MongoDB does.
        """
        published = 0
        self._pass_failed = False
        for collection in self._collections:
            ids = await self._pending_ids(collection)
            set_outbox_backlog(collection, len(ids))
            if ids:
                await self._started_producer()  # fail the whole pass at once when Kafka is down
            # Documents are relayed concurrently (bounded), so Kafka round trips overlap and batch.
            results = await asyncio.gather(
                *(self._relay_bounded(collection, i) for i in ids), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                published += result
        return published

    async def _relay_bounded(self, collection: str, doc_id: str) -> int:
        async with self._concurrency:
            if self._pass_failed:  # Kafka or MongoDB failed for a sibling: leave the rest for the next pass
                return 0
            try:
                return await self._relay_document(collection, doc_id)
            except (PublishError, StoreUnavailable):
                self._pass_failed = True
                raise

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set, backing off while Kafka or MongoDB is down; closes the producer at the end."""
        failures = 0
        idle_passes = 0
        try:
            while not stop.is_set():
                try:
                    published = await self.run_once()
                except (PublishError, StoreUnavailable) as exc:
                    failures += 1
                    delay = self.backoff_delay(failures)
                    log.warning("relay %s: %s; retrying in %.2f s", self.relay_id, exc, delay)
                    await _wait(stop, delay)
                    continue
                except Exception:  # a bug must not stop event delivery for good; it is logged loudly
                    failures += 1
                    log.exception("relay %s: unexpected error", self.relay_id)
                    await _wait(stop, self.backoff_delay(failures))
                    continue
                if failures:
                    log.info("relay %s: delivering again after %d failed attempts", self.relay_id, failures)
                failures = 0
                if published:
                    idle_passes = 0
                else:
                    # A quiet outbox is polled less and less often (each pass is a query), up to idle_max_s.
                    idle_passes += 1
                    await _wait(stop, min(self._idle_max_s, self._idle_s * 2 ** min(idle_passes - 1, 8)))
        finally:
            await self.close()

    def backoff_delay(self, failures: int) -> float:
        """Exponential in the number of consecutive failures, capped, with jitter so relays do not sync up."""
        ceiling = min(self._backoff_cap_s, self._backoff_base_s * float(2 ** min(failures - 1, 30)))
        return ceiling * random.uniform(0.5, 1.0)

    async def close(self) -> None:
        """Stop the producer (bounded: a producer of a dead broker must not hang shutdown)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=self._send_timeout_s)

    @unavailable_as_store_error
    async def _pending_ids(self, collection: str) -> list[str]:
        cursor = self._db[collection].find(
            {"outbox_pending": True},
            projection={"_id": 1},
            sort=[("outbox_since", ASCENDING)],
            limit=self._batch_size,
        )
        ids = [doc["_id"] async for doc in cursor]
        random.shuffle(ids)  # relays running together start on different documents instead of colliding
        return ids

    @unavailable_as_store_error
    async def _take_claim(self, resource: str) -> int | None:
        """Claim `resource` for this relay; the epoch claimed, or None when another relay holds it.

        Claims are deleted when their work is done, so the usual case is "nobody ever claimed it": epoch 1 is
        tried first, which spares the query for the latest claim. Only when epoch 1 is taken is the latest
        claim read: still held by its relay (leave it), or expired because that relay died (take the next).
        """
        now = utcnow()
        if await try_claim(self._db, resource, 1, self.relay_id, now + self._claim):
            return 1
        latest = await latest_claim(self._db, resource)
        if latest is not None and as_utc(latest["until"]) > now:
            return None  # another relay is on it
        epoch = latest["epoch"] + 1 if latest is not None else 1
        if not await try_claim(self._db, resource, epoch, self.relay_id, now + self._claim):
            return None
        return epoch

    async def _relay_document(self, collection: str, doc_id: str) -> int:
        resource = f"outbox:{collection}:{doc_id}"
        epoch = await self._take_claim(resource)
        if epoch is None:
            return 0
        try:
            # Read after claiming: what was pending when the candidates were listed may be sent by now.
            doc = await self._db[collection].find_one(
                {"_id": doc_id}, projection={"outbox": 1, "outbox_pending": 1, "outbox_since": 1}
            )
            if doc is None or not doc.get("outbox_pending"):
                return 0
            outbox: list[Document] = doc.get("outbox") or []
            pending = [(i, e) for i, e in enumerate(outbox) if e.get("state") == "pending"]
            await self._publish([entry for _, entry in pending])
            since = doc.get("outbox_since")
            if pending and since is not None:
                record_relay_lag(collection, (utcnow() - as_utc(since)).total_seconds())
            await self._mark_sent(collection, doc_id, len(outbox), pending)
            return len(pending)
        finally:
            await release_claim(self._db, resource, epoch)

    async def _mark_sent(
        self, collection: str, doc_id: str, size: int, sent: list[tuple[int, Document]]
    ) -> None:
        """Mark the published entries sent, and clear `outbox_pending` unless entries were added meanwhile.

        Entries are only ever appended, so an entry's index is stable; the filter checks each index still
        holds the event published, and `$size` tells whether a writer appended another entry since the read
        (then `outbox_pending` stays set and the next pass publishes that one).
        """
        states = {f"outbox.{i}.state": "sent" for i, _ in sent}
        same_entries = {f"outbox.{i}.event_id": entry["event_id"] for i, entry in sent}
        result = await self._db[collection].update_one(
            {"_id": doc_id, **same_entries, "outbox": {"$size": size}},
            {"$set": {**states, "outbox_pending": False}},
        )
        if result.matched_count == 0 and states:
            await self._db[collection].update_one({"_id": doc_id, **same_entries}, {"$set": states})

    async def _publish(self, entries: list[Document]) -> None:
        """Send every entry and wait for Kafka's acknowledgement of all of them (acks=all)."""
        if not entries:
            return
        producer = await self._started_producer()
        try:
            async with asyncio.timeout(self._send_timeout_s):
                futures = [
                    await producer.send(
                        entry["topic"], value=bytes(entry["payload"]), key=entry["key"].encode()
                    )
                    for entry in entries
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError, OSError) as exc:
            await self.close()  # a fresh producer (new connections, new producer id) for the next attempt
            raise PublishError(f"kafka publish failed: {type(exc).__name__}: {exc}") from exc

    async def _started_producer(self) -> AIOKafkaProducer:
        """The shared producer, started on first use; PublishError when Kafka cannot be reached."""
        async with self._producer_lock:  # one producer shared by the concurrent publishes
            if self._producer is None:
                producer = self._producer_factory()
                try:
                    await asyncio.wait_for(producer.start(), timeout=self._send_timeout_s)
                except (KafkaError, TimeoutError, OSError) as exc:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), timeout=self._send_timeout_s)
                    raise PublishError(f"kafka unavailable: {type(exc).__name__}: {exc}") from exc
                self._producer = producer
            return self._producer


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, waking early when `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
