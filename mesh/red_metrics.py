"""RED (rate, errors, duration) of every hop, under OpenTelemetry's semantic-convention names.

Three histograms, one per side of a hop, so a dashboard can put the caller's and the callee's view of the
same call side by side (the gap is the network and queueing):

* `rpc.server.duration`  every gRPC server (installed by `mesh.grpc_server.create_server`),
* `rpc.client.duration`  every gRPC client channel that adds `RpcClientMetricsInterceptor`,
* `http.server.request.duration`  the edge's HTTP requests (`edge.request_metrics`).

Prometheus sees them as `rpc_server_duration_seconds`, `rpc_client_duration_seconds` and
`http_server_request_duration_seconds` (the OTel exporter turns dots into underscores and adds the unit).
Rate is the histogram's `_count`, errors are the counts whose status label is not OK/2xx.

Label sets are bounded by construction: the gRPC method comes from the server's own registered method
table (a caller cannot invent one: an unknown method never reaches an interceptor), the HTTP route is the
route's template (`/v1/conversations/{conversation_id}/messages`) or `other`, never the raw path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ClientCallDetails
from opentelemetry import metrics

# Seconds. The semantic conventions' advised boundaries for HTTP/RPC durations, plus 20 and 30 s for whole
# streamed turns (a Converse stream lasts as long as the model writes).
DURATION_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 30.0,
)  # fmt: skip

_meter = metrics.get_meter("assist.red")

RPC_SERVER_DURATION = _meter.create_histogram(
    "rpc.server.duration",
    unit="s",
    description="Duration of gRPC calls served, by service, method and status code.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
)
RPC_CLIENT_DURATION = _meter.create_histogram(
    "rpc.client.duration",
    unit="s",
    description="Duration of gRPC calls made, from the caller's side, by service, method and status code.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
)
HTTP_SERVER_DURATION = _meter.create_histogram(
    "http.server.request.duration",
    unit="s",
    description="Duration of HTTP requests served, by method, route template and status code.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
)


def rpc_attributes(full_method: str, code: grpc.StatusCode) -> dict[str, str | int]:
    """`/assist.v1.NluService/Understand` and a status as the semantic conventions' RPC attributes."""
    service, _, method = full_method.lstrip("/").partition("/")
    return {
        "rpc.system": "grpc",
        "rpc.service": service,
        "rpc.method": method,
        "rpc.grpc.status_code": code.value[0],
    }


def _status_of(context: grpc.aio.ServicerContext, failed: BaseException | None) -> grpc.StatusCode:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions hand back the number
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    if failed is None:
        return grpc.StatusCode.OK
    if isinstance(failed, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class RpcServerMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Records `rpc.server.duration` for every call; must be the outermost interceptor, so the status it
    reads is the one the caller gets (after `ErrorStatusInterceptor` has mapped our exceptions)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _timed_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _timed_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _timed_unary(handler.stream_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _timed_stream(handler.stream_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _timed_unary(behaviour: Callable[..., Any], method: str) -> Callable[..., Awaitable[Any]]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        failed: BaseException | None = None
        try:
            return await behaviour(request, context)
        except BaseException as exc:
            failed = exc
            raise
        finally:
            RPC_SERVER_DURATION.record(
                time.perf_counter() - started, rpc_attributes(method, _status_of(context, failed))
            )

    return timed


def _timed_stream(behaviour: Callable[..., Any], method: str) -> Callable[..., AsyncIterator[Any]]:
    async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = time.perf_counter()
        failed: BaseException | None = None
        try:
            async for response in behaviour(request, context):
                yield response
        except BaseException as exc:
            failed = exc
            raise
        finally:
            RPC_SERVER_DURATION.record(
                time.perf_counter() - started, rpc_attributes(method, _status_of(context, failed))
            )

    return timed


class _RpcClientMetrics:
    """Records `rpc.client.duration` per logical call, from before the first attempt to the final status.

    Outermost on a channel, it sees what the calling code sees: a call refused by an open circuit breaker
    counts as UNAVAILABLE in about no time, retries are inside one observation.
    """

    def __init__(self) -> None:
        self._recording: set[asyncio.Task[None]] = set()

    async def _observe(
        self, continuation: Callable[..., Awaitable[Any]], details: ClientCallDetails, request: Any
    ) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else str(details.method)
        started = time.perf_counter()
        try:
            call = await continuation(details, request)
        except grpc.aio.AioRpcError as exc:
            RPC_CLIENT_DURATION.record(time.perf_counter() - started, rpc_attributes(method, exc.code()))
            raise

        async def record(finished: Any) -> None:
            code = await finished.code()
            RPC_CLIENT_DURATION.record(time.perf_counter() - started, rpc_attributes(method, code))

        def done(finished: Any) -> None:
            task = asyncio.ensure_future(record(finished))
            self._recording.add(task)
            task.add_done_callback(self._recording.discard)

        call.add_done_callback(done)
        return call


class _UnaryClientMetrics(_RpcClientMetrics, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._observe(continuation, client_call_details, request)


class _StreamClientMetrics(_RpcClientMetrics, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[..., Awaitable[Any]],
        client_call_details: ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._observe(continuation, client_call_details, request)


def rpc_client_metrics() -> list[grpc.aio.ClientInterceptor]:
    """Interceptors to put FIRST in a channel's list: unary and server-streaming calls both observed.

    Two objects, because grpc.aio files an interceptor under the first call kind it implements only.
    """
    return [_UnaryClientMetrics(), _StreamClientMetrics()]
