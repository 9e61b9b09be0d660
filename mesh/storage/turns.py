"""Conversations and turns: the idempotent "run this user message once" record and the history it forms.

A turn is one user message and the assistant's answer, in one document of `turns` (`_id` = turn id, which
is also the assistant message's id). The unique index on (conversation_id, client_message_id) makes a
resent message find the turn it already created instead of creating a second one. The turn's answer and
the events announcing it (its outbox) are written by one single-document update, so an answer is never
stored without its events nor an event published for an answer that was not stored.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from assist.v1 import common_pb2, coordinator_pb2, events_pb2, nlg_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import DESCENDING
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from mesh.storage.conversation_list import list_conversations
from mesh.storage.feedback import ratings_for
from mesh.storage.mongo import (
    Database,
    Document,
    NotFoundError,
    StoreUnavailable,
    as_utc,
    outbox_entry,
    try_claim,
    unavailable_as_store_error,
    utcnow,
)
from mesh.trace_context import current_trace_id

log = logging.getLogger(__name__)

_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
# How many completed turns a conversation keeps in its bounded history record (the most a prompt asks for).
HISTORY_KEEP = 20


@dataclass(frozen=True)
class HistoryRecord:
    """A conversation's history record as read: its entries and the version its compare-and-set checks.

    The coordinator reads it with the ownership check at a turn's start and hands it to the turn's
    completion, which then writes the record without reading it again (one MongoDB operation per turn
    less); when another turn changed it meanwhile, the compare-and-set fails and the record is read anew.
    """

    entries: list[Document]
    version: int | None  # None: never written (a conversation stored before the record existed)


HISTORY_FIELDS = {"recent_turns": 1, "history_version": 1}


def _history_of(doc: Document | None) -> HistoryRecord | None:
    if doc is None:
        return None
    return HistoryRecord(list(doc.get("recent_turns") or []), doc.get("history_version"))


def timestamp(value: datetime) -> Timestamp:
    """A protobuf Timestamp for an aware datetime."""
    ts = Timestamp()
    ts.FromDatetime(as_utc(value))
    return ts


def _page_context_doc(page_context: common_pb2.PageContext) -> Document:
    return {"task_id": page_context.task_id, "page_url": page_context.page_url}


def _page_context(doc: Document | None) -> common_pb2.PageContext:
    doc = doc or {}
    return common_pb2.PageContext(task_id=doc.get("task_id", ""), page_url=doc.get("page_url", ""))


class BeginKind(enum.Enum):
    """What `begin_turn` found."""

    NEW = "new"  # the caller owns the turn now and must run it (a fresh turn or one taken over)
    REPLAY = "replay"  # the turn was answered already: replay the stored answer
    IN_PROGRESS = "in_progress"  # another request is running it right now: wait for it, or report busy


@dataclass(frozen=True)
class Turn:
    """One stored turn, as the coordinator needs it."""

    turn_id: str
    user_message_id: str
    conversation_id: str
    user_id: str
    client_message_id: str
    text: str
    page_context: common_pb2.PageContext
    state: str
    lease_until: datetime
    created_at: datetime
    attempt: int
    completed_at: datetime | None = None
    answer: str = ""
    intent: common_pb2.Intent.ValueType = common_pb2.INTENT_UNSPECIFIED
    language: common_pb2.Language.ValueType = common_pb2.LANGUAGE_UNSPECIFIED
    degraded: tuple[common_pb2.Component.ValueType, ...] = ()
    writer: nlg_pb2.Writer.ValueType = nlg_pb2.WRITER_UNSPECIFIED
    generation: dict[str, str] = field(default_factory=dict)
    # The trace of the request that last ran the turn ("" when it ran outside any trace).
    trace_id: str = ""

    @property
    def done(self) -> bool:
        return self.state == "done"

    @classmethod
    def from_doc(cls, doc: Document) -> Turn:
        return cls(
            turn_id=doc["_id"],
            user_message_id=doc["user_message_id"],
            conversation_id=doc["conversation_id"],
            user_id=doc["user_id"],
            client_message_id=doc["client_message_id"],
            text=doc["text"],
            page_context=_page_context(doc.get("page_context")),
            state=doc["state"],
            lease_until=as_utc(doc.get("lease_until") or _LONG_AGO),
            created_at=as_utc(doc["created_at"]),
            attempt=int(doc.get("attempt", 0)),
            completed_at=as_utc(doc["completed_at"]) if doc.get("completed_at") else None,
            answer=doc.get("answer", ""),
            intent=common_pb2.Intent.ValueType(doc.get("intent", 0)),
            language=common_pb2.Language.ValueType(doc.get("language", 0)),
            degraded=tuple(common_pb2.Component.ValueType(c) for c in doc.get("degraded", [])),
            writer=nlg_pb2.Writer.ValueType(doc.get("writer", 0)),
            generation=dict(doc.get("generation") or {}),
            trace_id=str(doc.get("trace_id") or ""),
        )


@dataclass(frozen=True)
class BeginTurn:
    """The outcome of `begin_turn`: what to do, and the turn it is about."""

    kind: BeginKind
    turn: Turn


class ConversationStore:
    """Conversations: who owns a thread, where it started, and its recent history.

    The prompt's history is read on every turn, so it must cost the same at turn 300 as at turn 1 and with
    a million turns stored. It is therefore kept on the conversation document itself, as `recent_turns`: the
    last `HISTORY_KEEP` completed turns, oldest first, read with the `_id` lookup that checks ownership
    anyway, instead of a sorted query over the conversation's turns (FerretDB pushes no sort or limit down,
    so that query reads every turn of the conversation). The record is a copy: the turns stay the truth.
    """

    def __init__(self, db: Database) -> None:
        self._conversations = db.conversations

    @unavailable_as_store_error
    async def create_conversation(
        self, user_id: str, page_context: common_pb2.PageContext
    ) -> common_pb2.Conversation:
        now = utcnow()
        conversation_id = uuid.uuid4().hex
        await self._conversations.insert_one(
            {
                "_id": conversation_id,
                "user_id": user_id,
                "page_context": _page_context_doc(page_context),
                "create_time": now,
                "recent_turns": [],
                "history_version": 0,
            }
        )
        return common_pb2.Conversation(
            conversation_id=conversation_id,
            user_id=user_id,
            page_context=page_context,
            create_time=timestamp(now),
        )

    @unavailable_as_store_error
    async def get_conversation(self, user_id: str, conversation_id: str) -> common_pb2.Conversation | None:
        """The conversation, or None when it does not exist or belongs to another user (same answer for both).

        Read on every turn (the ownership check): the projection leaves out the history record, up to
        HISTORY_KEEP turns of text that this answer does not need.
        """
        doc = await self._conversations.find_one(
            {"_id": conversation_id, "user_id": user_id},
            projection={"user_id": 1, "page_context": 1, "create_time": 1},
        )
        if doc is None:
            return None
        return common_pb2.Conversation(
            conversation_id=doc["_id"],
            user_id=doc["user_id"],
            page_context=_page_context(doc.get("page_context")),
            create_time=timestamp(doc["create_time"]),
        )

    async def list_page(
        self, user_id: str, *, page_size: int, page_token: str = ""
    ) -> coordinator_pb2.ListConversationsResponse:
        """One page of the user's conversations, newest first (`mesh.storage.conversation_list`)."""
        return await list_conversations(
            self._conversations.database, user_id, page_size=page_size, page_token=page_token
        )

    @unavailable_as_store_error
    async def owned_history(self, user_id: str, conversation_id: str) -> HistoryRecord | None:
        """The conversation's history record, or None when it does not exist or is another user's."""
        return _history_of(
            await self._conversations.find_one(
                {"_id": conversation_id, "user_id": user_id}, projection=HISTORY_FIELDS
            )
        )

    @unavailable_as_store_error
    async def history(self, user_id: str, conversation_id: str, n: int) -> list[tuple[str, str]] | None:
        """The last `n` completed turns as (user text, answer), oldest first; None when not the user's.

        One `_id` read. A conversation stored before the record existed (no `recent_turns`) falls back to
        the query over its turns, once per turn until its next completed turn writes the record.
        """
        doc = await self._conversations.find_one(
            {"_id": conversation_id, "user_id": user_id}, projection={"recent_turns": 1}
        )
        if doc is None:
            return None
        if n <= 0:
            return []
        if "recent_turns" not in doc:
            return await TurnStore(self._conversations.database).recent_turns(conversation_id, n)
        entries: list[Document] = doc["recent_turns"][-n:]
        return [(e["user_text"], e["answer"]) for e in entries]

    async def remember(
        self,
        conversation_id: str,
        entry: Document,
        *,
        known: HistoryRecord | None = None,
        attempts: int = 3,
    ) -> None:
        """Append `entry` ({turn_id, user_text, answer}) to the history record, keeping the last HISTORY_KEEP.

        A compare-and-set on `history_version`, retried when another turn changed the record meanwhile. The
        whole array is written (`$set`): FerretDB ignores `$push`'s `$slice`. FerretDB applies conditional
        updates without isolation, so two turns of ONE conversation completing at the same instant may keep
        only one of the two entries there: the prompt then misses that turn, nothing else does. With `known`
        (the record as read at the turn's start) the first attempt writes without reading.
        """
        for attempt in range(attempts):
            record = (
                known if attempt == 0 and known is not None else await self._history_record(conversation_id)
            )
            if record is None:
                return
            kept = [e for e in record.entries if e.get("turn_id") != entry["turn_id"]]
            guard: Document = {"_id": conversation_id}
            guard["history_version"] = record.version if record.version is not None else {"$exists": False}
            version = (record.version or 0) + 1
            update = {"recent_turns": [*kept, entry][-HISTORY_KEEP:], "history_version": version}
            if (await self._conversations.update_one(guard, {"$set": update})).modified_count == 1:
                return
        log.warning("history record of conversation %s not updated: it kept changing", conversation_id)

    async def _history_record(self, conversation_id: str) -> HistoryRecord | None:
        return _history_of(
            await self._conversations.find_one({"_id": conversation_id}, projection=HISTORY_FIELDS)
        )


