"""Conversations and turns against FerretDB: idempotent begin, lease takeover, atomic completion, history."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from assist.v1 import common_pb2, events_pb2, nlg_pb2

from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import Database, NotFoundError
from mesh.storage.turns import HISTORY_KEEP, BeginKind, ConversationStore, HistoryRecord, TurnStore

pytestmark = pytest.mark.stack

PAGE = common_pb2.PageContext(task_id="T-1", page_url="https://tasks.example/t/T-1")


def _envelope(conversation_id: str, turn_id: str) -> events_pb2.EventEnvelope:
    return events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex,
        interaction=events_pb2.InteractionEvent(
            conversation_id=conversation_id, turn_id=turn_id, user_id="u1"
        ),
    )


async def _complete(turns: TurnStore, turn_id: str, answer: str = "the answer", **kwargs: object) -> bool:
    return await turns.complete_turn(
        turn_id,
        answer=answer,
        intent=common_pb2.INTENT_TASKS_DUE,
        language=common_pb2.LANGUAGE_EN,
        degraded=[common_pb2.COMPONENT_NLU],
        writer=nlg_pb2.WRITER_LOCAL,
        generation={"model": "", "prompt_version": "task_answer@1"},
        events=[("assist.interactions.v1", "c", _envelope("c", turn_id))],
        **kwargs,  # type: ignore[arg-type]
    )


async def test_conversation_round_trip_and_other_users_see_nothing(db: Database) -> None:
    store = ConversationStore(db)
    created = await store.create_conversation("u1", PAGE)
    assert created.conversation_id and created.user_id == "u1" and created.page_context == PAGE
    assert await store.get_conversation("u1", created.conversation_id) == created
    assert await store.get_conversation("u2", created.conversation_id) is None
    assert await store.get_conversation("u1", "missing") is None


async def test_duplicate_client_message_id_under_20_concurrent_sends_yields_one_turn(db: Database) -> None:
    turns = TurnStore(db)
    begins = await asyncio.gather(
        *(turns.begin_turn("c1", "u1", "m-1", "what is due?", PAGE, lease_seconds=30) for _ in range(20))
    )
    new = [b for b in begins if b.kind is BeginKind.NEW]
    assert len(new) == 1
    assert {b.kind for b in begins} == {BeginKind.NEW, BeginKind.IN_PROGRESS}
    turn_id = new[0].turn.turn_id
    assert {b.turn.turn_id for b in begins} == {turn_id}

    waiters = [
        asyncio.create_task(turns.wait_for_completion(turn_id, timeout_s=10))
        for b in begins
        if b.kind is BeginKind.IN_PROGRESS
    ]
    await asyncio.sleep(0.1)
    assert await _complete(turns, turn_id)
    completed = await asyncio.gather(*waiters)
    assert all(t is not None and t.turn_id == turn_id and t.answer == "the answer" for t in completed)
    assert await db.turns.count_documents({}) == 1
    again = await turns.begin_turn("c1", "u1", "m-1", "what is due?", PAGE, lease_seconds=30)
    assert again.kind is BeginKind.REPLAY and again.turn.answer == "the answer"


async def test_expired_pending_lease_is_taken_over_by_exactly_one_request(db: Database) -> None:
    turns = TurnStore(db)
    first = await turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, lease_seconds=0.05)
    assert first.kind is BeginKind.NEW and first.turn.attempt == 0
    await asyncio.sleep(0.1)
    retries = await asyncio.gather(*(turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, 30) for _ in range(10)))
    taken = [b for b in retries if b.kind is BeginKind.NEW]
    assert len(taken) == 1
    assert taken[0].turn.turn_id == first.turn.turn_id and taken[0].turn.attempt == 1
    # The runner that lost its lease cannot complete the turn any more; the new owner can.
    assert not await _complete(turns, first.turn.turn_id, attempt=0)
    assert await _complete(turns, first.turn.turn_id, attempt=1)


async def test_complete_turn_writes_answer_and_outbox_together_and_refuses_a_second_complete(
    db: Database,
) -> None:
    turns = TurnStore(db)
    begin = await turns.begin_turn("c1", "u1", "m-1", "what is due?", PAGE, lease_seconds=30)
    pending = await db.turns.find_one({"_id": begin.turn.turn_id})
    assert pending is not None and pending["state"] == "pending" and pending["outbox"] == []
    assert pending["outbox_pending"] is False

    assert await _complete(turns, begin.turn.turn_id)
    doc = await db.turns.find_one({"_id": begin.turn.turn_id})
    assert doc is not None
    assert doc["state"] == "done" and doc["answer"] == "the answer" and doc["outbox_pending"] is True
    assert len(doc["outbox"]) == 1
    entry = doc["outbox"][0]
    assert entry["state"] == "pending" and entry["topic"] == "assist.interactions.v1" and entry["key"] == "c"
    assert events_pb2.EventEnvelope.FromString(entry["payload"]).interaction.turn_id == begin.turn.turn_id

    assert not await _complete(turns, begin.turn.turn_id, answer="a rewrite")
    turn = await turns.get_turn(begin.turn.turn_id)
    assert turn is not None and turn.done and turn.answer == "the answer"
    assert turn.intent == common_pb2.INTENT_TASKS_DUE and turn.degraded == (common_pb2.COMPONENT_NLU,)
    assert turn.writer == nlg_pb2.WRITER_LOCAL and turn.generation["prompt_version"] == "task_answer@1"
    assert turn.page_context == PAGE


async def test_released_turn_is_taken_over_at_once(db: Database) -> None:
    turns = TurnStore(db)
    first = await turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, lease_seconds=30)
    assert (await turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, 30)).kind is BeginKind.IN_PROGRESS
    await turns.release_turn(first.turn.turn_id, attempt=0)
    retry = await turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, 30)
    assert retry.kind is BeginKind.NEW and retry.turn.turn_id == first.turn.turn_id


async def test_wait_for_completion_gives_up_on_timeout_and_on_an_expired_lease(db: Database) -> None:
    turns = TurnStore(db)
    running = await turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, lease_seconds=30)
    assert await turns.wait_for_completion(running.turn.turn_id, timeout_s=0.2) is None
    dead = await turns.begin_turn("c1", "u1", "m-2", "hi", PAGE, lease_seconds=0.05)
    await asyncio.sleep(0.1)
    started = asyncio.get_running_loop().time()
    assert await turns.wait_for_completion(dead.turn.turn_id, timeout_s=5) is None
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_begin_turn_in_another_users_conversation_is_not_found(db: Database) -> None:
    turns = TurnStore(db)
    await turns.begin_turn("c1", "u1", "m-1", "hi", PAGE, lease_seconds=30)
    with pytest.raises(NotFoundError):
        await turns.begin_turn("c1", "u2", "m-1", "hi", PAGE, lease_seconds=30)


async def test_list_messages_is_oldest_first_with_ratings_and_the_pending_user_message(db: Database) -> None:
    conversations, turns = ConversationStore(db), TurnStore(db)
    conversation = await conversations.create_conversation("u1", PAGE)
    cid = conversation.conversation_id
    ids = []
    for i in range(3):
        begin = await turns.begin_turn(cid, "u1", f"m-{i}", f"question {i}", PAGE, 30)
        assert await _complete(turns, begin.turn.turn_id, answer=f"answer {i}")
        ids.append(begin.turn.turn_id)
    pending = await turns.begin_turn(cid, "u1", "m-3", "question 3", PAGE, 30)
    await FeedbackStore(db).record_feedback("u1", ids[1], common_pb2.FEEDBACK_RATING_DOWN, "")

    messages = await turns.list_messages("u1", cid, 100)
    assert [m.text for m in messages] == [
        "question 0", "answer 0", "question 1", "answer 1", "question 2", "answer 2", "question 3"
    ]  # fmt: skip
    assert [m.role for m in messages[:2]] == [common_pb2.ROLE_USER, common_pb2.ROLE_ASSISTANT]
    assert messages[3].message_id == ids[1] and messages[3].feedback_rating == common_pb2.FEEDBACK_RATING_DOWN
    assert messages[1].feedback_rating == common_pb2.FEEDBACK_RATING_UNSPECIFIED
    assert messages[1].intent == common_pb2.INTENT_TASKS_DUE
    assert list(messages[1].degraded_components) == [common_pb2.COMPONENT_NLU]
    assert messages[6].message_id == pending.turn.user_message_id and messages[6].client_message_id == "m-3"
    assert messages[0].create_time.ToDatetime() <= messages[1].create_time.ToDatetime()

    last_three = await turns.list_messages("u1", cid, 3)
    assert [m.text for m in last_three] == ["question 2", "answer 2", "question 3"]
    assert await turns.list_messages("u2", cid, 100) == []


async def test_recent_turns_are_the_last_completed_pairs_oldest_first(db: Database) -> None:
    turns = TurnStore(db)
    for i in range(4):
        begin = await turns.begin_turn("c1", "u1", f"m-{i}", f"q{i}", PAGE, 30)
        await _complete(turns, begin.turn.turn_id, answer=f"a{i}")
    await turns.begin_turn("c1", "u1", "m-4", "q4", PAGE, 30)  # pending: not history yet
    assert await turns.recent_turns("c1", 2) == [("q2", "a2"), ("q3", "a3")]
    assert await turns.recent_turns("c1", 0) == []
    assert await turns.recent_turns("other", 5) == []


async def test_history_record_keeps_the_last_turns_in_order_and_checks_the_owner(db: Database) -> None:
    conversations, turns = ConversationStore(db), TurnStore(db)
    conversation = await conversations.create_conversation("u1", PAGE)
    cid = conversation.conversation_id
    assert await conversations.history("u1", cid, 6) == []
    for i in range(HISTORY_KEEP + 5):
        begun = await turns.begin_turn(cid, "u1", f"m-{i}", f"question {i}", PAGE, lease_seconds=30)
        assert await _complete(turns, begun.turn.turn_id, answer=f"answer {i}")
    expected = [(f"question {i}", f"answer {i}") for i in range(HISTORY_KEEP + 5)]
    assert await conversations.history("u1", cid, 6) == expected[-6:]
    assert await conversations.history("u1", cid, 100) == expected[-HISTORY_KEEP:]
    assert await conversations.history("u1", cid, 6) == await turns.recent_turns(cid, 6)
    assert await conversations.history("u2", cid, 6) is None
    stored = await db.conversations.find_one({"_id": cid})
    assert stored is not None and len(stored["recent_turns"]) == HISTORY_KEEP


async def test_a_turn_completed_twice_is_remembered_once(db: Database) -> None:
    conversations, turns = ConversationStore(db), TurnStore(db)
    cid = (await conversations.create_conversation("u1", PAGE)).conversation_id
    begun = await turns.begin_turn(cid, "u1", "m-1", "what is due?", PAGE, lease_seconds=30)
    assert await _complete(turns, begun.turn.turn_id)
    assert not await _complete(turns, begun.turn.turn_id, answer="a second answer")
    assert await conversations.history("u1", cid, 6) == [("what is due?", "the answer")]


async def test_the_record_read_when_the_turn_began_is_written_back_without_reading_it_again(
    db: Database,
) -> None:
    conversations, turns = ConversationStore(db), TurnStore(db)
    cid = (await conversations.create_conversation("u1", PAGE)).conversation_id
    read = await conversations.owned_history("u1", cid)
    assert read == HistoryRecord([], 0)
    assert await conversations.owned_history("u2", cid) is None
    # Entries only this copy holds: if the completion read the record again, they would not be stored.
    only_here = {"turn_id": "t-0", "user_text": "kept from the copy", "answer": "a0"}
    begun = await turns.begin_turn(cid, "u1", "m-1", "what is due?", PAGE, lease_seconds=30)
    copy = HistoryRecord([only_here], read.version)
    assert await _complete(
        turns, begun.turn.turn_id, conversation_id=cid, user_text="what is due?", history=copy
    )
    assert await conversations.history("u1", cid, 6) == [
        ("kept from the copy", "a0"),
        ("what is due?", "the answer"),
    ]


async def test_a_record_changed_since_the_turn_began_is_read_again_and_keeps_both_turns(db: Database) -> None:
    conversations, turns = ConversationStore(db), TurnStore(db)
    cid = (await conversations.create_conversation("u1", PAGE)).conversation_id
    first = await turns.begin_turn(cid, "u1", "m-1", "first?", PAGE, lease_seconds=30)
    stale = await conversations.owned_history("u1", cid)
    second = await turns.begin_turn(cid, "u1", "m-2", "second?", PAGE, lease_seconds=30)
    assert await _complete(turns, second.turn.turn_id, answer="a2", conversation_id=cid, user_text="second?")
    assert await _complete(
        turns, first.turn.turn_id, answer="a1", conversation_id=cid, user_text="first?", history=stale
    )
    assert await conversations.history("u1", cid, 6) == [("second?", "a2"), ("first?", "a1")]


async def test_history_of_a_conversation_stored_before_the_record_falls_back_to_its_turns(
    db: Database,
) -> None:
    conversations, turns = ConversationStore(db), TurnStore(db)
    cid = (await conversations.create_conversation("u1", PAGE)).conversation_id
    begun = await turns.begin_turn(cid, "u1", "m-1", "what is due?", PAGE, lease_seconds=30)
    await db.conversations.update_one({"_id": cid}, {"$unset": {"recent_turns": "", "history_version": ""}})
    assert await _complete(turns, begun.turn.turn_id)  # writes the record again, from this turn on
    await db.conversations.update_one({"_id": cid}, {"$unset": {"recent_turns": "", "history_version": ""}})
    assert await conversations.history("u1", cid, 6) == [("what is due?", "the answer")]
