"""Spans for model calls, with OpenTelemetry's GenAI semantic conventions and without the conversation.

One span per attempt (`chat gemini-2.5-flash`, kind CLIENT): a retried or fallen-back call shows each try.
Recorded: the operation, the provider, the requested and responding model, token usage, finish reasons, and
the error type of a failed attempt. Never recorded by default: the prompt (it holds the user's message,
their tasks and history) or the answer. `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, the
conventions' own switch, is the explicit debug setting that adds them (`gen_ai.input.messages`,
`gen_ai.output.messages`): for a developer's machine, never a shared deployment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from google.genai import types
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
PROVIDER = "gcp.gemini"

_tracer = trace.get_tracer("assist.llm")


def capture_content() -> bool:
    """The debug switch: prompts and answers go into spans only when it says true."""
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("true", "1", "yes")


def start_model_span(model: str, operation: str) -> Span:
    """An attempt's span, child of the current one (the agent's gRPC server span)."""
    return _tracer.start_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.system": PROVIDER,  # the attribute's older name, still read by most backends
            "gen_ai.request.model": model,
        },
    )


def record_response(span: Span, response: types.GenerateContentResponse) -> None:
    """Usage, finish reasons and the responding model from one response or stream chunk (later ones win)."""
    if response.model_version:
        span.set_attribute("gen_ai.response.model", response.model_version)
    if response.response_id:
        span.set_attribute("gen_ai.response.id", response.response_id)
    reasons = [
        str(_enum_value(c.finish_reason)).lower() for c in response.candidates or [] if c.finish_reason
    ]
    if reasons:
        span.set_attribute("gen_ai.response.finish_reasons", reasons)
    usage = response.usage_metadata
    if usage is not None:
        if usage.prompt_token_count is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_token_count)
        if usage.candidates_token_count is not None:
            span.set_attribute("gen_ai.usage.output_tokens", usage.candidates_token_count)


def record_failure(span: Span, exc: BaseException) -> None:
    span.set_attribute("error.type", type(exc).__name__)
    span.set_status(StatusCode.ERROR, type(exc).__name__)


def record_input(span: Span, contents: types.ContentListUnion) -> None:
    """The prompt, only under the debug switch."""
    if capture_content():
        span.set_attribute("gen_ai.input.messages", json.dumps(_plain(contents), default=str))


def record_output(span: Span, texts: Iterable[str]) -> None:
    """The answer, only under the debug switch."""
    if capture_content():
        message = {"role": "assistant", "parts": [{"type": "text", "content": "".join(texts)}]}
        span.set_attribute("gen_ai.output.messages", json.dumps([message]))


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _plain(contents: Any) -> Any:
    """Contents as JSON-able data (SDK models dumped, lists walked, strings kept)."""
    if isinstance(contents, list):
        return [_plain(item) for item in contents]
    dump = getattr(contents, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return contents
