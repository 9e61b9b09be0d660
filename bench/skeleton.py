"""The raw skeleton: the mesh's shape with nothing in it, to tell the cost of the architecture from ours.

A Starlette edge on uvicorn turns `POST /v1/conversations/{id}/messages` into `CoordinatorService.Converse`
on a grpc.aio coordinator, which calls three echo agents (guard `Screen`, NLU `Understand`, NLG
`StreamGenerate`) and streams back the same events (`accepted`, `intent`, `delta`..., `done`) in the same
SSE framing as the mesh's edge. No auth, no store, no logs, no telemetry: each of those is what the
mesh adds. Every part is a real process on loopback, started with `python -m bench.skeleton ROLE ...`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import uvicorn
from assist.v1 import (
    common_pb2,
    coordinator_pb2,
    coordinator_pb2_grpc,
    guard_pb2,
    guard_pb2_grpc,
    nlg_pb2,
    nlg_pb2_grpc,
    nlu_pb2,
    nlu_pb2_grpc,
)
from google.protobuf import json_format, message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.harness import ROOT, free_port, process_env

AGENT_ROLES = ("guard", "nlu", "nlg")


# ----------------------------------------------------------------------------------- the agents --


class EchoGuard(guard_pb2_grpc.GuardServiceServicer):
    async def Screen(  # noqa: N802 - the generated servicer's method name
        self, request: guard_pb2.ScreenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> guard_pb2.ScreenResponse:
        return guard_pb2.ScreenResponse(verdict=guard_pb2.GUARD_VERDICT_ALLOW, screened_text=request.text)


class EchoNlu(nlu_pb2_grpc.NluServiceServicer):
    async def Understand(  # noqa: N802
        self, request: nlu_pb2.UnderstandRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> nlu_pb2.UnderstandResponse:
        return nlu_pb2.UnderstandResponse(
            intent=common_pb2.INTENT_TASKS_OVERDUE, confidence=1.0, language=common_pb2.LANGUAGE_EN
        )


class EchoNlg(nlg_pb2_grpc.NlgServiceServicer):
    """Streams `words` word-sized chunks, as many as the mesh's local writer sends for the benchmark's question."""

    def __init__(self, words: int) -> None:
        self._words = words

    async def Generate(  # noqa: N802
        self, request: nlg_pb2.GenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> nlg_pb2.GenerateResponse:
        raise NotImplementedError("the skeleton only streams")

    async def StreamGenerate(  # noqa: N802
        self, request: nlg_pb2.StreamGenerateRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[nlg_pb2.StreamGenerateResponse]:
        source = (request.input.text or "echo").split()
        for i in range(self._words):
            yield nlg_pb2.StreamGenerateResponse(delta=source[i % len(source)] + " ")
        yield nlg_pb2.StreamGenerateResponse(
            done=True, info=nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)
        )


# ------------------------------------------------------------------------------ the coordinator --


@dataclass
class EchoCoordinator(coordinator_pb2_grpc.CoordinatorServiceServicer):
    guard: guard_pb2_grpc.GuardServiceStub
    nlu: nlu_pb2_grpc.NluServiceStub
    nlg: nlg_pb2_grpc.NlgServiceStub
    turns: int = field(default=0)

    async def GetWidgetConfig(  # noqa: N802
        self, request: coordinator_pb2.GetWidgetConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.GetWidgetConfigResponse:
        return coordinator_pb2.GetWidgetConfigResponse(enabled=True)

    async def CreateConversation(  # noqa: N802
        self, request: coordinator_pb2.CreateConversationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.CreateConversationResponse:
        return coordinator_pb2.CreateConversationResponse(
            conversation=common_pb2.Conversation(conversation_id=uuid.uuid4().hex)
        )

    async def Converse(  # noqa: N802
        self, request: coordinator_pb2.ConverseRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[coordinator_pb2.ConverseResponse]:
        self.turns += 1
        yield coordinator_pb2.ConverseResponse(
            accepted=coordinator_pb2.TurnAccepted(user_message_id=uuid.uuid4().hex)
        )
        screened = await self.guard.Screen(guard_pb2.ScreenRequest(text=request.text))
        understood = await self.nlu.Understand(nlu_pb2.UnderstandRequest(text=screened.screened_text))
        yield coordinator_pb2.ConverseResponse(
            intent=coordinator_pb2.IntentRecognized(
                intent=understood.intent, language=understood.language, confidence=understood.confidence
            )
        )
        parts: list[str] = []
        generate = nlg_pb2.StreamGenerateRequest(input=nlg_pb2.GenerationInput(text=screened.screened_text))
        async for chunk in self.nlg.StreamGenerate(generate):
            if chunk.delta:
                parts.append(chunk.delta)
                yield coordinator_pb2.ConverseResponse(delta=coordinator_pb2.TextDelta(text=chunk.delta))
        yield coordinator_pb2.ConverseResponse(
            done=coordinator_pb2.TurnDone(message_id=uuid.uuid4().hex, text="".join(parts))
        )

    async def ListConversations(  # noqa: N802
        self, request: coordinator_pb2.ListConversationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.ListConversationsResponse:
        raise NotImplementedError("the skeleton serves CreateConversation and Converse")

    async def ListMessages(  # noqa: N802
        self, request: coordinator_pb2.ListMessagesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.ListMessagesResponse:
        raise NotImplementedError("the skeleton serves CreateConversation and Converse")

    async def SubmitFeedback(  # noqa: N802
        self, request: coordinator_pb2.SubmitFeedbackRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.SubmitFeedbackResponse:
        raise NotImplementedError("the skeleton serves CreateConversation and Converse")

    async def SubmitSatisfaction(  # noqa: N802
        self, request: coordinator_pb2.SubmitSatisfactionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.SubmitSatisfactionResponse:
        raise NotImplementedError("the skeleton serves CreateConversation and Converse")

    async def RecordStudyEvents(  # noqa: N802
        self, request: coordinator_pb2.RecordStudyEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> coordinator_pb2.RecordStudyEventsResponse:
        raise NotImplementedError("the skeleton serves CreateConversation and Converse")


async def _serve_grpc(port: int, role: str, args: list[str]) -> None:
    server = grpc.aio.server()
    if role == "guard":
        guard_pb2_grpc.add_GuardServiceServicer_to_server(EchoGuard(), server)
    elif role == "nlu":
        nlu_pb2_grpc.add_NluServiceServicer_to_server(EchoNlu(), server)
    elif role == "nlg":
        nlg_pb2_grpc.add_NlgServiceServicer_to_server(EchoNlg(int(args[0])), server)
    else:
        guard, nlu, nlg = (grpc.aio.insecure_channel(a) for a in args)
        coordinator = EchoCoordinator(
            guard_pb2_grpc.GuardServiceStub(guard),
            nlu_pb2_grpc.NluServiceStub(nlu),
            nlg_pb2_grpc.NlgServiceStub(nlg),
        )
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(coordinator, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# ------------------------------------------------------------------------------------- the edge --


def _frame(event: coordinator_pb2.ConverseResponse) -> bytes:
    kind = event.WhichOneof("event")
    if kind is None:
        return b": keep-alive\n\n"
    data: message.Message = getattr(event, kind)
    text = json.dumps(json_format.MessageToDict(data), separators=(",", ":"), ensure_ascii=False)
    return f"event: {kind}\ndata: {text}\n\n".encode()


def edge_app(coordinator_addr: str) -> Starlette:
    """The two routes the load driver uses, transcoded to the coordinator as the mesh's edge does."""
    holder: dict[str, coordinator_pb2_grpc.CoordinatorServiceStub] = {}

    def stub() -> coordinator_pb2_grpc.CoordinatorServiceStub:
        # The channel must be made inside uvicorn's event loop.
        if "stub" not in holder:
            holder["stub"] = coordinator_pb2_grpc.CoordinatorServiceStub(
                grpc.aio.insecure_channel(coordinator_addr)
            )
        return holder["stub"]

    async def create(request: Request) -> Response:
        created = await stub().CreateConversation(coordinator_pb2.CreateConversationRequest())
        return JSONResponse(json_format.MessageToDict(created))

    async def converse(request: Request) -> Response:
        body = json.loads(await request.body())
        body["conversationId"] = request.path_params["conversation_id"]
        turn = json_format.ParseDict(body, coordinator_pb2.ConverseRequest())
        call = stub().Converse(turn, timeout=30)

        async def sse() -> AsyncIterator[bytes]:
            async for event in call:
                yield _frame(event)

        return StreamingResponse(sse(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/conversations", create, methods=["POST"]),
            Route("/v1/conversations/{conversation_id}/messages", converse, methods=["POST"]),
            Route("/healthz", lambda _: Response("ok"), methods=["GET"]),
        ]
    )


