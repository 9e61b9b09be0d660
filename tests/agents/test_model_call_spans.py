"""Model calls are spans with the GenAI semantic conventions, and never carry the conversation by default."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pytest
from google.genai import types
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from mesh.genai_trace import CAPTURE_CONTENT_ENV
from mesh.llm import LlmClient
from testing.gemini_server import FakeGemini, answer, error, json_answer
from tests.agents.conftest import FALLBACK, PRIMARY

Build = Callable[..., LlmClient]

SECRET_PROMPT = "my salary is 91234 and my boss Zebulon-Quark must not know"
SECRET_SYSTEM = "Internal-instruction-Wombat-7"
SECRET_ANSWER = "Zorblax-answer-text"
CONTENTS = [types.Content(role="user", parts=[types.Part(text=SECRET_PROMPT)])]
CONFIG = types.GenerateContentConfig(system_instruction=SECRET_SYSTEM)


def _attribute_text(spans: Iterable[ReadableSpan]) -> str:
    """Every attribute and event of the spans, as one string to search."""
    parts: list[str] = []
    for span in spans:
        parts.append(span.name)
        parts.extend(f"{k}={v!s}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            parts.extend(f"{k}={v!s}" for k, v in (event.attributes or {}).items())
    return "\n".join(parts)


def _model_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if (s.attributes or {}).get("gen_ai.operation.name")]


async def test_a_streamed_answer_is_one_span_with_model_usage_and_finish_reason(
    fake_gemini: FakeGemini, llm_client: Build, spans: InMemorySpanExporter
) -> None:
    fake_gemini.script(answer(SECRET_ANSWER, " and more words"))
    stream = await llm_client().open_stream(CONTENTS, CONFIG, time.monotonic() + 10)
    assert [c async for c in stream.chunks()] == [SECRET_ANSWER, " and more words"]
    [span] = _model_spans(spans)
    attrs = span.attributes or {}
    assert span.name == f"chat {PRIMARY}"
    assert attrs["gen_ai.request.model"] == PRIMARY
    assert attrs["gen_ai.response.model"] == "fake-001"
    assert attrs["gen_ai.provider.name"] == "gcp.gemini"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert isinstance(attrs["gen_ai.usage.input_tokens"], int) and attrs["gen_ai.usage.input_tokens"] > 0
    assert attrs["gen_ai.usage.output_tokens"] == 4
    text = _attribute_text(spans.get_finished_spans())
    for secret in (SECRET_PROMPT, "91234", "Zebulon", SECRET_SYSTEM, SECRET_ANSWER):
        assert secret not in text


async def test_structured_answers_and_failed_attempts_carry_no_prompt_either(
    fake_gemini: FakeGemini, llm_client: Build, spans: InMemorySpanExporter
) -> None:
    fake_gemini.script(error(503), error(503), error(503), model=PRIMARY)
    fake_gemini.script(json_answer({"intent": SECRET_ANSWER}), model=FALLBACK)
    schema = types.Schema(type=types.Type.OBJECT, properties={"intent": types.Schema(type=types.Type.STRING)})
    result = await llm_client().generate_json(None, CONTENTS, schema, time.monotonic() + 10, config=CONFIG)
    assert result == {"intent": SECRET_ANSWER}
    model_spans = _model_spans(spans)
    assert [s.name for s in model_spans] == [f"chat {PRIMARY}"] * 3 + [f"chat {FALLBACK}"]
    assert all(s.status.status_code == StatusCode.ERROR for s in model_spans[:3])
    assert {(s.attributes or {})["error.type"] for s in model_spans[:3]} == {"ServerError"}
    # The fake counts words: '{"intent": "Zorblax-answer-text"}' is two.
    assert (model_spans[-1].attributes or {})["gen_ai.usage.output_tokens"] == 2
    text = _attribute_text(spans.get_finished_spans())
    for secret in (SECRET_PROMPT, "91234", SECRET_SYSTEM, SECRET_ANSWER):
        assert secret not in text


async def test_the_debug_setting_puts_prompt_and_answer_in_the_span(
    fake_gemini: FakeGemini, llm_client: Build, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    fake_gemini.script(answer(SECRET_ANSWER))
    stream = await llm_client().open_stream(CONTENTS, CONFIG, time.monotonic() + 10)
    assert [c async for c in stream.chunks()] == [SECRET_ANSWER]
    [span] = _model_spans(spans)
    attrs = span.attributes or {}
    assert SECRET_PROMPT in str(attrs["gen_ai.input.messages"])
    assert SECRET_ANSWER in str(attrs["gen_ai.output.messages"])
