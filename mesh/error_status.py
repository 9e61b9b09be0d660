"""Our exceptions as gRPC statuses, in one place: every server of the mesh installs `ErrorStatusInterceptor`.

StoreUnavailable -> UNAVAILABLE (with the `assist-cause: store` trailer, a WARNING naming the method and
the store's error, and `assist_rpc_store_failures_total{method}`; each failed store operation is also counted
in `assist_store_failures_total{operation}` where it happens, mesh/storage/mongo.py), NotFoundError -> NOT_FOUND, InvalidInput ->
INVALID_ARGUMENT; grpc-interceptor's own exceptions (`NotFound`, `Unavailable`...) pass as they are.
Anything else keeps gRPC's default (UNKNOWN, details hidden from the caller).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc
from grpc_interceptor import AsyncExceptionToStatusInterceptor
from prometheus_client import Counter

from mesh.errors import STORE_CAUSE, STORE_CAUSE_VALUE, InvalidInput
from mesh.storage.mongo import NotFoundError, StoreUnavailable

log = logging.getLogger(__name__)

STORE_FAILURES = Counter(
    "assist_rpc_store_failures_total",
    "Calls answered UNAVAILABLE because the server's store could not be reached, by gRPC method.",
    ["method"],
)

# What the caller is told; the store's own error (host names, driver messages) stays in the log.
STORE_UNAVAILABLE_DETAILS = "the assistant's data cannot be reached right now; try again shortly"


class ErrorStatusInterceptor(AsyncExceptionToStatusInterceptor):
    """Maps our exceptions to statuses for every method of the server it is installed on."""

    async def handle_exception(
        self,
        ex: Exception,
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> NoReturn:
        if isinstance(ex, StoreUnavailable):
            log.warning("store unavailable", extra={"method": method_name, "store_error": str(ex)})
            STORE_FAILURES.labels(method=method_name).inc()
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                STORE_UNAVAILABLE_DETAILS,
                trailing_metadata=((STORE_CAUSE, STORE_CAUSE_VALUE),),
            )
        if isinstance(ex, NotFoundError):
            await context.abort(grpc.StatusCode.NOT_FOUND, str(ex) or "not found")
        if isinstance(ex, InvalidInput):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(ex))
        await super().handle_exception(ex, request_or_iterator, context, method_name)
