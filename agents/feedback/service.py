"""FeedbackService over gRPC: stores ratings; the outbox relay publishes their events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from assist.v1 import feedback_pb2, feedback_pb2_grpc

from mesh.components import listen_address
from mesh.config import MongoSettings
from mesh.grpc_server import Registration, service_registration
from mesh.process import AgentSettings, ServiceFactory
from mesh.storage.feedback import FeedbackStore
from mesh.storage.from_settings import open_mongo


class FeedbackSettings(AgentSettings, MongoSettings):
    service_name: str = "feedback"
    listen_addr: str = listen_address("feedback")


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, store: FeedbackStore) -> None:
        self._store = store

    async def RecordFeedback(  # noqa: N802 - gRPC method name
        self,
        request: feedback_pb2.RecordFeedbackRequest,
        context: grpc.aio.ServicerContext,
    ) -> feedback_pb2.RecordFeedbackResponse:
        feedback_id = await self._store.record_feedback(
            request.user_id, request.message_id, request.rating, request.comment
        )
        return feedback_pb2.RecordFeedbackResponse(feedback_id=feedback_id)

    async def RecordSatisfaction(  # noqa: N802 - gRPC method name
        self,
        request: feedback_pb2.RecordSatisfactionRequest,
        context: grpc.aio.ServicerContext,
    ) -> feedback_pb2.RecordSatisfactionResponse:
        satisfaction_id = await self._store.record_satisfaction(
            request.user_id, request.conversation_id, request.score, request.comment
        )
        return feedback_pb2.RecordSatisfactionResponse(satisfaction_id=satisfaction_id)


def feedback_service_factory(settings: FeedbackSettings) -> ServiceFactory:
    @asynccontextmanager
    async def feedback_service() -> AsyncIterator[Registration]:
        async with open_mongo(settings) as db:
            servicer = FeedbackServicer(FeedbackStore(db))
            yield service_registration(
                feedback_pb2_grpc.add_FeedbackServiceServicer_to_server, servicer, feedback_pb2.DESCRIPTOR
            )

    return feedback_service
