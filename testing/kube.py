"""A real Kubernetes control plane on loopback, for installing the Helm chart in tests.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real servers (built from the Go
module proxy by scripts/install_kube.sh); kwok stands in for kubelets: it keeps fake Nodes Ready and moves the
pods scheduled on them to Running without running any container. So Deployments become available, HPAs
and PDBs are accepted by the real API, and the scheduler really spreads replicas over the fake nodes, but
no process of the mesh runs. Everything listens on 127.0.0.1 (kwokctl binds every interface, which is why
this launcher exists), in a directory of the caller's.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.launcher import free_port

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "scripts" / "install_kube.sh"
TOKEN = "assist-test-admin-token"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def tool_paths() -> dict[str, Path]:
    """Where install_kube.sh puts each tool (whether or not it is built yet)."""
    out = subprocess.run(["bash", str(INSTALL_SCRIPT), "paths"], check=True, capture_output=True, text=True)
    return {name: Path(value) for name, value in (line.split("=", 1) for line in out.stdout.splitlines())}


def ensure_tools(what: str) -> dict[str, Path]:
    """Build what is missing ("helm" or "control-plane"), then give every path."""
    paths = tool_paths()
    needed = (
        ["HELM"]
        if what == "helm"
        else ["ETCD", "KUBE_APISERVER", "KUBE_CONTROLLER_MANAGER", "KUBE_SCHEDULER", "KWOK"]
    )
    if not all(paths[name].exists() for name in needed):
        subprocess.run(["bash", str(INSTALL_SCRIPT), what], check=True)
    return paths


def kube_version() -> str:
    """The Kubernetes version the control plane is built at (v1.37.2)."""
    out = subprocess.run(["bash", str(INSTALL_SCRIPT), "paths"], check=True, capture_output=True, text=True)
    return next(line.split("=", 1)[1] for line in out.stdout.splitlines() if line.startswith("KUBE_VERSION="))


@dataclass
class ControlPlane:
    """The servers of one loopback cluster; `kubeconfig` is what helm and kubectl are given."""

    directory: Path
    tools: dict[str, Path]
    api_port: int = 0
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_s: float = 0.0

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def start(self, *, nodes: int = 3, timeout_s: float = 90.0) -> None:
        began = time.monotonic()
        self.directory.mkdir(parents=True, exist_ok=True)
        etcd_port, etcd_peer, self.api_port = free_port(), free_port(), free_port()
        self._write_credentials()
        self._spawn(
            "etcd",
            [
                self.tools["ETCD"],
                "--name=default",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--quota-backend-bytes=268435456",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                self.tools["KUBE_APISERVER"],
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                # The endpoint reconciler refuses a loopback advertise address.
                "--endpoint-reconciler-type=none",
                f"--cert-dir={self.directory / 'certs'}",
                f"--token-auth-file={self.directory / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={self.directory / 'sa.pub'}",
                f"--service-account-signing-key-file={self.directory / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--enable-priority-and-fairness=false",
            ],
        )
        self._wait_ready(began + timeout_s)
        common = [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
        ]
        self._spawn(
            "kube-controller-manager",
            [
                self.tools["KUBE_CONTROLLER_MANAGER"],
                *common,
                f"--service-account-private-key-file={self.directory / 'sa.key'}",
                "--use-service-account-credentials=false",
            ],
        )
        self._spawn("kube-scheduler", [self.tools["KUBE_SCHEDULER"], *common])
        self._spawn(
            "kwok",
            [
                self.tools["KWOK"],
                f"--kubeconfig={self.kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                "--cidr=10.0.0.1/24",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
                f"--config={self.tools['KWOK_STAGES'] / 'stages.yaml'}",
            ],
        )
        self.add_nodes(nodes)
        self._wait_nodes_ready(nodes, began + timeout_s)
        self.started_s = time.monotonic() - began

    def kubectl(self, *args: str, check: bool = True, input_text: str | None = None) -> str:
        """kubectl against this cluster (the preinstalled one; version skew warnings are harmless here)."""
        out = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", *args],
            check=False,
            capture_output=True,
            text=True,
            input=input_text,
        )
        if check and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def add_nodes(self, count: int) -> None:
        """Fake nodes kwok keeps Ready, each in its own zone so the chart's topology spread has a choice."""
        docs = []
        for i in range(count):
            docs.append(
                f"""apiVersion: v1
kind: Node
metadata:
  name: kwok-node-{i}
  annotations: {{"{FAKE_NODE_ANNOTATION}": fake, node.alpha.kubernetes.io/ttl: "0"}}
  labels:
    kubernetes.io/hostname: kwok-node-{i}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-{i}
    type: kwok
status:
  allocatable: {{cpu: "8", memory: 32Gi, pods: "110"}}
  capacity: {{cpu: "8", memory: 32Gi, pods: "110"}}
"""
            )
        self.kubectl("apply", "-f", "-", input_text="---\n".join(docs))

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()

    def _spawn(self, name: str, argv: list[str | Path]) -> None:
        log = (self.directory / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [str(a) for a in argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
            start_new_session=True,
        )
        log.close()

    def _write_credentials(self) -> None:
        (self.directory / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
        if not (self.directory / "sa.key").exists():
            subprocess.run(
                ["openssl", "genrsa", "-out", str(self.directory / "sa.key"), "2048"],
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [
                    "openssl",
                    "rsa",
                    "-in",
                    str(self.directory / "sa.key"),
                    "-pubout",
                    "-out",
                    str(self.directory / "sa.pub"),
                ],
                check=True,
                capture_output=True,
            )
        self.kubeconfig.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
  - name: loopback
    cluster: {{server: "{self.server}", insecure-skip-tls-verify: true}}
users:
  - name: admin
    user: {{token: {TOKEN}}}
contexts:
  - name: loopback
    context: {{cluster: loopback, user: admin, namespace: default}}
current-context: loopback
"""
        )
        os.chmod(self.kubeconfig, 0o600)

    def _wait_ready(self, deadline: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(request, timeout=2, context=context) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"kube-apiserver not ready; see {self.directory / 'kube-apiserver.log'}")
            time.sleep(0.5)

    def _wait_nodes_ready(self, count: int, deadline: float) -> None:
        while True:
            self._check_alive()
            out = self.kubectl(
                "get",
                "nodes",
                "-o",
                'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
            )
            if out.split().count("True") >= count:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake nodes not Ready: {out!r}; see {self.directory / 'kwok.log'}")
            time.sleep(0.5)

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; see {self.directory / (name + '.log')}"
                )


def start_control_plane(directory: Path, *, nodes: int = 3) -> ControlPlane:
    """Build what is missing, then start a fresh cluster in `directory` (emptied first)."""
    tools = ensure_tools("control-plane")
    shutil.rmtree(directory, ignore_errors=True)
    plane = ControlPlane(directory, tools)
    try:
        plane.start(nodes=nodes)
    except BaseException:
        plane.stop()
        raise
    return plane
