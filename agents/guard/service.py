"""GuardService over gRPC: screens each message before any other agent sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from assist.v1 import guard_pb2, guard_pb2_grpc

from agents.guard.screen import screen
from mesh.components import listen_address
from mesh.grpc_server import Registration, service_registration
from mesh.process import AgentSettings


class GuardSettings(AgentSettings):
    """The guard needs nothing but where to listen: it screens text with rules, no store, no model."""

    service_name: str = "guard"
    listen_addr: str = listen_address("guard")


class GuardServicer(guard_pb2_grpc.GuardServiceServicer):
    async def Screen(  # noqa: N802 - gRPC method name
        self,
        request: guard_pb2.ScreenRequest,
        context: grpc.aio.ServicerContext,
    ) -> guard_pb2.ScreenResponse:
        result = screen(request.text)
        return guard_pb2.ScreenResponse(
            verdict=result.verdict,
            screened_text=result.screened_text,
            reasons=result.reasons,
        )


@asynccontextmanager
async def guard_service() -> AsyncIterator[Registration]:
    yield service_registration(
        guard_pb2_grpc.add_GuardServiceServicer_to_server, GuardServicer(), guard_pb2.DESCRIPTOR
    )
