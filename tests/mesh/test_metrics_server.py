"""The /metrics server: the library's exposition, from a thread that sleeps until a scrape arrives."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from mesh.metrics_server import MetricsServer, start_metrics_server


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_things", "Things counted by the test.", ["kind"], registry=registry).labels("a").inc(3)
    return registry


@pytest.fixture
def server(registry: CollectorRegistry) -> Iterator[MetricsServer]:
    server = start_metrics_server(0, addr="127.0.0.1", registry=registry)
    yield server
    server.close()


def test_metrics_are_the_libraries_exposition_byte_for_byte(
    server: MetricsServer, registry: CollectorRegistry
) -> None:
    reply = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert reply.content == generate_latest(registry)
    assert b'demo_things_total{kind="a"} 3.0' in reply.content


def test_a_gzip_scrape_is_answered_compressed(server: MetricsServer, registry: CollectorRegistry) -> None:
    with httpx.stream(
        "GET", f"http://127.0.0.1:{server.port}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5
    ) as reply:
        raw = b"".join(reply.iter_raw())
    assert reply.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == generate_latest(registry)


def _voluntary_switches(native_id: int) -> int:
    status = Path(f"/proc/self/task/{native_id}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("voluntary_ctxt_switches:"))
    return int(line.split()[1])


def test_the_idle_server_thread_does_not_wake_up(server: MetricsServer) -> None:
    """prometheus_client's own server wakes every 0.5 s (serve_forever's poll): 3 or 4 times in 2 s."""
    (thread,) = [t for t in threading.enumerate() if t.name == "metrics-server"]
    assert thread.native_id is not None
    deadline = time.monotonic() + 5
    while "S (sleeping)" not in Path(f"/proc/self/task/{thread.native_id}/status").read_text():
        assert time.monotonic() < deadline, "the server thread never went to sleep"
        time.sleep(0.05)
    time.sleep(0.2)  # settled in select()
    before = _voluntary_switches(thread.native_id)
    time.sleep(2)
    assert _voluntary_switches(thread.native_id) - before == 0


def test_close_frees_the_port_promptly(registry: CollectorRegistry) -> None:
    server = start_metrics_server(0, addr="127.0.0.1", registry=registry)
    port = server.port
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 1
    again = start_metrics_server(port, addr="127.0.0.1", registry=registry)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    finally:
        again.close()
