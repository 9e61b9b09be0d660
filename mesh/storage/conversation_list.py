"""A user's conversations, newest first, a page at a time: the widget's list of past chats.

Pages are cut by keyset, not by skip: the page token is the (create_time, id) of the last conversation shown,
so a conversation started while someone pages through the list neither shifts nor repeats the pages after
it, and a deep page costs what the first one does (the `user_recent` index on user_id, create_time). The token
is opaque to callers (base64 JSON) and checked when it comes back: a forged one can only name another
position in the caller's own list, because the user id never comes from it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from assist.v1 import common_pb2, coordinator_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo import DESCENDING

from mesh.storage.mongo import Database, Document, as_utc, unavailable_as_store_error

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
PREVIEW_CHARS = 80
# 9999-12-31T23:59:59.999Z, the last instant a datetime holds.
LATEST_MS = 253_402_300_799_999


class BadPageToken(ValueError):
    """The page token was not one this service handed out."""


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last conversation's creation time (ms, as stored) and id."""

    create_time_ms: int
    conversation_id: str

    def token(self) -> str:
        raw = json.dumps({"t": self.create_time_ms, "id": self.conversation_id}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> Position:
        try:
            raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            position = cls(int(raw["t"]), str(raw["id"]))
        except (binascii.Error, ValueError, TypeError, KeyError, OverflowError) as exc:
            raise BadPageToken("page_token is not a token from a previous page") from exc
        if isinstance(raw["t"], bool) or not isinstance(raw["id"], str) or not raw["id"]:
            raise BadPageToken("page_token is not a token from a previous page")
        if not 0 <= position.create_time_ms <= LATEST_MS:  # a time BSON and datetime can both hold
            raise BadPageToken("page_token is not a token from a previous page")
        return position

    @property
    def create_time(self) -> datetime:
        return datetime.fromtimestamp(self.create_time_ms / 1000, tz=UTC)


def _ms(value: datetime) -> int:
    """Milliseconds since the epoch: BSON keeps dates to the millisecond, so this loses nothing stored."""
    return int(as_utc(value).timestamp() * 1000)


def _conversation(doc: Document) -> common_pb2.Conversation:
    created = Timestamp()
    created.FromDatetime(as_utc(doc["create_time"]))
    page = doc.get("page_context") or {}
    return common_pb2.Conversation(
        conversation_id=doc["_id"],
        user_id=doc["user_id"],
        page_context=common_pb2.PageContext(
            task_id=page.get("task_id", ""), page_url=page.get("page_url", "")
        ),
        create_time=created,
    )


def _preview(doc: Document) -> str:
    for entry in doc.get("recent_turns") or []:
        text = " ".join(str(entry.get("user_text", "")).split())
        if text:
            return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    return ""


def page_size_of(requested: int) -> int:
    """The page size to serve: the default for 0, never more than the maximum, at least 1."""
    return max(1, min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE))


@unavailable_as_store_error
async def list_conversations(
    db: Database, user_id: str, *, page_size: int, page_token: str = ""
) -> coordinator_pb2.ListConversationsResponse:
    """One page of `user_id`'s conversations, newest first, with the token of the next page ("" at the end).

    BadPageToken when `page_token` is not one this function made.
    """
    query: Document = {"user_id": user_id}
    if page_token:
        after = Position.from_token(page_token)
        query["$or"] = [
            {"create_time": {"$lt": after.create_time}},
            {"create_time": after.create_time, "_id": {"$lt": after.conversation_id}},
        ]
    cursor = db.conversations.find(
        query,
        projection={"user_id": 1, "page_context": 1, "create_time": 1, "recent_turns": 1, "imported": 1},
        sort=[("create_time", DESCENDING), ("_id", DESCENDING)],
        limit=page_size + 1,  # one more than shown: whether a next page exists, without a count
    )
    docs: list[Document] = [doc async for doc in cursor]
    shown = docs[:page_size]
    summaries = [
        coordinator_pb2.ConversationSummary(
            conversation=_conversation(doc),
            preview=_preview(doc),
            imported=bool(doc.get("imported")),
        )
        for doc in shown
    ]
    next_token = ""
    if len(docs) > page_size:
        last = shown[-1]
        next_token = Position(_ms(last["create_time"]), last["_id"]).token()
    return coordinator_pb2.ListConversationsResponse(conversations=summaries, next_page_token=next_token)
