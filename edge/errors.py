"""gRPC status -> HTTP status and a JSON error body the widget can show; never a stack trace."""

from __future__ import annotations

import grpc
from starlette.responses import JSONResponse

from mesh.admission import RETRY_AFTER_METADATA_KEY

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
# Codes whose server-side details may be internal; the user sees a generic sentence instead.
_OPAQUE = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS})
RETRY_AFTER_S = 2


def error_response(
    status: int, code: str, message: str, *, retryable: bool = False, retry_after_s: int = RETRY_AFTER_S
) -> JSONResponse:
    headers = {"Retry-After": str(retry_after_s)} if status in (429, 503) else None
    body = {"error": {"code": code, "message": message, "retryable": retryable}}
    return JSONResponse(body, status_code=status, headers=headers)


def grpc_error_response(exc: grpc.aio.AioRpcError) -> JSONResponse:
    code = exc.code()
    status = HTTP_STATUS.get(code, 500)
    message = (
        (exc.details() or code.name.lower()) if code not in _OPAQUE else "something went wrong on our side"
    )
    if code == grpc.StatusCode.UNAVAILABLE and status == 503:
        message = exc.details() or "the assistant is temporarily unavailable; try again shortly"
    return error_response(
        status, code.name, message, retryable=code in RETRYABLE, retry_after_s=_retry_after_s(exc)
    )


def _retry_after_s(exc: grpc.aio.AioRpcError) -> int:
    """The server's own advice (admission control's `retry-after` trailer), else the default."""
    for key, value in exc.trailing_metadata() or ():
        if key == RETRY_AFTER_METADATA_KEY and str(value).isdigit():
            return max(1, int(value))
    return RETRY_AFTER_S


def turn_error_fields(exc: grpc.aio.AioRpcError) -> dict[str, object]:
    """The body of an SSE `error` event for a failure after the turn was accepted."""
    code = exc.code()
    message = (
        (exc.details() or code.name.lower()) if code not in _OPAQUE else "something went wrong on our side"
    )
    return {"code": code.name, "message": message, "retryable": code in RETRYABLE}
