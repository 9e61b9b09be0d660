"""The NLG answer cache: against the real local Redis (the `stack` fixture) and the fake Gemini server."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from assist.v1 import common_pb2, nlg_pb2, nlg_pb2_grpc
from redis.asyncio import Redis

from agents.nlg.cache import AnswerCache, cache_key, normalise_question
from agents.nlg.gemini_writer import GeminiWriter, build_request
from agents.nlg.local_writer import LocalWriter
from agents.nlg.prompts import load_prompts
from agents.nlg.service import NlgServicer
from mesh.llm import LlmClient
from mesh.storage.redis_store import ResponseCache, make_redis
from testing.gemini_server import FakeGemini, answer, cut
from tests.agents.conftest import BOARD, PRIMARY, NlgServe, generation_input

BOOK = load_prompts()
HELP = common_pb2.INTENT_HELP


@pytest.fixture
async def cached_stub(
    redis: Redis, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> nlg_pb2_grpc.NlgServiceStub:
    """An NLG server with Gemini and a cache namespace of its own (tests never see each other's answers)."""
    cache = AnswerCache(ResponseCache(redis, f"nlg-test-{uuid.uuid4().hex[:8]}"))
    return await serve_nlg(NlgServicer(LocalWriter(), GeminiWriter(llm_client(), BOOK), cache))


async def ask(
    stub: nlg_pb2_grpc.NlgServiceStub, inp: nlg_pb2.GenerationInput, seconds: float = 10
) -> tuple[list[str], nlg_pb2.GenerationInfo]:
    deltas, info = [], nlg_pb2.GenerationInfo()
    async for message in stub.StreamGenerate(nlg_pb2.StreamGenerateRequest(input=inp), timeout=seconds):
        if message.delta:
            deltas.append(message.delta)
        if message.done:
            info = message.info
    return deltas, info


async def test_second_identical_general_question_is_served_from_the_cache_for_any_user(
    fake_gemini: FakeGemini, cached_stub: nlg_pb2_grpc.NlgServiceStub
) -> None:
    fake_gemini.script(answer("I can ", "tell you ", "what is late.", first_delay_s=0.3))
    first, first_info = await ask(cached_stub, generation_input(HELP, "What can you do?", user_id="ana"))
    started = time.monotonic()
    second, second_info = await ask(
        cached_stub, generation_input(HELP, "  what can you   do ", user_id="bruno")
    )
    # The same text both times; chunks that arrive together leave coalesced (agents/nlg/coalesce.py).
    assert "".join(second) == "".join(first) == "I can tell you what is late."
    assert first_info.writer == nlg_pb2.WRITER_GEMINI
    assert second_info.writer == nlg_pb2.WRITER_CACHE and second_info.model == PRIMARY
    assert second_info.prompt_version == first_info.prompt_version == "help@1"
    assert len(fake_gemini.requests) == 1  # the second never reached the model
    assert time.monotonic() - started < 0.3  # faster than the model's first token


async def test_task_answers_are_never_shared_between_users(
    fake_gemini: FakeGemini, cached_stub: nlg_pb2_grpc.NlgServiceStub
) -> None:
    _, info_a = await ask(cached_stub, generation_input(user_id="ana"))
    _, info_b = await ask(cached_stub, generation_input(user_id="bruno"))
    assert info_a.writer == info_b.writer == nlg_pb2.WRITER_GEMINI
    assert len(fake_gemini.requests) == 2


async def test_the_same_user_asking_again_over_the_same_facts_is_a_hit(
    fake_gemini: FakeGemini, cached_stub: nlg_pb2_grpc.NlgServiceStub
) -> None:
    first, _ = await ask(cached_stub, generation_input(user_id="ana"))
    again, info = await ask(cached_stub, generation_input(user_id="ana"))
    assert info.writer == nlg_pb2.WRITER_CACHE and again == first
    assert len(fake_gemini.requests) == 1


async def test_a_task_change_invalidates_the_cached_answer(
    fake_gemini: FakeGemini, cached_stub: nlg_pb2_grpc.NlgServiceStub
) -> None:
    await ask(cached_stub, generation_input(user_id="ana"))
    moved = [BOARD[0], common_pb2.Task(task_id="T-2", title="Budget review", due_date="2026-11-29")]
    deltas, info = await ask(cached_stub, generation_input(user_id="ana", tasks=moved))
    assert info.writer == nlg_pb2.WRITER_GEMINI
    assert "2026-11-29" in "".join(deltas)
    assert len(fake_gemini.requests) == 2


async def test_a_stream_cut_midway_is_not_cached(
    fake_gemini: FakeGemini, cached_stub: nlg_pb2_grpc.NlgServiceStub
) -> None:
    fake_gemini.script(cut("I can ", "tell"))
    inp = generation_input(HELP, "what can you do?")
    _, info = await ask(cached_stub, inp)
    assert info.writer == nlg_pb2.WRITER_GEMINI_FALLBACK, "the fallback model continued the cut answer"
    deltas, info = await ask(cached_stub, inp)
    assert info.writer == nlg_pb2.WRITER_GEMINI and deltas != ["I can ", "tell"], (
        "the continued one was not kept"
    )
    _, info = await ask(cached_stub, inp)
    assert info.writer == nlg_pb2.WRITER_CACHE
    assert len(fake_gemini.requests) == 3


async def test_local_writer_answers_are_not_cached(
    fake_gemini: FakeGemini, cached_stub: nlg_pb2_grpc.NlgServiceStub
) -> None:
    fake_gemini.script(*[answer("x", first_delay_s=10)] * 6)
    inp = generation_input(HELP, "help me")
    _, info = await ask(cached_stub, inp, seconds=1.5)
    assert info.writer == nlg_pb2.WRITER_LOCAL
    fake_gemini.reset()
    _, info = await ask(cached_stub, inp)
    assert info.writer == nlg_pb2.WRITER_GEMINI  # the degraded answer did not stick


async def test_with_redis_down_answers_still_come_from_the_model(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    dead = make_redis("redis://127.0.0.1:1/0", 0.2)
    try:
        cache = AnswerCache(ResponseCache(dead, "nlg-down"))
        stub = await serve_nlg(NlgServicer(LocalWriter(), GeminiWriter(llm_client(), BOOK), cache))
        for _ in range(2):
            _, info = await ask(stub, generation_input(HELP, "what can you do?"))
            assert info.writer == nlg_pb2.WRITER_GEMINI
    finally:
        await dead.aclose()
    assert len(fake_gemini.requests) == 2


def _key(inp: nlg_pb2.GenerationInput) -> str | None:
    key = cache_key(inp, build_request(inp, BOOK), [PRIMARY])
    return key.digest if key else None


def test_keys_separate_what_must_differ_and_join_what_may_be_shared() -> None:
    assert _key(generation_input(HELP, "Help!", user_id="a")) == _key(
        generation_input(HELP, "help", user_id="b")
    )
    help_pt = generation_input(HELP, "help", language=common_pb2.LANGUAGE_PT_BR)
    assert _key(help_pt) != _key(generation_input(HELP, "help"))
    assert _key(generation_input(user_id="a")) != _key(generation_input(user_id="b"))
    history = nlg_pb2.PriorTurn(user_text="what is due?", answer_text="Launch checklist.")
    assert _key(generation_input(history=[history])) != _key(generation_input())
    assert _key(generation_input(today="2026-11-26")) != _key(generation_input())


def test_degraded_and_unclassified_turns_are_not_cacheable() -> None:
    assert _key(generation_input(tasks_unavailable=True)) is None
    assert _key(generation_input(common_pb2.INTENT_UNSPECIFIED)) is None
    assert _key(generation_input(user_id="")) is None


def test_question_normalisation_ignores_case_spacing_and_end_punctuation() -> None:
    assert normalise_question("  What  CAN you do?! ") == "what can you do"
    assert normalise_question("O que você faz?") == "o que você faz"
