"""Finding a conversation the way a complaint describes it, and reading it back turn by turn.

A complaint arrives as a message id (copied from the widget), a user, or "yesterday afternoon". Each
lookup uses an index where the deployment has one: the assistant message id is the turn's `_id`, a user's
conversations are `user_recent`, a time range is `conversations.create_time`. A user message id has no
index (no turn path needs one), so that lookup reads `turns`: acceptable for a person's one-off search.

The view is plain data (dataclasses) so the same result prints as a table for a person and as JSON for
tools and exports. The trace id is read from the turn when the coordinator stored one; "" otherwise.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assist.v1 import common_pb2, nlg_pb2
from pymongo import ASCENDING, DESCENDING

from mesh.storage.feedback import feedback_id_for, satisfaction_id_for
from mesh.storage.mongo import Database, Document, as_utc, find_by_ids

MAX_LIST = 200


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        return str(enum.Name(value)).removeprefix(prefix)
    except ValueError:
        return str(value)


def intent_name(value: int) -> str:
    return _enum_name(common_pb2.Intent, value, "INTENT_")


def writer_name(value: int) -> str:
    return _enum_name(nlg_pb2.Writer, value, "WRITER_")


def component_name(value: int) -> str:
    return _enum_name(common_pb2.Component, value, "COMPONENT_")


def rating_name(value: int) -> str:
    return _enum_name(common_pb2.FeedbackRating, value, "FEEDBACK_RATING_")


def _iso(value: datetime | None) -> str:
    return as_utc(value).isoformat() if value else ""


@dataclass(frozen=True)
class Feedback:
    rating: str
    comment: str
    updated_at: str


@dataclass(frozen=True)
class TurnView:
    """One turn as support reads it: the question, the answer and how it was produced."""

    message_id: str  # the assistant message's id (what the widget and feedback refer to)
    user_message_id: str
    created_at: str
    state: str
    question: str
    answer: str
    intent: str
    language: str
    writer: str
    degraded: tuple[str, ...]
    prompt_version: str
    model: str
    trace_id: str
    feedback: Feedback | None


@dataclass(frozen=True)
class ConversationSummary:
    conversation_id: str
    user_id: str
    created_at: str
    task_id: str
    page_url: str
    turns: int


@dataclass(frozen=True)
class ConversationView:
    summary: ConversationSummary
    turns: list[TurnView] = field(default_factory=list)
    satisfaction: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


async def _summary(db: Database, doc: Document) -> ConversationSummary:
    page = doc.get("page_context") or {}
    return ConversationSummary(
        conversation_id=doc["_id"],
        user_id=doc.get("user_id", ""),
        created_at=_iso(doc.get("create_time")),
        task_id=page.get("task_id", ""),
        page_url=page.get("page_url", ""),
        turns=await db.turns.count_documents({"conversation_id": doc["_id"]}),
    )


async def conversation_of_message(db: Database, message_id: str) -> str | None:
    """The conversation holding this message (assistant message id first: indexed; then user message id)."""
    turn = await db.turns.find_one({"_id": message_id}, projection={"conversation_id": 1})
    if turn is None:
        turn = await db.turns.find_one({"user_message_id": message_id}, projection={"conversation_id": 1})
    return None if turn is None else str(turn["conversation_id"])


async def find_by_user(db: Database, user_id: str, limit: int = 20) -> list[ConversationSummary]:
    """The user's conversations, newest first (index `user_recent`)."""
    cursor = db.conversations.find(
        {"user_id": user_id}, sort=[("create_time", DESCENDING)], limit=min(limit, MAX_LIST)
    )
    return [await _summary(db, doc) async for doc in cursor]


async def find_in_range(
    db: Database, since: datetime, until: datetime, *, user_id: str = "", limit: int = 50
) -> list[ConversationSummary]:
    """Conversations started in [since, until), oldest first; optionally one user's only."""
    query: Document = {"create_time": {"$gte": since, "$lt": until}}
    if user_id:
        query["user_id"] = user_id
    cursor = db.conversations.find(query, sort=[("create_time", ASCENDING)], limit=min(limit, MAX_LIST))
    return [await _summary(db, doc) async for doc in cursor]


def _turn_view(doc: Document, feedback: Document | None) -> TurnView:
    generation = doc.get("generation") or {}
    return TurnView(
        message_id=doc["_id"],
        user_message_id=doc.get("user_message_id", ""),
        created_at=_iso(doc.get("created_at")),
        state=doc.get("state", ""),
        question=doc.get("text", ""),
        answer=doc.get("answer", ""),
        intent=intent_name(int(doc.get("intent", 0))),
        language=_enum_name(common_pb2.Language, int(doc.get("language", 0)), "LANGUAGE_"),
        writer=writer_name(int(doc.get("writer", 0))),
        degraded=tuple(component_name(int(c)) for c in doc.get("degraded", [])),
        prompt_version=str(generation.get("prompt_version", "")),
        model=str(generation.get("model", "")),
        trace_id=str(doc.get("trace_id") or ""),
        feedback=None
        if feedback is None
        else Feedback(
            rating=rating_name(int(feedback.get("rating", 0))),
            comment=feedback.get("comment", ""),
            updated_at=_iso(feedback.get("updated_at")),
        ),
    )


async def read_conversation(db: Database, conversation_id: str) -> ConversationView | None:
    """The conversation with every turn, oldest first, each with its feedback; None when it does not exist."""
    doc = await db.conversations.find_one({"_id": conversation_id})
    if doc is None:
        return None
    cursor = db.turns.find(
        {"conversation_id": conversation_id}, sort=[("created_at", ASCENDING), ("_id", ASCENDING)]
    )
    turns: list[Document] = [t async for t in cursor]
    ratings = await find_by_ids(db.feedback, [feedback_id_for(t["_id"]) for t in turns])
    by_message = {r["message_id"]: r for r in ratings}
    sat = await db.satisfaction.find_one({"_id": satisfaction_id_for(conversation_id)})
    return ConversationView(
        summary=await _summary(db, doc),
        turns=[_turn_view(t, by_message.get(t["_id"])) for t in turns],
        satisfaction=None
        if sat is None
        else {
            "score": sat.get("score", 0),
            "comment": sat.get("comment", ""),
            "updated_at": _iso(sat.get("updated_at")),
        },
    )
