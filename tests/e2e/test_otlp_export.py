"""Both OTLP protocols reach the stack's Jaeger, configured only by the standard variables."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import httpx
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from mesh.telemetry import otlp_span_exporter
from tests.local_stack import ROOT, STACK, Stack

pytestmark = pytest.mark.stack


def _stack_endpoint_for(protocol: str) -> str:
    """What `scripts/stack.sh env` exports as the endpoint when the shell chose this protocol."""
    env = {k: v for k, v in os.environ.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    out = subprocess.run(
        ["bash", str(STACK), "env"], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    [line] = [line for line in out.splitlines() if line.startswith("export OTEL_EXPORTER_OTLP_ENDPOINT=")]
    return line.partition("=")[2]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_a_span_sent_with_either_protocol_is_found_in_jaeger(
    stack: Stack, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stack.jaeger_query_url, "no JAEGER_QUERY_URL from scripts/stack.sh env"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", _stack_endpoint_for(protocol))
    service = f"otlp-check-{uuid.uuid4().hex[:8]}"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(otlp_span_exporter()))
    with provider.get_tracer("tests").start_as_current_span(f"sent over {protocol}") as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
    provider.shutdown()

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        reply = httpx.get(f"{stack.jaeger_query_url}/api/traces/{trace_id}", timeout=5)
        if reply.status_code == 200 and reply.json().get("data"):
            [found] = reply.json()["data"]
            assert [s["operationName"] for s in found["spans"]] == [f"sent over {protocol}"]
            assert found["processes"][found["spans"][0]["processID"]]["serviceName"] == service
            return
        time.sleep(0.5)
    pytest.fail(f"trace {trace_id} sent over {protocol} never reached Jaeger")
