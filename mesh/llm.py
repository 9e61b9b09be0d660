"""The one model client of the mesh: Gemini through google-genai's async API, inside the caller's deadline.

Retries are ours, not the SDK's. The SDK's `HttpRetryOptions` (tenacity) knows neither the turn's deadline
nor `Retry-After`, and for a stream it can only retry the opening request, not a failure before the first
chunk. So the SDK is pinned to one attempt (`HttpRetryOptions(attempts=1)`: leaving retry_options unset
would also turn on its implicit connection-error retry, a 1-10 s sleep), and this module loops: 429, 408,
500, 502, 503, 504, timeouts and dropped connections are retried with exponential backoff and jitter, waiting
at least what `Retry-After` (or the error's RetryInfo) asks, and never starting a wait that would end past
the deadline, and only while the model's retry budget allows (mesh/retry_budget.py, gRFC A6's rule: when
most attempts fail, each request makes one attempt per model). A stream is retried only until its first
chunk: once text has been handed on, a failure is a `StreamInterrupted`. When the primary model gives up,
the fallback model gets what is left; when both do, `LlmUnavailable` tells the caller to use its local
answer.

Deadlines are absolute `time.monotonic()` seconds by which the call must be over; callers keep back what
their own fallback needs.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import json
import logging
import math
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from google import genai
from google.genai import errors, types
from opentelemetry import trace
from opentelemetry.trace import Span
from prometheus_client import Counter
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mesh import genai_trace
from mesh.retry_budget import RetryBudget

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_CODES = frozenset({408, 429, 500, 502, 503, 504})
ATTEMPTS = Counter("assist_llm_attempts_total", "Model calls by model and outcome.", ["model", "outcome"])
LOCAL_FALLBACKS = Counter(
    "assist_llm_local_fallbacks_total",
    "Model calls given up on (every model of the chain failed or ran out of time): the caller answers locally.",
)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures of whichever httpx the SDK picked (it prefers httpx2 when installed)."""
    found: list[type[BaseException]] = [TimeoutError, ConnectionError]
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
# What breaking off a stream midway looks like: the connection drops, a chunk is late, a chunk is garbage.
STREAM_ERRORS: tuple[type[BaseException], ...] = (errors.APIError, ValueError, *TRANSPORT_ERRORS)


