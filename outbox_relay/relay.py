"""The outbox relay: publishes the events stored inside turn, feedback, satisfaction and task change documents.

Writers never talk to Kafka: they store an event in the outbox of the document whose change it announces, in
the same single-document write (so no event is lost or invented when a process dies mid-way), and set
`outbox_pending`. This relay finds such documents, publishes their pending entries and marks them sent.
Delivery is at least once: a relay that dies between publishing and marking leaves the entries pending, and
they go out again once another relay takes over; consumers de-duplicate by event id. Kafka being down only
delays events: the relay backs off (exponential, with jitter, capped) and retries the same entries, never
dropping one.

The constraint: several relays may run at once, and FerretDB (the local MongoDB-wire server) has no atomic
conditional update, so "who publishes this" can only be decided by an insert into a unique index (a claim,
see mesh.storage.mongo.try_claim). Claiming each document cost four operations per document (claim insert,
re-read, mark, claim delete) on top of the poll. The design it forces here is a **lease per collection**:

- One claim document per collection (`outbox-lease:<collection>#<epoch>`), held by one relay. Taking it is
  the epoch race of every claim: read the latest epoch; when it expired (its relay died), insert epoch + 1;
  exactly one racer wins. The winner deletes the previous epoch's document, so `claims` stays small.
- The holder renews its lease with one `update_one` by `_id`, only once more than half of it has passed,
  and only while the lease is still valid by its own (monotonic) clock, so no other relay can have judged it
  expired. A lease that ran out (a pause, a slow pass) is never renewed: it is taken again through the race.
- The holder reads pending documents together with their outbox (one query per collection, in
  `outbox_since` order), publishes every pending entry of the batch (one producer send each, one wait for
  all acknowledgements), then marks each document with one conditional `update_one` (`_mark_sent`). No
  per-document claim, read or delete.
- It publishes only while the lease has at least `send_timeout_s` left (renewing first if needed), and a
  publish is bounded by `send_timeout_s`, so a pass that outlives its lease cannot publish after another
  relay took over; a late mark-sent only marks entries this relay did publish (the filter checks each
  event id), so at least once holds whatever the timing.
- Relays that do not hold a collection's lease skip it: they stand by, and look again only when the lease
  they saw would expire (one query per lease period), taking over when its holder stopped renewing.
  A relay that stops cleanly releases its leases (`close`). Expiry compares the holder's stored `until`
  with another host's clock: relays' clocks are assumed to agree within a few seconds (NTP), as turn
  takeovers already assume; a larger skew can only cause a duplicate, never a loss.
- After a pass that published everything pending (no collection filled a batch), the relay waits as it
  would after an empty pass instead of polling every collection again at once: that empty pass was five
  queries per event on a quiet site, more than the event's own work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from pymongo import ASCENDING

from mesh.event_metrics import record_relay_lag, set_outbox_backlog
from mesh.storage.mongo import (
    Database,
    Document,
    StoreUnavailable,
    as_utc,
    latest_claim,
    release_claim,
    renew_claim,
    try_claim,
    unavailable_as_store_error,
    utcnow,
)
from mesh.trace_context import context_from_carrier, kafka_headers
from mesh.worker import doubled, wait_or_stop

log = logging.getLogger("assist.events.outbox")
_tracer = trace.get_tracer("assist.outbox_relay")

ProducerFactory = Callable[[], AIOKafkaProducer]
OUTBOX_COLLECTIONS = ("turns", "feedback", "satisfaction", "task_changes", "study")
LEASE_PREFIX = "outbox-lease:"


def lease_resource(collection: str) -> str:
    """The claims resource whose epochs are the relay leases of `collection`."""
    return f"{LEASE_PREFIX}{collection}"


class PublishError(Exception):
    """Kafka did not confirm the records in time; they stay pending and are sent again later."""


@dataclass
class _Lease:
    """A lease this relay holds: its epoch, and when it runs out by this relay's monotonic clock.

    The deadline counts from before the claim was written, so it is never later than the `until` stored
    (which other relays compare with their clocks).
    """

    epoch: int
    deadline: float


class OutboxRelay:
    """Moves pending outbox entries to Kafka; several relays may run at once (one holds each collection)."""

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
        if claim_s <= send_timeout_s:
            # A publish must fit in what is left of a lease, or a slow one could outlive it.
            raise ValueError(f"claim_s ({claim_s}) must exceed send_timeout_s ({send_timeout_s})")
        self._db = db
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self.relay_id = relay_id
        self._collections = tuple(collections)
        self._batch_size = batch_size
        self._concurrency = asyncio.Semaphore(concurrency)
        self._producer_lock = asyncio.Lock()
        self._claim_s = claim_s
        self._send_timeout_s = send_timeout_s
        self._idle_s = idle_s
        self._idle_max_s = idle_max_s
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._leases: dict[str, _Lease] = {}
        self._standby_until: dict[str, float] = {}  # when another relay's lease we saw runs out
        self.batch_was_full = False  # the last pass read a full batch somewhere: more may be waiting

    @property
    def held_collections(self) -> list[str]:
        """The collections whose lease this relay holds (as far as its own clock says)."""
        now = _monotonic()
        return [c for c, lease in self._leases.items() if lease.deadline > now]

    async def run_once(self) -> int:
        """One pass over every collection whose lease this relay holds or takes; how many entries it published.

        Raises PublishError when Kafka fails (the entries stay pending) and StoreUnavailable when MongoDB does.
        """
        with suppress_instrumentation():  # a pass every 0.2-2 s: its MongoDB calls would be a trace each
            return await self._run_pass()

    async def _run_pass(self) -> int:
        published = 0
        self.batch_was_full = False
        for collection in self._collections:
            if await self._hold_lease(collection):
                published += await self._relay_collection(collection)
        return published

    async def _relay_collection(self, collection: str) -> int:
        docs = await self._pending(collection)
        set_outbox_backlog(collection, len(docs))
        self.batch_was_full = self.batch_was_full or len(docs) >= self._batch_size
        if not docs:
            return 0
        await self._started_producer()  # fail the whole pass at once when Kafka is down
        if not await self._hold_lease(collection, need_s=self._send_timeout_s):
            return 0  # lost while reading (a pause longer than the lease): its new holder publishes them
        pending = [
            [(i, e) for i, e in enumerate(doc.get("outbox") or []) if e.get("state") == "pending"]
            for doc in docs
        ]
        await self._publish([entry for entries in pending for _, entry in entries])
        now = utcnow()
        for doc, entries in zip(docs, pending, strict=True):
            since = doc.get("outbox_since")
            if entries and since is not None:
                record_relay_lag(collection, (now - as_utc(since)).total_seconds())
        await asyncio.gather(
            *(
                self._mark_bounded(collection, doc["_id"], len(doc.get("outbox") or []), entries)
                for doc, entries in zip(docs, pending, strict=True)
            )
        )
        return sum(len(entries) for entries in pending)

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
                    await wait_or_stop(stop, delay)
                    continue
                except Exception:  # a bug must not stop event delivery for good; it is logged loudly
                    failures += 1
                    log.exception("relay %s: unexpected error", self.relay_id)
                    await wait_or_stop(stop, self.backoff_delay(failures))
                    continue
                if failures:
                    log.info("relay %s: delivering again after %d failed attempts", self.relay_id, failures)
                failures = 0
                if published and self.batch_was_full:
                    idle_passes = 0  # a backlog: the next batch at once
                elif published:
                    # Everything pending went out. The pass right after would find nothing (5 queries for no
                    # event, most of a quiet site's per-event cost), so it is skipped: the relay waits as it
                    # would after that empty pass, and its idle intervals stay the same.
                    idle_passes = 1
                    await wait_or_stop(stop, min(self._idle_max_s, self._idle_s))
                else:
                    # A quiet outbox is polled less and less often (each pass is a query), up to idle_max_s.
                    idle_passes += 1
                    await wait_or_stop(stop, doubled(self._idle_s, idle_passes - 1, self._idle_max_s))
        finally:
            await self.close()

    def backoff_delay(self, failures: int) -> float:
        """Exponential in the number of consecutive failures, capped, with jitter so relays do not sync up."""
        ceiling = doubled(self._backoff_base_s, failures - 1, self._backoff_cap_s)
        return ceiling * random.uniform(0.5, 1.0)

    async def close(self) -> None:
        """Stop the producer and give back the leases held, so a standby relay takes over without waiting.

        Both bounded: a dead broker or store must not hang shutdown (an unreleased lease simply expires).
        """
        await self._drop_producer()
        leases, self._leases = self._leases, {}
        with suppress_instrumentation():
            for collection, lease in leases.items():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        release_claim(self._db, lease_resource(collection), lease.epoch),
                        timeout=self._send_timeout_s,
                    )

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), timeout=self._send_timeout_s)

    async def _hold_lease(self, collection: str, need_s: float = 0.0) -> bool:
        """Whether this relay holds `collection`'s lease with more than `need_s` left, renewing or taking it.

        Held with more than half of it (and `need_s`) left: nothing to do, no query. Held but past half: renewed
        by `_id`, safe because it is still valid by this relay's clock. Run out: taken again through the epoch
        race like any relay would. Held by another relay: skipped until the `until` seen has passed.
        """
        now = _monotonic()
        lease = self._leases.get(collection)
        if lease is not None:
            left = lease.deadline - now
            if left > max(self._claim_s / 2, need_s):
                return True
            if left > 0:  # a renewal that fails on MongoDB keeps the lease: the next pass retries it
                until = utcnow() + timedelta(seconds=self._claim_s)
                if await renew_claim(self._db, lease_resource(collection), lease.epoch, until):
                    lease.deadline = now + self._claim_s
                    return True
                log.info("relay %s: lease on %s was taken over", self.relay_id, collection)
            del self._leases[collection]
        if self._standby_until.get(collection, 0.0) > now:
            return False
        return await self._take_lease(collection)

    async def _take_lease(self, collection: str) -> bool:
        """Race for the next epoch of `collection`'s lease when nobody holds it; True when this relay won."""
        resource = lease_resource(collection)
        started = _monotonic()
        now = utcnow()
        latest = await latest_claim(self._db, resource)
        if latest is not None and as_utc(latest["until"]) > now:
            self._standby_until[collection] = started + (as_utc(latest["until"]) - now).total_seconds()
            return False  # another relay holds it (or this one's earlier lease, lost track of: it expires)
        epoch = latest["epoch"] + 1 if latest is not None else 1
        until = now + timedelta(seconds=self._claim_s)
        if not await try_claim(self._db, resource, epoch, self.relay_id, until):
            self._standby_until[collection] = started + self._claim_s  # the winner just took a full lease
            return False
        self._leases[collection] = _Lease(epoch, started + self._claim_s)
        self._standby_until.pop(collection, None)
        if latest is not None:
            log.info(
                "relay %s: took over %s from %s (epoch %d)", self.relay_id, collection, latest["owner"], epoch
            )
            await release_claim(self._db, resource, latest["epoch"])  # the expired lease, kept no longer
        return True

    @unavailable_as_store_error
    async def _pending(self, collection: str) -> list[Document]:
        """The oldest documents with pending entries, with their outbox (so no per-document re-read)."""
        cursor = self._db[collection].find(
            {"outbox_pending": True},
            projection={"outbox": 1, "outbox_since": 1},
            sort=[("outbox_since", ASCENDING)],
            limit=self._batch_size,
        )
        return [doc async for doc in cursor]

    async def _mark_bounded(
        self, collection: str, doc_id: str, size: int, sent: list[tuple[int, Document]]
    ) -> None:
        async with self._concurrency:
            await self._mark_sent(collection, doc_id, size, sent)

    @unavailable_as_store_error
    async def _mark_sent(
        self, collection: str, doc_id: str, size: int, sent: list[tuple[int, Document]]
    ) -> None:
        """Mark the published entries sent, and clear `outbox_pending` unless entries were added meanwhile.

        Entries are only ever appended, so an entry's index is stable; the filter checks each index still
        holds the event published, and `$size` tells whether a writer appended another entry since the read
        (then `outbox_pending` stays set and the next pass publishes that one). The second update, for that
        case, runs only then.
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
        """Send every entry and wait for Kafka's acknowledgement of all of them (acks=all).

        Each record is sent inside a producer span continuing the trace stored with its entry (the turn's,
        for an interaction event), and carries that span's context in its headers for the consumer.
        """
        if not entries:
            return
        producer = await self._started_producer()
        spans = [send_span(entry) for entry in entries]
        try:
            async with asyncio.timeout(self._send_timeout_s):
                futures = [
                    await producer.send(
                        entry["topic"],
                        value=bytes(entry["payload"]),
                        key=entry["key"].encode(),
                        headers=kafka_headers(trace.set_span_in_context(span)),
                    )
                    for entry, span in zip(entries, spans, strict=True)
                ]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError, OSError) as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, type(exc).__name__)
            await self._drop_producer()  # a fresh one (new connections, new producer id) for the next attempt
            raise PublishError(f"kafka publish failed: {type(exc).__name__}: {exc}") from exc
        finally:
            for span in spans:
                span.end()

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


def send_span(entry: Document) -> trace.Span:
    """A producer span for one outbox entry, child of the trace context stored with it (messaging semconv).

    Not made current: the relay's own store calls (polls, leases, marks) are housekeeping of no turn, and are not
    traced at all (`run_once` suppresses instrumentation).
    """
    return _tracer.start_span(
        f"send {entry['topic']}",
        context=context_from_carrier(entry.get("trace_context")),
        kind=trace.SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": str(entry["topic"]),
            "messaging.message.id": str(entry["event_id"]),
        },
    )


def _monotonic() -> float:
    return asyncio.get_running_loop().time()
