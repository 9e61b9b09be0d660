"""The Kafka side of the events: topic names, producer settings, the wire encoding, topic creation.

aiokafka rather than kafka-python: the mesh is asyncio from end to end and kafka-python has no asyncio API
(its calls would block the event loop or need a thread pool). aiokafka's defaults are at-most-once-ish
(acks=1, no idempotence), so `make_producer` sets both explicitly: with acks="all" a record is
acknowledged only once every in-sync replica has it, and with idempotence the broker drops the duplicates
the producer's own retries would otherwise create, and keeps each partition in send order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from assist.v1 import events_pb2

log = logging.getLogger("assist.events")

# One topic per kind of fact, versioned like the protos; each record is one EventEnvelope.
INTERACTIONS_TOPIC = "assist.interactions.v1"  # InteractionEvent, keyed by conversation id
FEEDBACK_TOPIC = "assist.feedback.v1"  # FeedbackEvent and SatisfactionEvent, keyed by conversation id
TASKS_TOPIC = "assist.tasks.v1"  # TaskChangedEvent, keyed by task id
STUDY_TOPIC = "assist.study.v1"  # StudyEvent (usability study records), keyed by study session id
ALL_TOPICS = (INTERACTIONS_TOPIC, FEEDBACK_TOPIC, TASKS_TOPIC, STUDY_TOPIC)

TOPIC_ALREADY_EXISTS = 36  # Kafka's error code, returned per topic by CreateTopics


def make_producer(
    bootstrap: str,
    *,
    client_id: str = "assist-mesh",
    request_timeout_ms: int = 10_000,
    linger_ms: int = 5,
) -> AIOKafkaProducer:
    """An idempotent, acks=all producer (not started: the caller awaits `start()` and `stop()`).

    `request_timeout_ms` bounds how long a send waits for the broker before failing (aiokafka's 40 s is
    too long for a relay that should notice an outage and back off); `linger_ms` lets a burst of events
    share a request without adding noticeable latency.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
        request_timeout_ms=request_timeout_ms,
        retry_backoff_ms=200,
    )


def encode(envelope: events_pb2.EventEnvelope) -> bytes:
    """The record value for an event: the envelope's protobuf encoding."""
    return envelope.SerializeToString()


def decode(value: bytes) -> events_pb2.EventEnvelope:
    """The envelope in a record value; raises google.protobuf.message.DecodeError for a malformed one."""
    return events_pb2.EventEnvelope.FromString(value)


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str] = ALL_TOPICS,
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    request_timeout_ms: int = 10_000,
) -> None:
    """Create the topics that do not exist yet; existing topics are left as they are (idempotent).

    Locally the single broker needs replication 1; production creates topics with its own tooling (or
    passes replication_factor=3) and this call only confirms they exist.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [
                NewTopic(name=t, num_partitions=partitions, replication_factor=replication_factor)
                for t in missing
            ]
        )
        for topic, code, *rest in response.topic_errors:
            if code not in (0, TOPIC_ALREADY_EXISTS):
                message = rest[0] if rest else ""
                raise RuntimeError(f"cannot create topic {topic}: error {code} {message}")
        log.info("created topics %s", ", ".join(missing))
    finally:
        await admin.close()
