"""A user's footprint written through the product's own stores, as turns, feedback and the relay leave it.

Each store call is the one the coordinator, the feedback agent, the edge, the NLG cache and the analytics
consumer make, so the erasure and retention tests delete what the product really writes, in its shapes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from assist.v1 import common_pb2, events_pb2, nlg_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis

from agents.nlg.cache import NAMESPACE, AnswerCache, CachedAnswer, CacheKey
from analytics.consumer import record_events
from mesh.events.kafka import FEEDBACK_TOPIC, INTERACTIONS_TOPIC, decode
from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import Database, try_claim, utcnow
from mesh.storage.redis_store import RateLimiter, ResponseCache, SessionStore
from mesh.storage.turns import ConversationStore, TurnStore


@dataclass
class Footprint:
    user_id: str
    conversation_ids: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    # The Redis keys of the user's cached (task-scope) answers.
    cached_answer_keys: list[str] = field(default_factory=list)
    # Every event published for the user (decoded from the outboxes the relay marked sent).
    published: list[events_pb2.EventEnvelope] = field(default_factory=list)

    @property
    def needles(self) -> list[str]:
        """Every string that must not be found anywhere once the user is erased."""
        return [self.user_id, *self.conversation_ids, *self.message_ids]


def interaction(user_id: str, conversation_id: str, turn_id: str) -> events_pb2.EventEnvelope:
    occurred = Timestamp()
    occurred.GetCurrentTime()
    return events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex,
        occur_time=occurred,
        interaction=events_pb2.InteractionEvent(
            conversation_id=conversation_id,
            turn_id=turn_id,
            user_id=user_id,
            intent=common_pb2.INTENT_TASKS_OVERDUE,
            writer=nlg_pb2.WRITER_GEMINI,
        ),
    )


async def one_turn(
    db: Database, user_id: str, conversation_id: str, text: str, answer: str, *, trace_id: str = ""
) -> tuple[str, str]:
    """Begin and complete one turn as the coordinator does; (assistant message id, user message id)."""
    turns = TurnStore(db)
    begun = await turns.begin_turn(
        conversation_id, user_id, uuid.uuid4().hex, text, common_pb2.PageContext(task_id="T-1"), 30
    )
    turn_id = begun.turn.turn_id
    await turns.complete_turn(
        turn_id,
        answer=answer,
        intent=common_pb2.INTENT_TASKS_OVERDUE,
        language=common_pb2.LANGUAGE_EN,
        degraded=[common_pb2.COMPONENT_CONTEXT],
        writer=nlg_pb2.WRITER_GEMINI,
        generation={"model": "gemini-2.5-flash", "prompt_version": "task_answer@1"},
        events=[(INTERACTIONS_TOPIC, conversation_id, interaction(user_id, conversation_id, turn_id))],
        conversation_id=conversation_id,
        user_text=text,
    )
    if trace_id:
        await db.turns.update_one({"_id": turn_id}, {"$set": {"trace_id": trace_id}})
    return turn_id, begun.turn.user_message_id


async def relay_and_count(db: Database, collection: str, doc_id: str) -> list[events_pb2.EventEnvelope]:
    """What the relay and the analytics consumer do with a document's outbox: publish, mark sent, count.

    Returns the events "published", so a test can deliver them again (they stay in Kafka after an erasure).
    """
    doc = await db[collection].find_one({"_id": doc_id})
    assert doc is not None
    await try_claim(db, f"outbox:{collection}:{doc_id}", 1, "relay-test", utcnow())
    events = [decode(entry["payload"]) for entry in doc["outbox"]]
    await record_events(db, events)
    sent = {f"outbox.{i}.state": "sent" for i in range(len(doc["outbox"]))}
    await db[collection].update_one({"_id": doc_id}, {"$set": {**sent, "outbox_pending": False}})
    return events


async def seed_user(db: Database, redis: Redis, user_id: str, *, turns: int = 2) -> Footprint:
    """Two conversations' worth of data for `user_id` in every store the product writes to."""
    footprint = Footprint(user_id)
    conversations = ConversationStore(db)
    feedback = FeedbackStore(db, topic=FEEDBACK_TOPIC)
    sessions = SessionStore(redis, 600)
    for c in range(2):
        conversation = await conversations.create_conversation(user_id, common_pb2.PageContext(task_id="T-1"))
        cid = conversation.conversation_id
        footprint.conversation_ids.append(cid)
        for n in range(turns):
            turn_id, user_message_id = await one_turn(
                db, user_id, cid, f"what is late? ({n})", "Budget review is late.", trace_id=uuid.uuid4().hex
            )
            footprint.message_ids += [turn_id, user_message_id]
            footprint.published += await relay_and_count(db, "turns", turn_id)
        down = footprint.message_ids[-2]
        await feedback.record_feedback(user_id, down, common_pb2.FEEDBACK_RATING_DOWN, "wrong date for me")
        await feedback.record_satisfaction(user_id, cid, 2, "meh")
        if c == 0:  # the first conversation's ratings reached analytics; the second's are still pending
            footprint.published += await relay_and_count(db, "feedback", f"fb_{down}")
            footprint.published += await relay_and_count(db, "satisfaction", f"sat_{cid}")
        await sessions.set(user_id, cid, {"last_task_id": "T-1", "user": user_id})
        await try_claim(db, f"turn:{down}", 1, "runner", utcnow())
    await RateLimiter(redis, 5, 1.0, prefix="assist:ratelimit:turns").allow(user_id)
    # Two answers about their tasks, cached as the NLG agent caches them (tagged with the task and the user).
    answers = AnswerCache(ResponseCache(redis, NAMESPACE))
    for _ in range(2):
        key = CacheKey(uuid.uuid4().hex, "task", 600, ("T-1",), user_id)
        await answers.put(
            key, CachedAnswer(("Budget review is late.",), "gemini-2.5-flash", "task_answer@1", {})
        )
        footprint.cached_answer_keys.append(f"assist:cache:{NAMESPACE}:{key.digest}")
    return footprint


async def cache_general_answer(redis: Redis) -> str:
    """A general (help) answer as the NLG agent caches it: shared by every user, holds no user data."""
    key = CacheKey(uuid.uuid4().hex, "general", 600)
    await AnswerCache(ResponseCache(redis, NAMESPACE)).put(
        key, CachedAnswer(("I can list what is late.",), "gemini-2.5-flash", "help@1", {})
    )
    return f"assist:cache:{NAMESPACE}:{key.digest}"
