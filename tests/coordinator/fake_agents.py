"""Scripted fake agents: real grpc.aio servers on port 0 whose answers, delays and failures a test sets.

Each agent service the coordinator calls (guard, NLU, NLG with its stream, context, tasks, feedback) is
served by its own server built with `mesh.grpc_server.create_server`, as the real agents are, so the
coordinator's channels, interceptors, deadlines and status codes all run for real. What a method does is
a `Step`: wait, send replies, then fail with a status code if told to. A method has a default step (a
plausible answer) that a test replaces (`always`) or precedes with one-off steps (`then`), and it records
every call it received with the deadline the caller gave it.

    async with running_fake_agents() as agents:
        agents.nlu.understand.always(fail(grpc.StatusCode.UNAVAILABLE))
        agents.nlg.stream_generate.always(stream(chunk("Half an "), fail_after=grpc.StatusCode.INTERNAL))
        ... agents.addresses() ...
        assert agents.nlg.stream_generate.calls == []
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import grpc
from assist.v1 import (
    common_pb2,
    context_pb2,
    context_pb2_grpc,
    feedback_pb2,
    feedback_pb2_grpc,
    guard_pb2,
    guard_pb2_grpc,
    nlg_pb2,
    nlg_pb2_grpc,
    nlu_pb2,
    nlu_pb2_grpc,
    tasks_pb2,
    tasks_pb2_grpc,
)
from google.protobuf.message import Message

from mesh.components import AGENT_NAMES
from mesh.grpc_server import create_server


@dataclass(frozen=True)
class Step:
    """What one call does: sleep `delay_s`, send `replies` (a unary call sends the first), then fail.

    `fail` set: end the call with that status after the replies (for a stream with replies, a failure
    mid-stream; with none, before the first chunk). `chunk_delay_s` spaces a stream's replies.
    """

    replies: tuple[Message, ...] = ()
    delay_s: float = 0.0
    fail: grpc.StatusCode | None = None
    details: str = "scripted failure"
    chunk_delay_s: float = 0.0


def answer(reply: Message, *, delay_s: float = 0.0) -> Step:
    """Answer a unary call with `reply` (after `delay_s`)."""
    return Step(replies=(reply,), delay_s=delay_s)


def fail(code: grpc.StatusCode, details: str = "scripted failure", *, delay_s: float = 0.0) -> Step:
    """Fail the call with `code` (after `delay_s`), sending nothing."""
    return Step(fail=code, details=details, delay_s=delay_s)


def stream(
    *replies: Message,
    delay_s: float = 0.0,
    chunk_delay_s: float = 0.0,
    fail_after: grpc.StatusCode | None = None,
) -> Step:
    """Send `replies` as a stream; `fail_after` ends it with that status instead of OK."""
    return Step(replies=replies, delay_s=delay_s, chunk_delay_s=chunk_delay_s, fail=fail_after)


def chunk(text: str) -> nlg_pb2.StreamGenerateResponse:
    """One streamed piece of an answer."""
    return nlg_pb2.StreamGenerateResponse(delta=text)


def last_chunk(writer: nlg_pb2.Writer.ValueType = nlg_pb2.WRITER_GEMINI) -> nlg_pb2.StreamGenerateResponse:
    """The stream's final message: done, with the writer that wrote the answer."""
    return nlg_pb2.StreamGenerateResponse(
        done=True, info=nlg_pb2.GenerationInfo(writer=writer, model="fake-model", prompt_version="test")
    )


@dataclass(frozen=True)
class Call:
    """One call a fake received: the request and the time its caller left it (None: no deadline)."""

    request: Any
    time_remaining: float | None


