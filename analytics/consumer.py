"""The analytics consumer: turns interaction and feedback events into daily figures, each event counted once.

Kafka delivers at least once (the relay may re-send, a consumer may re-read what it processed but had not
committed), so counting must be idempotent. Each event becomes one fact document whose `_id` is the
event id, inserted into `analytics_events`: a redelivered event collides on `_id` and is ignored. The
daily figures are computed from the facts when asked (`daily_summary`).

Why not counters updated in place (`$inc` guarded by `seen: {$ne: event_id}`, the usual design)? On
FerretDB 1.24 an update is "read, change in memory, write back" without isolation, so two consumers
updating the same counter document lose increments and both pass the `$ne` guard; we measured it (40
concurrent guarded updates of 5 distinct events counted 3). An insert into a unique index is atomic on
MongoDB and FerretDB alike, needs no transaction, and stays correct however many consumers run. The cost
is one small document per event; `prune_before` removes old days (FerretDB has no TTL index).

Offsets are committed after each batch's facts are stored; when MongoDB fails the consumer rewinds to the
last committed offsets and the batch is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from assist.v1 import common_pb2, events_pb2
from google.protobuf.message import DecodeError
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from prometheus_client import Counter
from pymongo.errors import BulkWriteError

from mesh.event_metrics import set_consumer_lag
from mesh.events.kafka import FEEDBACK_TOPIC, INTERACTIONS_TOPIC, STUDY_TOPIC, decode
from mesh.storage.erasures import erased_at
from mesh.storage.mongo import (
    Database,
    Document,
    StoreUnavailable,
    as_utc,
    unavailable_as_store_error,
    utcnow,
)
from mesh.trace_context import context_from_kafka_headers
from mesh.worker import doubled, wait_or_stop

log = logging.getLogger("assist.analytics")
_tracer = trace.get_tracer("assist.analytics")

FACTS = "analytics_events"
DUPLICATE_KEY = 11000
ERASED_EVENTS_DROPPED = Counter(
    "assist_analytics_erased_events_dropped_total",
    "Events not counted because their user was erased after they occurred (still retained in Kafka).",
)


def fact_for(envelope: events_pb2.EventEnvelope) -> Document | None:
    """The fact document for an event, or None for events analytics does not count (task changes)."""
    occur = envelope.occur_time.ToDatetime(UTC) if envelope.HasField("occur_time") else utcnow()
    fact: Document = {"_id": envelope.event_id, "day": occur.date().isoformat(), "occur_time": occur}
    kind = envelope.WhichOneof("payload")
    if kind == "interaction":
        i = envelope.interaction
        fact |= {
            "kind": kind,
            "user_id": i.user_id,
            "conversation_id": i.conversation_id,
            "turn_id": i.turn_id,
            "intent": int(i.intent),
            "writer": int(i.writer),
            "degraded": len(i.degraded_components) > 0,
            "latency_ms": i.latency_ms,
            "first_turn": i.first_turn,
            # Imported past chats count as turns of their own day, once (their event ids are fixed).
            "imported": i.imported,
        }
    elif kind == "feedback":
        f = envelope.feedback
        fact |= {
            "kind": kind,
            "user_id": f.user_id,
            "conversation_id": f.conversation_id,
            "message_id": f.message_id,
            "rating": int(f.rating),
        }
    elif kind == "satisfaction":
        s = envelope.satisfaction
        fact |= {"kind": kind, "user_id": s.user_id, "conversation_id": s.conversation_id, "score": s.score}
    elif kind == "study":
        r = envelope.study.record
        fact |= {
            "kind": kind,
            "user_id": envelope.study.user_id,
            "session_id": r.session_id,
            "record_id": r.record_id,
            "record_kind": int(r.kind),
            "task_id": r.task_id,
            "sus_answers": list(r.sus_answers),
            "language": int(r.language),
        }
    else:
        return None
    return fact


def _forgotten(fact: Document, erasures: dict[str, datetime]) -> bool:
    """Whether the fact's event happened before (or as) its user was erased."""
    erased = erasures.get(fact.get("user_id", ""))
    return erased is not None and as_utc(fact["occur_time"]) <= erased


async def _drop_erased(db: Database, facts: list[Document]) -> int:
    """Delete the facts just stored whose user was erased meanwhile; how many went.

    The check before the insert cannot see an erasure that lands between it and the insert; this one can:
    the erasure records first and deletes facts second, so either its delete or this check catches a fact.
    """
    erasures = await erased_at(db, (f.get("user_id", "") for f in facts))
    doomed = [f["_id"] for f in facts if _forgotten(f, erasures)]
    if not doomed:
        return 0
    return int((await db[FACTS].delete_many({"_id": {"$in": doomed}})).deleted_count)


