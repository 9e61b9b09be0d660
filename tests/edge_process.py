"""Another real edge process in front of a running mesh, with settings of its own (limits, proxies)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from devtools.launcher import ROOT, free_port
from tests.mesh_fixture import MeshUnderTest


@contextmanager
def extra_edge(mesh: MeshUnderTest, name: str, settings: dict[str, str]) -> Iterator[str]:
    """Start `python -m edge` with the mesh's edge environment plus `settings`; yields its base URL."""
    port = free_port()
    env = {
        **mesh.mesh.process_env("edge"),  # its certificate for the coordinator among the rest
        "PORT": str(port),
        "METRICS_PORT": "0",
        "SERVICE_NAME": name,
        "REDIS_URL": mesh.mesh.env["REDIS_URL"],
        "HOST": "127.0.0.1",
        **settings,
    }
    process = subprocess.Popen([sys.executable, "-m", "edge"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        # A loaded machine imports slowly: as long as the mesh's own processes are given.
        deadline = time.monotonic() + float(os.environ.get("MESH_READY_TIMEOUT_S", "60"))
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, f"the edge {name} exited"
            assert time.monotonic() < deadline, f"the edge {name} did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
