"""The Helm chart renders valid, restricted objects for every process of the registry (no cluster needed).

helm lint --strict and helm template run on every ci/*-values.yaml, and what they render is validated with
kubernetes-validate --strict against Kubernetes 1.30 (the oldest the chart supports) and the newest version it
bundles; values.schema.json must refuse unknown keys and wrong types.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from mesh.components import AGENT_NAMES, COMPONENTS
from tests.helm.chart import (
    CHART,
    CI_FILES,
    MONITORING_API,
    ROOT,
    by_kind,
    component_of,
    helm,
    render,
    values,
)

OLDEST_KUBERNETES = "1.30.0"


def newest_bundled_kubernetes() -> str:
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    versions = [
        p.name.removeprefix("v").removesuffix("-local-strict") for p in schemas.glob("v*-local-strict")
    ]
    return max(versions, key=lambda v: tuple(int(part) for part in v.split(".")))


def test_generated_values_schema_and_shipped_files_are_current() -> None:
    out = subprocess.run(
        [sys.executable, "scripts/gen_chart_values.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_there_are_ci_files_for_defaults_everything_on_and_minimal() -> None:
    assert {p.name for p in CI_FILES} >= {"default-values.yaml", "full-values.yaml", "minimal-values.yaml"}


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_helm_lint_strict_passes(helm_bin: Path, ci_file: Path) -> None:
    out = helm(helm_bin, "lint", "--strict", CHART, "-f", ci_file)
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_rendered_objects_are_valid_for_kubernetes_1_30_and_the_newest(
    helm_bin: Path, ci_file: Path, tmp_path: Path
) -> None:
    manifests = render(helm_bin, "-f", ci_file, api_versions=[MONITORING_API])
    # The Prometheus Operator's kinds are custom resources with no bundled schema; the rest is core Kubernetes.
    core = [m for m in manifests if not m["apiVersion"].startswith("monitoring.coreos.com/")]
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(core))
    for version in (OLDEST_KUBERNETES, newest_bundled_kubernetes()):
        out = subprocess.run(
            [
                str(Path(sys.executable).parent / "kubernetes-validate"),
                "--strict",
                "-k",
                version,
                str(rendered),
            ],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, f"Kubernetes {version}: {out.stdout}{out.stderr}"
        assert out.stdout.count("passed") == len(core)


def test_validation_catches_an_unknown_field(tmp_path: Path) -> None:
    """The validator the tests rely on does fail (so a pass above means something)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}], replikas: 2}\n"
    )
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "-k",
            OLDEST_KUBERNETES,
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "replikas" in out.stdout + out.stderr


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("replikas=2", "replikas"),
        ("components.nlu.replicas=two", "replicas"),
        ("components.sync.enabled=true", "sync"),
        ("components.edge.autoscaling.maxReplicaz=3", "maxReplicaz"),
        ("kafka.bootstrap=kafka", "bootstrap"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("retention.days=-1", "days"),
        ("retention.dayz=30", "dayz"),
    ],
)
def test_schema_rejects_unknown_keys_and_wrong_types(helm_bin: Path, setting: str, complaint: str) -> None:
    flag = "--set-string" if setting.endswith("=two") else "--set"
    out = helm(helm_bin, "template", "assist", CHART, flag, setting, check=False)
    assert out.returncode != 0
    assert "values don't meet the specifications of the schema" in out.stderr
    assert complaint in out.stderr


