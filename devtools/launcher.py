"""Start and stop the mesh's processes on this machine: the run command and the end-to-end tests use it.

Each component of `mesh.components` is a real process (`python -m ...`) on its own loopback port;
`wait_ready` polls each one's declared health check before returning.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from demo.keyring import public_key_file
from devtools.probes import grpc_serving, http_ok
from mesh.components import COMPONENTS, Component
from mesh.tls import ensure_dev_pki

ROOT = Path(__file__).resolve().parent.parent


# Where ports for a mesh's processes are drawn: below Linux's ephemeral range (32768-60999), which the
# kernel hands to every outgoing connection. A port chosen there (bind to 0) is free when chosen but may be
# taken by some client's connection before the process binds it (seen: "Address already in use" in a test
# mesh); here only another listener could take it. Between the local stack's ports: above PostgreSQL, Redis
# and Kafka (15432-20800 with any STACK_PORT_OFFSET) and below FerretDB's (27027 and up), so a server a test
# stops for a while never finds its port taken by a mesh when it comes back.
_PORT_RANGE = range(21000, 27000)
# The processes that speak mutual TLS: the coordinator serves it, the edge is its client.
_MTLS_COMPONENTS = frozenset({"coordinator", "edge"})
# The name the coordinator's development certificate carries (mesh/tls.py): what the edge checks when
# COORDINATOR_ADDR lists several replicas.
_COORDINATOR_TLS_NAME = "coordinator"


def replica_name(name: str, index: int) -> str:
    """The launcher's name for replica `index` (1-based) of a component: `coordinator`, `coordinator#2`."""
    return name if index == 1 else f"{name}#{index}"


def free_port() -> int:
    """A loopback port nothing listens on right now, outside the range the kernel gives connections."""
    for _ in range(200):
        port = random.choice(_PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE.start}-{_PORT_RANGE.stop - 1}")


@dataclass(frozen=True)
class Placed:
    """A component with the ports it was given for this run."""

    spec: Component
    port: int
    metrics_port: int
    # What `python -m` runs: the registry's module, or a development stand-in (the edge with the demo).
    module: str

    @property
    def name(self) -> str:
        return self.spec.name if self.replica == 1 else replica_name(self.spec.name, self.replica)

    # Which copy of the component this is (1 for the first; `coordinator#2` is replica 2).
    replica: int = 1