@unavailable_as_store_error
async def record_events(db: Database, envelopes: Iterable[events_pb2.EventEnvelope]) -> int:
    """Store the facts of these events; returns how many were new (redelivered events are skipped).

    Events of an erased user that occurred before the erasure are dropped (mesh/storage/erasures.py):
    an erasure must not be undone by events still retained in Kafka.
    """
    facts: dict[str, Document] = {}
    for envelope in envelopes:
        fact = fact_for(envelope) if envelope.event_id else None
        if fact is not None:
            facts.setdefault(fact["_id"], fact)
    erasures = await erased_at(db, (f.get("user_id", "") for f in facts.values())) if facts else {}
    kept = [f for f in facts.values() if not _forgotten(f, erasures)]
    if len(kept) < len(facts):
        ERASED_EVENTS_DROPPED.inc(len(facts) - len(kept))
    if not kept:
        return 0
    try:
        result = await db[FACTS].insert_many(kept, ordered=False)
        inserted = len(result.inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        inserted = int(exc.details.get("nInserted", 0))
    dropped = await _drop_erased(db, kept)
    ERASED_EVENTS_DROPPED.inc(dropped)
    return max(0, inserted - dropped)


async def _count_distinct(db: Database, field: str, match: Document) -> int:
    pipeline: list[Document] = [{"$match": match}, {"$group": {"_id": f"${field}"}}, {"$count": "n"}]
    rows = [row async for row in await db[FACTS].aggregate(pipeline)]
    return int(rows[0]["n"]) if rows else 0


def _latest(facts: list[Document], key: str) -> dict[str, Document]:
    """The latest fact per `key` (a user who changes their mind counts with their last answer)."""
    latest: dict[str, Document] = {}
    for fact in sorted(facts, key=lambda f: (f["occur_time"], f["_id"])):
        latest[fact[key]] = fact
    return latest


@unavailable_as_store_error
async def daily_summary(db: Database, day: str) -> dict[str, Any]:
    """The figures for one UTC day (YYYY-MM-DD), from the facts stored so far.

    turns / degraded_turns: interactions (degraded: at least one component answered in degraded mode);
    conversations: distinct conversations with a turn; users: distinct users with any event;
    thumbs_up / thumbs_down: rated messages by their latest rating that day;
    satisfaction_count / satisfaction_sum / satisfaction_avg: conversations by their latest score that day.
    """
    facts = db[FACTS]
    turns = await facts.count_documents({"day": day, "kind": "interaction"})
    degraded = await facts.count_documents({"day": day, "kind": "interaction", "degraded": True})
    conversations = await _count_distinct(db, "conversation_id", {"day": day, "kind": "interaction"})
    users = await _count_distinct(db, "user_id", {"day": day})
    feedback = [f async for f in facts.find({"day": day, "kind": "feedback"})]
    ratings = [f["rating"] for f in _latest(feedback, "message_id").values()]
    satisfaction = [f async for f in facts.find({"day": day, "kind": "satisfaction"})]
    scores = [int(f["score"]) for f in _latest(satisfaction, "conversation_id").values()]
    return {
        "day": day,
        "turns": turns,
        "degraded_turns": degraded,
        "conversations": conversations,
        "users": users,
        "thumbs_up": ratings.count(int(common_pb2.FEEDBACK_RATING_UP)),
        "thumbs_down": ratings.count(int(common_pb2.FEEDBACK_RATING_DOWN)),
        "satisfaction_count": len(scores),
        "satisfaction_sum": sum(scores),
        "satisfaction_avg": sum(scores) / len(scores) if scores else 0.0,
    }


@unavailable_as_store_error
async def prune_before(db: Database, day: str) -> int:
    """Delete the facts of days before `day` (run daily; keep as many days as reports need)."""
    result = await db[FACTS].delete_many({"day": {"$lt": day}})
    return result.deleted_count


def process_span(
    topic: str, partition: int, offset: int, headers: Sequence[tuple[str, bytes]] | None
) -> trace.Span:
    """A consumer span for one record, continuing the trace its headers carry (the turn's, via the relay).

    It lasts until the record's batch is stored, so its duration is what counting that event took.
    """
    return _tracer.start_span(
        f"process {topic}",
        context=context_from_kafka_headers(headers),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.offset": offset,
        },
    )


def store_span(records: Sequence[trace.Span]) -> AbstractContextManager[trace.Span]:
    """The span storing one batch's facts, linked to every record's span (a batch belongs to many traces).

    With one record, it is that record's child instead, so a single turn's trace shows the MongoDB insert.
    """
    if len(records) == 1:  # a parent, not a link as well: Jaeger shows a span linked to its parent as a root
        parent, links = trace.set_span_in_context(records[0]), []
    else:
        parent, links = None, [trace.Link(span.get_span_context()) for span in records]
    return _tracer.start_as_current_span(
        "store analytics facts",
        context=parent,
        links=links,
        attributes={"messaging.batch.message_count": len(records)},
    )


