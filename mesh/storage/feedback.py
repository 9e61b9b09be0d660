"""Feedback on answers (thumbs up/down) and satisfaction with conversations, each with its event outbox.

One document per rated message (`_id = fb_<message id>`) and one per rated conversation
(`_id = sat_<conversation id>`): a resent rating lands on the same document instead of adding one.
The rating and its event go into the document in one upsert, like a turn's answer and its events.

Event ids: a submission that changes what is stored (rating, score or comment) appends an outbox entry with
a NEW event id, so analytics sees every change of mind; a submission that repeats what is stored (a retry
after a lost response) writes nothing, so the event already written keeps its id and nothing is counted
twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from assist.v1 import common_pb2, events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.errors import DuplicateKeyError

from mesh.errors import InvalidInput
from mesh.events.kafka import FEEDBACK_TOPIC
from mesh.storage.mongo import (
    Database,
    Document,
    NotFoundError,
    find_by_ids,
    outbox_entry,
    unavailable_as_store_error,
    utcnow,
)

MAX_COMMENT_CHARS = 2000


def feedback_id_for(message_id: str) -> str:
    """The feedback document's id for an assistant message (one rating per message)."""
    return f"fb_{message_id}"


def satisfaction_id_for(conversation_id: str) -> str:
    """The satisfaction document's id for a conversation (one answer per conversation)."""
    return f"sat_{conversation_id}"


@unavailable_as_store_error
async def ratings_for(db: Database, message_ids: list[str]) -> dict[str, int]:
    """The current rating (a FeedbackRating value) of each rated message among `message_ids`."""
    if not message_ids:
        return {}
    ids = [feedback_id_for(m) for m in message_ids]
    docs = await find_by_ids(db.feedback, ids, projection={"message_id": 1, "rating": 1})
    return {doc["message_id"]: int(doc["rating"]) for doc in docs}


class FeedbackStore:
    """Ratings of answers and conversations, stored with the events that announce them."""

    def __init__(self, db: Database, *, topic: str = FEEDBACK_TOPIC) -> None:
        self._db = db
        self._topic = topic

    @unavailable_as_store_error
    async def record_feedback(
        self, user_id: str, message_id: str, rating: common_pb2.FeedbackRating.ValueType, comment: str
    ) -> str:
        """Store the user's rating of an assistant message and return the feedback id.

        Raises NotFoundError unless the message is a completed turn of this user, InvalidInput for an
        unspecified rating or an over-long comment.
        """
        if rating not in (common_pb2.FEEDBACK_RATING_UP, common_pb2.FEEDBACK_RATING_DOWN):
            raise InvalidInput("rating must be up or down")
        _check_comment(comment)
        turn = await self._db.turns.find_one(
            {"_id": message_id, "user_id": user_id, "state": "done"}, projection={"conversation_id": 1}
        )
        if turn is None:
            raise NotFoundError("message not found")
        feedback_id = feedback_id_for(message_id)
        stored = await self._db.feedback.find_one(
            {"_id": feedback_id}, projection={"rating": 1, "comment": 1}
        )
        if stored is not None and stored.get("rating") == rating and stored.get("comment") == comment:
            return feedback_id
        conversation_id = turn["conversation_id"]
        event = events_pb2.FeedbackEvent(
            feedback_id=feedback_id,
            message_id=message_id,
            conversation_id=conversation_id,
            user_id=user_id,
            rating=rating,
            has_comment=bool(comment),
        )
        fields = {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "rating": int(rating),
            "comment": comment,
        }
        await self._store(self._db.feedback.name, feedback_id, fields, conversation_id, feedback=event)
        return feedback_id

    @unavailable_as_store_error
    async def record_satisfaction(self, user_id: str, conversation_id: str, score: int, comment: str) -> str:
        """Store the user's 1-5 satisfaction with a conversation and return its id.

        Raises NotFoundError unless the conversation is the user's, InvalidInput for a score outside 1-5 or
        an over-long comment.
        """
        if not 1 <= score <= 5:
            raise InvalidInput("score must be between 1 and 5")
        _check_comment(comment)
        if await self._db.conversations.find_one({"_id": conversation_id, "user_id": user_id}) is None:
            raise NotFoundError("conversation not found")
        satisfaction_id = satisfaction_id_for(conversation_id)
        stored = await self._db.satisfaction.find_one({"_id": satisfaction_id})
        if stored is not None and stored.get("score") == score and stored.get("comment") == comment:
            return satisfaction_id
        event = events_pb2.SatisfactionEvent(
            satisfaction_id=satisfaction_id, conversation_id=conversation_id, user_id=user_id, score=score
        )
        fields = {"conversation_id": conversation_id, "user_id": user_id, "score": score, "comment": comment}
        await self._store(
            self._db.satisfaction.name, satisfaction_id, fields, conversation_id, satisfaction=event
        )
        return satisfaction_id

    async def _store(self, collection: str, doc_id: str, fields: Document, key: str, **payload: Any) -> None:
        """Upsert the rating and append its event to the document's outbox, in one single-document write."""
        now = utcnow()
        occur_time = Timestamp()
        occur_time.FromDatetime(now)
        envelope = events_pb2.EventEnvelope(event_id=uuid.uuid4().hex, occur_time=occur_time, **payload)
        update = {
            "$set": {**fields, "updated_at": now, "outbox_pending": True, "outbox_since": now},
            "$setOnInsert": {"created_at": now},
            "$push": {"outbox": outbox_entry(self._topic, key, envelope)},
        }
        try:
            await self._db[collection].update_one({"_id": doc_id}, update, upsert=True)
        except DuplicateKeyError:  # two first ratings raced to insert; the loser's write becomes an update
            await self._db[collection].update_one({"_id": doc_id}, update, upsert=True)

    async def ratings_for(self, message_ids: list[str]) -> dict[str, int]:
        """The current rating of each rated message among `message_ids`."""
        return await ratings_for(self._db, message_ids)


def _check_comment(comment: str) -> None:
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"comment longer than {MAX_COMMENT_CHARS} characters")
