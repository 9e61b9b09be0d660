"""Carrying a turn's trace across the places OpenTelemetry's instrumentations do not reach.

A turn's events leave the turn in the outbox of its MongoDB document and reach Kafka later, from another
process (the relay) that knows nothing of the turn's request. So the W3C trace context current when the
event is written is stored beside it in the outbox entry (`trace_context`, a dict such as
`{"traceparent": "00-<trace id>-<span id>-01"}`); the relay turns it into Kafka record headers, and the
consumer continues the trace from the headers. The propagator is the global one (W3C trace context and
baggage by default, or what OTEL_PROPAGATORS names), so the stored form is whatever the mesh propagates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from opentelemetry import propagate, trace
from opentelemetry.context import Context

# What aiokafka gives and takes as record headers.
KafkaHeaders = Sequence[tuple[str, bytes]]


def current_carrier() -> dict[str, str]:
    """The current trace context as propagation fields (empty when there is no valid span)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier


def current_trace_id() -> str:
    """The current trace's id as 32 hex digits (as Jaeger and W3C write it), or "" outside any trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else ""


def context_from_carrier(carrier: Mapping[str, str] | None) -> Context:
    """The context stored in `carrier` (an empty context when it holds none)."""
    return propagate.extract(dict(carrier or {}), context=Context())


def kafka_headers(context: Context | None = None) -> list[tuple[str, bytes]]:
    """Record headers propagating `context` (the current one by default), UTF-8 encoded as Kafka wants."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return [(key, value.encode()) for key, value in carrier.items()]


def context_from_kafka_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> Context:
    """The context a record's headers carry (an empty context when they carry none or garbage)."""
    carrier: dict[str, str] = {}
    for key, value in headers or ():
        if value is not None:
            carrier[key] = value.decode("utf-8", errors="replace")
    return context_from_carrier(carrier)


def span_context_of(context: Context) -> trace.SpanContext:
    """The span context a propagated context holds (invalid when it holds none)."""
    return trace.get_current_span(context).get_span_context()
