"""One conversation turn: guard, NLU, then context and tasks in parallel, then streamed generation.

Every agent call may fail; each has a degraded result, and the final event names the degraded parts.
The turn and its outbox events are stored in one single-document write when the answer is complete.

Guard down fails OPEN (decided with the pipeline test harness, keeping the behaviour it found): a guard
error or timeout lets the unscreened message through, marked degraded (COMPONENT_GUARD) so it is visible
to the user, the stored turn and analytics. Why: the answer is grounded only in the user's own,
authorised tasks and the writer's instructions still refuse injected ones, while failing closed would
turn every guard outage into a full outage. The cost, accepted knowingly: while the guard is down,
personal data it would have masked reaches NLU and the writer (Gemini) unmasked.
Tested in tests/coordinator/test_turn_branches.py, with every other branch of the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from assist.v1 import (
    common_pb2,
    context_pb2,
    coordinator_pb2,
    events_pb2,
    guard_pb2,
    nlg_pb2,
    nlu_pb2,
    tasks_pb2,
)
from google.protobuf.timestamp_pb2 import Timestamp

from coordinator.agent_clients import AgentClients
from coordinator.degraded import fallback_answer, phrase
from coordinator.resume import TurnResumer, stored_events
from coordinator.turn_deadline import remaining
from coordinator.turn_events import EventId, TurnEventLog
from mesh.events.kafka import INTERACTIONS_TOPIC
from mesh.flags import Rollout
from mesh.intents import SINGLE_TASK_QUESTIONS, TASK_QUESTIONS
from mesh.storage.mongo import StoreUnavailable
from mesh.storage.turns import BeginKind, BeginTurn, HistoryRecord, TurnStore
from mesh.turn_metrics import TurnOutcome, record_first_text, record_turn

log = logging.getLogger(__name__)

# Task facts are fetched for task questions, and when the intent is unknown (NLU degraded): better
# facts the writer may not need than an answer without them.
TASK_INTENTS = TASK_QUESTIONS | {common_pb2.INTENT_UNSPECIFIED}


@dataclass
class TurnState:
    """What a turn has gathered so far."""

    user_id: str
    request: coordinator_pb2.ConverseRequest
    turn_id: str
    # The user's rollout when the turn began: its cohort labels the turn's event and metrics.
    rollout: Rollout
    text: str = ""
    degraded: set[common_pb2.Component.ValueType] = field(default_factory=set)
    understanding: nlu_pb2.UnderstandResponse = field(default_factory=nlu_pb2.UnderstandResponse)
    history: list[nlg_pb2.PriorTurn] = field(default_factory=list)
    tasks: list[common_pb2.Task] = field(default_factory=list)
    tasks_unavailable: bool = False
    focus_task_id: str = ""
    history_available: bool = False
    attempt: int = 0
    last_task_id: str = ""
    # When the first answer text was sent (monotonic), for time to first text.
    first_text_at: float | None = None
    # The conversation's history record as read when the turn was accepted (written at completion).
    history_record: HistoryRecord | None = None


def _event(**kwargs: object) -> coordinator_pb2.ConverseResponse:
    return coordinator_pb2.ConverseResponse(**kwargs)  # type: ignore[arg-type]


def _failed(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return repr(exc)


class TurnPipeline:
    """Runs turns for the coordinator service; holds the agent clients and the turn store."""

    def __init__(
        self,
        agents: AgentClients,
        turns: TurnStore,
        *,
        lease_s: float = 45.0,
        events: TurnEventLog | None = None,
    ) -> None:
        self._agents = agents
        self._turns = turns
        self._lease_s = lease_s
        # Where each run's events are kept for a client that resumes (no Redis: resumes get the stored answer).
        self._events = events or TurnEventLog(None)
        self._resumer = TurnResumer(turns, self._events)

    async def run(
        self,
        user_id: str,
        request: coordinator_pb2.ConverseRequest,
        rollout: Rollout,
        history: HistoryRecord | None = None,
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        """Yield the turn's events. Raises StoreUnavailable before the first event when MongoDB is down.

        The user's `rollout` (mesh/flags.py) gives the cohort that labels the turn's event and metrics, and
        the writer asked of NLG; a turn that ends without an answer counts as `failed`. With
        `request.last_event_id` nothing runs: only the events after it are sent (coordinator/resume.py).
        `history`, the conversation's history record read with the ownership check, is written back with
        this turn appended without being read again.
        """
        if request.last_event_id:
            async for event in self._resumer.resume(user_id, request):
                yield event
            return
        cohort = rollout.cohort
        started = time.monotonic()
        try:
            begin = await self._begin(user_id, request)
        except BaseException:
            record_turn(cohort=cohort, outcome=TurnOutcome.FAILED, duration_s=time.monotonic() - started)
            raise
        if begin is None:
            language = request.language_hint or common_pb2.LANGUAGE_EN
            yield _event(
                error=coordinator_pb2.TurnError(
                    code="ABORTED", message=phrase("in_progress", language), retryable=True
                )
            )
            return
        if begin.kind is BeginKind.REPLAY:
            for event in stored_events(begin.turn):
                yield event
            return

        state = TurnState(
            user_id=user_id,
            request=request,
            turn_id=begin.turn.turn_id,
            rollout=rollout,
            attempt=begin.turn.attempt,
            history_record=history,
        )
        user_message_id = begin.turn.user_message_id
        logged = self._events.run_writer(state.turn_id, state.attempt)
        try:
            seq = 0
            async for event in self._run_new(state, user_message_id):
                if event.HasField("delta") and state.first_text_at is None:
                    state.first_text_at = time.monotonic()
                    record_first_text(cohort=cohort, seconds=state.first_text_at - started)
                seq += 1
                event.event_id = str(EventId(user_message_id, str(state.attempt), seq))
                logged.put(seq, event)
                yield event
        except BaseException:
            record_turn(cohort=cohort, outcome=TurnOutcome.FAILED, duration_s=time.monotonic() - started)
            # Let the client's retry (same client_message_id) take the turn over at once.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._turns.release_turn(state.turn_id, attempt=state.attempt))
            raise

    async def _begin(self, user_id: str, request: coordinator_pb2.ConverseRequest) -> BeginTurn | None:
        """Begin the turn, or wait for the request already running it; None when it is still busy."""
        for _ in range(2):
            begin = await self._turns.begin_turn(
                conversation_id=request.conversation_id,
                user_id=user_id,
                client_message_id=request.client_message_id,
                text=request.text,
                page_context=request.page_context,
                lease_seconds=self._lease_s,
            )
            if begin.kind is not BeginKind.IN_PROGRESS:
                return begin
            left = remaining()
            wait_s = 20.0 if left is None else max(0.0, left - 1.0)
            done = await self._turns.wait_for_completion(begin.turn.turn_id, timeout_s=wait_s)
            if done is not None:
                return BeginTurn(BeginKind.REPLAY, done)
        return None

    async def _run_new(
        self, state: TurnState, user_message_id: str
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        started = time.monotonic()
        request = state.request
        yield _event(accepted=coordinator_pb2.TurnAccepted(user_message_id=user_message_id))

        verdict = await self._screen(state)
        if verdict == guard_pb2.GUARD_VERDICT_BLOCK:
            language = request.language_hint or common_pb2.LANGUAGE_EN
            state.understanding = nlu_pb2.UnderstandResponse(
                intent=common_pb2.INTENT_OUT_OF_SCOPE, language=language, confidence=1.0
            )
            answer = phrase("blocked", language)
            yield _event(intent=self._intent_event(state))
            yield _event(delta=coordinator_pb2.TextDelta(text=answer))
            info = nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)
            async for event in self._finish(state, answer, info, started, blocked=True):
                yield event
            return

        await self._understand(state)
        yield _event(intent=self._intent_event(state))
        state.focus_task_id = request.page_context.task_id or next(iter(self._task_refs(state)), "")
        await asyncio.gather(self._load_context(state), self._load_tasks(state))
        await self._follow_up_task(state)

        parts: list[str] = []
        info = nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)
        try:
            stream = self._agents.nlg.StreamGenerate(
                nlg_pb2.StreamGenerateRequest(input=self._generation_input(state))
            )
            async for chunk in stream:
                if chunk.delta:
                    parts.append(chunk.delta)
                    yield _event(delta=coordinator_pb2.TextDelta(text=chunk.delta))
                if chunk.done:
                    info = chunk.info
                    if chunk.replacement_text:
                        # The model broke off and the local writer answered instead: its answer is the
                        # one stored and sent in `done`; the client shows it in place of the deltas.
                        parts = [chunk.replacement_text]
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "nlg failed; degraded answer", extra={"error": _failed(exc), "turn_id": state.turn_id}
            )
            state.degraded.add(common_pb2.COMPONENT_NLG)
            language = state.understanding.language
            tail = phrase("interrupted", language) if parts else fallback_answer(language, state.tasks)
            parts.append(tail)
            yield _event(delta=coordinator_pb2.TextDelta(text=tail))
            info = nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)
        async for event in self._finish(state, "".join(parts), info, started):
            yield event

    async def _finish(
        self,
        state: TurnState,
        answer: str,
        info: nlg_pb2.GenerationInfo,
        started: float,
        *,
        blocked: bool = False,
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        latency_ms = int((time.monotonic() - started) * 1000)
        envelope = self._interaction_event(state, info, latency_ms)
        stored = await self._turns.complete_turn(
            state.turn_id,
            attempt=state.attempt,
            answer=answer,
            intent=state.understanding.intent,
            language=state.understanding.language,
            degraded=sorted(state.degraded),
            writer=info.writer,
            generation={
                "model": info.model,
                "prompt_version": info.prompt_version,
                **dict(info.parameters),
            },
            events=[(INTERACTIONS_TOPIC, state.request.conversation_id, envelope)],
            conversation_id=state.request.conversation_id,
            user_text=state.text,  # screened: later prompts carry this history to the model
            history=state.history_record,
        )
        if stored:
            if blocked:
                outcome = TurnOutcome.BLOCKED
            else:
                outcome = TurnOutcome.DEGRADED if state.degraded else TurnOutcome.ANSWERED
            record_turn(
                cohort=state.rollout.cohort,
                outcome=outcome,
                duration_s=time.monotonic() - started,
                writer=info.writer,
                degraded=state.degraded,
                intent=state.understanding.intent,
            )
            yield _event(
                done=coordinator_pb2.TurnDone(
                    message_id=state.turn_id,
                    text=answer,
                    degraded_components=sorted(state.degraded),
                    writer=info.writer,
                )
            )
            return
        # Another request took this turn over and completed it first: its answer is the one stored.
        turn = await self._turns.get_turn(state.turn_id)
        if turn is None or not turn.done:
            raise StoreUnavailable("the turn was taken over by another request")
        yield stored_events(turn)[-1]

    def _intent_event(self, state: TurnState) -> coordinator_pb2.IntentRecognized:
        u = state.understanding
        return coordinator_pb2.IntentRecognized(intent=u.intent, language=u.language, confidence=u.confidence)

    async def _screen(self, state: TurnState) -> int:
        try:
            screened: guard_pb2.ScreenResponse = await self._agents.guard.Screen(
                guard_pb2.ScreenRequest(text=state.request.text, user_id=state.user_id)
            )
        except grpc.aio.AioRpcError as exc:
            # Fail open: the answer is grounded in the user's own tasks only, and the writer's
            # instructions still refuse injected ones. Marked degraded so it is visible.
            log.warning("guard failed; passing the message through", extra={"error": _failed(exc)})
            state.degraded.add(common_pb2.COMPONENT_GUARD)
            state.text = state.request.text
            return guard_pb2.GUARD_VERDICT_ALLOW
        state.text = screened.screened_text or state.request.text
        return screened.verdict

    async def _understand(self, state: TurnState) -> None:
        request = nlu_pb2.UnderstandRequest(
            text=state.text,
            language_hint=state.request.language_hint,
            page_context=state.request.page_context,
        )
        try:
            state.understanding = await self._agents.nlu.Understand(request)
        except grpc.aio.AioRpcError as exc:
            log.warning("nlu failed; generic intent", extra={"error": _failed(exc)})
            state.degraded.add(common_pb2.COMPONENT_NLU)
            state.understanding = nlu_pb2.UnderstandResponse(
                intent=common_pb2.INTENT_UNSPECIFIED,
                language=state.request.language_hint or common_pb2.LANGUAGE_EN,
            )

    async def _load_context(self, state: TurnState) -> None:
        try:
            ctx: context_pb2.GetContextResponse = await self._agents.context.GetContext(
                context_pb2.GetContextRequest(
                    user_id=state.user_id,
                    conversation_id=state.request.conversation_id,
                    max_turns=6,
                    focus_task_id=state.focus_task_id,
                )
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("context failed; answering without history", extra={"error": _failed(exc)})
            state.degraded.add(common_pb2.COMPONENT_CONTEXT)
            return
        state.history = list(ctx.history)
        state.history_available = True
        state.last_task_id = ctx.last_task_id

    def _task_refs(self, state: TurnState) -> list[str]:
        return [e.value for e in state.understanding.entities if e.kind == "task_ref" and e.value]

    async def _load_tasks(self, state: TurnState) -> None:
        if state.understanding.intent not in TASK_INTENTS:
            return
        focus = state.focus_task_id
        try:
            listed, focused = await asyncio.gather(
                self._list_tasks(state.user_id), self._get_task(state.user_id, focus)
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("tasks failed; answering without task facts", extra={"error": _failed(exc)})
            state.degraded.add(common_pb2.COMPONENT_TASKS)
            state.tasks_unavailable = True
            return
        tasks = {t.task_id: t for t in listed.tasks}
        if focused is not None:
            state.focus_task_id = focused.task.task_id
            for task in (focused.task, *focused.blockers):
                tasks.setdefault(task.task_id, task)
        state.tasks = list(tasks.values())

    async def _list_tasks(self, user_id: str) -> tasks_pb2.ListTasksResponse:
        response: tasks_pb2.ListTasksResponse = await self._agents.tasks.ListTasks(
            tasks_pb2.ListTasksRequest(user_id=user_id, page_size=50)
        )
        return response

    async def _follow_up_task(self, state: TurnState) -> None:
        """A question about "it" with no task named: use the task the session last talked about."""
        if state.focus_task_id or not state.last_task_id or state.tasks_unavailable:
            return
        if state.understanding.intent not in SINGLE_TASK_QUESTIONS:
            return
        try:
            focused = await self._get_task(state.user_id, state.last_task_id)
        except grpc.aio.AioRpcError as exc:
            log.warning("tasks failed for the session's task", extra={"error": _failed(exc)})
            return
        if focused is None:
            return
        state.focus_task_id = focused.task.task_id
        known = {t.task_id for t in state.tasks}
        state.tasks.extend(t for t in (focused.task, *focused.blockers) if t.task_id not in known)

    async def _get_task(self, user_id: str, task_id: str) -> tasks_pb2.GetTaskResponse | None:
        if not task_id:
            return None
        try:
            response: tasks_pb2.GetTaskResponse = await self._agents.tasks.GetTask(
                tasks_pb2.GetTaskRequest(user_id=user_id, task_id=task_id)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return response

    def _generation_input(self, state: TurnState) -> nlg_pb2.GenerationInput:
        u = state.understanding
        return nlg_pb2.GenerationInput(
            user_id=state.user_id,
            text=state.text,
            intent=u.intent,
            entities=u.entities,
            language=u.language or common_pb2.LANGUAGE_EN,
            tasks=state.tasks,
            focus_task_id=state.focus_task_id,
            history=state.history,
            tasks_unavailable=state.tasks_unavailable,
            today=dt.date.today().isoformat(),
            requested_writer=nlg_pb2.WRITER_LOCAL
            if state.rollout.writer == "local"
            else nlg_pb2.WRITER_GEMINI,
        )

    def _interaction_event(
        self, state: TurnState, info: nlg_pb2.GenerationInfo, latency_ms: int
    ) -> events_pb2.EventEnvelope:
        occurred = Timestamp()
        occurred.GetCurrentTime()
        return events_pb2.EventEnvelope(
            # Derived from the turn id, so a turn retried after a crash emits the same event id.
            event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"assist:interaction:{state.turn_id}")),
            occur_time=occurred,
            interaction=events_pb2.InteractionEvent(
                conversation_id=state.request.conversation_id,
                turn_id=state.turn_id,
                user_id=state.user_id,
                intent=state.understanding.intent,
                language=state.understanding.language,
                degraded_components=sorted(state.degraded),
                writer=info.writer,
                latency_ms=latency_ms,
                first_turn=state.history_available and not state.history,
                task_id=state.request.page_context.task_id,
                cohort=state.rollout.cohort,
            ),
        )
