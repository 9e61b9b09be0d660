"""`AssistClient`: the coordinator's RPCs as typed Python calls, over mutual TLS."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import grpc
from assist.v1 import common_pb2, coordinator_pb2, coordinator_pb2_grpc

from mesh.identity import user_metadata
from mesh.tls import coordinator_channel

Rating = Literal["up", "down"]
_RATINGS = {"up": common_pb2.FEEDBACK_RATING_UP, "down": common_pb2.FEEDBACK_RATING_DOWN}


class AssistError(Exception):
    """A call failed: the gRPC status code's name (`PERMISSION_DENIED`...) and the server's message."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


@dataclass(frozen=True)
class Answer:
    """The assistant's answer to one question."""

    conversation_id: str
    message_id: str
    text: str
    # The recognised intent's enum name (INTENT_TASKS_OVERDUE...), "" if none was recognised.
    intent: str
    # Parts of the mesh that could not help with this answer (COMPONENT_NLU...): the answer is degraded.
    degraded: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    message_id: str
    role: Literal["user", "assistant"]
    text: str
    created_at: dt.datetime | None


def _error(exc: grpc.aio.AioRpcError) -> AssistError:
    code = exc.code()
    retryable = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    return AssistError(code.name, exc.details() or code.name.lower(), retryable=retryable)


class AssistClient:
    """One channel to the coordinator; every call names the user it acts for."""

    def __init__(self, address: str, tls_dir: Path | str, *, timeout_s: float = 30.0) -> None:
        self._channel = coordinator_channel(address, tls_dir)
        self._stub = coordinator_pb2_grpc.CoordinatorServiceStub(self._channel)
        self._timeout = timeout_s

    async def __aenter__(self) -> AssistClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def create_conversation(self, user_id: str, *, task_id: str = "") -> str:
        request = coordinator_pb2.CreateConversationRequest(
            page_context=common_pb2.PageContext(task_id=task_id)
        )
        reply = await self._unary(
            self._stub.CreateConversation(request, metadata=user_metadata(user_id), timeout=self._timeout)
        )
        return str(reply.conversation.conversation_id)

    async def ask(
        self,
        user_id: str,
        text: str,
        *,
        conversation_id: str | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """Ask a question (in a new conversation unless one is given); `on_text` sees the answer as it streams."""
        conversation_id = conversation_id or await self.create_conversation(user_id)
        intent = ""
        async for event in self._converse(user_id, conversation_id, text):
            kind = event.WhichOneof("event")
            if kind == "intent":
                intent = common_pb2.Intent.Name(event.intent.intent)
            elif kind == "delta" and on_text is not None:
                on_text(event.delta.text)
            elif kind == "error":
                raise AssistError(event.error.code, event.error.message, retryable=event.error.retryable)
            elif kind == "done":
                done = event.done
                return Answer(
                    conversation_id=conversation_id,
                    message_id=done.message_id,
                    text=done.text,
                    intent="" if intent == "INTENT_UNSPECIFIED" else intent,
                    degraded=tuple(common_pb2.Component.Name(c) for c in done.degraded_components),
                )
        raise AssistError("UNKNOWN", "the answer stream ended without an answer", retryable=True)

    async def _converse(
        self, user_id: str, conversation_id: str, text: str
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        request = coordinator_pb2.ConverseRequest(
            conversation_id=conversation_id, client_message_id=uuid.uuid4().hex, text=text
        )
        call = self._stub.Converse(request, metadata=user_metadata(user_id), timeout=self._timeout)
        try:
            async for event in call:
                yield event
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def list_messages(self, user_id: str, conversation_id: str, *, limit: int = 100) -> list[Message]:
        request = coordinator_pb2.ListMessagesRequest(conversation_id=conversation_id, page_size=limit)
        reply = await self._unary(
            self._stub.ListMessages(request, metadata=user_metadata(user_id), timeout=self._timeout)
        )
        return [
            Message(
                message_id=m.message_id,
                role="assistant" if m.role == common_pb2.ROLE_ASSISTANT else "user",
                text=m.text,
                created_at=m.create_time.ToDatetime(tzinfo=dt.UTC) if m.HasField("create_time") else None,
            )
            for m in reply.messages
        ]

    async def feedback(self, user_id: str, message_id: str, rating: Rating, *, comment: str = "") -> str:
        """Thumbs up or down on an assistant message; returns the feedback's id."""
        request = coordinator_pb2.SubmitFeedbackRequest(
            message_id=message_id, rating=_RATINGS[rating], comment=comment
        )
        reply = await self._unary(
            self._stub.SubmitFeedback(request, metadata=user_metadata(user_id), timeout=self._timeout)
        )
        return str(reply.feedback_id)

    @staticmethod
    async def _unary(call: Awaitable[Any]) -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
