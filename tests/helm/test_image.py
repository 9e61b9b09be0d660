"""The container image: built from Debian packages with podman, non-root, no compiler, and an agent from it
answers gRPC health.

Building takes minutes (the base root filesystems once, then the dependencies' wheels and the NLU model), so
this runs only when asked: `ASSIST_IMAGE_TEST=1` (what `./dev image --test` sets). Needs root and podman.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from devtools.launcher import free_port
from devtools.probes import grpc_serving
from tests.helm.chart import ROOT

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("ASSIST_IMAGE_TEST") != "1", reason="builds the image: set ASSIST_IMAGE_TEST=1"
    ),
    pytest.mark.timeout(1800),
]
CONTAINERS_CONF = ROOT / ".local" / "image" / "containers.conf"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, env=env)


@pytest.fixture(scope="module")
def image() -> str:
    began = time.monotonic()
    out = subprocess.run(["bash", "scripts/build_image.sh"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    print(f"\n{out.stdout.strip()} (build {time.monotonic() - began:.0f} s)")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "image.txt").write_text(
        f"{out.stdout.strip()}, build {time.monotonic() - began:.0f} s\n"
    )
    return out.stdout.split()[0]


def test_image_runs_as_a_non_root_user_with_no_compiler(image: str) -> None:
    (config,) = json.loads(podman("image", "inspect", image).stdout)
    assert config["Config"]["User"] == "10001:10001"
    found = podman(
        "run", "--rm", "--network=none", image, "sh", "-c", "command -v gcc cc c++ clang tcc make ld || true"
    )
    assert found.stdout.strip() == ""
    assert podman("run", "--rm", "--network=none", image, "id", "-u").stdout.strip() == "10001"


def test_an_agent_from_the_image_answers_grpc_health(image: str) -> None:
    port = free_port()
    name = f"assist-guard-{port}"
    podman(
        "run", "-d", "--name", name, "--network=host", "--read-only", "--tmpfs", "/tmp",
        "--cap-drop=ALL", "--security-opt=no-new-privileges", "-e", f"LISTEN_ADDR=127.0.0.1:{port}",
        image, "python", "-m", "agents.guard",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not grpc_serving(f"127.0.0.1:{port}"):
            assert time.monotonic() < deadline, podman("logs", name, check=False).stdout
            time.sleep(0.5)
        # SIGTERM: the agent stops gracefully within the 15 s the chart gives it (SIGKILL would be 137).
        podman("stop", "-t", "15", name)
        assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "-f", name, check=False)


def test_the_image_carries_the_widget_and_the_trained_classifier(image: str) -> None:
    out = podman("run", "--rm", "--network=none", image, "sh", "-c", 'ls "$WIDGET_BUNDLE" "$NLU_MODEL_PATH"')
    assert out.stdout.split() == ["/app/models/nlu.joblib", "/app/widget/assist-chat.js"]
