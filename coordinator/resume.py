"""Resume a turn's stream after the last event the client received (`ConverseRequest.last_event_id`).

The natural extension of a resent `client_message_id`: a resend without an id replays the stored answer
(or waits for the running turn); a resend with one gets only the events after it. Nothing runs a second
time: the events come from the turn's event log (coordinator/turn_events.py), read from any replica, and
followed live while the turn is still running. When the log cannot help (Redis down, events expired or
trimmed, the run died and another took over), the stored answer's `done` event ends the stream (its text is
the whole answer, so the client replaces what it had), or a retryable ABORTED error if the turn is still
unanswered when the deadline nears.

An id that is not an event of this very message (unknown, malformed, another message's or another user's)
is refused with one message for all cases, so a refusal says nothing about other turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from assist.v1 import common_pb2, coordinator_pb2
from grpc_interceptor.exceptions import FailedPrecondition

from coordinator.degraded import phrase
from coordinator.turn_deadline import remaining
from coordinator.turn_events import STORED_RUN, EventId, TurnEventLog, is_last_event, parse_event_id
from mesh.storage.mongo import utcnow
from mesh.storage.turns import Turn, TurnStore

NOT_AN_EVENT = "last_event_id is not an event of this message; send it again without one"


def stored_events(stored: Turn) -> list[coordinator_pb2.ConverseResponse]:
    """The events of a turn already answered (a resent message's replay), with their `s`-run ids."""
    events = [
        coordinator_pb2.ConverseResponse(
            accepted=coordinator_pb2.TurnAccepted(user_message_id=stored.user_message_id, replayed=True)
        ),
        coordinator_pb2.ConverseResponse(
            intent=coordinator_pb2.IntentRecognized(intent=stored.intent, language=stored.language)
        ),
        coordinator_pb2.ConverseResponse(delta=coordinator_pb2.TextDelta(text=stored.answer)),
        coordinator_pb2.ConverseResponse(
            done=coordinator_pb2.TurnDone(
                message_id=stored.turn_id,
                text=stored.answer,
                degraded_components=stored.degraded,
                writer=stored.writer,
            )
        ),
    ]
    for seq, event in enumerate(events, start=1):
        event.event_id = str(EventId(stored.user_message_id, STORED_RUN, seq))
    return events


class TurnResumer:
    """Streams what a client missed of a turn, from the event log or, failing that, the stored answer."""

    def __init__(
        self,
        turns: TurnStore,
        events: TurnEventLog,
        *,
        block_ms: int = 250,
        check_every_s: float = 1.0,
    ) -> None:
        self._turns = turns
        self._events = events
        # Below the Redis client's socket timeout, or a quiet wait would look like an outage.
        self._block_ms = block_ms
        self._check_every_s = check_every_s

    async def resume(
        self, user_id: str, request: coordinator_pb2.ConverseRequest
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        """Yield the events after `request.last_event_id`. Raises FailedPrecondition before any event when
        the id is not one of this message's."""
        after = parse_event_id(request.last_event_id)
        turn = await self._turns.find_turn(request.conversation_id, user_id, request.client_message_id)
        if after is None or turn is None or turn.user_message_id != after.user_message_id:
            raise FailedPrecondition(NOT_AN_EVENT)
        if after.run == STORED_RUN:
            if not turn.done or after.seq > 4:
                raise FailedPrecondition(NOT_AN_EVENT)
            for event in stored_events(turn)[after.seq :]:
                yield event
            return
        run = int(after.run)
        if run > turn.attempt:
            raise FailedPrecondition(NOT_AN_EVENT)
        if run == turn.attempt:
            finished = False
            async for event in self._follow(turn, run, after.seq):
                yield event
                finished = is_last_event(event)
            if finished:
                return
        async for event in self._stored_answer(turn):
            yield event

    async def _follow(
        self, turn: Turn, run: int, after_seq: int
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        """The run's kept events after `after_seq`, live until its last one. Stops early (the caller then
        falls back) when Redis is down, an event is missing, or the run ended or died without logging its
        last event."""
        first = await self._events.first_kept(turn.turn_id, run)
        if first is None or first > after_seq + 1:
            return
        loop = asyncio.get_running_loop()
        seq = after_seq
        next_check = loop.time() + self._check_every_s
        while True:
            batch = await self._events.read_after(turn.turn_id, run, seq, block_ms=self._block_ms)
            if batch is None:
                return
            for event_seq, event in batch:
                if event_seq != seq + 1:
                    return  # an append failed (Redis blinked): the stored answer is whole, the log is not
                seq = event_seq
                yield event
                if is_last_event(event):
                    return
            left = remaining()
            if left is not None and left < 1.0:
                return
            if batch or loop.time() < next_check:
                continue
            next_check = loop.time() + self._check_every_s
            current = await self._turns.get_turn(turn.turn_id)
            if current is None:
                return
            if current.done or current.attempt != run or current.lease_until <= utcnow():
                # Ended (its last event may land a moment after the store says done) or died.
                for event_seq, event in await self._events.read_after(turn.turn_id, run, seq) or []:
                    if event_seq != seq + 1:
                        return
                    seq = event_seq
                    yield event
                    if is_last_event(event):
                        return
                return

    async def _stored_answer(self, turn: Turn) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        """The stored answer's `done` (waiting for the running turn within the deadline), or a retryable
        error when it is not answered in time."""
        done: Turn | None = turn
        if not turn.done:
            left = remaining()
            wait_s = 20.0 if left is None else max(0.0, left - 1.0)
            done = await self._turns.wait_for_completion(turn.turn_id, timeout_s=wait_s)
        if done is not None and done.done:
            yield stored_events(done)[-1]
            return
        language = turn.language or common_pb2.LANGUAGE_EN
        yield coordinator_pb2.ConverseResponse(
            error=coordinator_pb2.TurnError(
                code="ABORTED", message=phrase("in_progress", language), retryable=True
            )
        )
