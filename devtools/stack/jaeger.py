"""Jaeger v2: the local trace backend (OTLP in, in-memory store, query API), built by scripts/install_jaeger.sh.

Traces live in memory only: a restart forgets them, which suits a development stack (and keeps it from
filling the disk). The mesh sends to its OTLP ports when `scripts/stack.sh env` has set
OTEL_EXPORTER_OTLP_ENDPOINT; `python -m devtools.trace MESSAGE_ID` reads the query API.

Jaeger is itself an OpenTelemetry Collector and would trace itself to localhost:4317, retrying for about
20 s at shutdown when nothing listens there: OTEL_TRACES_EXPORTER=none turns that off (tooling notes, 5b).
"""

from __future__ import annotations

import os
from pathlib import Path

from devtools.probes import http_ok
from devtools.stack.kinds import ServerKind
from devtools.stack.processes import spawn
from devtools.stack.settings import JAEGER_MODULE_VERSION, Settings, StackError

# Traces kept before the oldest are dropped (the in-memory store's bound).
MAX_TRACES = 50_000


def _log(settings: Settings) -> Path:
    return settings.log_dir / "jaeger.log"


def query_url(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port('jaeger')}"


def render_config(settings: Settings) -> str:
    """Jaeger's configuration (collector YAML): every listener on loopback, on the stack's ports.

    Every port is set, even those Jaeger would default: a default (0.0.0.0:16685, :8888 for its own metrics)
    would collide with the next stack on the machine.
    """
    host = settings.host
    return f"""\
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: info

extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: {host}:{settings.port("jaeger")}
    grpc:
      endpoint: {host}:{settings.port("jaeger-query-grpc")}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: {MAX_TRACES}

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {host}:{settings.port("jaeger-otlp-grpc")}
      http:
        endpoint: {host}:{settings.port("jaeger-otlp-http")}

processors:
  batch:
    timeout: 200ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def _launch(settings: Settings) -> int:
    binary = settings.jaeger_bin
    if not binary.is_file():
        raise StackError(
            f"{binary} is not built: run scripts/stack.sh start jaeger (scripts/install_jaeger.sh)"
        )
    home = settings.data_dir / "jaeger"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.yaml"
    config.write_text(render_config(settings))
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
    return spawn([str(binary), "--config", str(config)], _log(settings), env=env)


JAEGER = ServerKind(
    name="jaeger",
    comm=f"jaeger-{JAEGER_MODULE_VERSION}"[:15],  # /proc/PID/comm keeps 15 characters
    grace_s=20,
    launch=_launch,
    ready=lambda settings, port: http_ok(f"http://{settings.host}:{port}/api/services"),
    log_file=_log,
)
