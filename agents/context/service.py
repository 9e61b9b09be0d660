"""ContextService over gRPC: the latest turns of a conversation and its session state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from assist.v1 import context_pb2, context_pb2_grpc, nlg_pb2
from grpc_interceptor.exceptions import NotFound

from mesh.components import listen_address
from mesh.config import MongoSettings, RedisSettings
from mesh.grpc_server import Registration, service_registration
from mesh.process import AgentSettings, ServiceFactory
from mesh.storage.from_settings import open_mongo, open_redis
from mesh.storage.redis_store import SessionStore
from mesh.storage.turns import ConversationStore

MAX_TURNS = 20
DEFAULT_TURNS = 6


class ContextSettings(AgentSettings, MongoSettings, RedisSettings):
    service_name: str = "context"
    listen_addr: str = listen_address("context")
    session_ttl_s: int = 30 * 60


class ContextServicer(context_pb2_grpc.ContextServiceServicer):
    def __init__(self, conversations: ConversationStore, sessions: SessionStore) -> None:
        self._conversations = conversations
        self._sessions = sessions

    async def GetContext(  # noqa: N802 - gRPC method name
        self,
        request: context_pb2.GetContextRequest,
        context: grpc.aio.ServicerContext,
    ) -> context_pb2.GetContextResponse:
        n = min(request.max_turns or DEFAULT_TURNS, MAX_TURNS)
        # One read: the ownership check and the bounded history record come from the same document. A store
        # failure becomes UNAVAILABLE with the store-cause trailer (mesh/error_status.py).
        pairs = await self._conversations.history(request.user_id, request.conversation_id, n)
        if pairs is None:
            raise NotFound(f"no conversation {request.conversation_id}")
        session = await self._sessions.get(request.user_id, request.conversation_id)
        last_task_id = str((session or {}).get("last_task_id", ""))
        if request.focus_task_id and request.focus_task_id != last_task_id:
            await self._sessions.set(
                request.user_id, request.conversation_id, {"last_task_id": request.focus_task_id}
            )
        return context_pb2.GetContextResponse(
            history=[nlg_pb2.PriorTurn(user_text=u, answer_text=a) for u, a in pairs],
            last_task_id=last_task_id,
            session_available=session is not None,
        )


def context_service_factory(settings: ContextSettings) -> ServiceFactory:
    @asynccontextmanager
    async def context_service() -> AsyncIterator[Registration]:
        async with open_mongo(settings) as db, open_redis(settings) as redis:
            servicer = ContextServicer(ConversationStore(db), SessionStore(redis, settings.session_ttl_s))
            yield service_registration(
                context_pb2_grpc.add_ContextServiceServicer_to_server, servicer, context_pb2.DESCRIPTOR
            )

    return context_service
