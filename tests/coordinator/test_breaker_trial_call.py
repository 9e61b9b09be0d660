"""A half-open breaker's trial call that fails before it starts must not hold the breaker open for good.

Found by the chaos suite (tests/chaos): under load a turn's deadline passed just as the nlg breaker went
half-open; the trial call was refused by the deadline interceptor before it started, no outcome was ever
recorded, and every later call was refused "circuit open" for the rest of the process's life.
The breaker interceptor now gives the slot back when a call is refused before it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from assist.v1 import nlu_pb2

from coordinator.circuit_breaker import BreakerPolicy, BreakerState, CircuitBreaker
from coordinator.interceptors import CircuitBreakerInterceptor, DeadlineInterceptor
from coordinator.turn_deadline import turn_deadline
from tests.coordinator.test_interceptors import ScriptedNlu, _serve, _stub


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedNlu, int]]:
    servicer = ScriptedNlu()
    server, port = await _serve(servicer)
    yield servicer, port
    await server.stop(0)


async def test_a_trial_call_refused_before_it_starts_leaves_the_breaker_able_to_close(
    scripted: tuple[ScriptedNlu, int],
) -> None:
    servicer, port = scripted
    servicer.failures = 2
    breaker = CircuitBreaker(
        "nlg", BreakerPolicy(window=2, min_calls=2, failure_rate=0.5, open_for_s=0.2, probes=1)
    )
    channel, stub = _stub(port, CircuitBreakerInterceptor(breaker), DeadlineInterceptor(2.0))
    async with channel:
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        await asyncio.sleep(0.3)
        assert breaker.state is BreakerState.HALF_OPEN
        # The trial call of a turn whose deadline has just passed: refused before it reaches the agent.
        with turn_deadline(0.0), pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        assert refused.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await asyncio.sleep(0.3)
        # The agent serves again; the next turn's call must be let through as a new trial and close it.
        await stub.Understand(nlu_pb2.UnderstandRequest(text="hi"))
        await asyncio.sleep(0.05)
    assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]