class LlmSettings(BaseSettings):
    """Gemini's configuration; with neither an API key nor Vertex AI set, no model is used at all."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    gemini_api_key: SecretStr = SecretStr("")
    google_genai_use_vertexai: bool = False
    google_cloud_project: str = ""
    google_cloud_location: str = ""
    gemini_model: str = "gemini-2.5-flash"
    # Empty: no fallback model.
    gemini_fallback_model: str = "gemini-2.5-flash-lite"
    # A proxy, or the fake server in tests.
    gemini_base_url: str = ""
    gemini_max_attempts: int = 3
    gemini_backoff_initial_s: float = 0.2
    gemini_backoff_max_s: float = 2.0
    # Longest wait for a first chunk (or a whole structured answer) in one attempt.
    gemini_attempt_timeout_s: float = 8.0
    # An attempt that would have less than this is not started.
    gemini_min_attempt_s: float = 0.3
    # The share of the remaining time the primary model may use when a fallback model follows it.
    gemini_primary_share: float = 0.6
    # The retry budget per model (mesh/retry_budget.py): tokens, and what a success gives back.
    gemini_retry_budget_tokens: float = 10.0
    gemini_retry_budget_ratio: float = 0.1

    def is_configured(self) -> bool:
        if self.google_genai_use_vertexai:
            return bool(self.google_cloud_project and self.google_cloud_location)
        return bool(self.gemini_api_key.get_secret_value())

    def models(self) -> list[str]:
        """The primary model, then the fallback when it is set and different."""
        fallback = self.gemini_fallback_model
        return [self.gemini_model] + ([fallback] if fallback and fallback != self.gemini_model else [])


class LlmUnavailable(Exception):
    """No model produced an answer in time; nothing was handed to the caller."""


class StreamInterrupted(Exception):
    """A stream failed after some of its text was handed on; that partial text is not an answer."""


class EmptyAnswer(Exception):
    """The model returned no text (blocked by safety settings, or an empty candidate)."""


def retry_after_s(exc: BaseException) -> float | None:
    """What the server asked us to wait: the Retry-After header (seconds or HTTP date), else RetryInfo."""
    if not isinstance(exc, errors.APIError):
        return None
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    for item in details.get("details", []) if isinstance(details, dict) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and (m := re.fullmatch(r"([\d.]+)s", delay)):
            return float(m.group(1))
    return None


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, errors.APIError):
        return exc.code in RETRYABLE_CODES
    return isinstance(exc, TRANSPORT_ERRORS)


def text_of(response: types.GenerateContentResponse) -> str:
    """The answer text of one response chunk, without thought parts."""
    if not response.candidates or response.candidates[0].content is None:
        return ""
    parts = response.candidates[0].content.parts or []
    return "".join(p.text for p in parts if p.text and not p.thought)


async def _aclose(iterator: object) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


class ModelStream:
    """An answer that has started: which model wrote it, then its text chunk by chunk as it arrives."""

    def __init__(
        self,
        model: str,
        fallback: bool,
        first: str,
        rest: AsyncIterator[types.GenerateContentResponse],
        deadline: float,
        span: Span | None = None,
    ) -> None:
        self.model = model
        self.fallback = fallback
        self._first = first
        self._rest = rest
        self._deadline = deadline
        # The attempt's span stays open while the answer streams: usage and finish come with the last chunk.
        self._span = span
        # The answer's total tokens (prompt and output) from the usage metadata; None until it arrives.
        self.total_tokens: int | None = None

    async def chunks(self) -> AsyncGenerator[str, None]:
        """The text; raises `StreamInterrupted` if the stream breaks or outlives the deadline."""
        texts = [self._first]
        try:
            yield self._first
            while True:
                try:
                    async with asyncio.timeout(max(0.0, self._deadline - time.monotonic())):
                        response = await anext(self._rest)
                except StopAsyncIteration:
                    if self._span is not None:
                        genai_trace.record_output(self._span, texts)
                    return
                if self._span is not None:
                    genai_trace.record_response(self._span, response)
                self._note_usage(response)
                if text := text_of(response):
                    texts.append(text)
                    yield text
        except STREAM_ERRORS as exc:
            ATTEMPTS.labels(self.model, "interrupted").inc()
            if self._span is not None:
                genai_trace.record_failure(self._span, exc)
            raise StreamInterrupted(f"{self.model}: {type(exc).__name__}: {exc}") from exc
        finally:
            await self.aclose()

    def _note_usage(self, response: types.GenerateContentResponse) -> None:
        usage = response.usage_metadata
        if usage is not None and usage.total_token_count is not None:
            self.total_tokens = usage.total_token_count

    async def aclose(self) -> None:
        span, self._span = self._span, None
        try:
            await _aclose(self._rest)
        finally:
            if span is not None:
                span.end()


class LlmClient:
    """Streams and structured answers from Gemini, with retries and the fallback model, within a deadline."""

    def __init__(
        self,
        settings: LlmSettings,
        *,
        client: genai.Client | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._client = client or build_client(settings)
        self._sleep = sleep
        # One budget per model: the primary and the fallback have separate quotas.
        self._budgets: dict[str, RetryBudget] = {}

    def budget(self, model: str) -> RetryBudget:
        """The retry budget of `model` in this client."""
        if model not in self._budgets:
            s = self.settings
            self._budgets[model] = RetryBudget(s.gemini_retry_budget_tokens, s.gemini_retry_budget_ratio)
        return self._budgets[model]

    async def aclose(self) -> None:
        await self._client.aio.aclose()

    async def open_stream(
        self,
        contents: types.ContentListUnion,
        config: types.GenerateContentConfig,
        deadline: float,
        *,
        models: Sequence[str] | None = None,
    ) -> ModelStream:
        """Start an answer, retrying and falling back until its first chunk; raises `LlmUnavailable`."""

        async def once(
            model: str, timeout_s: float, span: Span
        ) -> tuple[str, AsyncIterator[types.GenerateContentResponse], types.GenerateContentResponse]:
            genai_trace.record_input(span, contents)
            responses = await self._client.aio.models.generate_content_stream(
                model=model, contents=contents, config=self._per_request(config, timeout_s)
            )
            try:
                async with asyncio.timeout(timeout_s):
                    async for response in responses:
                        genai_trace.record_response(span, response)
                        if text := text_of(response):
                            return text, responses, response
                raise EmptyAnswer(f"{model} returned no text")
            except BaseException:
                await _aclose(responses)
                raise

        chain = list(models or self.settings.models())
        model, index, (first, rest, head), span = await self._run(chain, deadline, once, keep_open=True)
        opened = ModelStream(model, index > 0, first, rest, deadline, span)
        opened._note_usage(head)  # a one-chunk answer's usage comes with its first response
        return opened

    async def stream(
        self,
        model: str,
        contents: types.ContentListUnion,
        config: types.GenerateContentConfig,
        deadline: float,
    ) -> AsyncIterator[str]:
        """One model's answer as text chunks (retried until the first chunk, no fallback)."""
        opened = await self.open_stream(contents, config, deadline, models=[model])
        async for chunk in opened.chunks():
            yield chunk

    async def generate_json(
        self,
        model: str | None,
        contents: types.ContentListUnion,
        schema: types.SchemaUnion,
        deadline: float,
        *,
        config: types.GenerateContentConfig | None = None,
    ) -> Any:
        """A structured answer (response_schema, application/json), parsed; `model=None` uses the chain."""
        base = (config or types.GenerateContentConfig()).model_copy(
            update={"response_mime_type": "application/json", "response_schema": schema}
        )

        async def once(name: str, timeout_s: float, span: Span) -> Any:
            genai_trace.record_input(span, contents)
            async with asyncio.timeout(timeout_s):
                response = await self._client.aio.models.generate_content(
                    model=name, contents=contents, config=self._per_request(base, timeout_s)
                )
            genai_trace.record_response(span, response)
            text = text_of(response)
            if not text:
                raise EmptyAnswer(f"{name} returned no text")
            genai_trace.record_output(span, [text])
            return json.loads(text)

        chain = [model] if model else self.settings.models()
        return (await self._run(chain, deadline, once))[2]

    def _per_request(
        self, config: types.GenerateContentConfig, timeout_s: float
    ) -> types.GenerateContentConfig:
        """The SDK's own timeout (it also sends X-Server-Timeout), and one attempt: the loop is ours."""
        http = types.HttpOptions(
            timeout=max(1, math.ceil(timeout_s * 1000)), retry_options=types.HttpRetryOptions(attempts=1)
        )
        # No tools are declared, so automatic function calling has nothing to do (and logs on every call).
        afc = types.AutomaticFunctionCallingConfig(disable=True)
        return config.model_copy(update={"http_options": http, "automatic_function_calling": afc})

    def _backoff_s(self, attempt: int) -> float:
        """Exponential with equal jitter: half the step is fixed, half random, so retries spread out."""
        s = self.settings
        step = min(s.gemini_backoff_max_s, s.gemini_backoff_initial_s * 2.0 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)

    async def _run(
        self,
        models: Sequence[str],
        deadline: float,
        once: Callable[[str, float, Span], Awaitable[T]],
        *,
        keep_open: bool = False,
    ) -> tuple[str, int, T, Span]:
        """Try each model in turn until one answers: (model, its index, its result, its attempt's span).

        Each attempt is a span (mesh/genai_trace.py); the answering one is ended here unless `keep_open`
        (a stream's span ends with the stream).
        """
        s = self.settings
        failures: list[str] = []
        for index, model in enumerate(models):
            now = time.monotonic()
            stop_at = (
                deadline if index == len(models) - 1 else now + (deadline - now) * s.gemini_primary_share
            )
            attempt = 0
            while True:
                attempt += 1
                left = stop_at - time.monotonic()
                if left < s.gemini_min_attempt_s:
                    failures.append(f"{model}: no time left for attempt {attempt}")
                    break
                span = genai_trace.start_model_span(model, "chat")
                try:
                    with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                        result = await once(model, min(s.gemini_attempt_timeout_s, left), span)
                except asyncio.CancelledError as exc:
                    genai_trace.record_failure(span, exc)
                    span.end()
                    raise
                except Exception as exc:  # classified below; anything unknown ends this model's turn
                    genai_trace.record_failure(span, exc)
                    span.end()
                    retryable = is_retryable(exc)
                    ATTEMPTS.labels(model, "retryable_error" if retryable else "error").inc()
                    failures.append(f"{model} attempt {attempt}: {type(exc).__name__}: {str(exc)[:200]}")
                    budget = self.budget(model)
                    budget.record_failure()
                    if not retryable or attempt >= s.gemini_max_attempts:
                        break
                    if not budget.may_retry():
                        failures.append(f"{model}: retry budget spent (most recent attempts failed)")
                        break
                    wait = max(self._backoff_s(attempt), retry_after_s(exc) or 0.0)
                    if time.monotonic() + wait + s.gemini_min_attempt_s > stop_at:
                        failures.append(f"{model}: waiting {wait:.2f} s would pass the deadline")
                        break
                    log.info("retrying the model", extra={"model": model, "attempt": attempt, "wait_s": wait})
                    await self._sleep(wait)
                    continue
                ATTEMPTS.labels(model, "ok").inc()
                self.budget(model).record_success()
                if not keep_open:
                    span.end()
                if index:
                    log.warning("the fallback model answered", extra={"model": model, "failures": failures})
                return model, index, result, span
        # The caller's local answer (the NLG's local writer, the NLU's classifier) is used now: a quieter,
        # poorer answer that would go unnoticed without this line and its counter.
        LOCAL_FALLBACKS.inc()
        log.warning(
            "no model answered; falling back to the local answer",
            extra={"models": list(models), "failures": failures},
        )
        raise LlmUnavailable("; ".join(failures) or "no model configured")


def build_client(settings: LlmSettings) -> genai.Client:
    """The SDK client: the Gemini API by key, or Vertex AI by project and location (ADC credentials)."""
    http = types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))
    if settings.gemini_base_url:
        http.base_url = settings.gemini_base_url
    if settings.google_genai_use_vertexai:
        return genai.Client(
            vertexai=True,
            project=settings.google_cloud_project,
            location=settings.google_cloud_location,
            http_options=http,
        )
    return genai.Client(api_key=settings.gemini_api_key.get_secret_value(), http_options=http)
