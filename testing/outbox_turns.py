"""Completed turns that each carry one interaction event, written through the product's own TurnStore.

What the outbox relay is fed by its tests (tests/outbox_relay/) and by its benchmark (bench/relay_cost.py):
a begun and completed turn whose single outbox entry is an `InteractionEvent` on the given topic.
"""

from __future__ import annotations

import uuid

from assist.v1 import common_pb2, events_pb2, nlg_pb2

from mesh.storage.turns import TurnStore


async def completed_turn_with_event(
    turns: TurnStore,
    topic: str,
    *,
    conversation_id: str,
    user_id: str,
    client_message_id: str,
    text: str,
    answer: str,
    intent: common_pb2.Intent.ValueType = common_pb2.INTENT_HELP,
) -> str:
    """Begin and complete one turn with an interaction event on `topic`; returns the event's id."""
    begin = await turns.begin_turn(
        conversation_id, user_id, client_message_id, text, common_pb2.PageContext(), 30
    )
    envelope = events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex,
        interaction=events_pb2.InteractionEvent(conversation_id=conversation_id, turn_id=begin.turn.turn_id),
    )
    await turns.complete_turn(
        begin.turn.turn_id,
        answer=answer,
        intent=intent,
        language=common_pb2.LANGUAGE_EN,
        degraded=[],
        writer=nlg_pb2.WRITER_LOCAL,
        generation={},
        events=[(topic, conversation_id, envelope)],
    )
    return envelope.event_id
