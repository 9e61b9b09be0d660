"""`./dev up`: run the whole mesh in the foreground on fixed local ports until Ctrl-C.

The ports are each component's default (`mesh.components`) plus ASSIST_PORT_OFFSET (default 0); EDGE_PORT
overrides the edge's alone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devtools.launcher import ROOT, Mesh, plan_mesh


def prometheus_line(mesh: Mesh) -> str:
    """Where the stack's Prometheus serves this mesh's series, or why there is none."""
    url = mesh.env.get("PROMETHEUS_URL")
    if not url or mesh.scrape_targets_file is None:
        return "not configured (scripts/stack.sh start prometheus)"
    return f'{url}/api/v1/query?query=up{{mesh="{mesh.mesh_id}"}}  (targets: {mesh.scrape_targets_file})'


def main() -> None:
    stack_env = {
        k: os.environ[k]
        for k in ("MONGO_URI", "REDIS_URL", "KAFKA_BOOTSTRAP", "PROMETHEUS_URL", "PROMETHEUS_TARGETS_DIR")
        if k in os.environ
    }
    offset = int(os.environ.get("ASSIST_PORT_OFFSET", "0"))
    edge_port = int(os.environ["EDGE_PORT"]) if "EDGE_PORT" in os.environ else None
    mesh = plan_mesh(
        stack_env,
        log_dir=ROOT / ".local" / "logs" / "mesh",
        edge_port=edge_port,
        fixed_ports=True,
        port_offset=offset,
    )
    metrics_ports = sorted(c.metrics_port for c in mesh.components.values())
    started = time.monotonic()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        mesh.start()
        print(
            f"\nAssist mesh is up in {time.monotonic() - started:.1f} s.\n"
            f"  Demo site with the widget:  {mesh.edge_url}/\n"
            f"  Coordinator gRPC API:       {mesh.coordinator_addr} (mutual TLS; a client certificate: "
            f"{mesh.tls_dir('assist-cli')}/, see docs/internal-api.md)\n"
            f"  Prometheus metrics:         {mesh.metrics_url('coordinator')} (ports {metrics_ports[0]}-{metrics_ports[-1]})\n"
            f"  Prometheus (scrapes it):    {prometheus_line(mesh)}\n"
            f"  Logs:                       {Path(mesh.log_dir).relative_to(ROOT)}/\n"
            "Press Ctrl-C to stop (the local servers keep running; ./dev stop stops them).\n",
            flush=True,
        )
        while not stopping:
            for name, proc in list(mesh.processes.items()):
                if proc.poll() is not None:
                    print(f"{name} exited ({proc.returncode}); restarting it", flush=True)
                    mesh.start(name)
            time.sleep(0.5)
    finally:
        mesh.stop()


if __name__ == "__main__":
    main()
