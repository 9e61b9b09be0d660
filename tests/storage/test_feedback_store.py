"""Ratings of answers and conversations: ownership checks, one document per rated thing, event ids."""

from __future__ import annotations

import pytest
from assist.v1 import common_pb2, events_pb2, nlg_pb2

from mesh.storage.feedback import FeedbackStore, feedback_id_for, satisfaction_id_for
from mesh.storage.mongo import Database, NotFoundError
from mesh.storage.turns import ConversationStore, TurnStore

pytestmark = pytest.mark.stack

UP, DOWN = common_pb2.FEEDBACK_RATING_UP, common_pb2.FEEDBACK_RATING_DOWN


async def _done_turn(db: Database, user_id: str = "u1", client_message_id: str = "m-1") -> tuple[str, str]:
    conversation = await ConversationStore(db).create_conversation(user_id, common_pb2.PageContext())
    turns = TurnStore(db)
    begin = await turns.begin_turn(
        conversation.conversation_id, user_id, client_message_id, "hi", common_pb2.PageContext(), 30
    )
    await turns.complete_turn(
        begin.turn.turn_id,
        answer="hello",
        intent=common_pb2.INTENT_GREETING,
        language=common_pb2.LANGUAGE_EN,
        degraded=[],
        writer=nlg_pb2.WRITER_LOCAL,
        generation={},
        events=[],
    )
    return conversation.conversation_id, begin.turn.turn_id


def _events(doc: dict[str, object]) -> list[events_pb2.EventEnvelope]:
    outbox = doc["outbox"]
    assert isinstance(outbox, list)
    return [events_pb2.EventEnvelope.FromString(e["payload"]) for e in outbox]


async def test_feedback_is_stored_with_its_event_and_a_retry_adds_nothing(db: Database) -> None:
    conversation_id, message_id = await _done_turn(db)
    store = FeedbackStore(db)
    feedback_id = await store.record_feedback("u1", message_id, UP, "")
    assert feedback_id == feedback_id_for(message_id)
    assert await store.record_feedback("u1", message_id, UP, "") == feedback_id  # a retry
    doc = await db.feedback.find_one({"_id": feedback_id})
    assert doc is not None and doc["rating"] == UP and doc["outbox_pending"] is True
    [event] = _events(doc)
    assert event.feedback.message_id == message_id and event.feedback.conversation_id == conversation_id
    assert event.feedback.rating == UP and not event.feedback.has_comment
    assert doc["outbox"][0]["topic"] == "assist.feedback.v1" and doc["outbox"][0]["key"] == conversation_id
    assert await store.ratings_for([message_id, "other"]) == {message_id: UP}


async def test_changing_the_rating_replaces_it_and_adds_an_event_with_a_new_id(db: Database) -> None:
    _, message_id = await _done_turn(db)
    store = FeedbackStore(db)
    await store.record_feedback("u1", message_id, UP, "")
    await store.record_feedback("u1", message_id, DOWN, "wrong due date")
    await store.record_feedback("u1", message_id, DOWN, "wrong due date")
    assert await db.feedback.count_documents({}) == 1
    doc = await db.feedback.find_one({"_id": feedback_id_for(message_id)})
    assert doc is not None and doc["rating"] == DOWN and doc["comment"] == "wrong due date"
    events = _events(doc)
    assert [e.feedback.rating for e in events] == [UP, DOWN]
    assert len({e.event_id for e in events}) == 2 and events[1].feedback.has_comment
    assert await store.ratings_for([message_id]) == {message_id: DOWN}


async def test_feedback_on_a_message_that_is_not_the_users_done_answer_is_not_found(db: Database) -> None:
    _, message_id = await _done_turn(db)
    store = FeedbackStore(db)
    with pytest.raises(NotFoundError):
        await store.record_feedback("u2", message_id, UP, "")
    with pytest.raises(NotFoundError):
        await store.record_feedback("u1", "missing", UP, "")
    conversation = await ConversationStore(db).create_conversation("u1", common_pb2.PageContext())
    pending = await TurnStore(db).begin_turn(
        conversation.conversation_id, "u1", "m-9", "hi", common_pb2.PageContext(), 30
    )
    with pytest.raises(NotFoundError):
        await store.record_feedback("u1", pending.turn.turn_id, UP, "")
    with pytest.raises(ValueError):
        await store.record_feedback("u1", message_id, common_pb2.FEEDBACK_RATING_UNSPECIFIED, "")
    with pytest.raises(ValueError):
        await store.record_feedback("u1", message_id, UP, "x" * 2001)


async def test_satisfaction_is_one_document_per_conversation_with_its_events(db: Database) -> None:
    conversation_id, _ = await _done_turn(db)
    store = FeedbackStore(db)
    satisfaction_id = await store.record_satisfaction("u1", conversation_id, 4, "")
    assert satisfaction_id == satisfaction_id_for(conversation_id)
    await store.record_satisfaction("u1", conversation_id, 4, "")
    await store.record_satisfaction("u1", conversation_id, 5, "great")
    doc = await db.satisfaction.find_one({"_id": satisfaction_id})
    assert doc is not None and doc["score"] == 5 and doc["comment"] == "great"
    assert [e.satisfaction.score for e in _events(doc)] == [4, 5]
    with pytest.raises(NotFoundError):
        await store.record_satisfaction("u2", conversation_id, 3, "")
    with pytest.raises(ValueError):
        await store.record_satisfaction("u1", conversation_id, 6, "")
