"""The standard OpenTelemetry variables choose the OTLP protocol, the service name and the resource."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from mesh.config import CommonSettings
from mesh.telemetry import export_configured, otlp_span_exporter, resource_for


@pytest.fixture(autouse=True)
def _clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
    ):
        monkeypatch.delenv(name, raising=False)


def test_grpc_is_the_default_protocol_and_http_protobuf_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert isinstance(otlp_span_exporter(), GrpcExporter)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    exporter = otlp_span_exporter()
    assert isinstance(exporter, HttpExporter)
    assert exporter._endpoint == "http://127.0.0.1:4318/v1/traces"  # the SDK appends the signal's path
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")  # the per-signal variable wins
    assert isinstance(otlp_span_exporter(), GrpcExporter)


def test_an_unknown_protocol_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        otlp_span_exporter()


def test_export_needs_an_endpoint_for_all_signals_or_for_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not export_configured(CommonSettings())
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    assert export_configured(CommonSettings())
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert export_configured(CommonSettings())


def test_service_name_is_the_process_own_unless_otel_service_name_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging,service.version=1.2")
    attrs = resource_for(CommonSettings(service_name="nlg")).attributes
    assert attrs["service.name"] == "nlg" and attrs["service.namespace"] == "assist"
    assert attrs["deployment.environment.name"] == "staging" and attrs["service.version"] == "1.2"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "nlg-canary")
    assert resource_for(CommonSettings(service_name="nlg")).attributes["service.name"] == "nlg-canary"
