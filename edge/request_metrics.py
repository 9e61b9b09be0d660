"""`http.server.request.duration` for every request the edge serves (mesh/red_metrics.py has the why).

A pure ASGI middleware, so a Server-Sent-Events turn is measured to its last byte rather than to its
headers. The route label is the template of the route that matched (Starlette records it in the scope while
routing), e.g. `/v1/conversations/{conversation_id}/messages`; a path no route matches is `other`, so
scanners probing random URLs cannot grow the label set.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesh.red_metrics import HTTP_SERVER_DURATION

UNMATCHED_ROUTE = "other"


def route_template(scope: Scope) -> str:
    """The matched route's template; a mount (the demo site at `/`) is its prefix or `/`."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED_ROUTE
    return str(path) or "/"


class RequestMetricsMiddleware:
    """Times each HTTP request from its arrival to the end of its response body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app raises before starting a response

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            HTTP_SERVER_DURATION.record(
                time.perf_counter() - started,
                {
                    "http.request.method": _method(scope),
                    "http.route": route_template(scope),
                    "http.response.status_code": status,
                },
            )


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(scope: Scope) -> str:
    """The semantic conventions' bound: an unknown method is `_OTHER`."""
    method = str(scope.get("method", "")).upper()
    return method if method in _KNOWN_METHODS else "_OTHER"
