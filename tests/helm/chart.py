"""Running helm against the chart, and reading what it renders."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "assist"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
# Rendered by `helm template` as if the cluster served the Prometheus Operator's API.
MONITORING_API = "monitoring.coreos.com/v1"

Manifest = dict[str, Any]


def helm(
    helm_bin: Path, *args: str | Path, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(helm_bin), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"helm {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr}")
    return out


def render(
    helm_bin: Path, *args: str | Path, chart: Path = CHART, api_versions: Sequence[str] = ()
) -> list[Manifest]:
    """`helm template` of the chart, parsed: every object it renders."""
    flags = [arg for api in api_versions for arg in ("--api-versions", api)]
    out = helm(helm_bin, "template", "assist", chart, "--namespace", "assist", *flags, *args)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def component_of(manifest: Manifest) -> str:
    return str(manifest["metadata"]["labels"]["app.kubernetes.io/component"])


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded
