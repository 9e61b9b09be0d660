"""The shared model client through the real google-genai SDK against the fake Gemini server."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from google.genai import types
from prometheus_client import REGISTRY

from mesh.llm import LlmClient, LlmSettings, LlmUnavailable, StreamInterrupted
from testing.gemini_server import FakeGemini, answer, cut, error, json_answer, malformed
from tests.agents.conftest import FALLBACK, PRIMARY

CONTENTS = [types.Content(role="user", parts=[types.Part(text="hello")])]
CONFIG = types.GenerateContentConfig(system_instruction="Be brief.", temperature=0.1, top_p=0.8, top_k=20)

Build = Callable[..., LlmClient]


def _in(seconds: float) -> float:
    return time.monotonic() + seconds


async def _collect(client: LlmClient, deadline_s: float = 10.0) -> tuple[str, bool, list[str]]:
    stream = await client.open_stream(CONTENTS, CONFIG, _in(deadline_s))
    return stream.model, stream.fallback, [chunk async for chunk in stream.chunks()]


def test_no_key_means_not_configured_and_vertex_needs_project_and_location() -> None:
    assert not LlmSettings(gemini_api_key="").is_configured()  # type: ignore[arg-type]
    assert LlmSettings(gemini_api_key="k").is_configured()  # type: ignore[arg-type]
    assert not LlmSettings(google_genai_use_vertexai=True, google_cloud_project="p").is_configured()
    assert LlmSettings(
        google_genai_use_vertexai=True, google_cloud_project="p", google_cloud_location="europe-west1"
    ).is_configured()


def test_settings_read_the_documented_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    monkeypatch.setenv("GEMINI_MODEL", "m1")
    monkeypatch.setenv("GEMINI_FALLBACK_MODEL", "")
    monkeypatch.setenv("GEMINI_BASE_URL", "http://proxy.internal")
    settings = LlmSettings()
    assert settings.is_configured() and settings.gemini_base_url == "http://proxy.internal"
    assert settings.models() == ["m1"]  # an empty fallback turns the fallback off


async def test_stream_hands_on_each_chunk_as_it_arrives(fake_gemini: FakeGemini, llm_client: Build) -> None:
    fake_gemini.script(answer("one ", "two ", "three", between_delay_s=0.4))
    stream = await llm_client().open_stream(CONTENTS, CONFIG, _in(10))
    arrivals = []
    async for chunk in stream.chunks():
        arrivals.append((chunk, time.monotonic()))
    assert [c for c, _ in arrivals] == ["one ", "two ", "three"]
    assert arrivals[-1][1] - arrivals[0][1] >= 0.4  # not buffered until the end
    assert (stream.model, stream.fallback) == (PRIMARY, False)
    request = fake_gemini.requests[0]
    assert request.stream and fake_gemini.violations == []
    assert request.body["generationConfig"]["temperature"] == 0.1
    assert request.body["systemInstruction"]["parts"][0]["text"] == "Be brief."


async def test_server_errors_are_retried_then_the_primary_answers(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(error(500), error(503), answer("fine"), model=PRIMARY)
    model, fallback, chunks = await _collect(llm_client())
    assert (model, fallback, chunks) == (PRIMARY, False, ["fine"])
    assert len(fake_gemini.requests_for(PRIMARY)) == 3
    assert fake_gemini.requests_for(FALLBACK) == []


async def test_retry_after_header_is_honoured(fake_gemini: FakeGemini, llm_client: Build) -> None:
    fake_gemini.script(error(429, retry_after="1"), answer("after the wait"), model=PRIMARY)
    _, _, chunks = await _collect(llm_client())
    first, second = fake_gemini.requests_for(PRIMARY)
    assert chunks == ["after the wait"]
    assert second.at - first.at >= 1.0


async def test_retry_info_delay_is_honoured_without_a_header(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(error(429, retry_delay="0.7s"), answer("ok"), model=PRIMARY)
    await _collect(llm_client())
    first, second = fake_gemini.requests_for(PRIMARY)
    assert second.at - first.at >= 0.7


async def test_a_retry_after_past_the_deadline_moves_to_the_fallback_at_once(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(error(429, retry_after="30"), model=PRIMARY)
    client = llm_client()
    started = time.monotonic()
    model, fallback, chunks = await _collect(client, deadline_s=5)
    assert (model, fallback) == (FALLBACK, True) and chunks
    assert time.monotonic() - started < 2.0
    assert len(fake_gemini.requests_for(PRIMARY)) == 1


async def test_primary_exhausting_its_retries_falls_back_to_the_fallback_model(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(error(503), error(503), error(503), model=PRIMARY)
    fake_gemini.script(answer("from the fallback"), model=FALLBACK)
    model, fallback, chunks = await _collect(llm_client())
    assert (model, fallback, chunks) == (FALLBACK, True, ["from the fallback"])
    assert len(fake_gemini.requests_for(PRIMARY)) == 3


async def test_everything_failing_raises_unavailable_before_the_deadline(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(*[error(500)] * 3, model=PRIMARY)
    fake_gemini.script(*[error(500)] * 3, model=FALLBACK)
    client = llm_client()
    deadline = _in(5)
    with pytest.raises(LlmUnavailable, match="500"):
        await client.open_stream(CONTENTS, CONFIG, deadline)
    assert time.monotonic() < deadline
    assert len(fake_gemini.requests) == 6


def _local_fallbacks() -> float:
    return REGISTRY.get_sample_value("assist_llm_local_fallbacks_total") or 0.0


async def test_giving_up_on_every_model_is_logged_and_counted(
    fake_gemini: FakeGemini, llm_client: Build, caplog: pytest.LogCaptureFixture
) -> None:
    fake_gemini.script(*[error(500)] * 3, model=PRIMARY)
    fake_gemini.script(*[error(500)] * 3, model=FALLBACK)
    before = _local_fallbacks()
    with pytest.raises(LlmUnavailable):
        await llm_client().open_stream(CONTENTS, CONFIG, _in(5))
    assert _local_fallbacks() == before + 1
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and r.name == "mesh.llm"]
    assert any("falling back to the local answer" in r.getMessage() for r in warnings)


async def test_an_answer_from_the_fallback_model_is_not_a_local_fallback(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(*[error(500)] * 3, model=PRIMARY)
    before = _local_fallbacks()
    await _collect(llm_client())
    assert _local_fallbacks() == before


async def test_a_first_token_slower_than_the_deadline_gives_up_in_time(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(*[answer("too late", first_delay_s=5)] * 6)
    client = llm_client()
    deadline = _in(1.5)
    with pytest.raises(LlmUnavailable, match="TimeoutError"):
        await client.open_stream(CONTENTS, CONFIG, deadline)
    assert time.monotonic() < deadline + 0.1


async def test_a_stream_cut_midway_is_an_interruption_not_an_answer(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(cut("half ", "an "))
    stream = await llm_client().open_stream(CONTENTS, CONFIG, _in(10))
    received = []
    with pytest.raises(StreamInterrupted):
        async for chunk in stream.chunks():
            received.append(chunk)
    assert received == ["half ", "an "]
    assert len(fake_gemini.requests) == 1  # never retried once text was handed on


async def test_malformed_json_moves_to_the_fallback_model(fake_gemini: FakeGemini, llm_client: Build) -> None:
    fake_gemini.script(malformed(), model=PRIMARY)
    fake_gemini.script(answer("well-formed"), model=FALLBACK)
    model, _, chunks = await _collect(llm_client())
    assert (model, chunks) == (FALLBACK, ["well-formed"])


async def test_structured_output_sends_the_schema_and_parses_the_answer(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.script(json_answer({"intent": "INTENT_HELP"}))
    schema = types.Schema(type=types.Type.OBJECT, properties={"intent": types.Schema(type=types.Type.STRING)})
    value = await llm_client().generate_json(PRIMARY, CONTENTS, schema, _in(5), config=CONFIG)
    assert value == {"intent": "INTENT_HELP"}
    config = fake_gemini.requests[0].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"]["intent"]["type"] == "STRING"
    assert not fake_gemini.requests[0].stream


async def test_structured_output_retries_then_gives_up(fake_gemini: FakeGemini, llm_client: Build) -> None:
    fake_gemini.script(*[error(503)] * 3)
    schema = types.Schema(type=types.Type.OBJECT)
    with pytest.raises(LlmUnavailable):
        await llm_client().generate_json(PRIMARY, CONTENTS, schema, _in(5), config=CONFIG)
    assert len(fake_gemini.requests) == 3


async def test_stream_on_one_model_never_tries_another(fake_gemini: FakeGemini, llm_client: Build) -> None:
    fake_gemini.script(answer("a", "b"), model=FALLBACK)
    assert [c async for c in llm_client().stream(FALLBACK, CONTENTS, CONFIG, _in(5))] == ["a", "b"]
    fake_gemini.script(*[error(503)] * 3, model=PRIMARY)
    with pytest.raises(LlmUnavailable):
        async for _ in llm_client().stream(PRIMARY, CONTENTS, CONFIG, _in(5)):
            pass
    assert len(fake_gemini.requests_for(FALLBACK)) == 1
