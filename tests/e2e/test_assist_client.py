"""The internal apps' client and its command line against the real mesh, over mutual TLS."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from assist_client import AssistClient, AssistError
from devtools.launcher import ROOT
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


def _cli(
    mesh_up: MeshUnderTest, *args: str, identity: str = "assist-cli"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "assist_client",
            "--addr",
            mesh_up.coordinator_addr,
            "--tls-dir",
            str(mesh_up.tls_dir(identity)),
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_line_asks_lists_and_rates_for_a_user(mesh_up: MeshUnderTest) -> None:
    asked = _cli(mesh_up, "ask", "carol", "What is late?")
    assert asked.returncode == 0, asked.stderr
    conversation = re.search(r"^conversation: (\S+)$", asked.stdout, re.M)
    message = re.search(r"^message:\s+(\S+)$", asked.stdout, re.M)
    assert conversation and message, asked.stdout
    assert "intent:       INTENT_TASKS_OVERDUE" in asked.stdout
    answer = asked.stdout.split("\n\nconversation:")[0]
    assert "late" in answer.lower()

    listed = _cli(mesh_up, "list", conversation[1], "--user", "carol")
    assert listed.returncode == 0, listed.stderr
    assert " user " in listed.stdout and f" assistant {message[1]}" in listed.stdout
    assert answer.strip() in listed.stdout

    rated = _cli(mesh_up, "feedback", message[1], "up", "--user", "carol")
    assert rated.returncode == 0, rated.stderr
    assert re.match(r"^feedback: \S+$", rated.stdout.strip())


def test_command_line_reports_a_refusal_with_the_servers_reason(mesh_up: MeshUnderTest) -> None:
    refused = _cli(mesh_up, "list", "c-any", "--user", "ana", identity="helpdesk")
    assert refused.returncode == 1
    assert (
        refused.stderr.strip() == "error: PERMISSION_DENIED: internal client 'helpdesk' may not act for 'ana'"
    )


async def test_typed_client_keeps_a_conversation_per_user(mesh_up: MeshUnderTest) -> None:
    async with AssistClient(mesh_up.coordinator_addr, mesh_up.tls_dir("assist-cli")) as assist:
        streamed: list[str] = []
        first = await assist.ask("ana", "What is due this week?", on_text=streamed.append)
        assert first.intent == "INTENT_TASKS_DUE"
        assert "".join(streamed) == first.text
        second = await assist.ask("ana", "And what is late?", conversation_id=first.conversation_id)
        messages = await assist.list_messages("ana", first.conversation_id)
        assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
        assert [m.message_id for m in messages if m.role == "assistant"] == [
            first.message_id,
            second.message_id,
        ]
        with pytest.raises(AssistError) as caught:
            await assist.list_messages("carol", first.conversation_id)
        assert caught.value.code == "NOT_FOUND", "another user's conversation is not even acknowledged"
