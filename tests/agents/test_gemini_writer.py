"""Gemini as the NLG agent's writer, through a real NlgService gRPC server, the real SDK and the fake API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import grpc
import pytest
from assist.v1 import common_pb2, nlg_pb2, nlg_pb2_grpc

from agents.nlg.gemini_writer import GeminiWriter
from agents.nlg.local_writer import LocalWriter
from agents.nlg.prompts import load_prompts
from agents.nlg.service import NlgServicer, NlgSettings, nlg_service_factory
from mesh.grpc_server import create_server
from mesh.llm import LlmClient
from testing.gemini_server import FakeGemini, answer, cut, error
from tests.agents.conftest import BOARD, FALLBACK, PRIMARY, NlgServe, generation_input

BOOK = load_prompts()


def gemini_servicer(client: LlmClient) -> NlgServicer:
    return NlgServicer(LocalWriter(), GeminiWriter(client, BOOK))


async def stream(
    stub: nlg_pb2_grpc.NlgServiceStub, inp: nlg_pb2.GenerationInput, seconds: float = 10
) -> tuple[list[tuple[str, float]], nlg_pb2.GenerationInfo]:
    deltas, info = [], nlg_pb2.GenerationInfo()
    async for message in stub.StreamGenerate(nlg_pb2.StreamGenerateRequest(input=inp), timeout=seconds):
        if message.delta:
            deltas.append((message.delta, time.monotonic()))
        if message.done:
            info = message.info
    return deltas, info


def text_of(deltas: list[tuple[str, float]]) -> str:
    return "".join(d for d, _ in deltas)


async def test_answer_streams_chunk_by_chunk_through_grpc_and_says_who_wrote_it(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(answer("**Budget review** ", "is late ", "(due 2026-11-22).", between_delay_s=0.4))
    stub = await serve_nlg(gemini_servicer(llm_client()))
    deltas, info = await stream(stub, generation_input())
    assert [d for d, _ in deltas] == ["**Budget review** ", "is late ", "(due 2026-11-22)."]
    assert deltas[-1][1] - deltas[0][1] >= 0.4  # forwarded as they came, not after the model finished
    assert info.writer == nlg_pb2.WRITER_GEMINI and info.model == PRIMARY
    assert info.prompt_version == "task_answer@1"
    assert info.parameters["temperature"] == "0.1" and info.parameters["system_prompt"] == "assist_system@1"


async def test_task_facts_reach_the_model_as_json_and_the_user_id_does_not(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    stub = await serve_nlg(gemini_servicer(llm_client()))
    deltas, _ = await stream(stub, generation_input(user_id="secret-user-42"))
    request = fake_gemini.requests[0]
    assert fake_gemini.violations == []
    question = request.body["contents"][-1]["parts"][0]["text"]
    facts = json.loads(question[question.index("{") : question.rindex("}") + 1])
    assert [t["title"] for t in facts["tasks"]] == [t.title for t in BOARD]
    assert facts["today"] == "2026-11-25" and facts["tasks"][0]["assignees"] == ["Ana"]
    assert "secret-user-42" not in json.dumps(request.body)
    assert "Never invent tasks" in request.body["systemInstruction"]["parts"][0]["text"]
    # The fake echoes the facts it was given: the answer is grounded in them.
    assert "Budget review (due 2026-11-22)" in text_of(deltas)


async def test_generation_parameters_come_from_the_intent_prompt(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    stub = await serve_nlg(gemini_servicer(llm_client()))
    await stream(
        stub, generation_input(common_pb2.INTENT_GREETING, "oi!", language=common_pb2.LANGUAGE_PT_BR)
    )
    body = fake_gemini.requests[0].body
    config = body["generationConfig"]
    assert config["temperature"] == 0.7 and config["topK"] == 40 and config["maxOutputTokens"] == 120
    # The SDK sends the proto field name; the API's JSON parser accepts it as well as lowerCamelCase.
    assert config["thinkingConfig"] in ({"thinkingBudget": 0}, {"thinking_budget": 0})
    assert {s["category"] for s in body["safetySettings"]} >= {"HARM_CATEGORY_HARASSMENT"}
    question = body["contents"][-1]["parts"][0]["text"]
    assert "Answer in Brazilian Portuguese" in question
    assert "Budget review" not in json.dumps(body)  # a general prompt carries no user data


async def test_primary_failing_falls_back_to_the_fallback_model(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(*[error(503)] * 3, model=PRIMARY)
    stub = await serve_nlg(gemini_servicer(llm_client()))
    deltas, info = await stream(stub, generation_input())
    assert info.writer == nlg_pb2.WRITER_GEMINI_FALLBACK and info.model == FALLBACK
    assert "Budget review" in text_of(deltas)


async def test_everything_failing_gives_the_local_writers_answer(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(*[error(500)] * 3, model=PRIMARY)
    fake_gemini.script(*[error(500)] * 3, model=FALLBACK)
    stub = await serve_nlg(gemini_servicer(llm_client()))
    inp = generation_input()
    deltas, info = await stream(stub, inp)
    assert info.writer == nlg_pb2.WRITER_LOCAL and info.model == ""
    assert text_of(deltas) == LocalWriter().write(inp)


async def test_a_first_token_slower_than_the_deadline_gives_the_local_answer_in_time(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(*[answer("too late", first_delay_s=10)] * 6)
    stub = await serve_nlg(gemini_servicer(llm_client()))
    inp = generation_input()
    started = time.monotonic()
    deltas, info = await stream(stub, inp, seconds=2.0)
    assert info.writer == nlg_pb2.WRITER_LOCAL
    assert text_of(deltas) == LocalWriter().write(inp)
    assert time.monotonic() - started < 2.0


async def test_a_stream_cut_midway_is_continued_by_the_fallback_model_from_the_text_sent(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(cut("Half ", "an answer"), model=PRIMARY)
    fake_gemini.script(answer(", and the rest."), model=FALLBACK)
    stub = await serve_nlg(gemini_servicer(llm_client()))
    deltas, info = await stream(stub, generation_input())
    assert text_of(deltas) == "Half an answer, and the rest."
    assert info.writer == nlg_pb2.WRITER_GEMINI_FALLBACK and info.model == FALLBACK
    contents = fake_gemini.requests_for(FALLBACK)[-1].body["contents"]
    assert [c["role"] for c in contents[-3:]] == ["user", "model", "user"]
    assert contents[-2]["parts"][0]["text"] == "Half an answer", "the fallback is shown the text already sent"
    assert fake_gemini.violations == []


async def test_a_stream_cut_midway_with_no_model_left_ends_with_the_local_answer_replacing_it(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(cut("Half ", "an answer"), model=PRIMARY)
    fake_gemini.script(*[error(500)] * 5, model=FALLBACK)
    stub = await serve_nlg(gemini_servicer(llm_client()))
    inp = generation_input()
    final = nlg_pb2.StreamGenerateResponse()
    sent = []
    async for message in stub.StreamGenerate(nlg_pb2.StreamGenerateRequest(input=inp), timeout=10):
        sent.append(message.delta)
        if message.done:
            final = message
    assert "".join(sent) == "Half an answer"
    assert final.info.writer == nlg_pb2.WRITER_LOCAL
    assert final.replacement_text == LocalWriter().write(inp)


async def test_unary_generate_gives_the_continued_answer_when_the_stream_is_cut(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    stub = await serve_nlg(gemini_servicer(llm_client()))
    fake_gemini.script(cut("Half "), model=PRIMARY)
    fake_gemini.script(answer("and half."), model=FALLBACK)
    whole = await stub.Generate(nlg_pb2.GenerateRequest(input=generation_input()), timeout=10)
    assert whole.info.writer == nlg_pb2.WRITER_GEMINI_FALLBACK and whole.text == "Half and half."
    fake_gemini.script(cut("Half "), model=PRIMARY)
    fake_gemini.script(*[error(500)] * 5, model=FALLBACK)
    inp = generation_input()
    whole = await stub.Generate(nlg_pb2.GenerateRequest(input=inp), timeout=10)
    assert whole.info.writer == nlg_pb2.WRITER_LOCAL and whole.text == LocalWriter().write(inp)


async def test_without_a_key_the_local_writer_answers_and_no_model_is_called(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    settings = NlgSettings(gemini_base_url=fake_gemini.base_url, redis_url="redis://127.0.0.1:1/0")
    assert not settings.is_configured()
    async with nlg_service_factory(settings)() as (register, names):
        server, port, *_ = await create_server(register, names)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                inp = generation_input()
                deltas, info = await stream(nlg_pb2_grpc.NlgServiceStub(channel), inp)
        finally:
            await server.stop(None)
    assert info == nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)
    # The writer's chunks arrive coalesced (agents/nlg/coalesce.py): the same text, in fewer messages.
    assert "".join(d for d, _ in deltas) == "".join(LocalWriter().chunks(inp))
    assert len(deltas) < len(list(LocalWriter().chunks(inp)))
    assert fake_gemini.requests == []


async def test_a_turn_whose_rollout_asks_for_the_local_writer_never_reaches_the_model(
    fake_gemini: FakeGemini, llm_client: Callable[..., LlmClient], serve_nlg: NlgServe
) -> None:
    fake_gemini.script(answer("from the model"))
    stub = await serve_nlg(gemini_servicer(llm_client()))
    inp = generation_input()
    inp.requested_writer = nlg_pb2.WRITER_LOCAL
    deltas, info = await stream(stub, inp)
    assert info == nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)
    assert text_of(deltas) == "".join(LocalWriter().chunks(inp))
    assert fake_gemini.requests == []

    inp.requested_writer = nlg_pb2.WRITER_GEMINI  # the same question in the model's cohort
    deltas, info = await stream(stub, inp)
    assert info.writer == nlg_pb2.WRITER_GEMINI and text_of(deltas) == "from the model"
