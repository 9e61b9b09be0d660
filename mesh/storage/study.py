"""The usability study's records: what testers did (tasks started, succeeded, abandoned; SUS answers).

Each record is one document of `study` holding its own outbox entry, inserted in one write, so a record is
never stored without its event (docs/data.md, "Delivery guarantees"). The document id and the event id are
derived from the user and the client's `record_id`: a resent record collides on `_id` and stores nothing,
and an event published twice carries the same id, so the analytics consumer counts it once.

The record's time is the client's (the tester's clock measures time on task without the network's
delays); the server only refuses times that cannot belong to a study run happening now.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import timedelta

from assist.v1 import coordinator_pb2, events_pb2
from pymongo.errors import BulkWriteError

from mesh.errors import InvalidInput
from mesh.events.kafka import STUDY_TOPIC
from mesh.storage.mongo import Database, Document, outbox_entry, unavailable_as_store_error, utcnow

DUPLICATE_KEY = 11000
SUS_QUESTIONS = 10
# A study session lasts minutes; a day leaves room for a client queue flushed late, and the future bound for
# clocks that run a little ahead.
MAX_RECORD_AGE = timedelta(days=1)
MAX_CLOCK_AHEAD = timedelta(minutes=5)
TASK_KINDS = (
    coordinator_pb2.STUDY_RECORD_KIND_TASK_STARTED,
    coordinator_pb2.STUDY_RECORD_KIND_TASK_SUCCEEDED,
    coordinator_pb2.STUDY_RECORD_KIND_TASK_ABANDONED,
)


def study_record_id(user_id: str, record_id: str) -> str:
    """The stored document's id: one per (user, client record id), so a resend finds the same document."""
    digest = hashlib.sha256(f"{user_id}\x00{record_id}".encode()).hexdigest()[:32]
    return f"study_{digest}"


def check_record(record: coordinator_pb2.StudyRecord) -> None:
    """Raise InvalidInput unless the record's fields fit its kind and its time is plausible."""
    if record.kind in TASK_KINDS:
        if not record.task_id:
            raise InvalidInput("task_id is required for task records")
        if record.sus_answers:
            raise InvalidInput("sus_answers are only for STUDY_RECORD_KIND_SUS_ANSWERED")
    elif record.kind == coordinator_pb2.STUDY_RECORD_KIND_SUS_ANSWERED:
        if len(record.sus_answers) != SUS_QUESTIONS:
            raise InvalidInput(f"sus_answers must hold {SUS_QUESTIONS} answers")
        if any(not 1 <= answer <= 5 for answer in record.sus_answers):
            raise InvalidInput("each SUS answer must be between 1 and 5")
    else:
        raise InvalidInput("kind must be a task record or STUDY_RECORD_KIND_SUS_ANSWERED")
    if not record.HasField("occur_time"):
        raise InvalidInput("occur_time is required")
    when = record.occur_time.ToDatetime().replace(tzinfo=utcnow().tzinfo)
    now = utcnow()
    if when < now - MAX_RECORD_AGE or when > now + MAX_CLOCK_AHEAD:
        raise InvalidInput("occur_time must be within the last day (and not ahead of the server's clock)")


class StudyStore:
    """Stores study records with their events, once per (user, record id)."""

    def __init__(self, db: Database, *, topic: str = STUDY_TOPIC) -> None:
        self._db = db
        self._topic = topic

    @unavailable_as_store_error
    async def record(self, user_id: str, records: Sequence[coordinator_pb2.StudyRecord]) -> int:
        """Store the records (each checked with `check_record` first); returns how many were new."""
        for record in records:
            check_record(record)
        docs: dict[str, Document] = {}
        now = utcnow()
        for record in records:
            doc_id = study_record_id(user_id, record.record_id)
            envelope = events_pb2.EventEnvelope(
                event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"assist:{doc_id}").hex,
                occur_time=record.occur_time,
                study=events_pb2.StudyEvent(user_id=user_id, record=record),
            )
            docs.setdefault(
                doc_id,
                {
                    "_id": doc_id,
                    "user_id": user_id,
                    "session_id": record.session_id,
                    "record_id": record.record_id,
                    "kind": int(record.kind),
                    "task_id": record.task_id,
                    "sus_answers": list(record.sus_answers),
                    "occur_time": record.occur_time.ToDatetime().replace(tzinfo=now.tzinfo),
                    "created_at": now,
                    "outbox": [outbox_entry(self._topic, record.session_id, envelope)],
                    "outbox_pending": True,
                    "outbox_since": now,
                },
            )
        try:
            result = await self._db.study.insert_many(list(docs.values()), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != DUPLICATE_KEY for error in errors):
                raise
            return int(exc.details.get("nInserted", 0))
        return len(result.inserted_ids)
