"""grpc.aio client interceptors for every agent call: circuit breakers and the turn's deadline.

grpc-interceptor has no asyncio client interceptors, so these are our own. Order on a channel: breaker
(one verdict per logical call) -> deadline (the call's timeout, which bounds every attempt). Retries are
not here: the channel's service config does them, below the interceptors (mesh/retry_policy.py says why).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ClientCallDetails

from coordinator.circuit_breaker import CircuitBreaker
from coordinator.turn_deadline import remaining
from mesh.errors import STORE_CAUSE, STORE_CAUSE_VALUE, is_store_failure

log = logging.getLogger(__name__)

FAILURE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)
# An attempt with less than this left is not worth starting.
MIN_ATTEMPT_S = 0.02


def rpc_error(code: grpc.StatusCode, details: str, *, store: bool = False) -> grpc.aio.AioRpcError:
    """An error shaped like one the server would send, for failures decided on the client side.

    `store`: it carries the `assist-cause: store` trailer, as an agent's own store failure does.
    """
    trailers = grpc.aio.Metadata((STORE_CAUSE, STORE_CAUSE_VALUE)) if store else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details=details)


class DeadlineInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Gives each call the smaller of its own cap and what is left of the turn's deadline."""

    def __init__(self, cap_s: float) -> None:
        self._cap = cap_s

    def _details(self, details: ClientCallDetails) -> ClientCallDetails:
        left = remaining()
        timeout = self._cap if details.timeout is None else min(self._cap, details.timeout)
        if left is not None:
            if left < MIN_ATTEMPT_S:
                raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "the turn's deadline has passed")
            timeout = min(timeout, left)
        return ClientCallDetails(
            details.method, timeout, details.metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class CircuitBreakerInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Fails calls at once while the agent's breaker (or its store's) is open; feeds each call's outcome.

    An agent's failure counts against its breaker; a failure the agent marks as its store's
    (`assist-cause: store`) counts against `store_breaker` instead, and that breaker, when open, fails
    calls to every agent that needs the store, marked the same way, so the turn degrades at once.
    `store_breaker` is given only to the agents that use the store: their answers are its health.
    """

    def __init__(self, breaker: CircuitBreaker, store_breaker: CircuitBreaker | None = None) -> None:
        self.breaker = breaker
        self.store_breaker = store_breaker
        self._recording: set[asyncio.Task[None]] = set()

    def _record(self, call: grpc.aio.Call, breakers: list[CircuitBreaker]) -> None:
        def done(finished: Any) -> None:
            task = asyncio.ensure_future(self._record_code(finished, breakers))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

        call.add_done_callback(done)

    async def _record_code(self, call: grpc.aio.Call, breakers: list[CircuitBreaker]) -> None:
        code = await call.code()
        if code is grpc.StatusCode.CANCELLED:
            for breaker in breakers:
                breaker.record_cancelled()
        elif code not in FAILURE_CODES:
            for breaker in breakers:
                breaker.record_success()
        elif is_store_failure(await call.trailing_metadata()):
            # The agent answered: its store did not. Not a verdict on the agent (mesh/errors.py).
            log.warning(
                "%s agent: its store is unavailable (%s); counted by the store's circuit breaker",
                self.breaker.name,
                await call.details(),
            )
            self.breaker.record_success()
            if self.store_breaker is not None:
                self.store_breaker.record_failure()
        else:
            self.breaker.record_failure()
            if self.store_breaker is not None:
                self.store_breaker.record_cancelled()  # no verdict on the store

    def _check(self) -> list[CircuitBreaker]:
        """The breakers this call counts for; raises at once when one of them is open."""
        if not self.breaker.allow():
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"circuit open for the {self.breaker.name} agent")
        if self.store_breaker is None:
            return [self.breaker]
        if not self.store_breaker.allow():
            self.breaker.record_cancelled()
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, "circuit open for the store", store=True)
        return [self.breaker, self.store_breaker]

    @staticmethod
    async def _start(
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
        breakers: list[CircuitBreaker],
    ) -> Any:
        """Starts the call; one refused before it started (e.g. by the turn's deadline) gives back its slot.

        Without this a half-open breaker's probe that never started kept its slot for good, and every later
        call was refused "circuit open" for the rest of the process's life (found by the chaos suite).
        """
        try:
            return await continuation(client_call_details, request)
        except BaseException:
            for breaker in breakers:
                breaker.record_cancelled()
            raise

    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        breakers = self._check()
        call = await self._start(continuation, client_call_details, request, breakers)
        self._record(call, breakers)
        return call

    async def intercept_unary_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> AsyncIterable[Any]:
        breakers = self._check()
        call = await self._start(continuation, client_call_details, request, breakers)
        self._record(call, breakers)
        return call  # type: ignore[no-any-return]


class _StreamSide(grpc.aio.UnaryStreamClientInterceptor):
    """The streaming face of an interceptor that handles both call kinds.

    grpc.aio files each channel interceptor under the FIRST call kind it implements (unary-unary before
    unary-stream, `grpc/aio/_channel.py`), so an object implementing both never sees a streaming call.
    """

    def __init__(self, inner: grpc.aio.UnaryStreamClientInterceptor) -> None:
        self._inner = inner

    async def intercept_unary_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._inner.intercept_unary_stream(continuation, client_call_details, request)


def channel_interceptors(*interceptors: grpc.aio.ClientInterceptor) -> list[grpc.aio.ClientInterceptor]:
    """The list for `insecure_channel(interceptors=...)`: each interceptor sees every call kind it handles."""
    both = (grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor)
    stream_sides = [_StreamSide(i) for i in interceptors if all(isinstance(i, kind) for kind in both)]
    return [*interceptors, *stream_sides]
