"""A user's conversations, newest first, a page at a time, on the real store: only the caller's, every one
exactly once across pages (also when several start in the same millisecond), imported ones marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from assist.v1 import common_pb2

from mesh.storage.conversation_list import (
    MAX_PAGE_SIZE,
    BadPageToken,
    Position,
    list_conversations,
    page_size_of,
)
from mesh.storage.mongo import Database
from mesh.storage.turns import ConversationStore

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _conversation(
    db: Database, conversation_id: str, user_id: str, at: datetime, **extra: object
) -> None:
    await db.conversations.insert_one(
        {"_id": conversation_id, "user_id": user_id, "page_context": {}, "create_time": at, **extra}
    )


async def _all_pages(db: Database, user_id: str, page_size: int) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await list_conversations(db, user_id, page_size=page_size, page_token=token)
        pages.append([s.conversation.conversation_id for s in page.conversations])
        token = page.next_page_token
        if not token:
            return pages


async def test_pages_list_each_of_the_users_conversations_once_newest_first(db: Database) -> None:
    for i in range(7):
        await _conversation(db, f"c{i}", "ana", START + timedelta(minutes=i))
    await _conversation(db, "b0", "bruno", START + timedelta(hours=1))
    # Three more in one millisecond: the id breaks the tie, so none is skipped or repeated at a page edge.
    for name in ("t1", "t2", "t3"):
        await _conversation(db, name, "ana", START + timedelta(minutes=3, seconds=30))
    pages = await _all_pages(db, "ana", 3)
    assert pages == [["c6", "c5", "c4"], ["t3", "t2", "t1"], ["c3", "c2", "c1"], ["c0"]]
    assert await _all_pages(db, "bruno", 3) == [["b0"]]
    assert await _all_pages(db, "nobody", 3) == [[]]


async def test_a_conversation_started_while_paging_does_not_shift_the_next_page(db: Database) -> None:
    for i in range(4):
        await _conversation(db, f"c{i}", "ana", START + timedelta(minutes=i))
    first = await list_conversations(db, "ana", page_size=2)
    await _conversation(db, "new", "ana", START + timedelta(hours=2))
    second = await list_conversations(db, "ana", page_size=2, page_token=first.next_page_token)
    assert [s.conversation.conversation_id for s in second.conversations] == ["c1", "c0"]
    assert second.next_page_token == ""


async def test_a_summary_carries_the_first_user_message_and_the_imported_mark(db: Database) -> None:
    long_text = "Quais tarefas   estão atrasadas " + "x" * 200
    await _conversation(
        db,
        "past-1",
        "ana",
        START,
        imported=True,
        page_context={"task_id": "T-101", "page_url": ""},
        recent_turns=[
            {"turn_id": "a", "user_text": "", "answer": "hi"},
            {"turn_id": "b", "user_text": long_text},
        ],
    )
    live = await ConversationStore(db).create_conversation("ana", common_pb2.PageContext(task_id="T-102"))
    page = await list_conversations(db, "ana", page_size=10)
    newest, past = page.conversations
    assert newest.conversation.conversation_id == live.conversation_id and not newest.imported
    assert newest.preview == "" and newest.conversation.page_context.task_id == "T-102"
    assert past.imported and past.conversation.page_context.task_id == "T-101"
    assert past.preview.startswith("Quais tarefas estão atrasadas x") and past.preview.endswith("…")
    assert len(past.preview) == 80
    assert past.conversation.create_time.ToDatetime(tzinfo=UTC) == START


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "e30",
        "ñ",
        Position(1, "x").token()[:-3],
        "eyJ0Ijp0cnVlLCJpZCI6IngifQ",  # {"t":true,"id":"x"}
        "eyJ0IjoxZTMwOSwiaWQiOiJ4In0",  # {"t":1e309,"id":"x"}: infinity
        Position(10**20, "x").token(),  # past any date
        Position(-1, "x").token(),
    ],
)
def test_a_token_not_made_here_is_refused(token: str) -> None:
    with pytest.raises(BadPageToken):
        Position.from_token(token)


def test_a_token_names_the_position_it_was_made_for() -> None:
    position = Position(1_772_366_400_123, "conv-9")
    assert Position.from_token(position.token()) == position


@pytest.mark.parametrize(("requested", "served"), [(0, 20), (1, 1), (50, 50), (10_000, MAX_PAGE_SIZE)])
def test_page_size_defaults_and_is_capped(requested: int, served: int) -> None:
    assert page_size_of(requested) == served
