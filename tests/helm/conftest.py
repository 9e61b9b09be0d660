"""Fixtures for the Helm chart's tests: the helm binary, and a loopback Kubernetes control plane.

Both are built from the Go module proxy by scripts/install_kube.sh (a no-op once built; `./dev test` runs it
before pytest, so the first run's builds do not count against a test's timeout).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.kube import ControlPlane, ensure_tools, start_control_plane

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return ensure_tools("helm")["HELM"]


@pytest.fixture(scope="session")
def kube_cluster(helm_bin: Path) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok with 3 fake nodes, once per
    session, in <repo>/.local/kube-test (logs stay there after the run)."""
    plane = start_control_plane(ROOT / ".local" / "kube-test", nodes=3)
    print(f"\nloopback control plane with 3 kwok nodes ready in {plane.started_s:.1f} s")
    yield plane
    plane.stop()