class ScriptedMethod:
    """One RPC of a fake agent: a default step, one-off steps queued ahead of it, and the calls seen."""

    def __init__(self, default: Step) -> None:
        self._default = default
        self._queued: deque[Step] = deque()
        self.calls: list[Call] = []

    def always(self, step: Step) -> None:
        """Do `step` on every later call (after any queued one-off steps)."""
        self._default = step

    def then(self, *steps: Step) -> None:
        """Do these steps on the next calls, one each, before going back to the default."""
        self._queued.extend(steps)

    @property
    def requests(self) -> list[Any]:
        return [call.request for call in self.calls]

    def _next_step(self, request: Any, context: grpc.aio.ServicerContext) -> Step:
        self.calls.append(Call(request, context.time_remaining()))
        return self._queued.popleft() if self._queued else self._default

    async def unary(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        step = self._next_step(request, context)
        await asyncio.sleep(step.delay_s)
        if step.fail is not None:
            await context.abort(step.fail, step.details)
        return step.replies[0]

    async def server_stream(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        step = self._next_step(request, context)
        await asyncio.sleep(step.delay_s)
        for i, reply in enumerate(step.replies):
            if i and step.chunk_delay_s:
                await asyncio.sleep(step.chunk_delay_s)
            yield reply
        if step.fail is not None:
            await context.abort(step.fail, step.details)


# Plausible defaults: the message is allowed, asks what is late, and two tasks answer it.
TASK_LATE = common_pb2.Task(
    task_id="T-1", title="Quarterly report", status=common_pb2.TASK_STATUS_TODO, due_date="2026-01-05"
)
TASK_BLOCKER = common_pb2.Task(
    task_id="T-2", title="Collect figures", status=common_pb2.TASK_STATUS_TODO, due_date="2026-01-02"
)
DEFAULT_ANSWER = ("Two tasks ", "are late.")


class FakeGuard(guard_pb2_grpc.GuardServiceServicer):
    def __init__(self) -> None:
        self.screen = ScriptedMethod(answer(guard_pb2.ScreenResponse(verdict=guard_pb2.GUARD_VERDICT_ALLOW)))

    async def Screen(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.screen.unary(request, context)


class FakeNlu(nlu_pb2_grpc.NluServiceServicer):
    def __init__(self) -> None:
        self.understand = ScriptedMethod(
            answer(
                nlu_pb2.UnderstandResponse(
                    intent=common_pb2.INTENT_TASKS_OVERDUE, language=common_pb2.LANGUAGE_EN, confidence=0.9
                )
            )
        )

    async def Understand(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.understand.unary(request, context)


class FakeNlg(nlg_pb2_grpc.NlgServiceServicer):
    def __init__(self) -> None:
        self.stream_generate = ScriptedMethod(stream(*(chunk(t) for t in DEFAULT_ANSWER), last_chunk()))
        self.generate = ScriptedMethod(
            answer(nlg_pb2.GenerateResponse(text="".join(DEFAULT_ANSWER), info=last_chunk().info))
        )

    async def Generate(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.generate.unary(request, context)

    def StreamGenerate(  # noqa: N802
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        return self.stream_generate.server_stream(request, context)


class FakeContext(context_pb2_grpc.ContextServiceServicer):
    def __init__(self) -> None:
        self.get_context = ScriptedMethod(answer(context_pb2.GetContextResponse(session_available=True)))

    async def GetContext(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.get_context.unary(request, context)


class FakeTasks(tasks_pb2_grpc.TasksServiceServicer):
    def __init__(self) -> None:
        self.list_tasks = ScriptedMethod(answer(tasks_pb2.ListTasksResponse(tasks=[TASK_LATE, TASK_BLOCKER])))
        self.get_task = ScriptedMethod(fail(grpc.StatusCode.NOT_FOUND, "no such task"))

    async def ListTasks(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.list_tasks.unary(request, context)

    async def GetTask(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.get_task.unary(request, context)


class FakeFeedback(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self) -> None:
        self.record_feedback = ScriptedMethod(answer(feedback_pb2.RecordFeedbackResponse(feedback_id="F-1")))
        self.record_satisfaction = ScriptedMethod(
            answer(feedback_pb2.RecordSatisfactionResponse(satisfaction_id="S-1"))
        )

    async def RecordFeedback(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.record_feedback.unary(request, context)

    async def RecordSatisfaction(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        return await self.record_satisfaction.unary(request, context)


@dataclass
class FakeAgents:
    """The six fake agents, each on its own server; `stop(name)` takes one really down."""

    guard: FakeGuard = field(default_factory=FakeGuard)
    nlu: FakeNlu = field(default_factory=FakeNlu)
    nlg: FakeNlg = field(default_factory=FakeNlg)
    context: FakeContext = field(default_factory=FakeContext)
    tasks: FakeTasks = field(default_factory=FakeTasks)
    feedback: FakeFeedback = field(default_factory=FakeFeedback)
    servers: dict[str, grpc.aio.Server] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        return {name: f"127.0.0.1:{self.ports[name]}" for name in AGENT_NAMES}

    async def start(self) -> None:
        registrars: dict[str, tuple[Callable[[Any, grpc.aio.Server], None], str]] = {
            "guard": (guard_pb2_grpc.add_GuardServiceServicer_to_server, "GuardService"),
            "nlu": (nlu_pb2_grpc.add_NluServiceServicer_to_server, "NluService"),
            "nlg": (nlg_pb2_grpc.add_NlgServiceServicer_to_server, "NlgService"),
            "context": (context_pb2_grpc.add_ContextServiceServicer_to_server, "ContextService"),
            "tasks": (tasks_pb2_grpc.add_TasksServiceServicer_to_server, "TasksService"),
            "feedback": (feedback_pb2_grpc.add_FeedbackServiceServicer_to_server, "FeedbackService"),
        }
        for name, (add, service) in registrars.items():
            servicer = getattr(self, name)
            server, port, *_ = await create_server(partial(add, servicer), [f"assist.v1.{service}"])
            self.servers[name] = server
            self.ports[name] = port

    async def stop(self, *names: str) -> None:
        """Stop these agents' servers: their port refuses connections, as a crashed agent's does."""
        await asyncio.gather(*(self.servers.pop(name).stop(0) for name in names))

    async def close(self) -> None:
        await self.stop(*list(self.servers))


@asynccontextmanager
async def running_fake_agents() -> AsyncIterator[FakeAgents]:
    """Start the fake agents on ports chosen by the OS; stop them at the end."""
    agents = FakeAgents()
    await agents.start()
    try:
        yield agents
    finally:
        await agents.close()
