"""Resumable answers over real processes: SSE ids, Last-Event-ID resume, and a model cut mid-answer.

A mesh of its own with the real google-genai SDK pointed at the fake Gemini, so the fake's request log
counts model calls: a resume must never generate anything again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from testing.gemini_server import FakeGemini, GeminiServer, answer, cut, error
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
QUESTION = "Tell me something general about planning work"
WORDS = tuple(f"word{i} " for i in range(8))


@pytest.fixture(scope="module")
def resume_mesh(
    stack: Stack, gemini_server: GeminiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MeshUnderTest]:
    # Every answer is generated: a cached one would hide a second generation.
    env = fake_gemini_env(
        stack, gemini_server.fake.base_url, "resume", **FAST_MODEL_RETRIES, NLG_CACHE_ENABLED="false"
    )
    with running_mesh(stack, tmp_path_factory.mktemp("resume-keys"), name="resume", extra_env=env) as mesh:
        yield mesh


@pytest.fixture
def fake(gemini_server: GeminiServer) -> Iterator[FakeGemini]:
    gemini_server.fake.reset()
    yield gemini_server.fake
    gemini_server.fake.reset()


@pytest.fixture
def chat_as(resume_mesh: MeshUnderTest) -> Iterator[Callable[[str], Chat]]:
    """Opens chats for users; their HTTP clients are closed after the test."""
    opened: list[Chat] = []

    def open_chat(user_id: str) -> Chat:
        opened.append(Chat(resume_mesh, user_id))
        return opened[-1]

    yield open_chat
    for chat in opened:
        chat.close()


class Chat:
    """One user's conversation over HTTP, with one client message id reused as a resending client would."""

    def __init__(self, mesh: MeshUnderTest, user_id: str) -> None:
        self.headers = mesh.auth(user_id)
        self.client = httpx.Client(base_url=mesh.edge_url, timeout=40)
        self.conversation_id = new_conversation(self.client, self.headers)
        self.client_message_id = uuid.uuid4().hex

    def send(self, *, last_event_id: str = "", stop_after: int | None = None) -> TurnResult:
        return send_message(
            self.client,
            self.conversation_id,
            QUESTION,
            self.headers,
            client_message_id=self.client_message_id,
            last_event_id=last_event_id,
            stop_after=stop_after,
        )

    def close(self) -> None:
        self.client.close()

    def messages(self) -> list[dict[str, object]]:
        reply = self.client.get(f"/v1/conversations/{self.conversation_id}/messages", headers=self.headers)
        reply.raise_for_status()
        return list(reply.json().get("messages", []))


