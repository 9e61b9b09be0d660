"""OpenTelemetry for a process: traces (OTLP when an endpoint is set), Prometheus metrics, gRPC spans."""

from __future__ import annotations

import logging

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from mesh.config import CommonSettings

log = logging.getLogger(__name__)


def configure_telemetry(
    settings: CommonSettings, *, grpc_server: bool = True, grpc_client: bool = False
) -> None:
    """Install tracer and meter providers and instrument grpc.aio; call once in main(), before servers start.

    Spans are always created (so log lines carry trace ids); they leave the process only when
    OTEL_EXPORTER_OTLP_ENDPOINT is set. Metrics are served on METRICS_PORT for Prometheus when it is not 0.
    """
    resource = Resource.create({"service.name": settings.service_name, "service.namespace": "assist"})
    tracer_provider = TracerProvider(resource=resource)
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint, insecure=True)
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(tracer_provider)

    readers = []
    if settings.metrics_port:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr="0.0.0.0")
        readers.append(PrometheusMetricReader())
        log.info("metrics served", extra={"port": settings.metrics_port})
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))

    if grpc_server:
        GrpcAioInstrumentorServer().instrument()  # type: ignore[no-untyped-call]
    if grpc_client:
        GrpcAioInstrumentorClient().instrument()  # type: ignore[no-untyped-call]
