"""Refusing new calls while a server stops, so a caller learns at once to go elsewhere.

On SIGTERM a server of the mesh does three things in this order (mesh/grpc_server.py): its health turns
NOT_SERVING (clients that watch health, and Kubernetes, stop sending it work), this gate closes (a call
that still arrives is answered UNAVAILABLE, which gRPC clients treat as retryable: the edge's channel
resends a turn that had not started to another coordinator replica), and `server.stop(grace)` lets the
calls already running finish. Health and reflection stay open so probes see the NOT_SERVING answer rather
than an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

# What a refused caller is told; UNAVAILABLE is the code gRPC's retry policies resend.
STOPPING_DETAILS = "this server is stopping; send the call again (another replica will take it)"
_ALWAYS_OPEN = (f"/{health.SERVICE_NAME}/", f"/{reflection.SERVICE_NAME}/")


async def _refuse(_: Any, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAVAILABLE, STOPPING_DETAILS)


class StopGate(grpc.aio.ServerInterceptor):
    """Open until `close()`; after it, every call but health and reflection is refused UNAVAILABLE."""

    def __init__(self) -> None:
        self.closed = False
        self.refused = 0

    def close(self) -> None:
        self.closed = True

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if not self.closed or method.startswith(_ALWAYS_OPEN):
            return await continuation(handler_call_details)
        self.refused += 1
        # The status goes out before any response message, whatever the method's shape: a unary handler
        # that aborts answers a streaming call just as well (trailers only, which clients may retry).
        return grpc.unary_unary_rpc_method_handler(_refuse)
