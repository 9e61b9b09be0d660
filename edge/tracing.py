"""The edge's HTTP server span: the root of a turn's trace (W3C `traceparent` from the caller is honoured).

OpenTelemetry's ASGI middleware does the work (span, W3C context extraction); its metrics are switched off
(edge/request_metrics.py records the edge's). It is given two things the default lacks: span names from the route template (`POST
/v1/conversations/{conversation_id}/messages`, not the raw path with its ids, which would make every span
name unique), and no per-chunk `http send` spans (an SSE answer sends dozens of chunks; each would be a span).
Health probes are not traced: they are called every few seconds and say nothing about a turn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

# Paths never traced (regular expressions searched in the URL); OTEL_PYTHON_EXCLUDED_URLS adds more.
UNTRACED_PATHS = ("/healthz", "/readyz")

SpanDetails = Callable[[Scope], tuple[str, dict[str, Any]]]


def span_details(routes: Sequence[BaseRoute]) -> SpanDetails:
    """The span name `METHOD route-template` and `http.route`, from the first route that matches fully."""

    def details(scope: Scope) -> tuple[str, dict[str, Any]]:
        method = str(scope.get("method") or "HTTP")
        for route in routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                template = str(getattr(route, "path", "") or "")
                if template:
                    return f"{method} {template}", {"http.route": template}
        return method, {}

    return details


def excluded_urls() -> str:
    """The paths not traced, as the ASGI middleware's comma-separated list of regular expressions."""
    extra = os.environ.get("OTEL_PYTHON_EXCLUDED_URLS", "")
    return ",".join([*UNTRACED_PATHS, *(p.strip() for p in extra.split(",") if p.strip())])


def tracing_middleware(routes: Sequence[BaseRoute]) -> Middleware:
    """The OpenTelemetry middleware for the edge, to be the app's outermost user middleware."""
    return Middleware(
        OpenTelemetryMiddleware,
        excluded_urls=excluded_urls(),
        default_span_details=span_details(routes),
        exclude_spans=["receive", "send"],
        # Spans only: http.server.request.duration is recorded by edge/request_metrics.py (bounded labels);
        # the middleware's own copy of it would be a second series under the same name.
        meter_provider=NoOpMeterProvider(),
    )