def test_every_event_of_a_turn_carries_an_ordered_id_of_its_message(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(answer(*WORDS, between_delay_s=0.1))
    turn = chat_as("ada").send()
    assert turn.status == 200 and turn.kinds()[-1] == "done"
    user_message_id = turn.first("accepted")["userMessageId"]
    assert turn.ids == [f"{user_message_id}:0:{seq}" for seq in range(1, len(turn.events) + 1)]


def test_resume_after_event_k_of_a_finished_turn_returns_exactly_the_events_after_it(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(answer(*WORDS, between_delay_s=0.1))
    chat = chat_as("ada")
    whole = chat.send()
    assert whole.kinds()[-1] == "done" and whole.kinds().count("delta") >= 3, whole.kinds()
    for k in (1, 2, len(whole.events) - 1):
        resumed = chat.send(last_event_id=whole.ids[k - 1])
        assert resumed.status == 200
        assert resumed.events == whole.events[k:], f"after event {k}"
        assert resumed.ids == whole.ids[k:]
    assert len(fake.requests) == 1, "a resume never calls the model"
    assert [m["role"] for m in chat.messages()] == ["ROLE_USER", "ROLE_ASSISTANT"]


def test_resume_of_a_running_turn_follows_it_live_to_done(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(answer(*WORDS, between_delay_s=0.4))
    chat = chat_as("ada")
    first = chat.send(stop_after=3)  # accepted, intent, the first delta; then the network "drops"
    assert first.kinds() == ["accepted", "intent", "delta"]
    rest = chat.send(last_event_id=first.ids[-1])
    assert rest.status == 200 and rest.kinds()[-1] == "done", rest.kinds()
    assert "delta" in rest.kinds(), "the turn was still running: its later text arrives live"
    done = rest.first("done")
    assert first.answer + rest.answer == done["text"] == "".join(WORDS)
    assert rest.ids[0].endswith(":0:4"), "nothing the client already had is sent again"
    assert len(fake.requests) == 1
    messages = chat.messages()
    assert [m["role"] for m in messages] == ["ROLE_USER", "ROLE_ASSISTANT"]
    assert messages[1]["text"] == done["text"]


def test_two_resumes_of_one_running_turn_on_the_edge_both_get_the_rest(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(answer(*WORDS, between_delay_s=0.3))
    chat = chat_as("ada")
    first = chat.send(stop_after=3)
    results: list[TurnResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(chat.send(last_event_id=first.ids[-1])))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2 and results[0].events == results[1].events
    assert first.answer + results[0].answer == "".join(WORDS)
    assert len(fake.requests) == 1


def test_resume_with_an_unknown_or_foreign_event_id_is_refused_alike(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(answer("Mine ", "only"))
    ada = chat_as("ada")
    ada_turn = ada.send()
    grace = chat_as("grace")
    grace.client_message_id = ada.client_message_id  # the same client id, in her own conversation
    unknown = grace.send(last_event_id=f"{uuid.uuid4().hex}:0:2")
    foreign = grace.send(last_event_id=ada_turn.ids[1])
    for refused in (unknown, foreign):
        assert refused.status == 400 and refused.events == []
        assert refused.error_body is not None
        assert refused.error_body["error"]["code"] == "FAILED_PRECONDITION"
    assert unknown.error_body == foreign.error_body, "a refusal says nothing about other users' turns"
    assert "Mine" not in str(foreign.error_body)
    malformed = grace.send(last_event_id="../../etc")
    assert malformed.status == 400 and malformed.error_body is not None
    assert malformed.error_body["error"]["code"] == "INVALID_ARGUMENT"
    assert grace.messages() == [], "a refused resume stores nothing and starts no turn"
    assert len(fake.requests) == 1


def test_resending_after_done_without_an_id_replays_with_stored_ids(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(answer("Stored ", "answer"))
    chat = chat_as("ada")
    chat.send()
    replay = chat.send()
    user_message_id = replay.first("accepted")["userMessageId"]
    assert replay.ids == [f"{user_message_id}:s:{seq}" for seq in (1, 2, 3, 4)]
    after_two = chat.send(last_event_id=replay.ids[1])
    assert after_two.events == replay.events[2:]
    assert len(fake.requests) == 1


def test_a_model_stream_cut_mid_answer_is_continued_by_the_fallback_model(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(cut("Half ", "an answer"), model=PRIMARY)
    fake.script(answer(" and the rest."), model=FALLBACK)
    turn = chat_as("ada").send()
    done = turn.first("done")
    assert done["writer"] == "WRITER_GEMINI_FALLBACK"
    assert turn.answer == done["text"] == "Half an answer and the rest."
    assert "interrupted" not in done["text"]
    continuation = fake.requests_for(FALLBACK)[-1]
    assert continuation.body["contents"][-2]["role"] == "model", "the fallback continues the text sent"
    assert continuation.body["contents"][-2]["parts"][0]["text"] == "Half an answer"


def test_a_model_stream_cut_with_no_model_left_ends_with_the_local_writers_answer(
    fake: FakeGemini, chat_as: Callable[[str], Chat]
) -> None:
    fake.script(cut("Half ", "an answer"), model=PRIMARY)
    fake.script(*[error(500)] * 6, model=FALLBACK)
    started = time.monotonic()
    turn = chat_as("ada").send()
    done = turn.first("done")
    assert done["writer"] == "WRITER_LOCAL"
    assert "Half an answer" not in done["text"] and "interrupted" not in done["text"]
    assert done["text"].strip(), "the local writer's whole answer replaces the broken one"
    assert time.monotonic() - started < 30
