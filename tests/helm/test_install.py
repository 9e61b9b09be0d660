"""The chart installed on a real Kubernetes API server (loopback etcd + kube-apiserver + controller manager +
scheduler, kwok simulating 3 nodes and the pods on them: no container runs).

Install --wait reaches every Deployment available and the scheduler spreads replicas over the nodes; an
upgrade that changes one value rolls exactly the Deployments that value reaches; rollback restores them;
uninstall leaves no object behind; and the API server itself accepts every ci values file (--dry-run=server).
Each step's time is printed and written to test-artifacts/helm-install-times.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from mesh.components import COMPONENTS
from testing.kube import ControlPlane
from tests.helm.chart import CHART, CI_FILES, ROOT, helm, values

NAMESPACE = "assist"
RELEASE = "assist"
SERVED = {c.name for c in COMPONENTS if c.kind != "worker"}
# The Secrets an SRE creates before installing (docs/deploy.md); the chart only names them.
SECRETS = {
    "assist-mongo": {"uri": "mongodb://assist:pw@mongo.example:27017/assist"},
    "assist-redis": {"url": "redis://redis.example:6379/0"},
    "assist-gemini": {"api-key": "not-a-real-key"},
    "assist-auth": {"public.pem": "-----BEGIN PUBLIC KEY-----\nnot-a-key\n-----END PUBLIC KEY-----\n"},
    "assist-mesh-tls": {"ca.crt": "x", "tls.crt": "x", "tls.key": "x"},
    "assist-host-db": {"dsn": "postgresql://sync:pw@tasks-db.example:5432/tasks"},
}
TIMES: dict[str, float] = {}
pytestmark = pytest.mark.timeout(900)


def timed(step: str, helm_bin: Path, *args: str | Path) -> None:
    began = time.monotonic()
    helm(helm_bin, *args)
    TIMES[step] = round(time.monotonic() - began, 1)
    print(f"{step}: {TIMES[step]} s")


def kube_env(cluster: ControlPlane) -> list[str]:
    return ["--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE]


def deployments(cluster: ControlPlane) -> dict[str, dict[str, Any]]:
    out = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "deployments", "-o", "json"))
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in out["items"]}


def pod_nodes(cluster: ControlPlane, component: str) -> list[str]:
    out = json.loads(
        cluster.kubectl(
            "-n", NAMESPACE, "get", "pods", "-l", f"app.kubernetes.io/component={component}", "-o", "json"
        )
    )
    return [p["spec"].get("nodeName", "") for p in out["items"] if p["status"].get("phase") == "Running"]


def wait_for(what: str, check: Any, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


@pytest.fixture(scope="module")
def namespace(kube_cluster: ControlPlane) -> str:
    kube_cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    for name, data in SECRETS.items():
        args = [f"--from-literal={key}={value}" for key, value in data.items()]
        kube_cluster.kubectl("-n", NAMESPACE, "create", "secret", "generic", name, *args, check=False)
    return NAMESPACE


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_the_api_server_accepts_every_ci_file(
    helm_bin: Path, kube_cluster: ControlPlane, namespace: str, ci_file: Path
) -> None:
    out = helm(
        helm_bin,
        "install",
        f"dry-{ci_file.stem}",
        CHART,
        "-f",
        ci_file,
        "--dry-run=server",
        *kube_env(kube_cluster),
    )
    assert "STATUS: pending-install" in out.stdout


def test_install_upgrade_rollback_uninstall(
    helm_bin: Path, kube_cluster: ControlPlane, namespace: str
) -> None:
    full = CHART / "ci" / "full-values.yaml"
    timed(
        "install --wait",
        helm_bin,
        "install",
        RELEASE,
        CHART,
        "-f",
        full,
        "--wait",
        "--timeout",
        "5m",
        *kube_env(kube_cluster),
    )
    installed = deployments(kube_cluster)
    assert set(installed) == {c.name for c in COMPONENTS}
    for name, d in installed.items():
        assert d["status"].get("availableReplicas", 0) >= 1, name

    # The HPAs (minReplicas 3) scale every served component to 3 pods; the scheduler puts them on 3 nodes.
    began = time.monotonic()
    for name in sorted(SERVED):
        wait_for(f"3 {name} pods on 3 nodes", lambda name=name: len(set(pod_nodes(kube_cluster, name))) == 3)
    TIMES["HPA scale-out to 3 x 8 pods on 3 nodes"] = round(time.monotonic() - began, 1)
    # The retention CronJob (kwok runs no pods: the object and what it would run are what can be checked).
    (cronjob,) = json.loads(kube_cluster.kubectl("-n", NAMESPACE, "get", "cronjobs", "-o", "json"))["items"]
    job_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job_pod["containers"][0]["command"] == ["python", "-m", "support", "retention"]
    job_env = {e["name"]: e for e in job_pod["containers"][0]["env"]}
    assert job_env["RETENTION_DAYS"]["value"] == "180"
    assert job_env["MONGO_URI"]["valueFrom"]["secretKeyRef"] == {"name": "assist-mongo", "key": "uri"}
    assert cronjob["spec"]["timeZone"] == "America/Sao_Paulo" and not cronjob["spec"].get("suspend")
    hpas = json.loads(kube_cluster.kubectl("-n", NAMESPACE, "get", "hpa", "-o", "json"))["items"]
    pdbs = json.loads(kube_cluster.kubectl("-n", NAMESPACE, "get", "pdb", "-o", "json"))["items"]
    assert len(hpas) == len(pdbs) == len(SERVED)

    # A new Gemini model reaches only the processes that call Gemini (their pod template changes).
    uses_gemini = {name for name, c in values()["components"].items() if "gemini" in c["uses"]}
    assert uses_gemini and uses_gemini < set(installed)
    before = {name: d["metadata"]["generation"] for name, d in deployments(kube_cluster).items()}
    timed(
        "upgrade --wait (gemini.model)",
        helm_bin,
        "upgrade",
        RELEASE,
        CHART,
        "-f",
        full,
        "--set",
        "gemini.model=gemini-2.5-pro",
        "--wait",
        *kube_env(kube_cluster),
    )
    after = deployments(kube_cluster)
    rolled = {name for name, d in after.items() if d["metadata"]["generation"] != before[name]}
    assert rolled == uses_gemini

    def model(d: dict[str, Any]) -> str:
        env = d["spec"]["template"]["spec"]["containers"][0]["env"]
        return str(next(e["value"] for e in env if e["name"] == "GEMINI_MODEL"))

    assert {model(after[name]) for name in uses_gemini} == {"gemini-2.5-pro"}

    timed("rollback --wait", helm_bin, "rollback", RELEASE, "1", "--wait", *kube_env(kube_cluster))
    restored = deployments(kube_cluster)
    rolled_back = {
        name
        for name, d in restored.items()
        if d["metadata"]["generation"] != after[name]["metadata"]["generation"]
    }
    assert rolled_back == uses_gemini
    assert {model(restored[name]) for name in uses_gemini} == {values()["gemini"]["model"]}

    timed("uninstall --wait", helm_bin, "uninstall", RELEASE, "--wait", *kube_env(kube_cluster))
    kinds = (
        "deployments,replicasets,pods,services,serviceaccounts,configmaps,hpa,pdb,networkpolicies,ingresses,"
        "cronjobs,jobs"
    )
    wait_for(
        "every object of the release to be gone",
        lambda: (
            kube_cluster.kubectl(
                "-n", NAMESPACE, "get", kinds, "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "name"
            ).strip()
            == ""
        ),
    )
    # Helm's own release records go too.
    assert (
        kube_cluster.kubectl("-n", NAMESPACE, "get", "secrets", "-l", "owner=helm", "-o", "name").strip()
        == ""
    )

    TIMES["control plane start (3 kwok nodes)"] = round(kube_cluster.started_s, 1)
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "helm-install-times.json").write_text(json.dumps(TIMES, indent=2) + "\n")
    print(json.dumps(TIMES, indent=2))
