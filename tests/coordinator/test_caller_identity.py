"""Who may call the coordinator: mutual TLS names the client, ops/internal-clients.yaml says what it may do.

The real coordinator servicer, served as coordinator/__main__.py serves it (mTLS, the policy interceptor),
called by clients presenting the development PKI's certificates.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import grpc
import pytest
from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from coordinator.agent_clients import connect_agents
from coordinator.service import CoordinatorServicer
from mesh.flags import Flags
from mesh.grpc_server import create_server
from mesh.identity import user_metadata
from mesh.internal_identity import CallerPolicyInterceptor, InternalClientsPolicy
from mesh.storage.mongo import Database
from mesh.storage.turns import ConversationStore, TurnStore
from mesh.tls import TlsFiles, coordinator_channel, ensure_dev_pki
from testing.flag_files import DEV_FLAGS
from tests.coordinator.fake_agents import FakeAgents
from tests.coordinator.turn_harness import InProcessCoordinator, harness_pki


async def _code(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_an_allowed_client_acts_for_the_user_it_names(coordinator: InProcessCoordinator) -> None:
    conversation_id = await coordinator.conversation(user_id="ana")
    stub = coordinator.stub_as("edge")
    reply = await stub.ListMessages(
        coordinator_pb2.ListMessagesRequest(conversation_id=conversation_id), metadata=user_metadata("ana")
    )
    assert list(reply.messages) == []


async def test_a_client_that_may_not_act_for_users_is_denied(coordinator: InProcessCoordinator) -> None:
    conversation_id = await coordinator.conversation(user_id="carol")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coordinator.stub_as("reporting").ListMessages(
            coordinator_pb2.ListMessagesRequest(conversation_id=conversation_id),
            metadata=user_metadata("carol"),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == "internal client 'reporting' may not act for users"


async def test_a_client_limited_to_some_users_is_denied_for_the_others(
    coordinator: InProcessCoordinator,
) -> None:
    helpdesk = coordinator.stub_as("helpdesk")
    carols = await coordinator.conversation(user_id="carol")
    anas = await coordinator.conversation(user_id="ana")
    allowed = await helpdesk.ListMessages(
        coordinator_pb2.ListMessagesRequest(conversation_id=carols), metadata=user_metadata("carol")
    )
    assert list(allowed.messages) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await helpdesk.ListMessages(
            coordinator_pb2.ListMessagesRequest(conversation_id=anas), metadata=user_metadata("ana")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not act for 'ana'" in (caught.value.details() or "")


async def test_a_client_calling_an_rpc_outside_its_list_is_denied(
    coordinator: InProcessCoordinator, db: Database
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coordinator.stub_as("helpdesk").CreateConversation(
            coordinator_pb2.CreateConversationRequest(), metadata=user_metadata("carol")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == "internal client 'helpdesk' may not call CreateConversation"
    assert await db.conversations.count_documents({}) == 0


async def test_an_allowed_client_that_names_no_user_is_unauthenticated(
    coordinator: InProcessCoordinator,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coordinator.stub_as("edge").CreateConversation(coordinator_pb2.CreateConversationRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_client_without_a_certificate_cannot_even_connect(coordinator: InProcessCoordinator) -> None:
    """The server requires a client certificate in the handshake: no call reaches a handler."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await coordinator.stub_as(None).CreateConversation(
            coordinator_pb2.CreateConversationRequest(), metadata=user_metadata("carol"), timeout=3
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_certificate_from_another_ca_is_refused(
    coordinator: InProcessCoordinator, db: Database
) -> None:
    foreign = ensure_dev_pki(
        Path(tempfile.mkdtemp(prefix="foreign-ca-")), clients=("edge",), label="Not ours"
    )
    # Trusts the real server (its CA) but presents an `edge` certificate signed by a CA of its own.
    files = TlsFiles(foreign / "edge")
    server_ca = (coordinator_ca_dir() / "ca.crt").read_bytes()
    credentials = grpc.ssl_channel_credentials(server_ca, files.key, files.cert)
    async with grpc.aio.secure_channel(f"127.0.0.1:{coordinator.port}", credentials) as channel:
        call = channel.unary_unary(
            "/assist.v1.CoordinatorService/CreateConversation",
            request_serializer=coordinator_pb2.CreateConversationRequest.SerializeToString,
            response_deserializer=coordinator_pb2.CreateConversationResponse.FromString,
        )(coordinator_pb2.CreateConversationRequest(), metadata=user_metadata("carol"), timeout=3)
        assert await _code(call) == grpc.StatusCode.UNAVAILABLE
    assert await db.conversations.count_documents({}) == 0


def coordinator_ca_dir() -> Path:
    return harness_pki() / "coordinator"


async def test_over_plaintext_no_call_can_act_for_a_user(db: Database, fake_agents: FakeAgents) -> None:
    """A coordinator started without MESH_TLS_DIR (coordinator/__main__.py: no policy either) refuses to
    act for anyone a bare metadata value names."""
    agents = connect_agents(fake_agents.addresses())
    flags = Flags(DEV_FLAGS)
    await flags.start()
    servicer = CoordinatorServicer(agents, ConversationStore(db), TurnStore(db), flags)
    server, port, *_ = await create_server(
        lambda s: coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(servicer, s),
        ["assist.v1.CoordinatorService"],
        interceptors=[CallerPolicyInterceptor(InternalClientsPolicy())],
    )
    try:
        async with coordinator_channel(f"127.0.0.1:{port}", None) as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateConversation(
                    coordinator_pb2.CreateConversationRequest(), metadata=user_metadata("carol")
                )
    finally:
        await server.stop(0)
        await agents.close()
        await flags.close()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "client certificate" in (caught.value.details() or "")