class TurnStore:
    """Turns: idempotent begin, lease takeover, atomic completion with the outbox, and the history."""

    def __init__(self, db: Database, *, owner: str = "") -> None:
        self._db = db
        self._turns = db.turns
        self._owner = owner or uuid.uuid4().hex

    @unavailable_as_store_error
    async def begin_turn(
        self,
        conversation_id: str,
        user_id: str,
        client_message_id: str,
        text: str,
        page_context: common_pb2.PageContext,
        lease_seconds: float,
    ) -> BeginTurn:
        """Create the turn for this client message, or report what already exists for it.

        The caller must check beforehand that the conversation belongs to `user_id`. The lease says how long
        the caller may run the turn before another request for the same message may take it over (set it
        a little above the turn's deadline). A pending turn whose lease expired is taken over: the caller
        gets NEW with the same turn id and `attempt` one higher.
        """
        now = utcnow()
        doc: Document = {
            "_id": uuid.uuid4().hex,
            "user_message_id": uuid.uuid4().hex,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "client_message_id": client_message_id,
            "text": text,
            "page_context": _page_context_doc(page_context),
            "state": "pending",
            "lease_until": now + timedelta(seconds=lease_seconds),
            "attempt": 0,
            "created_at": now,
            "outbox": [],
            "outbox_pending": False,
            # The trace of the request running the turn: support goes from a message id to its trace.
            "trace_id": current_trace_id(),
        }
        existing: Document | None = None
        for _ in range(3):  # the existing turn can only vanish if deleted by hand; then insert again
            try:
                await self._turns.insert_one(doc)
                return BeginTurn(BeginKind.NEW, Turn.from_doc(doc))
            except DuplicateKeyError:
                pass
            existing = await self._turns.find_one(
                {"conversation_id": conversation_id, "client_message_id": client_message_id}
            )
            if existing is not None:
                break
        if existing is None:
            raise StoreUnavailable("turn vanished while being begun")
        if existing["user_id"] != user_id:
            raise NotFoundError("conversation not found")
        turn = Turn.from_doc(existing)
        if turn.done:
            return BeginTurn(BeginKind.REPLAY, turn)
        if turn.lease_until > now:
            return BeginTurn(BeginKind.IN_PROGRESS, turn)
        return await self._take_over(turn, lease_seconds)

    async def _take_over(self, turn: Turn, lease_seconds: float) -> BeginTurn:
        """Take over a pending turn whose runner let its lease expire; one winner even among many callers."""
        attempt = turn.attempt + 1
        until = utcnow() + timedelta(seconds=lease_seconds)
        if not await try_claim(self._db, f"turn:{turn.turn_id}", attempt, self._owner, until):
            return BeginTurn(BeginKind.IN_PROGRESS, turn)
        result = await self._turns.update_one(
            {"_id": turn.turn_id, "state": "pending"},
            {"$set": {"attempt": attempt, "lease_until": until, "trace_id": current_trace_id()}},
        )
        fresh = await self._turns.find_one({"_id": turn.turn_id})
        if fresh is None:
            raise NotFoundError("turn not found")
        if result.matched_count == 0:  # it completed meanwhile
            return BeginTurn(BeginKind.REPLAY, Turn.from_doc(fresh))
        return BeginTurn(BeginKind.NEW, Turn.from_doc(fresh))

    async def wait_for_completion(
        self, turn_id: str, timeout_s: float, *, poll_s: float = 0.05
    ) -> Turn | None:
        """Poll until the turn is done and return it; None on timeout or when its runner's lease expired.

        For a request that got IN_PROGRESS: when this returns the turn, replay it; when it returns None, call
        `begin_turn` again (it takes over an expired turn) or report the turn as busy.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            turn = await self.get_turn(turn_id)
            if turn is None:
                return None
            if turn.done:
                return turn
            if turn.lease_until <= utcnow() or loop.time() >= deadline:
                return None
            await asyncio.sleep(min(poll_s, max(0.0, deadline - loop.time())))

    @unavailable_as_store_error
    async def complete_turn(
        self,
        turn_id: str,
        *,
        answer: str,
        intent: common_pb2.Intent.ValueType,
        language: common_pb2.Language.ValueType,
        degraded: list[common_pb2.Component.ValueType],
        writer: nlg_pb2.Writer.ValueType,
        generation: dict[str, str],
        events: list[tuple[str, str, events_pb2.EventEnvelope]],
        attempt: int | None = None,
        conversation_id: str = "",
        user_text: str = "",
        history: HistoryRecord | None = None,
    ) -> bool:
        """Store the answer and its outbox entries in ONE update of the turn document; True when stored.

        False when the turn is not pending any more (already completed, so a completed turn is never
        rewritten) or, when `attempt` is given, when another request took the turn over since. `events` are
        (topic, key, envelope) triples; the relay publishes them after this returns. A caller that knows the
        turn's `conversation_id` and `user_text` passes them, which spares re-reading the turn to append it
        to the conversation's history record; `history`, the record as read when the turn began, spares
        reading the record again (see `HistoryRecord`).
        """
        now = utcnow()
        condition: Document = {"_id": turn_id, "state": "pending"}
        if attempt is not None:
            condition["attempt"] = attempt
        result = await self._turns.update_one(
            condition,
            {
                "$set": {
                    "state": "done",
                    "completed_at": now,
                    "answer": answer,
                    "intent": int(intent),
                    "language": int(language),
                    "degraded": [int(c) for c in degraded],
                    "writer": int(writer),
                    "generation": dict(generation),
                    "outbox": [outbox_entry(topic, key, envelope) for topic, key, envelope in events],
                    "outbox_pending": bool(events),
                    "outbox_since": now,
                }
            },
        )
        if result.modified_count != 1:
            return False
        await self._remember(turn_id, answer, conversation_id, user_text, history)
        return True

    async def _remember(
        self,
        turn_id: str,
        answer: str,
        conversation_id: str,
        user_text: str,
        history: HistoryRecord | None = None,
    ) -> None:
        """Append a completed turn to its conversation's history record (`ConversationStore.remember`).

        After the turn's own write, so the answer and its events never wait on it; a failure here costs the
        next prompts this turn's context, not the answer, and is logged.
        """
        try:
            if not conversation_id:
                turn = await self._turns.find_one(
                    {"_id": turn_id}, projection={"conversation_id": 1, "text": 1}
                )
                if turn is None:
                    return
                conversation_id, user_text = turn["conversation_id"], turn["text"]
            entry = {"turn_id": turn_id, "user_text": user_text, "answer": answer}
            await ConversationStore(self._db).remember(conversation_id, entry, known=history)
        except ConnectionFailure as exc:
            log.warning(
                "history record not updated for turn %s: MongoDB unavailable (%s)",
                turn_id,
                type(exc).__name__,
            )

    @unavailable_as_store_error
    async def release_turn(self, turn_id: str, *, attempt: int | None = None) -> None:
        """Give up a pending turn (its run failed) so that the client's retry takes it over at once."""
        condition: Document = {"_id": turn_id, "state": "pending"}
        if attempt is not None:
            condition["attempt"] = attempt
        await self._turns.update_one(condition, {"$set": {"lease_until": _LONG_AGO}})

    @unavailable_as_store_error
    async def find_turn(self, conversation_id: str, user_id: str, client_message_id: str) -> Turn | None:
        """The turn of this client message, without beginning one (a resume must never start a turn); None
        when there is none or it is not `user_id`'s. Uses the (conversation_id, client_message_id) index."""
        doc = await self._turns.find_one(
            {"conversation_id": conversation_id, "client_message_id": client_message_id}
        )
        if doc is None or doc["user_id"] != user_id:
            return None
        return Turn.from_doc(doc)

    @unavailable_as_store_error
    async def get_turn(self, turn_id: str) -> Turn | None:
        doc = await self._turns.find_one({"_id": turn_id})
        return None if doc is None else Turn.from_doc(doc)

    @unavailable_as_store_error
    async def turn_for_message(self, message_id: str) -> Turn | None:
        """The turn a message belongs to: the assistant message's id is the turn's, the user's is stored on it.

        For support tools (from a message id in the widget to the turn's trace), not for the turn path: the
        user message id is not indexed, so that lookup reads the collection.
        """
        doc = await self._turns.find_one({"_id": message_id})
        if doc is None:
            doc = await self._turns.find_one({"user_message_id": message_id})
        return None if doc is None else Turn.from_doc(doc)

    @unavailable_as_store_error
    async def list_messages(self, user_id: str, conversation_id: str, limit: int) -> list[common_pb2.Message]:
        """The conversation's most recent `limit` messages, oldest first, with the user's ratings.

        A completed turn gives two messages (user, assistant). A pending turn gives its user message only: the
        user sees what they sent while the answer is being written (or after it failed, until they resend).
        Another user's conversation yields an empty list.
        """
        limit = max(1, limit)
        cursor = self._turns.find(
            {"conversation_id": conversation_id, "user_id": user_id},
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
            limit=limit,
        )
        docs: list[Document] = [doc async for doc in cursor]
        docs.reverse()
        ratings = await ratings_for(self._db, [d["_id"] for d in docs if d["state"] == "done"])
        messages: list[common_pb2.Message] = []
        for doc in docs:
            messages.append(self._user_message(doc))
            if doc["state"] == "done":
                messages.append(self._assistant_message(doc, ratings.get(doc["_id"], 0)))
        return messages[-limit:]

    @staticmethod
    def _user_message(doc: Document) -> common_pb2.Message:
        return common_pb2.Message(
            message_id=doc["user_message_id"],
            conversation_id=doc["conversation_id"],
            role=common_pb2.ROLE_USER,
            text=doc["text"],
            create_time=timestamp(doc["created_at"]),
            client_message_id=doc["client_message_id"],
        )

    @staticmethod
    def _assistant_message(doc: Document, rating: int) -> common_pb2.Message:
        return common_pb2.Message(
            message_id=doc["_id"],
            conversation_id=doc["conversation_id"],
            role=common_pb2.ROLE_ASSISTANT,
            text=doc.get("answer", ""),
            create_time=timestamp(doc.get("completed_at") or doc["created_at"]),
            client_message_id=doc["client_message_id"],
            intent=common_pb2.Intent.ValueType(doc.get("intent", 0)),
            degraded_components=[common_pb2.Component.ValueType(c) for c in doc.get("degraded", [])],
            feedback_rating=common_pb2.FeedbackRating.ValueType(rating),
        )

    @unavailable_as_store_error
    async def recent_turns(self, conversation_id: str, n: int) -> list[tuple[str, str]]:
        """The last `n` completed turns as (user text, answer), oldest first, from the turns themselves.

        Reads every turn of the conversation on FerretDB (no sort pushdown): the turn path uses
        `ConversationStore.history` instead; this stays for conversations without that record.
        """
        if n <= 0:
            return []
        cursor = self._turns.find(
            {"conversation_id": conversation_id, "state": "done"},
            projection={"text": 1, "answer": 1},
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
            limit=n,
        )
        pairs: list[tuple[str, str]] = [(d["text"], d.get("answer", "")) async for d in cursor]
        pairs.reverse()
        return pairs