@dataclass
class Mesh:
    """The processes of one local mesh, with their ports and logs."""

    components: dict[str, Placed]
    env: dict[str, str]
    log_dir: Path
    # The development PKI (mesh/tls.py): one TLS directory per identity. The coordinator serves mutual
    # TLS with `coordinator/`, the edge presents `edge/`, the launcher's health probe `probe/`.
    tls_root: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # The `mesh` label of this mesh's series in the local Prometheus (one stack scrapes many meshes).
    mesh_id: str = field(default_factory=lambda: f"mesh-{os.getpid()}-{random.randrange(16**6):06x}")

    @property
    def scrape_targets_file(self) -> Path | None:
        """This mesh's file_sd file in the local Prometheus's targets folder (PROMETHEUS_TARGETS_DIR)."""
        folder = self.env.get("PROMETHEUS_TARGETS_DIR")
        return Path(folder) / f"{self.mesh_id}.json" if folder else None

    def scrape_targets(self) -> list[dict[str, object]]:
        """file_sd entries: each process's metrics port, labelled with its component and this mesh."""
        return [
            {
                "targets": [f"127.0.0.1:{comp.metrics_port}"],
                "labels": {"component": comp.spec.name, "mesh": self.mesh_id},
            }
            for comp in self.components.values()
        ]

    def _register_scrape_targets(self) -> None:
        path = self.scrape_targets_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        written = path.with_suffix(".tmp")  # Prometheus reads only *.json: never a half-written one
        written.write_text(json.dumps(self.scrape_targets(), indent=1))
        written.replace(path)

    def tls_dir(self, identity: str) -> Path:
        """The TLS directory (ca.crt, tls.crt, tls.key) of a development identity."""
        return self.tls_root / identity

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.components['edge'].port}"

    @property
    def coordinator_addr(self) -> str:
        """The first coordinator replica's address (what a client pinned to one replica dials)."""
        return f"127.0.0.1:{self.components['coordinator'].port}"

    def replicas(self, name: str) -> list[str]:
        """The launcher's names of every replica of component `name`: `["coordinator", "coordinator#2"]`."""
        return [n for n, c in self.components.items() if c.spec.name == name]

    def metrics_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.components[name].metrics_port}/metrics"

    def address(self, name: str) -> str:
        return f"127.0.0.1:{self.components[name].port}"

    def process_env(self, name: str) -> dict[str, str]:
        """The environment component `name` runs with: the mesh's, plus its own address, ports and
        certificate. A test starting a second copy of a component (another edge) starts from this."""
        comp = self.components[name]
        env = dict(self.env)
        if comp.spec.kind == "grpc":
            env["LISTEN_ADDR"] = self.address(name)
        elif comp.spec.kind == "http":
            env["HOST"] = "127.0.0.1"
            env["PORT"] = str(comp.port)
        if comp.spec.name in _MTLS_COMPONENTS:
            env["MESH_TLS_DIR"] = str(self.tls_dir(comp.spec.name))
        env["SERVICE_NAME"] = comp.spec.name
        env["METRICS_PORT"] = str(comp.metrics_port)
        return env

    def start(self, *names: str) -> None:
        """Start the named components (all when none are named) that are not running."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._register_scrape_targets()
        for name in names or tuple(self.components):
            running = self.processes.get(name)
            if running is not None and running.poll() is None:
                continue
            comp = self.components[name]
            env = self.process_env(name)
            log = (self.log_dir / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", comp.module],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
        self.wait_ready(*names)

    def wait_ready(self, *names: str, timeout_s: float | None = None) -> None:
        # MESH_READY_TIMEOUT_S: more time on a machine shared with other heavy jobs (seen: 10 processes
        # importing at once under a load of 30 on 2 cores took over a minute).
        if timeout_s is None:
            timeout_s = float(self.env.get("MESH_READY_TIMEOUT_S") or 60.0)
        deadline = time.monotonic() + timeout_s
        for name in names or tuple(self.components):
            comp = self.components[name]
            while not self._ready(comp):
                proc = self.processes.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{name} was not ready within {timeout_s:.0f} s; see its log in {self.log_dir}"
                    )
                time.sleep(0.1)

    def _ready(self, comp: Placed) -> bool:
        if comp.spec.health == "none":
            return True
        if comp.spec.health == "http":
            return http_ok(f"http://127.0.0.1:{comp.port}{comp.spec.health_path}")
        tls = self.tls_dir("probe") if comp.spec.name in _MTLS_COMPONENTS else None
        return grpc_serving(self.address(comp.name), tls_dir=tls)

    def stop(self, *names: str, timeout_s: float = 15.0) -> None:
        """SIGTERM the named components (all when none are named), then SIGKILL what is left."""
        targets = [n for n in (names or tuple(reversed(self.components))) if n in self.processes]
        for name in targets:
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in targets:
            proc = self.processes.pop(name)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        path = self.scrape_targets_file
        if path is not None and not self.processes:
            path.unlink(missing_ok=True)


def plan_mesh(
    stack_env: Mapping[str, str],
    *,
    log_dir: Path,
    edge_port: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    fixed_ports: bool = False,
    port_offset: int = 0,
    demo_site: bool = True,
    coordinator_replicas: int = 1,
) -> Mesh:
    """Lay out the mesh: ports and environment.

    Fixed ports (the run command) are each component's default plus `port_offset`, so a second mesh can
    run beside `./dev up`; otherwise (tests) every port is a free one. The environment carries every
    address a process needs: its settings have no local defaults. With `demo_site` the edge is
    `devtools.demo_edge`, serving the demo task site at `/`, whose keyring (DEV_KEYS_DIR, default
    .local/dev-keys, demo/keyring.py) signs users' tokens; that edge verifies them against the site's
    JWKS, as a production edge does against its host's. A plain edge verifies with the current public key.
    The coordinator serves mutual TLS with certificates from the development PKI in MESH_TLS_ROOT
    (default .local/tls), made here on first use, and the policy in INTERNAL_CLIENTS_FILE (default
    ops/internal-clients.yaml).

    `coordinator_replicas` > 1 adds `coordinator#2`, ... (each its own process and ports, started and
    stopped by name like any component); COORDINATOR_ADDR lists them all, so the edge balances over them
    and resends a turn refused by a stopping replica to another (mesh/tls.py coordinator_channel).
    """
    components: dict[str, Placed] = {}
    for spec in COMPONENTS:
        copies = coordinator_replicas if spec.name == "coordinator" else 1
        for index in range(1, copies + 1):
            if fixed_ports:
                # Fixed ports of further replicas: beside the first, 100 up per replica.
                port = spec.port + port_offset + 100 * (index - 1) if spec.port else 0
                metrics = spec.metrics_port + port_offset + 100 * (index - 1)
            else:
                port = free_port() if spec.port else 0
                metrics = free_port()
            placed = Placed(spec, port, metrics, spec.module, replica=index)
            components[placed.name] = placed
    edge = components["edge"]
    components["edge"] = replace(
        edge,
        port=edge.port if edge_port is None else edge_port,
        module="devtools.demo_edge" if demo_site else edge.module,
    )
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(stack_env)
    addresses: dict[str, list[str]] = {}
    for placed in components.values():
        if placed.spec.address_env:
            addresses.setdefault(placed.spec.address_env, []).append(f"127.0.0.1:{placed.port}")
    for variable, listed in addresses.items():
        env[variable] = ",".join(listed)
    if coordinator_replicas > 1:
        env["COORDINATOR_TLS_NAME"] = _COORDINATOR_TLS_NAME
    env.update(extra_env or {})
    keys_dir = Path(env.get("DEV_KEYS_DIR") or ROOT / ".local" / "dev-keys")
    env["DEV_KEYS_DIR"] = str(keys_dir)
    if demo_site:
        env.setdefault("AUTH_JWKS_URL", f"http://127.0.0.1:{components['edge'].port}/.well-known/jwks.json")
    else:
        env.setdefault("AUTH_PUBLIC_KEY_FILE", str(public_key_file(keys_dir)))
    env.setdefault("HOST_SYNC_MAPPING_FILE", str(ROOT / "host_sync" / "mappings" / "demo.yaml"))
    # Development and tests run with everyone inside the rollout; flags/flags.json is the launch's 10%.
    env.setdefault("FLAGS_FILE", str(ROOT / "flags" / "dev.json"))
    tls_root = ensure_dev_pki(Path(env.get("MESH_TLS_ROOT") or ROOT / ".local" / "tls"))
    env["MESH_TLS_ROOT"] = str(tls_root)
    env.setdefault("INTERNAL_CLIENTS_FILE", str(ROOT / "ops" / "internal-clients.yaml"))
    return Mesh(components=components, env=env, log_dir=log_dir, tls_root=tls_root)
