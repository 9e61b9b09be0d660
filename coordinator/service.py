"""CoordinatorService: the public gRPC API that the edge transcodes and internal apps call directly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import NoReturn

import grpc
from assist.v1 import common_pb2, coordinator_pb2, coordinator_pb2_grpc, feedback_pb2
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from coordinator import validation
from coordinator.agent_clients import AgentClients
from coordinator.circuit_breaker import BreakerState
from coordinator.pipeline import TurnPipeline
from coordinator.turn_deadline import turn_deadline
from coordinator.turn_events import TurnEventLog
from mesh.admission import RETRY_AFTER_METADATA_KEY, Overloaded, TurnAdmission
from mesh.flags import Flags, Rollout
from mesh.identity import caller_user_id
from mesh.retry_policy import NO_RETRY, PUSHBACK_METADATA_KEY
from mesh.storage.conversation_list import BadPageToken, page_size_of
from mesh.storage.mongo import StoreUnavailable
from mesh.storage.study import StudyStore
from mesh.storage.turns import ConversationStore, HistoryRecord, TurnStore
from mesh.turn_metrics import record_feedback, record_satisfaction

log = logging.getLogger(__name__)

_END = object()
# What a user outside the rollout is told (HTTP 403 PERMISSION_DENIED at the edge).
NOT_IN_ROLLOUT = "the assistant is not available for your account yet"


class CoordinatorServicer(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(
        self,
        agents: AgentClients,
        conversations: ConversationStore,
        turns: TurnStore,
        flags: Flags,
        *,
        admission: TurnAdmission | None = None,
        study: StudyStore | None = None,
        events: TurnEventLog | None = None,
    ) -> None:
        self._agents = agents
        # Evaluated per call, so a change of the flags file applies to the next call (mesh/flags.py).
        self._flags = flags
        # Counts turns until they end, not until their caller leaves: a turn keeps running without it.
        self._admission = admission or TurnAdmission("coordinator", 0)
        self._conversations = conversations
        self._turns = turns
        self._study = study
        self._pipeline = TurnPipeline(agents, turns, events=events)
        # Turns keep running when their caller goes away, so an answer is never lost; kept here so the
        # tasks are not garbage-collected mid-turn.
        self._running: set[asyncio.Task[None]] = set()

    async def GetWidgetConfig(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.GetWidgetConfigRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.GetWidgetConfigResponse:
        user_id = caller_user_id(context)
        enabled = self._flags.widget_enabled(user_id)
        # Study mode only for a widget that shows itself at all (the rollout stays the kill switch).
        study = enabled and self._flags.study_mode(user_id)
        return coordinator_pb2.GetWidgetConfigResponse(enabled=enabled, study=study)

    async def CreateConversation(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.CreateConversationRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.CreateConversationResponse:
        user_id = caller_user_id(context)
        if not self._flags.widget_enabled(user_id):
            # Outside the rollout (or the kill switch is on): no new conversations. Conversations started
            # before keep working, so a rollback does not cut a user off mid-conversation.
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, NOT_IN_ROLLOUT)
        validation.check_page_context(request.page_context)
        conversation = await self._conversations.create_conversation(user_id, request.page_context)
        return coordinator_pb2.CreateConversationResponse(conversation=conversation)

    async def Converse(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.ConverseRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        user_id = caller_user_id(context)
        validation.check_converse(request)
        self._refuse_while_the_store_is_down()
        try:
            self._admission.enter()  # before any store read or agent call: a refusal must cost nothing
        except Overloaded as exc:
            # Not resent by the caller's channel (A6 pushback): an overloaded replica's refusal goes back to
            # the client as 503 + Retry-After rather than multiplying the load (mesh/retry_policy.py).
            context.set_trailing_metadata(
                ((RETRY_AFTER_METADATA_KEY, str(exc.retry_after_s)), (PUSHBACK_METADATA_KEY, NO_RETRY))
            )
            await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        try:
            history = await self._conversations.owned_history(user_id, request.conversation_id)
            if history is None:
                raise NotFound(f"no conversation {request.conversation_id}")
        except BaseException as exc:
            self._admission.leave()
            self._note_store_failure(exc)
            raise
        queue: asyncio.Queue[object] = asyncio.Queue()
        rollout = self._flags.rollout(user_id)
        task = asyncio.create_task(
            self._run_turn(user_id, request, rollout, context.time_remaining(), queue, history)
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        task.add_done_callback(lambda _: self._admission.leave())
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item  # StoreUnavailable and the rest become statuses in mesh.errors
            assert isinstance(item, coordinator_pb2.ConverseResponse)
            yield item

    async def _run_turn(
        self,
        user_id: str,
        request: coordinator_pb2.ConverseRequest,
        rollout: Rollout,
        time_left: float | None,
        queue: asyncio.Queue[object],
        history: HistoryRecord | None = None,
    ) -> None:
        """Run the turn to its end even if the caller disconnects; events go to the caller's queue."""
        with turn_deadline(time_left):
            try:
                async for event in self._pipeline.run(user_id, request, rollout, history):
                    queue.put_nowait(event)
            except BaseException as exc:  # handed to the caller, which maps it to a status
                if isinstance(exc, StoreUnavailable):  # logged and counted where it happened (mesh/storage)
                    self._note_store_failure(exc)
                    log.warning(
                        "turn failed: the store is unavailable",
                        extra={"conversation_id": request.conversation_id},
                    )
                elif not isinstance(exc, asyncio.CancelledError):
                    log.exception("turn failed", extra={"conversation_id": request.conversation_id})
                queue.put_nowait(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            finally:
                queue.put_nowait(_END)

    def _refuse_while_the_store_is_down(self) -> None:
        """With the store's breaker open a turn cannot be stored: refuse it now (503, retryable at the edge)
        rather than after the store's timeouts. Half-open lets turns through: they are its probes."""
        breaker = self._agents.store_breaker
        if breaker is not None and breaker.state is BreakerState.OPEN:
            raise StoreUnavailable("circuit open for the store")

    def _note_store_failure(self, exc: BaseException) -> None:
        """The coordinator's own store failures count for the store's breaker, as the agents' do."""
        breaker = self._agents.store_breaker
        if breaker is not None and isinstance(exc, StoreUnavailable):
            breaker.record_failure()

    async def ListConversations(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.ListConversationsRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.ListConversationsResponse:
        user_id = caller_user_id(context)
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        try:
            return await self._conversations.list_page(
                user_id, page_size=page_size_of(request.page_size), page_token=request.page_token
            )
        except BadPageToken as exc:
            raise InvalidArgument(str(exc)) from exc

    async def ListMessages(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.ListMessagesRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.ListMessagesResponse:
        user_id = caller_user_id(context)
        validation.check_id(request.conversation_id, "conversation_id")
        await self._require_conversation(user_id, request.conversation_id)
        limit = min(request.page_size or 100, 500)
        messages = await self._turns.list_messages(user_id, request.conversation_id, limit)
        return coordinator_pb2.ListMessagesResponse(messages=messages)

    async def SubmitFeedback(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.SubmitFeedbackRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.SubmitFeedbackResponse:
        user_id = caller_user_id(context)
        validation.check_id(request.message_id, "message_id")
        validation.check_rating(request.rating)
        validation.check_comment(request.comment)
        try:
            reply = await self._agents.feedback.RecordFeedback(
                feedback_pb2.RecordFeedbackRequest(
                    user_id=user_id,
                    message_id=request.message_id,
                    rating=request.rating,
                    comment=request.comment,
                ),
                timeout=context.time_remaining(),
            )
        except grpc.aio.AioRpcError as exc:
            await _pass_on(exc, context)
        record_feedback(
            cohort=self._cohort_of(user_id), thumbs_up=request.rating == common_pb2.FEEDBACK_RATING_UP
        )
        return coordinator_pb2.SubmitFeedbackResponse(feedback_id=reply.feedback_id)

    async def SubmitSatisfaction(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.SubmitSatisfactionRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.SubmitSatisfactionResponse:
        user_id = caller_user_id(context)
        validation.check_id(request.conversation_id, "conversation_id")
        validation.check_score(request.score)
        validation.check_comment(request.comment)
        await self._require_conversation(user_id, request.conversation_id)
        try:
            reply = await self._agents.feedback.RecordSatisfaction(
                feedback_pb2.RecordSatisfactionRequest(
                    user_id=user_id,
                    conversation_id=request.conversation_id,
                    score=request.score,
                    comment=request.comment,
                ),
                timeout=context.time_remaining(),
            )
        except grpc.aio.AioRpcError as exc:
            await _pass_on(exc, context)
        record_satisfaction(cohort=self._cohort_of(user_id), score=request.score)
        return coordinator_pb2.SubmitSatisfactionResponse(satisfaction_id=reply.satisfaction_id)

    async def RecordStudyEvents(  # noqa: N802 - gRPC method name
        self,
        request: coordinator_pb2.RecordStudyEventsRequest,
        context: grpc.aio.ServicerContext,
    ) -> coordinator_pb2.RecordStudyEventsResponse:
        user_id = caller_user_id(context)
        validation.check_study_records(request.records)
        if self._study is None:
            await context.abort(
                grpc.StatusCode.UNIMPLEMENTED, "this coordinator does not store study records"
            )
        assert self._study is not None
        stored = await self._study.record(user_id, request.records)
        return coordinator_pb2.RecordStudyEventsResponse(stored=stored)

    def _cohort_of(self, user_id: str) -> str:
        """The user's rollout cohort for the `cohort` label of metrics outside a turn (mesh/flags.py)."""
        return self._flags.cohort(user_id)

    async def _require_conversation(self, user_id: str, conversation_id: str) -> None:
        found = await self._conversations.get_conversation(user_id, conversation_id)
        if found is None:
            raise NotFound(f"no conversation {conversation_id}")


async def _pass_on(exc: grpc.aio.AioRpcError, context: grpc.aio.ServicerContext) -> NoReturn:
    """Answer with the agent's status: its details are written for the caller (NOT_FOUND, INVALID_ARGUMENT)."""
    code = exc.code()
    if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, "feedback cannot be stored right now; try again shortly"
        )
    await context.abort(code, exc.details() or code.name)
    raise AssertionError("abort returned")
