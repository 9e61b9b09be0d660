"""An internal application calling the coordinator's gRPC API directly, as it would in production: over
mutual TLS with a certificate of its own (ops/internal-clients.yaml says what it may do)."""

from __future__ import annotations

import uuid

import grpc
import pytest
from assist.v1 import common_pb2, coordinator_pb2, coordinator_pb2_grpc

from mesh.identity import user_metadata
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


async def test_internal_app_converses_over_grpc(mesh_up: MeshUnderTest) -> None:
    async with mesh_up.coordinator_channel("assist-cli") as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        metadata = user_metadata("carol")
        created = await stub.CreateConversation(
            coordinator_pb2.CreateConversationRequest(), metadata=metadata
        )
        request = coordinator_pb2.ConverseRequest(
            conversation_id=created.conversation.conversation_id,
            client_message_id=uuid.uuid4().hex,
            text="What is due this week?",
        )
        events = [e async for e in stub.Converse(request, metadata=metadata, timeout=30)]
        kinds = [e.WhichOneof("event") for e in events]
        assert kinds[0] == "accepted" and kinds[-1] == "done"
        assert events[1].intent.intent == common_pb2.INTENT_TASKS_DUE
        history = await stub.ListMessages(
            coordinator_pb2.ListMessagesRequest(conversation_id=created.conversation.conversation_id),
            metadata=metadata,
        )
        assert [m.role for m in history.messages] == [common_pb2.ROLE_USER, common_pb2.ROLE_ASSISTANT]


async def test_grpc_call_without_a_user_is_unauthenticated(mesh_up: MeshUnderTest) -> None:
    async with mesh_up.coordinator_channel("assist-cli") as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateConversation(coordinator_pb2.CreateConversationRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_caller_without_a_certificate_never_reaches_the_coordinator(mesh_up: MeshUnderTest) -> None:
    """Naming a user in bare metadata, as any process that can reach the port could, gets nowhere."""
    async with grpc.aio.insecure_channel(mesh_up.coordinator_addr) as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.CreateConversation(
                coordinator_pb2.CreateConversationRequest(), metadata=user_metadata("carol"), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_client_that_may_not_act_for_users_is_denied(mesh_up: MeshUnderTest) -> None:
    async with mesh_up.coordinator_channel("reporting") as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListMessages(
                coordinator_pb2.ListMessagesRequest(conversation_id="c-1"), metadata=user_metadata("carol")
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