# ------------------------------------------------------------------------------- the processes --


@dataclass
class Skeleton:
    edge_url: str
    processes: dict[str, subprocess.Popen[bytes]]

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}


def _wait_healthy(
    url: str, processes: dict[str, subprocess.Popen[bytes]], grpc_ports: dict[str, int]
) -> None:
    """Until the edge answers /healthz and every gRPC process accepts connections (the edge is up long
    before the agents on a busy machine: its first turns then failed, and counted as cheap turns)."""
    # As long as the mesh is given (devtools/launcher.py): five processes importing grpc on a busy machine.
    timeout_s = float(os.environ.get("MESH_READY_TIMEOUT_S") or 60.0)
    deadline = time.monotonic() + timeout_s
    waiting = dict(grpc_ports)
    while time.monotonic() < deadline:
        for name, proc in processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"skeleton {name} exited with {proc.returncode}")
        waiting = {name: port for name, port in waiting.items() if not _accepts(port)}
        try:
            if not waiting and httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(
        f"the skeleton was not up within {timeout_s:.0f} s (waiting for {sorted(waiting) or 'edge'})"
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def running_skeleton(words: int) -> Iterator[Skeleton]:
    """Start the three echo agents, the coordinator and the edge; stop them after."""
    ports = {name: free_port() for name in (*AGENT_ROLES, "coordinator", "edge")}
    addr = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    commands = {
        "guard": ["guard", str(ports["guard"])],
        "nlu": ["nlu", str(ports["nlu"])],
        "nlg": ["nlg", str(ports["nlg"]), str(words)],
        "coordinator": ["coordinator", str(ports["coordinator"]), *(addr[a] for a in AGENT_ROLES)],
        "edge": ["edge", str(ports["edge"]), addr["coordinator"]],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "bench.skeleton", *args], cwd=ROOT, env=process_env()
            )
        url = f"http://{addr['edge']}"
        _wait_healthy(url, processes, {n: p for n, p in ports.items() if n != "edge"})
        yield Skeleton(url, processes)
    finally:
        for proc in processes.values():
            proc.terminate()
        for proc in processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str]) -> None:
    role, port, *rest = argv
    if role == "edge":
        uvicorn.run(edge_app(rest[0]), host="127.0.0.1", port=int(port), log_config=None, access_log=False)
    else:
        asyncio.run(_serve_grpc(int(port), role, rest))


if __name__ == "__main__":
    main(sys.argv[1:])
