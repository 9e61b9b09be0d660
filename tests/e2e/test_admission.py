"""Admission control through real processes: over the cap a turn is refused at once and honestly, and the
same message sent again later runs once.

A mesh of its own: the fake Gemini holds each answer for a while so turns stay in flight, the coordinator
admits one turn at a time and the edge two open answer streams.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from testing.gemini_server import GeminiServer, echo
from testing.sse import TurnResult, new_conversation, send_message
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest, running_mesh

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOLD_S = 2.0


@pytest.fixture(scope="module")
def capped_mesh(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[MeshUnderTest, GeminiServer]]:
    server = GeminiServer()
    fake = server.start()
    fake.script(*[echo(first_delay_s=HOLD_S) for _ in range(50)])
    env = {
        "GEMINI_API_KEY": "fake-key",
        "GEMINI_BASE_URL": fake.base_url,
        "NLU_GEMINI_THRESHOLD": "0",
        "COORDINATOR_MAX_TURNS_IN_FLIGHT": "1",
        "EDGE_MAX_TURNS_IN_FLIGHT": "2",
    }
    try:
        with running_mesh(
            stack, tmp_path_factory.mktemp("admission-keys"), name="admission", extra_env=env
        ) as mesh:
            yield mesh, server
    finally:
        server.stop()


def _send(
    mesh: MeshUnderTest, user_id: str, conversation_id: str, client_message_id: str
) -> tuple[TurnResult, float]:
    started = time.monotonic()
    with httpx.Client(base_url=mesh.edge_url, timeout=40) as client:
        result = send_message(
            client,
            conversation_id,
            "summarise my week",
            mesh.auth(user_id),
            client_message_id=client_message_id,
        )
    return result, time.monotonic() - started


def test_turns_over_the_caps_are_refused_fast_with_retry_after_and_run_once_when_resent(
    capped_mesh: tuple[MeshUnderTest, GeminiServer],
) -> None:
    mesh, _ = capped_mesh
    users = [f"adm-{i}-{uuid.uuid4().hex[:6]}" for i in range(4)]
    with httpx.Client(base_url=mesh.edge_url, timeout=10) as client:
        conversations = [new_conversation(client, mesh.auth(u)) for u in users]
    ids = [uuid.uuid4().hex for _ in users]
    with ThreadPoolExecutor(len(users)) as pool:
        first = list(pool.map(lambda i: _send(mesh, users[i], conversations[i], ids[i]), range(len(users))))

    answered = [i for i, (r, _) in enumerate(first) if r.status == 200 and "done" in r.kinds()]
    refused = [i for i, (r, _) in enumerate(first) if r.status == 503]
    assert len(answered) == 1, [(r.status, r.kinds(), r.error_body) for r, _ in first]
    assert len(refused) == len(users) - 1
    for i in refused:
        result, took = first[i]
        assert took < HOLD_S, "a refusal must not wait for the turns in flight"
        assert result.error_body is not None
        assert result.error_body["error"]["retryable"] is True
        assert result.error_body["error"]["code"] == "UNAVAILABLE"
        assert "busy" in result.error_body["error"]["message"]

    # Resent one at a time with the same client message ids: each runs once, none is a replay of nothing.
    for i in refused:
        result, _ = _send(mesh, users[i], conversations[i], ids[i])
        assert result.status == 200 and "done" in result.kinds(), (result.status, result.error_body)
    with httpx.Client(base_url=mesh.edge_url, timeout=10) as client:
        for user, conversation in zip(users, conversations, strict=True):
            listed = client.get(f"/v1/conversations/{conversation}/messages", headers=mesh.auth(user)).json()
            assert [m["role"] for m in listed["messages"]] == ["ROLE_USER", "ROLE_ASSISTANT"]


def test_refusals_carry_a_retry_after_header(capped_mesh: tuple[MeshUnderTest, GeminiServer]) -> None:
    mesh, _ = capped_mesh
    users = [f"ra-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    with httpx.Client(base_url=mesh.edge_url, timeout=10) as client:
        conversations = [new_conversation(client, mesh.auth(u)) for u in users]
    headers: list[httpx.Headers] = []

    def raw(i: int) -> int:
        body = {"clientMessageId": uuid.uuid4().hex, "text": "what is late?"}
        with httpx.Client(base_url=mesh.edge_url, timeout=40) as client:
            response = client.post(
                f"/v1/conversations/{conversations[i]}/messages", json=body, headers=mesh.auth(users[i])
            )
            headers.append(response.headers)
            return response.status_code

    with ThreadPoolExecutor(len(users)) as pool:
        statuses = list(pool.map(raw, range(len(users))))
    assert statuses.count(200) == 1 and statuses.count(503) == 2, statuses
    assert all(int(h["retry-after"]) >= 1 for h in headers if "retry-after" in h)
    assert sum("retry-after" in h for h in headers) == 2
