"""docs/internal-api.md's grpcurl examples, run with grpcurl (built by scripts/install_grpcurl.sh) against the
real coordinator: reflection over mutual TLS, a turn for a user, and the policy's refusal."""

from __future__ import annotations

import json
import subprocess
import uuid
from functools import cache
from pathlib import Path

import pytest

from devtools.launcher import ROOT
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


@cache
def _grpcurl() -> str:
    built = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_grpcurl.sh")], capture_output=True, text=True, timeout=1000
    )
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def _call(
    mesh_up: MeshUnderTest, identity: str, *args: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    tls: Path = mesh_up.tls_dir(identity)
    headers = ["-H", f"assist-user-id: {user}"] if user else []
    return subprocess.run(
        [
            _grpcurl(),
            "-cacert", str(tls / "ca.crt"),
            "-cert", str(tls / "tls.crt"),
            "-key", str(tls / "tls.key"),
            "-max-time", "30",
            *headers,
            *args[:-1],
            mesh_up.coordinator_addr,
            args[-1],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_reflection_lists_the_api_to_any_certificate_of_the_ca(mesh_up: MeshUnderTest) -> None:
    listed = _call(mesh_up, "probe", "list")
    assert listed.returncode == 0, listed.stderr
    assert "assist.v1.CoordinatorService" in listed.stdout.split()


def test_a_turn_through_grpcurl_and_a_refused_caller(mesh_up: MeshUnderTest) -> None:
    created = _call(
        mesh_up, "assist-cli", "-d", "{}", "assist.v1.CoordinatorService/CreateConversation", user="carol"
    )
    assert created.returncode == 0, created.stderr
    conversation_id = json.loads(created.stdout)["conversation"]["conversation_id"]
    request = {
        "conversation_id": conversation_id,
        "client_message_id": uuid.uuid4().hex,
        "text": "What is late?",
    }
    turn = _call(
        mesh_up,
        "assist-cli",
        "-d",
        json.dumps(request),
        "assist.v1.CoordinatorService/Converse",
        user="carol",
    )
    assert turn.returncode == 0, turn.stderr
    assert '"done"' in turn.stdout and "INTENT_TASKS_OVERDUE" in turn.stdout

    refused = _call(
        mesh_up,
        "reporting",
        "-d",
        json.dumps({"conversation_id": conversation_id}),
        "assist.v1.CoordinatorService/ListMessages",
        user="carol",
    )
    assert refused.returncode != 0
    assert "PermissionDenied" in refused.stderr
    assert "internal client 'reporting' may not act for users" in refused.stderr