class AnalyticsConsumer:
    """A member of a consumer group that stores analytics facts and commits after each stored batch."""

    def __init__(
        self,
        db: Database,
        bootstrap: str,
        group_id: str,
        *,
        topics: Sequence[str] = (INTERACTIONS_TOPIC, FEEDBACK_TOPIC, STUDY_TOPIC),
        client_id: str = "assist-analytics",
        max_records: int = 500,
    ) -> None:
        self._db = db
        self._max_records = max_records
        self._topics = tuple(topics)
        self._bootstrap = bootstrap
        self._group_id = group_id
        self._client_id = client_id
        self._kafka: AIOKafkaConsumer | None = None
        self.records_seen = 0
        self.facts_stored = 0
        self.malformed = 0

    async def start(self) -> None:
        """Join the group (the aiokafka consumer is created here: it needs the running event loop)."""
        self._kafka = AIOKafkaConsumer(
            *self._topics,
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id=self._client_id,
            enable_auto_commit=False,  # commit only what is stored, after it is stored
            auto_offset_reset="earliest",  # a new group starts from the oldest retained event
            # A fetch waits up to 5 s for records (aiokafka's default is 0.5 s): the broker answers as soon
            # as a record arrives, so this only spaces out the requests of an idle consumer, a tenth of the
            # default's for the broker and for this process (issue 8: an idle stack under 2% of a core).
            fetch_max_wait_ms=5000,
        )
        await self._kafka.start()

    async def stop(self) -> None:
        """Leave the group without committing anything not yet committed."""
        kafka, self._kafka = self._kafka, None
        if kafka is not None:
            await kafka.stop()

    @property
    def _consumer(self) -> AIOKafkaConsumer:
        if self._kafka is None:
            raise RuntimeError("AnalyticsConsumer.start() was not awaited")
        return self._kafka

    async def _fetch(
        self, timeout_ms: int, stop: asyncio.Event | None
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        """One getmany; when `stop` is given it ends the wait early (a 5 s idle wait must not delay SIGTERM)."""
        fetch = asyncio.ensure_future(
            self._consumer.getmany(timeout_ms=timeout_ms, max_records=self._max_records)
        )
        if stop is None:
            batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = await fetch
            return batches
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if fetch.done():
            batches = fetch.result()
            return batches
        # Records a cancelled getmany had fetched stay uncommitted: the next consumer of the group reads them.
        fetch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await fetch
        return {}

    async def poll_and_record(self, timeout_ms: int = 1000, stop: asyncio.Event | None = None) -> int:
        """Fetch one batch and store its facts (no commit); returns the number of records fetched.

        On StoreUnavailable the consumer is rewound to its committed offsets before the error propagates, so
        the same records are fetched again. A record that is not an EventEnvelope is logged and skipped: one
        bad record must not stop the partition.
        """
        with suppress_instrumentation():  # an idle fetch every 2 s is no one's trace
            batches = await self._fetch(timeout_ms, stop)
        envelopes: list[events_pb2.EventEnvelope] = []
        spans: list[trace.Span] = []
        fetched = 0
        for partition, records in batches.items():
            for record in records:
                fetched += 1
                spans.append(process_span(record.topic, record.partition, record.offset, record.headers))
                try:
                    envelopes.append(decode(record.value or b""))
                except DecodeError:
                    self.malformed += 1
                    spans[-1].set_status(StatusCode.ERROR, "malformed record")
                    log.warning("skipping malformed record at %s offset %d", partition, record.offset)
        try:
            if envelopes:
                with store_span(spans):
                    self.facts_stored += await record_events(self._db, envelopes)
        except StoreUnavailable as exc:
            for span in spans:
                span.set_status(StatusCode.ERROR, type(exc).__name__)
            await self._consumer.seek_to_committed()
            raise
        finally:
            for span in spans:
                span.end()
        self.records_seen += fetched
        await self._note_lag()
        return fetched

    async def _note_lag(self) -> None:
        """Per topic: the partitions' high watermarks minus this consumer's positions (assist_consumer_lag)."""
        lag: dict[str, int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            try:  # a partition not fetched yet may wait for its offset: skip it this time
                position = await asyncio.wait_for(self._consumer.position(tp), timeout=0.5)
            except (TimeoutError, KafkaError):
                continue
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - position)
        for topic, records in lag.items():
            set_consumer_lag(topic, records)

    async def commit(self) -> None:
        """Commit the offsets of everything fetched so far."""
        await self._consumer.commit()

    async def process_batch(self, timeout_ms: int = 1000, stop: asyncio.Event | None = None) -> int:
        """Fetch, store and commit one batch; returns the number of records handled."""
        fetched = await self.poll_and_record(timeout_ms, stop)
        if fetched:
            await self.commit()
        return fetched

    async def run_forever(
        self, stop: asyncio.Event, *, backoff_cap_s: float = 5.0, idle_wait_ms: int = 5000
    ) -> None:
        """Consume until `stop` is set, backing off while MongoDB is down.

        Each batch waits up to `idle_wait_ms` for records; getmany returns as soon as some arrive, so the
        wait costs no latency and a quiet topic costs one pass (lag gauge included) every 5 s, not every 1 s.
        """
        failures = 0
        while not stop.is_set():
            try:
                await self.process_batch(idle_wait_ms, stop)
                failures = 0
            except (StoreUnavailable, KafkaError) as exc:
                # Nothing is lost: uncommitted records are fetched again and duplicates are skipped.
                failures += 1
                delay = doubled(0.1, failures, backoff_cap_s)
                log.warning("analytics: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                await wait_or_stop(stop, delay)
