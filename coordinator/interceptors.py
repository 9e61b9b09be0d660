"""grpc.aio client interceptors for every agent call: circuit breaker, retry, and the turn's deadline.

grpc-interceptor has no asyncio client interceptors, so these are our own. Order on a channel:
breaker (one verdict per logical call) -> retry (attempts) -> deadline (each attempt's timeout).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterable, Awaitable, Callable, Collection
from typing import Any

import grpc
from grpc.aio import ClientCallDetails

from coordinator.circuit_breaker import CircuitBreaker
from coordinator.turn_deadline import remaining
from mesh.errors import is_store_failure

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE})
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


def rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    """An error shaped like one the server would send, for failures decided on the client side."""
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details)


def _method_name(details: ClientCallDetails) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


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


class RetryInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Retries idempotent unary calls on UNAVAILABLE with exponential backoff and full jitter.

    A retry is attempted only while the turn's deadline leaves room for the backoff and the attempt.
    Streaming calls are never retried here: once text has reached the user it cannot be taken back.
    """

    def __init__(
        self,
        idempotent_methods: Collection[str],
        *,
        max_attempts: int = 3,
        base_backoff_s: float = 0.05,
        max_backoff_s: float = 1.0,
    ) -> None:
        self._idempotent = frozenset(idempotent_methods)
        self._max_attempts = max_attempts
        self._base = base_backoff_s
        self._cap = max_backoff_s

    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        if _method_name(client_call_details) not in self._idempotent:
            return await continuation(client_call_details, request)
        attempt = 0
        while True:
            call = await continuation(client_call_details, request)
            code = await call.code()
            attempt += 1
            if code not in RETRYABLE_CODES or attempt >= self._max_attempts:
                return call
            backoff = random.uniform(0, min(self._cap, self._base * 2 ** (attempt - 1)))
            left = remaining()
            if left is not None and left < backoff + MIN_ATTEMPT_S:
                return call
            await asyncio.sleep(backoff)


class CircuitBreakerInterceptor(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor):
    """Fails calls at once while the agent's breaker is open; feeds each call's outcome to the breaker."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self._recording: set[asyncio.Task[None]] = set()

    def _record(self, call: grpc.aio.Call) -> None:
        def done(finished: Any) -> None:
            task = asyncio.ensure_future(self._record_code(finished))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

        call.add_done_callback(done)

    async def _record_code(self, call: grpc.aio.Call) -> None:
        code = await call.code()
        if code not in FAILURE_CODES:
            self.breaker.record_success()
        elif is_store_failure(await call.trailing_metadata()):
            # The agent answered: its store did not. Not a verdict on the agent (mesh/errors.py).
            log.warning(
                "%s agent: its store is unavailable (%s); not counted by the agent's circuit breaker",
                self.breaker.name,
                await call.details(),
            )
        else:
            self.breaker.record_failure()

    def _check(self) -> None:
        if not self.breaker.allow():
            raise rpc_error(grpc.StatusCode.UNAVAILABLE, f"circuit open for the {self.breaker.name} agent")

    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        self._check()
        call = await continuation(client_call_details, request)
        self._record(call)
        return call

    async def intercept_unary_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> AsyncIterable[Any]:
        self._check()
        call = await continuation(client_call_details, request)
        self._record(call)
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
