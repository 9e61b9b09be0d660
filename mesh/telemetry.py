"""OpenTelemetry for a process: traces (OTLP when an endpoint is set), Prometheus metrics, instrumentations.

Traces follow the standard OpenTelemetry environment variables, read by the SDK itself so that a deployment
configures them as it would any other OTel program: `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-only
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, the default, or
`http/protobuf`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` and `OTEL_BSP_*`.

One turn is one trace: the edge's HTTP request span is its root (Starlette instrumentation, edge/app.py), gRPC
client and server spans carry it through the coordinator and the agents, and pymongo and Redis calls are
spans of it. Kafka has no instrumentation here: the trace context crosses it in record headers written by
the relay from the context stored with each outbox entry (mesh/trace_context.py).
"""

from __future__ import annotations

import logging
import os
import sys

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer, filters
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from mesh.config import CommonSettings

log = logging.getLogger(__name__)

PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_PROTOCOL"
TRACES_PROTOCOL_ENV = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"


def export_configured(settings: CommonSettings) -> bool:
    """True when spans should leave the process (an OTLP endpoint is set, for all signals or for traces)."""
    return bool(settings.otel_exporter_otlp_endpoint or os.environ.get(TRACES_ENDPOINT_ENV))


def otlp_span_exporter() -> SpanExporter:
    """The OTLP exporter of the protocol OTEL_EXPORTER_OTLP(_TRACES)_PROTOCOL names; it reads its own variables.

    The exporters are built without arguments on purpose: given none, each reads the endpoint, headers,
    timeout, compression and TLS settings from the standard variables (the HTTP one appends /v1/traces to
    OTEL_EXPORTER_OTLP_ENDPOINT, the gRPC one speaks plaintext to an http:// endpoint).
    """
    protocol = os.environ.get(TRACES_PROTOCOL_ENV) or os.environ.get(PROTOCOL_ENV) or "grpc"
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter()
    if protocol != "grpc":
        raise ValueError(f"{PROTOCOL_ENV} must be grpc or http/protobuf, not {protocol!r}")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter()


def resource_for(settings: CommonSettings) -> Resource:
    """service.name from OTEL_SERVICE_NAME when set (the user's wins), else the process's own name;
    OTEL_RESOURCE_ATTRIBUTES is merged in by `Resource.create`."""
    service = os.environ.get("OTEL_SERVICE_NAME") or settings.service_name
    return Resource.create({"service.name": service, "service.namespace": "assist"})


def configure_telemetry(
    settings: CommonSettings, *, grpc_server: bool = True, grpc_client: bool = False
) -> None:
    """Install tracer and meter providers and instrument grpc.aio, pymongo and Redis; call once in main().

    Spans are always created (so log lines carry trace ids); they leave the process only when an OTLP
    endpoint is set. The sampler is the SDK's, from OTEL_TRACES_SAMPLER (parent-based always-on by default,
    so a turn's spans are kept or dropped together, as the edge decided). Metrics are served on METRICS_PORT
    for Prometheus when it is not 0.
    """
    resource = resource_for(settings)
    tracer_provider = TracerProvider(resource=resource)
    if export_configured(settings):
        tracer_provider.add_span_processor(BatchSpanProcessor(otlp_span_exporter()))
    trace.set_tracer_provider(tracer_provider)

    readers = []
    if settings.metrics_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        from mesh.metrics_server import start_metrics_server

        start_metrics_server(settings.metrics_port, addr="0.0.0.0")
        readers.append(PrometheusMetricReader())
        log.info("metrics served", extra={"port": settings.metrics_port})
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))

    # Health checks (the launcher's, Kubernetes' probes, the edge's /readyz) every few seconds are not traced.
    not_health = filters.negate(filters.health_check())
    if grpc_server:
        GrpcAioInstrumentorServer(filter_=not_health).instrument()  # type: ignore[no-untyped-call]
    if grpc_client:
        GrpcAioInstrumentorClient(filter_=not_health).instrument()  # type: ignore[no-untyped-call]
    instrument_stores()


def instrument_stores() -> None:
    """Spans for every MongoDB command and Redis call (statements are not captured: they hold user data).

    Only for the clients the process has imported by now (its modules import them at the top): a process
    that never talks to a store does not pay for loading its client and instrumentation (about 0.4 s of CPU
    each, times ten processes starting together).
    """
    if "pymongo" in sys.modules:
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

        if not PymongoInstrumentor().is_instrumented_by_opentelemetry:
            PymongoInstrumentor().instrument(capture_statement=False)
    if "redis" in sys.modules:
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        if not RedisInstrumentor().is_instrumented_by_opentelemetry:
            RedisInstrumentor().instrument()
