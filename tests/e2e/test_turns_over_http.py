"""A person's turn through the edge: real agents, coordinator and edge processes, real stores."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import httpx
import pytest

from demo.data import DemoTask, load_demo_data
from testing.sse import new_conversation, send_message
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


def _cid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def client(mesh_up: MeshUnderTest) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as c:
        yield c


def _overdue_titles(user_id: str) -> list[str]:
    today = dt.date.today().isoformat()
    tasks: list[DemoTask] = load_demo_data().tasks
    return [
        t.title
        for t in tasks
        if user_id in t.assignee_ids and t.status != "DONE" and t.due_date and t.due_date < today
    ]


@pytest.mark.parametrize(
    ("user_id", "question", "language", "marker"),
    [
        ("carol", "What is late?", "LANGUAGE_EN", "late"),
        ("ana", "O que está atrasado?", "LANGUAGE_PT_BR", "atras"),
    ],
)
def test_turn_streams_a_grounded_answer_in_the_users_language(
    client: httpx.Client, mesh_up: MeshUnderTest, user_id: str, question: str, language: str, marker: str
) -> None:
    headers = mesh_up.auth(user_id)
    conversation_id = new_conversation(client, headers)
    turn = send_message(client, conversation_id, question, headers, client_message_id=_cid())
    assert turn.status == 200
    kinds = turn.kinds()
    assert kinds[0] == "accepted" and kinds[1] == "intent" and kinds[-1] == "done"
    # The local writer answers at once, so its words arrive coalesced (agents/nlg/coalesce.py); a slow
    # writer's text arrives in pieces (tests/agents/test_delta_coalescing.py, the Gemini e2e tests).
    assert kinds.count("delta") >= 1, "the answer arrives as text deltas before done"
    assert turn.first("intent")["intent"] == "INTENT_TASKS_OVERDUE"
    assert turn.first("intent")["language"] == language
    done = turn.first("done")
    assert done["text"] == turn.answer
    assert not done.get("degradedComponents")
    overdue = _overdue_titles(user_id)
    assert overdue, "the demo data should give this user an overdue task"
    assert any(title.split()[0] in turn.answer for title in overdue)
    assert marker in turn.answer.lower()
    history = client.get(f"/v1/conversations/{conversation_id}/messages", headers=headers).json()["messages"]
    assert [m["role"] for m in history] == ["ROLE_USER", "ROLE_ASSISTANT"]
    assert history[1]["messageId"] == done["messageId"]
    assert history[1]["text"] == done["text"]


def test_duplicate_client_message_id_replays_the_stored_answer(
    client: httpx.Client, mesh_up: MeshUnderTest
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    message_id = _cid()
    first = send_message(
        client, conversation_id, "what is due this week?", headers, client_message_id=message_id
    )
    again = send_message(
        client, conversation_id, "what is due this week?", headers, client_message_id=message_id
    )
    assert first.first("accepted").get("replayed") is None
    assert again.first("accepted")["replayed"] is True
    assert again.first("done")["messageId"] == first.first("done")["messageId"]
    assert again.answer == first.answer
    history = client.get(f"/v1/conversations/{conversation_id}/messages", headers=headers).json()["messages"]
    assert len(history) == 2


def test_turn_with_an_agent_stopped_is_answered_and_says_what_was_degraded(
    client: httpx.Client, mesh_up: MeshUnderTest
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    mesh_up.mesh.stop("nlu")
    try:
        turn = send_message(client, conversation_id, "What is late?", headers, client_message_id=_cid())
    finally:
        mesh_up.mesh.start("nlu")
    assert turn.status == 200
    done = turn.first("done")
    assert "COMPONENT_NLU" in done["degradedComponents"]
    assert done["text"].strip(), "a degraded turn still gets an answer"
    assert turn.first("intent").get("intent", "INTENT_UNSPECIFIED") == "INTENT_UNSPECIFIED"


def test_turn_with_the_writer_stopped_answers_from_the_task_facts(
    client: httpx.Client, mesh_up: MeshUnderTest
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    mesh_up.mesh.stop("nlg")
    try:
        turn = send_message(client, conversation_id, "What is late?", headers, client_message_id=_cid())
    finally:
        mesh_up.mesh.start("nlg")
    done = turn.first("done")
    assert "COMPONENT_NLG" in done["degradedComponents"]
    assert any(title.split()[0] in done["text"] for title in _overdue_titles("carol"))


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b'{"clientMessageId": "a1", "text": "hi", "surprise": 1}', "application/json", 400, "surprise"),
        (b'{"clientMessageId": "a1", "text": ""}', "application/json", 400, "text must not be empty"),
        (b'{"clientMessageId": "bad id!", "text": "hi"}', "application/json", 400, "client_message_id"),
        (b'{"clientMessageId": "a1", "text": "hi"}', "text/plain", 415, "application/json"),
        (
            b'{"clientMessageId": "a1", "text": "' + b"x" * 20000 + b'"}',
            "application/json",
            413,
            "larger than",
        ),
    ],
)
def test_bad_message_bodies_get_a_clear_4xx(
    client: httpx.Client, mesh_up: MeshUnderTest, body: bytes, content_type: str, status: int, words: str
) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    response = client.post(
        f"/v1/conversations/{conversation_id}/messages",
        content=body,
        headers={**headers, "Content-Type": content_type},
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert words in error["message"]
    assert "Traceback" not in response.text


def test_requests_without_a_valid_token_get_401(client: httpx.Client, mesh_up: MeshUnderTest) -> None:
    assert client.post("/v1/conversations", json={}).status_code == 401
    forged = mesh_up.token("carol")[:-4] + "AAAA"
    response = client.post("/v1/conversations", json={}, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    # A user id in a plain header or in the body is never taken as the caller.
    response = client.post("/v1/conversations", json={}, headers={"assist-user-id": "carol"})
    assert response.status_code == 401


def test_another_users_conversation_is_not_found(client: httpx.Client, mesh_up: MeshUnderTest) -> None:
    conversation_id = new_conversation(client, mesh_up.auth("carol"))
    response = client.get(f"/v1/conversations/{conversation_id}/messages", headers=mesh_up.auth("ana"))
    assert response.status_code == 404
    turn = send_message(client, conversation_id, "hi", mesh_up.auth("ana"), client_message_id=_cid())
    assert turn.status == 404


def test_feedback_is_stored_and_shown_in_the_history(client: httpx.Client, mesh_up: MeshUnderTest) -> None:
    headers = mesh_up.auth("carol")
    conversation_id = new_conversation(client, headers)
    turn = send_message(client, conversation_id, "hello", headers, client_message_id=_cid())
    message_id = turn.first("done")["messageId"]
    response = client.post(
        f"/v1/messages/{message_id}/feedback",
        json={"rating": "FEEDBACK_RATING_DOWN", "comment": "not what I asked"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["feedbackId"]
    history = client.get(f"/v1/conversations/{conversation_id}/messages", headers=headers).json()["messages"]
    assert history[1]["feedbackRating"] == "FEEDBACK_RATING_DOWN"
    other = client.post(
        f"/v1/messages/{message_id}/feedback",
        json={"rating": "FEEDBACK_RATING_UP"},
        headers=mesh_up.auth("ana"),
    )
    assert other.status_code == 404
    bad = client.post(
        f"/v1/messages/{message_id}/feedback", json={"rating": "FEEDBACK_RATING_UNSPECIFIED"}, headers=headers
    )
    assert bad.status_code == 400


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"ready": True}
