"""Fixtures for the agents' tests: the fake Gemini (tests/mesh_fixture.py), model clients pointed at it, NLG servers.

The fake runs once per session (a real HTTP server on a free port); each test gets it reset, with an empty
script and an empty record. Clients talk to it through the real google-genai SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack

import grpc
import pytest
from assist.v1 import common_pb2, nlg_pb2, nlg_pb2_grpc

from agents.nlg.service import NlgServicer
from mesh.grpc_server import create_server, service_registration
from mesh.llm import LlmClient, LlmSettings
from testing.gemini_server import FakeGemini, GeminiServer
from tests.mesh_fixture import FALLBACK_MODEL, PRIMARY_MODEL

PRIMARY = PRIMARY_MODEL
FALLBACK = FALLBACK_MODEL


@pytest.fixture
def fake_gemini(gemini_server: GeminiServer) -> Iterator[FakeGemini]:
    """The fake Gemini API, with nothing scripted (it echoes the facts) and nothing recorded."""
    gemini_server.fake.reset()
    yield gemini_server.fake
    gemini_server.fake.reset()


def llm_settings(fake: FakeGemini, **overrides: object) -> LlmSettings:
    """Settings pointing at the fake, with short backoffs so retry tests stay fast."""
    values: dict[str, object] = {
        "gemini_api_key": "test-key",
        "gemini_base_url": fake.base_url,
        "gemini_model": PRIMARY,
        "gemini_fallback_model": FALLBACK,
        "gemini_backoff_initial_s": 0.05,
        "gemini_backoff_max_s": 0.2,
        "gemini_attempt_timeout_s": 3.0,
        "gemini_min_attempt_s": 0.2,
    }
    values.update(overrides)
    return LlmSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def llm_client(fake_gemini: FakeGemini) -> AsyncIterator[Callable[..., LlmClient]]:
    """Builds clients for the fake (settings overridable per call) and closes them after the test."""
    clients: list[LlmClient] = []

    def build(**overrides: object) -> LlmClient:
        client = LlmClient(llm_settings(fake_gemini, **overrides))
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


NlgServe = Callable[[NlgServicer], Awaitable[nlg_pb2_grpc.NlgServiceStub]]


@pytest.fixture
async def serve_nlg() -> AsyncIterator[NlgServe]:
    """Serves an NlgServicer on a real gRPC server on port 0 and gives a grpc.aio client for it."""
    async with AsyncExitStack() as stack:

        async def serve(servicer: NlgServicer) -> nlg_pb2_grpc.NlgServiceStub:
            server, port, *_ = await create_server(
                *service_registration(
                    nlg_pb2_grpc.add_NlgServiceServicer_to_server, servicer, nlg_pb2.DESCRIPTOR
                )
            )
            stack.push_async_callback(server.stop, None)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            stack.push_async_callback(channel.close)
            return nlg_pb2_grpc.NlgServiceStub(channel)

        yield serve


TODAY = "2026-11-25"
BOARD = [
    common_pb2.Task(
        task_id="T-1",
        title="Launch checklist",
        status=common_pb2.TASK_STATUS_IN_PROGRESS,
        due_date="2026-11-30",
        assignees=[common_pb2.Person(user_id="ana", display_name="Ana")],
    ),
    common_pb2.Task(
        task_id="T-2", title="Budget review", status=common_pb2.TASK_STATUS_TODO, due_date="2026-11-22"
    ),
]


def generation_input(
    intent: int = common_pb2.INTENT_TASKS_OVERDUE,
    text: str = "what is late?",
    *,
    user_id: str = "user-a",
    tasks: list[common_pb2.Task] | None = None,
    language: int = common_pb2.LANGUAGE_EN,
    today: str = TODAY,
    **extra: object,
) -> nlg_pb2.GenerationInput:
    """A turn's input as the coordinator builds it; defaults to a task question over BOARD."""
    return nlg_pb2.GenerationInput(
        user_id=user_id,
        text=text,
        intent=intent,  # type: ignore[arg-type]
        language=language,  # type: ignore[arg-type]
        tasks=BOARD if tasks is None else tasks,
        today=today,
        **extra,  # type: ignore[arg-type]
    )
