"""The edge's per-user message rate limit, on a second real edge process in front of the running mesh."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from testing.sse import new_conversation, send_message
from tests.edge_process import extra_edge
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


@pytest.fixture
def strict_edge(mesh_up: MeshUnderTest) -> Iterator[str]:
    """An edge allowing a burst of 2 messages per user, refilling one per 100 s."""
    with extra_edge(mesh_up, "edge-strict", {"TURN_RATE_BURST": "2", "TURN_RATE_PER_S": "0.01"}) as url:
        yield url


def test_a_user_over_the_message_rate_can_still_resume_an_answer_but_not_start_a_turn(
    strict_edge: str, mesh_up: MeshUnderTest
) -> None:
    user = f"rate-{uuid.uuid4().hex[:8]}"
    headers = mesh_up.auth(user)
    with httpx.Client(base_url=strict_edge, timeout=30) as client:
        conversation_id = new_conversation(client, headers)
        first = send_message(client, conversation_id, "hello", headers, client_message_id="a" * 32)
        second_id = uuid.uuid4().hex
        cut = send_message(
            client, conversation_id, "what is late?", headers, client_message_id=second_id, stop_after=1
        )
        assert [first.status, cut.status] == [200, 200]  # the burst of 2 is spent
        refused = send_message(client, conversation_id, "hi", headers, client_message_id=uuid.uuid4().hex)
        assert refused.status == 429
        # The rest of the cut answer is not a new message: it is served.
        rest = send_message(
            client,
            conversation_id,
            "what is late?",
            headers,
            client_message_id=second_id,
            last_event_id=cut.ids[0],
        )
        assert rest.status == 200 and rest.kinds()[-1] == "done"
        assert cut.ids[0] not in rest.ids
        # A Last-Event-ID on a message never sent does not start a turn past the limit.
        sneaky = send_message(
            client,
            conversation_id,
            "hi",
            headers,
            client_message_id=uuid.uuid4().hex,
            last_event_id=cut.ids[0],
        )
        assert sneaky.kinds() == ["error"] or sneaky.status >= 400
        messages = client.get(f"/v1/conversations/{conversation_id}/messages", headers=headers).json()[
            "messages"
        ]
        assert [m["text"] for m in messages if m["role"] == "ROLE_USER"] == ["hello", "what is late?"]


def test_a_user_over_the_message_rate_gets_429_with_retry_after(
    strict_edge: str, mesh_up: MeshUnderTest
) -> None:
    user = f"rate-{uuid.uuid4().hex[:8]}"  # a fresh bucket
    headers = mesh_up.auth(user)
    with httpx.Client(base_url=strict_edge, timeout=30) as client:
        conversation_id = new_conversation(client, headers)
        statuses = [
            send_message(client, conversation_id, "hello", headers, client_message_id=uuid.uuid4().hex).status
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        limited = client.post(
            f"/v1/conversations/{conversation_id}/messages",
            json={"clientMessageId": uuid.uuid4().hex, "text": "hello"},
            headers=headers,
        )
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["retryable"] is True
        # Another user's allowance is their own.
        other = mesh_up.auth(f"rate-{uuid.uuid4().hex[:8]}")
        other_conversation = new_conversation(client, other)
        turn = send_message(client, other_conversation, "hello", other, client_message_id=uuid.uuid4().hex)
        assert turn.status == 200
