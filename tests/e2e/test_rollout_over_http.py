"""The gradual rollout as a widget and an operator see it: the edge, a real coordinator process, its flags file."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from testing.sse import new_conversation, send_message
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e

USERS = [f"rollout-user-{i}" for i in range(40)]


def test_widget_config_answers_enabled_true_for_everyone_at_100_percent(mesh_up: MeshUnderTest) -> None:
    reply = httpx.get(f"{mesh_up.edge_url}/v1/widget/config", headers=mesh_up.auth("carol"), timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"enabled": True}


def test_widget_config_needs_the_bearer_token_like_every_route(mesh_up: MeshUnderTest) -> None:
    reply = httpx.get(f"{mesh_up.edge_url}/v1/widget/config", timeout=10)
    assert reply.status_code == 401


def test_a_user_outside_the_rollout_is_told_disabled_and_refused_a_conversation_with_403(
    mesh_up: MeshUnderTest,
) -> None:
    with mesh_up.rollout_at(10):
        deadline = time.monotonic() + 5
        while all(mesh_up.widget_enabled(u) for u in USERS[:5]):  # the file's change is seen
            assert time.monotonic() < deadline
            time.sleep(0.1)
        on = enabled_now(mesh_up, USERS)
        inside = next(u for u in USERS if u in on)
        outside = next(u for u in USERS if u not in on)

        refused = httpx.post(
            f"{mesh_up.edge_url}/v1/conversations", json={}, headers=mesh_up.auth(outside), timeout=10
        )
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "PERMISSION_DENIED" and error["retryable"] is False
        assert "not available" in error["message"]

        allowed = httpx.post(
            f"{mesh_up.edge_url}/v1/conversations", json={}, headers=mesh_up.auth(inside), timeout=10
        )
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["conversation"]["conversationId"]


def enabled_now(mesh: MeshUnderTest, users: list[str]) -> set[str]:
    """The users GET /v1/widget/config calls enabled, asked all at once (one round takes one request's time)."""
    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        answers = list(pool.map(mesh.widget_enabled, users))
    return {u for u, on in zip(users, answers, strict=True) if on}


def test_zero_percent_turns_the_widget_off_for_everyone_within_5_seconds_of_the_file_change(
    mesh_up: MeshUnderTest,
) -> None:
    assert enabled_now(mesh_up, USERS) == set(USERS)
    with mesh_up.rollout_at(0):
        changed = time.monotonic()
        # One user asked back to back times the switch (the coordinator swaps the whole flag set at once)...
        while mesh_up.widget_enabled(USERS[0]):
            assert time.monotonic() - changed < 5, "the kill switch was not in force after 5 s"
            time.sleep(0.05)
        took = time.monotonic() - changed
        # ...and then every user is off.
        assert enabled_now(mesh_up, USERS) == set()
        print(
            f"\nkill switch: in force {took:.2f} s after the file was rewritten; all {len(USERS)} users off"
        )
        refused = httpx.post(
            f"{mesh_up.edge_url}/v1/conversations", json={}, headers=mesh_up.auth(USERS[0]), timeout=10
        )
        assert refused.status_code == 403
    assert enabled_now(mesh_up, USERS) == set(USERS), "back at 100% everyone is in again"


def test_turn_metrics_carry_the_users_cohort_from_the_flags(mesh_up: MeshUnderTest) -> None:
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        headers = mesh_up.auth("carol")
        conversation = new_conversation(client, headers)
        turn = send_message(
            client, conversation, "What is late?", headers, client_message_id="rollout-metrics-1"
        )
        assert turn.status == 200 and turn.kinds()[-1] == "done"
    metrics = httpx.get(mesh_up.mesh.metrics_url("coordinator"), timeout=10).text
    turns = [line for line in metrics.splitlines() if line.startswith("assist_turns_total{")]
    assert any('cohort="rollout-on"' in line for line in turns), turns
    assert not any('cohort="unset"' in line for line in turns), turns
