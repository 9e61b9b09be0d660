"""Writing one past conversation: its turns first, its conversation document last.

The conversation document is what makes a conversation visible (every read checks ownership on it), so
it is written only after all its turns: an import interrupted in between leaves an invisible remainder
that the next run completes. Every id is derived from the conversation id and the message's position,
so a second run inserts nothing new (duplicate keys are skipped) and the interaction events keep their
ids, which analytics de-duplicates on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from assist.v1 import events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.errors import BulkWriteError, DuplicateKeyError

from history_import.rows import Message
from mesh.events.kafka import INTERACTIONS_TOPIC
from mesh.pii import redact
from mesh.storage.mongo import Database, Document, outbox_entry, unavailable_as_store_error
from mesh.storage.turns import HISTORY_KEEP

DUPLICATE_KEY = 11000


class OwnedByAnotherUser(Exception):
    """The conversation id exists and belongs to someone else: never merged."""


@dataclass(frozen=True)
class Turn:
    """A user message and the assistant's answer to it (either may be empty in a past chat)."""

    user: Message | None
    answers: tuple[Message, ...]

    @property
    def first(self) -> Message:
        return self.user or self.answers[0]


def pair_turns(messages: list[Message]) -> list[Turn]:
    """Messages in time order (file order breaks ties) as turns: each user message with the answers after it."""
    ordered = sorted(messages, key=lambda m: (m.created_at, m.line))
    turns: list[Turn] = []
    for message in ordered:
        if message.role == "user" or not turns:
            turns.append(Turn(message if message.role == "user" else None, ()))
            if message.role == "user":
                continue
        turns[-1] = Turn(turns[-1].user, (*turns[-1].answers, message))
    return turns


def _id(conversation_id: str, what: str, index: int) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"assist:import:{conversation_id}:{what}:{index}").hex


def _timestamp(message: Message) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(message.created_at)
    return stamp


def turn_documents(messages: list[Message]) -> tuple[Document, list[Document]]:
    """The conversation document and its turn documents, texts redacted by the guard's rules."""
    first = messages[0]
    conversation_id, user_id = first.conversation_id, first.user_id
    turns: list[Document] = []
    history: list[Document] = []
    for index, turn in enumerate(pair_turns(messages)):
        turn_id = _id(conversation_id, "turn", index)
        user_text = redact(turn.user.text)[0] if turn.user else ""
        answer = "\n\n".join(redact(a.text)[0] for a in turn.answers)
        last = turn.answers[-1] if turn.answers else turn.first
        task_id = next((m.task_id for m in (turn.user, *turn.answers) if m and m.task_id), "")
        event = events_pb2.EventEnvelope(
            event_id=_id(conversation_id, "event", index),
            occur_time=_timestamp(last),
            interaction=events_pb2.InteractionEvent(
                conversation_id=conversation_id,
                turn_id=turn_id,
                user_id=user_id,
                first_turn=index == 0,
                task_id=task_id,
                imported=True,
            ),
        )
        turns.append(
            {
                "_id": turn_id,
                "user_message_id": _id(conversation_id, "user-message", index),
                "conversation_id": conversation_id,
                "user_id": user_id,
                "client_message_id": f"import-{index}",
                "text": user_text,
                "page_context": {"task_id": task_id, "page_url": ""},
                "state": "done",
                "attempt": 0,
                "created_at": turn.first.created_at,
                "completed_at": last.created_at,
                "answer": answer,
                "imported": True,
                "outbox": [outbox_entry(INTERACTIONS_TOPIC, conversation_id, event)],
                "outbox_pending": True,
                "outbox_since": last.created_at,
            }
        )
        history.append({"turn_id": turn_id, "user_text": user_text, "answer": answer})
    conversation = {
        "_id": conversation_id,
        "user_id": user_id,
        "page_context": {"task_id": next((m.task_id for m in messages if m.task_id), ""), "page_url": ""},
        "create_time": min(m.created_at for m in messages),
        "recent_turns": history[-HISTORY_KEEP:],
        "history_version": 0,
        "imported": True,
    }
    return conversation, turns


@unavailable_as_store_error
async def import_conversation(db: Database, messages: list[Message]) -> bool:
    """Store the conversation; False when it was imported before. OwnedByAnotherUser when the id is taken."""
    conversation, turns = turn_documents(messages)
    existing = await db.conversations.find_one({"_id": conversation["_id"]}, projection={"user_id": 1})
    if existing is not None:
        if existing["user_id"] != conversation["user_id"]:
            raise OwnedByAnotherUser(conversation["_id"])
        return False
    try:
        await db.turns.insert_many(turns, ordered=False)
    except BulkWriteError as exc:  # turns of an interrupted earlier run: already there, the rest went in
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise
    try:
        await db.conversations.insert_one(conversation)
    except DuplicateKeyError:
        return False
    return True