def test_every_component_of_the_registry_is_a_deployment_behind_a_service(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml")
    for kind in ("Deployment", "Service", "ServiceAccount", "NetworkPolicy"):
        assert {component_of(m) for m in by_kind(manifests, kind).values() if "component" in str(m)} >= {
            c.name for c in COMPONENTS
        }, kind
    deployments = {component_of(d): d for d in by_kind(manifests, "Deployment").values()}
    for c in COMPONENTS:
        pod = deployments[c.name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == ["python", "-m", c.module]
        if c.health == "grpc" and "mtls" in values()["components"][c.name]["uses"]:
            # full-values turns mutual TLS on: kubelet's gRPC probe has no client certificate.
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["tcpSocket"] == {"port": c.port}, (c.name, probe)
        elif c.health == "grpc":
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["grpc"] == {"port": c.port}, (c.name, probe)
        elif c.health == "http":
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"] == {"path": c.health_path, "port": "http"}, (c.name, probe)
        else:
            assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
        assert {p["containerPort"] for p in container["ports"]} == ({c.port} if c.port else set()) | {
            c.metrics_port
        }


def test_pods_run_restricted_with_no_service_account_token(helm_bin: Path) -> None:
    manifests = render(helm_bin)
    for sa in by_kind(manifests, "ServiceAccount").values():
        assert sa["automountServiceAccountToken"] is False
    for deployment in by_kind(manifests, "Deployment").values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        security = pod["containers"][0]["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
        }
        generated = values()["components"][component_of(deployment)]
        assert pod["terminationGracePeriodSeconds"] > generated["gracefulStopSeconds"]


def test_retention_is_off_by_default_and_a_restricted_cronjob_when_days_are_set(helm_bin: Path) -> None:
    assert not by_kind(render(helm_bin), "CronJob")
    assert not by_kind(render(helm_bin, "--set", "retention.days=0"), "CronJob")

    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml")
    (job,) = by_kind(manifests, "CronJob").values()
    assert component_of(job) == "retention"
    assert (job["spec"]["schedule"], job["spec"]["timeZone"]) == ("15 4 * * *", "America/Sao_Paulo")
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "support", "retention"]
    env = {e["name"]: e for e in container["env"]}
    assert env["RETENTION_DAYS"]["value"] == "180"
    # The same MongoDB Secret as the Deployments: the deployment's own configuration.
    coordinator = by_kind(manifests, "Deployment")["assist-coordinator"]
    coordinator_env = {e["name"]: e for e in coordinator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MONGO_URI"] == coordinator_env["MONGO_URI"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # Allowed out to MongoDB and DNS only (the default-deny policy covers its pods too).
    policy = by_kind(manifests, "NetworkPolicy")["assist-retention"]
    assert {port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]} == {53, 27017}
    assert "ingress" not in policy["spec"]


def test_every_secret_is_read_from_an_existing_secret_by_name(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml")
    assert not by_kind(manifests, "Secret"), "the chart must never carry a secret value"
    for deployment in by_kind(manifests, "Deployment").values():
        env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        for name in ("MONGO_URI", "REDIS_URL", "GEMINI_API_KEY", "HOST_DB_DSN"):
            if name in env:
                assert "value" not in env[name] and env[name]["valueFrom"]["secretKeyRef"]["name"], name


def test_gemini_off_leaves_no_gemini_key_anywhere(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "minimal-values.yaml")
    for deployment in by_kind(manifests, "Deployment").values():
        names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert "GEMINI_API_KEY" not in names
    assert not by_kind(manifests, "NetworkPolicy")
    assert not by_kind(manifests, "PodDisruptionBudget")


def test_network_policies_deny_by_default_and_let_only_callers_in(helm_bin: Path) -> None:
    manifests = render(helm_bin)
    policies = by_kind(manifests, "NetworkPolicy")
    deny = policies.pop("assist-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny["spec"]

    def callers(name: str) -> set[str]:
        spec = next(p for p in policies.values() if component_of(p) == name)["spec"]
        return {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for rule in spec["ingress"]
            for peer in rule.get("from", [])
            if "podSelector" in peer
        }

    assert callers("coordinator") == {"edge"}
    for agent in AGENT_NAMES:
        assert callers(agent) == {"coordinator"}, agent
    edge = next(p for p in policies.values() if component_of(p) == "edge")["spec"]
    assert any(rule["ports"] == [{"port": "http", "protocol": "TCP"}] for rule in edge["ingress"])


def test_egress_reaches_exactly_the_services_a_component_uses(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml")
    ports = {
        component_of(p): {port["port"] for rule in p["spec"]["egress"] for port in rule["ports"]}
        for p in by_kind(manifests, "NetworkPolicy").values()
        if "app.kubernetes.io/component" in p["metadata"]["labels"]
    }
    # DNS and OTLP (the endpoint is set in full-values) everywhere; then only what each uses.
    assert ports["guard"] == {53, 4317}
    assert ports["nlu"] == {53, 4317, 443}
    assert ports["relay"] == {53, 4317, 27017, 9092}
    assert ports["host-sync"] == {53, 4317, 27017, 6379, 5432}
    # Redis: each turn's events are kept there for clients that resume a cut stream (coordinator/turn_events.py).
    assert ports["coordinator"] == {53, 4317, 27017, 6379} | {
        c.port for c in COMPONENTS if c.name in AGENT_NAMES
    }


def test_full_values_scale_out_with_hpa_pdb_and_ingress(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml", api_versions=[MONITORING_API])
    served = {c.name for c in COMPONENTS if c.kind != "worker"}
    hpas = {component_of(h): h for h in by_kind(manifests, "HorizontalPodAutoscaler").values()}
    assert set(hpas) == served
    assert all(h["spec"]["minReplicas"] == 3 for h in hpas.values())
    # The HPA owns replicas: the Deployment leaves them out, so an upgrade never resets a scaled Deployment.
    for d in by_kind(manifests, "Deployment").values():
        assert ("replicas" in d["spec"]) == (component_of(d) not in served)
    assert {component_of(p) for p in by_kind(manifests, "PodDisruptionBudget").values()} == served
    (ingress,) = by_kind(manifests, "Ingress").values()
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "assist-edge"
    assert {component_of(m) for m in by_kind(manifests, "ServiceMonitor").values()} == {
        c.name for c in COMPONENTS
    }


def test_mounted_files_and_tls_reach_the_processes(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml")
    configmaps = by_kind(manifests, "ConfigMap")
    assert (
        yaml.safe_load(configmaps["assist-flags"]["data"]["flags.json"])["flags"]["new-router"]["state"]
        == "ENABLED"
    )
    assert "assist-internal-clients" in configmaps
    generated = values()["components"]
    for deployment in by_kind(manifests, "Deployment").values():
        uses = generated[component_of(deployment)]["uses"]
        pod = deployment["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        # Each file goes to the processes whose settings read it, and a change to it rolls only those.
        assert ("FLAGS_FILE" in env) == ("checksum/flags" in annotations) == ("flags" in uses)
        assert ("MESH_TLS_DIR" in env) == ("tls" in volumes) == ("mtls" in uses)
        if "tls" in volumes:
            assert volumes["tls"]["secret"]["secretName"] == "assist-mesh-tls"
        assert (
            ("INTERNAL_CLIENTS_FILE" in env)
            == ("checksum/internal-clients" in annotations)
            == ("internalClients" in uses)
        )
        assert ("HOST_SYNC_MAPPING_FILE" in env) == ("hostSyncMapping" in uses)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4317"
        assert env["OTEL_SERVICE_NAME"] == component_of(deployment)
    # Today the edge and the coordinator speak mTLS (their settings read MESH_TLS_DIR).
    assert {name for name, c in generated.items() if "mtls" in c["uses"]} >= {"edge", "coordinator"}
    assert (
        yaml.safe_load(configmaps["assist-host-sync-mapping"]["data"]["mapping.yaml"])["columns"]["task_id"]
        == "id"
    )
    coordinator = by_kind(manifests, "Deployment")["assist-coordinator"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in coordinator["containers"][0]["env"]}
    assert env["INTERNAL_CLIENTS_FILE"] == "/etc/assist/internal-clients/internal-clients.yaml"
    assert env["NLU_ADDR"] == "assist-nlu:50062"


def test_host_sync_without_a_database_or_mapping_is_refused(helm_bin: Path) -> None:
    out = helm(
        helm_bin, "template", "assist", CHART, "--set", "components.host-sync.enabled=true", check=False
    )
    assert out.returncode != 0
    assert "host-sync reads the host's task database" in out.stderr


def test_edge_without_a_way_to_verify_tokens_is_refused(helm_bin: Path) -> None:
    out = helm(helm_bin, "template", "assist", CHART, "--set", "auth.publicKey.existingSecret=", check=False)
    assert out.returncode != 0
    assert "auth.jwksUrl or auth.publicKey.existingSecret" in out.stderr


def test_alert_rules_and_dashboards_ship_only_when_their_files_exist(helm_bin: Path, tmp_path: Path) -> None:
    chart = tmp_path / "assist"
    shutil.copytree(CHART, chart)
    shutil.rmtree(chart / "files", ignore_errors=True)
    on = ["--set", "monitoring.prometheusRule.enabled=true", "--set", "monitoring.dashboards.enabled=true"]
    without = render(helm_bin, *on, chart=chart, api_versions=[MONITORING_API])
    assert not by_kind(without, "PrometheusRule")
    assert not [
        m for m in by_kind(without, "ConfigMap").values() if "grafana_dashboard" in m["metadata"]["labels"]
    ]

    (chart / "files" / "prometheus").mkdir(parents=True)
    (chart / "files" / "dashboards").mkdir()
    rule = "groups:\n  - name: assist\n    rules:\n      - alert: X\n        expr: up == 0\n        annotations: {summary: '{{ $labels.job }} down'}\n"
    (chart / "files" / "prometheus" / "alerts.yml").write_text(rule)
    (chart / "files" / "dashboards" / "turns.json").write_text('{"title": "Turns", "panels": []}\n')
    with_files = render(helm_bin, *on, chart=chart, api_versions=[MONITORING_API])
    (prometheus_rule,) = by_kind(with_files, "PrometheusRule").values()
    # Prometheus' own template syntax passes through untouched (it is not Helm's to evaluate).
    assert (
        prometheus_rule["spec"]["groups"][0]["rules"][0]["annotations"]["summary"] == "{{ $labels.job }} down"
    )
    dashboards = [
        m for m in by_kind(with_files, "ConfigMap").values() if "grafana_dashboard" in m["metadata"]["labels"]
    ]
    assert [d["data"] for d in dashboards] == [{"turns.json": '{"title": "Turns", "panels": []}\n'}]
    # Without the cluster's monitoring API the custom resources are left out even when asked for.
    assert not by_kind(render(helm_bin, *on, chart=chart), "PrometheusRule")


def test_coordinator_replicas_are_balanced_by_the_edge_over_a_headless_service(helm_bin: Path) -> None:
    manifests = render(helm_bin, "-f", CHART / "ci" / "full-values.yaml")
    services = by_kind(manifests, "Service")
    headless = {name: s for name, s in services.items() if s["spec"].get("clusterIP") == "None"}
    assert set(headless) == {"assist-coordinator-headless"}, (
        "only the coordinator's callers balance themselves"
    )
    assert headless["assist-coordinator-headless"]["spec"]["ports"][0]["port"] == 50051
    assert "assist-coordinator" in services, "the ClusterIP Service stays for other clients"
    deployments = {component_of(d): d for d in by_kind(manifests, "Deployment").values()}
    (edge,) = deployments["edge"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in edge["env"]}
    assert env["COORDINATOR_ADDR"] == "dns:///assist-coordinator-headless:50051"
    assert env["COORDINATOR_TLS_NAME"] == "assist-coordinator", (
        "the certificate is checked for the Service's name"
    )
    coordinator = deployments["coordinator"]["spec"]["template"]["spec"]
    (container,) = coordinator["containers"]
    drain = {e["name"]: e.get("value") for e in container["env"]}
    assert drain["DRAIN_SECONDS"] == "2"
    assert coordinator["terminationGracePeriodSeconds"] > int(drain["DRAIN_SECONDS"]) + int(
        drain["GRACE_SECONDS"]
    )
