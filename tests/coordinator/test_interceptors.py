"""The coordinator's client interceptors against a real grpc.aio server on port 0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from assist.v1 import nlu_pb2, nlu_pb2_grpc

from coordinator.circuit_breaker import STORE, BreakerPolicy, BreakerState, CircuitBreaker
from coordinator.interceptors import CircuitBreakerInterceptor, DeadlineInterceptor
from coordinator.turn_deadline import turn_deadline
from mesh.errors import STORE_CAUSE, STORE_CAUSE_VALUE, is_store_failure
from mesh.grpc_server import create_server
from mesh.retry_policy import NO_RETRY, PUSHBACK_METADATA_KEY, channel_options, service_config

UNDERSTAND = "/assist.v1.NluService/Understand"
# The server reads a deadline from the grpc-timeout header, whose rounding can add a fraction of a ms.
HEADER_ROUNDING_S = 0.01


class ScriptedNlu(nlu_pb2_grpc.NluServiceServicer):
    """Fails the first `failures` calls with UNAVAILABLE, and sleeps `delay_s` before answering."""

    def __init__(self, failures: int = 0, delay_s: float = 0.0) -> None:
        self.failures = failures
        self.delay_s = delay_s
        self.store_down = False  # fail as an agent whose store is unavailable (mesh/errors.py)
        self.pushback = ""  # a `grpc-retry-pushback-ms` trailer on failures (A6)
        self.calls = 0
        self.deadlines: list[float | None] = []

    async def Understand(self, request, context):  # type: ignore[no-untyped-def] # noqa: N802
        self.calls += 1
        self.deadlines.append(context.time_remaining())
        if self.store_down:
            context.set_trailing_metadata(((STORE_CAUSE, STORE_CAUSE_VALUE),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "history cannot be read right now")
        if self.calls <= self.failures:
            if self.pushback:
                context.set_trailing_metadata(((PUSHBACK_METADATA_KEY, self.pushback),))
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        await asyncio.sleep(self.delay_s)
        return nlu_pb2.UnderstandResponse(confidence=0.5)


async def _serve(servicer: ScriptedNlu) -> tuple[grpc.aio.Server, int]:
    server, port, *_ = await create_server(
        lambda s: nlu_pb2_grpc.add_NluServiceServicer_to_server(servicer, s), ["assist.v1.NluService"]
    )
    return server, port


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedNlu, int]]:
    servicer = ScriptedNlu()
    server, port = await _serve(servicer)
    yield servicer, port
    await server.stop(0)


def _stub(
    port: int, *interceptors: grpc.aio.ClientInterceptor
) -> tuple[grpc.aio.Channel, nlu_pb2_grpc.NluServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=list(interceptors))
    return channel, nlu_pb2_grpc.NluServiceStub(channel)


def _retrying_stub(
    port: int,
    *interceptors: grpc.aio.ClientInterceptor,
    retried: frozenset[str] = frozenset({UNDERSTAND}),
    **policy: Any,
) -> tuple[grpc.aio.Channel, nlu_pb2_grpc.NluServiceStub]:
    """A channel retrying as the coordinator's do: gRPC's retryPolicy and retryThrottling (mesh/retry_policy.py)."""
    config = service_config(retried, initial_backoff_s=0.01, max_backoff_s=0.02, **policy)
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", interceptors=list(interceptors), options=channel_options(config)
    )
    return channel, nlu_pb2_grpc.NluServiceStub(channel)


async def test_retry_recovers_from_unavailable_within_the_deadline(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    servicer.failures = 2
    breaker = CircuitBreaker("nlu")
    channel, stub = _retrying_stub(port, CircuitBreakerInterceptor(breaker), DeadlineInterceptor(2.0))
    async with channel:
        with turn_deadline(5.0):
            reply = await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        await asyncio.sleep(0.05)
    assert reply.confidence == pytest.approx(0.5)
    assert servicer.calls == 3
    assert breaker.failure_rate == 0, "the breaker sees one logical call, which succeeded"


async def test_retry_gives_up_after_max_attempts(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    servicer.failures = 10
    channel, stub = _retrying_stub(port, DeadlineInterceptor(2.0))
    async with channel:
        with turn_deadline(5.0), pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert servicer.calls == 3


async def test_non_idempotent_methods_are_not_retried(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    servicer.failures = 1
    channel, stub = _retrying_stub(port, DeadlineInterceptor(2.0), retried=frozenset())
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    assert servicer.calls == 1


async def test_pushback_from_the_server_stops_the_retry(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    servicer.failures = 10
    servicer.pushback = NO_RETRY
    channel, stub = _retrying_stub(port, DeadlineInterceptor(2.0))
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    assert servicer.calls == 1


@pytest.mark.parametrize(("max_tokens", "most_attempts"), [(10, 50 + 6), (1000, 150)])
async def test_retry_budget_stops_retries_when_most_calls_fail(
    scripted: tuple[ScriptedNlu, int], max_tokens: int, most_attempts: int
) -> None:
    """gRFC A6: each failure takes a token, retries stop at half the bucket; a huge bucket is the control."""
    servicer, port = scripted
    servicer.failures = 10_000
    channel, stub = _retrying_stub(port, DeadlineInterceptor(2.0), max_tokens=max_tokens)
    async with channel:
        for _ in range(50):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    print(f"\n50 calls, all failing, retry budget maxTokens={max_tokens}: {servicer.calls} attempts")
    assert servicer.calls <= most_attempts
    if max_tokens == 1000:
        assert servicer.calls == 150, "without a budget every call is tried 3 times"


async def test_agent_call_gets_what_is_left_of_the_turn_deadline(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    servicer.delay_s = 1.0
    channel, stub = _stub(port, DeadlineInterceptor(10.0))
    async with channel:
        with turn_deadline(0.3), pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.deadlines[0] is not None and servicer.deadlines[0] <= 0.3 + HEADER_ROUNDING_S


async def test_call_cap_applies_when_the_turn_has_more_time(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    channel, stub = _stub(port, DeadlineInterceptor(0.5))
    async with channel:
        with turn_deadline(20.0):
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    assert servicer.deadlines[0] is not None and servicer.deadlines[0] <= 0.5 + HEADER_ROUNDING_S


async def test_no_call_starts_once_the_turn_deadline_has_passed(scripted: tuple[ScriptedNlu, int]) -> None:
    servicer, port = scripted
    channel, stub = _stub(port, DeadlineInterceptor(5.0))
    async with channel:
        with turn_deadline(0.0), pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.calls == 0


QUICK = BreakerPolicy(window=4, min_calls=3, failure_rate=0.5, open_for_s=0.3, probes=1)


async def test_breaker_opens_after_failures_and_fails_fast_then_recovers(
    scripted: tuple[ScriptedNlu, int],
) -> None:
    servicer, port = scripted
    servicer.failures = 3
    breaker = CircuitBreaker("nlu", QUICK)
    channel, stub = _stub(port, CircuitBreakerInterceptor(breaker), DeadlineInterceptor(2.0))
    async with channel:
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        await asyncio.sleep(0.05)  # outcomes are recorded when each call finishes
        assert breaker.state is BreakerState.OPEN
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "circuit open" in (caught.value.details() or "")
        assert servicer.calls == 3, "an open breaker sends nothing"
        assert time.monotonic() - started < 0.2
        await asyncio.sleep(0.35)
        await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        await asyncio.sleep(0.05)
        assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]


async def test_store_failures_open_the_store_breaker_not_the_agents(
    scripted: tuple[ScriptedNlu, int],
) -> None:
    servicer, port = scripted
    servicer.store_down = True
    breaker, store = CircuitBreaker("context", QUICK), CircuitBreaker(STORE, QUICK)
    channel, stub = _stub(port, CircuitBreakerInterceptor(breaker, store), DeadlineInterceptor(2.0))
    async with channel:
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
            assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
        await asyncio.sleep(0.05)  # outcomes are recorded by done-callbacks
        assert breaker.state is BreakerState.CLOSED
        assert store.state is BreakerState.OPEN
        assert servicer.calls == 3, "every call reached the agent"
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as fast:
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        assert time.monotonic() - started < 0.2 and servicer.calls == 3, "failed at once, nothing sent"
        assert is_store_failure(fast.value.trailing_metadata()), "marked as the store's, so the turn degrades"
        servicer.store_down = False
        servicer.failures = servicer.calls + 3  # now the agent itself fails: that opens its own breaker
        await asyncio.sleep(0.35)  # the store's breaker half-opens; its probe reaches the failing agent
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        await asyncio.sleep(0.05)
        assert breaker.state is BreakerState.OPEN  # type: ignore[comparison-overlap]
