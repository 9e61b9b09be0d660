"""Gemini through the whole mesh: the real google-genai SDK in the NLG agent, pointed at the fake server.

A mesh of its own is started for this module, configured with a model key and the fake's base URL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from testing.gemini_server import FakeGemini, GeminiServer, answer, error
from testing.sse import TurnResult, new_conversation, send_message
from tests.local_stack import Stack
from tests.mesh_fixture import (
    FALLBACK_MODEL,
    FAST_MODEL_RETRIES,
    PRIMARY_MODEL,
    MeshUnderTest,
    fake_gemini_env,
    running_mesh,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PRIMARY = PRIMARY_MODEL
FALLBACK = FALLBACK_MODEL


@pytest.fixture(scope="module")
def gemini_mesh(
    stack: Stack, gemini_server: GeminiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshUnderTest]:
    env = fake_gemini_env(stack, gemini_server.fake.base_url, "gemini", **FAST_MODEL_RETRIES)
    with running_mesh(stack, tmp_path_factory.mktemp("gemini-keys"), name="gemini", extra_env=env) as mesh:
        yield mesh


@pytest.fixture
def fake(gemini_server: GeminiServer) -> Iterator[FakeGemini]:
    gemini_server.fake.reset()
    yield gemini_server.fake
    gemini_server.fake.reset()


def _ask(mesh: MeshUnderTest, user_id: str, text: str, task_id: str = "") -> TurnResult:
    headers = mesh.auth(user_id)
    with httpx.Client(base_url=mesh.edge_url, timeout=40) as client:
        conversation_id = new_conversation(client, headers, task_id)
        return send_message(
            client, conversation_id, text, headers, client_message_id=uuid.uuid4().hex, task_id=task_id
        )


def test_gemini_answer_streams_through_the_edge_chunk_by_chunk(
    gemini_mesh: MeshUnderTest, fake: FakeGemini
) -> None:
    fake.script(
        # Chunks slower than the NLG agent's coalescing window (40 ms) travel one by one.
        answer("The pricing page ", "sign-off is ", "two days late.", between_delay_s=0.2),
        model=PRIMARY,
    )
    turn = _ask(gemini_mesh, "carol", "What is late?")
    deltas = [data["text"] for kind, data in turn.events if kind == "delta"]
    assert deltas == ["The pricing page ", "sign-off is ", "two days late."]
    assert turn.first("done")["writer"] == "WRITER_GEMINI"
    request = fake.requests_for(PRIMARY)[0]
    assert "Get legal sign-off on the pricing page" in request.text(), "the task facts reach the model"
    assert not fake.violations


def test_primary_failing_falls_back_to_the_fallback_model(
    gemini_mesh: MeshUnderTest, fake: FakeGemini
) -> None:
    fake.script(error(503), error(503), error(503), model=PRIMARY)
    fake.script(answer("From the fallback model."), model=FALLBACK)
    turn = _ask(gemini_mesh, "carol", "What is due this week?")
    assert turn.first("done")["writer"] == "WRITER_GEMINI_FALLBACK"
    assert turn.answer == "From the fallback model."
    assert len(fake.requests_for(PRIMARY)) >= 2, "the primary was retried before giving way"


def test_every_model_failing_leaves_the_local_writer_to_answer(
    gemini_mesh: MeshUnderTest, fake: FakeGemini
) -> None:
    fake.script(*[error(500)] * 5, model=PRIMARY)
    fake.script(*[error(500)] * 5, model=FALLBACK)
    turn = _ask(gemini_mesh, "carol", "Which of my tasks are overdue?")
    done = turn.first("done")
    assert done["writer"] == "WRITER_LOCAL"
    assert "Get legal sign-off on the pricing page" in done["text"]


def test_second_identical_general_question_is_answered_from_the_cache(
    gemini_mesh: MeshUnderTest, fake: FakeGemini
) -> None:
    question = "What can you do for me?"
    fake.script(answer("I can tell you what is due, what is late and who is on a task."), model=PRIMARY)
    first = _ask(gemini_mesh, "carol", question)
    second = _ask(gemini_mesh, "ana", question)
    assert first.first("intent")["intent"] == "INTENT_HELP"
    assert first.first("done")["writer"] == "WRITER_GEMINI"
    assert second.first("done")["writer"] == "WRITER_CACHE"
    assert second.answer == first.answer
    assert len(fake.requests_for(PRIMARY)) == 1, "the cached answer needs no model call"
    metrics = httpx.get(gemini_mesh.mesh.metrics_url("nlg"), timeout=5).text
    hits = [line for line in metrics.splitlines() if line.startswith("assist_nlg_cache_lookups_total{")]
    assert any('result="hit"' in line and not line.endswith(" 0.0") for line in hits), hits


def test_task_answers_are_never_shared_across_users(gemini_mesh: MeshUnderTest, fake: FakeGemini) -> None:
    carol = _ask(gemini_mesh, "carol", "What is overdue for me right now?")
    ana = _ask(gemini_mesh, "ana", "What is overdue for me right now?")
    assert carol.first("done")["writer"] == "WRITER_GEMINI"
    assert ana.first("done")["writer"] == "WRITER_GEMINI"
    assert len(fake.requests_for(PRIMARY)) == 2
    assert "Get legal sign-off on the pricing page" in carol.answer
    assert "Get legal sign-off on the pricing page" not in ana.answer
