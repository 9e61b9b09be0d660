"""NlgService over gRPC: writes the answer, streamed chunk by chunk.

The chain for one answer: the response cache, then Gemini (retries, then the fallback model, inside the
call's deadline), then the deterministic local writer. With no Gemini configured there is neither cache
nor model: the local writer answers, exactly as before Gemini existed. A request whose `requested_writer`
is WRITER_LOCAL (the coordinator's `writer` flag, for a model rollout or rollback) gets the local writer too.
The final message says who wrote the answer, with the model, the prompt version and the parameters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack, aclosing, asynccontextmanager

import grpc
from assist.v1 import nlg_pb2, nlg_pb2_grpc
from pydantic import model_validator

from agents.nlg.cache import NAMESPACE, AnswerCache, CachedAnswer, cache_key
from agents.nlg.coalesce import coalesce_deltas
from agents.nlg.gemini_writer import GeminiRequest, GeminiWriter
from agents.nlg.leak_guard import AnswerLeaked
from agents.nlg.local_writer import LocalWriter
from agents.nlg.prompts import load_prompts
from mesh.components import listen_address
from mesh.config import RedisSettings
from mesh.grpc_server import Registration, service_registration
from mesh.llm import LlmClient, LlmSettings, LlmUnavailable, ModelStream, StreamInterrupted
from mesh.process import AgentSettings, ServiceFactory
from mesh.storage.redis_store import ResponseCache, make_redis
from mesh.token_budget import DailyTokenBudget

log = logging.getLogger(__name__)

Stream = AsyncIterator[nlg_pb2.StreamGenerateResponse]


class NlgSettings(AgentSettings, LlmSettings, RedisSettings):
    service_name: str = "nlg"
    # Only the response cache uses Redis, and only with Gemini: without them REDIS_URL may be left unset.
    redis_url: str = ""
    listen_addr: str = listen_address("nlg")
    # Used when the caller set no deadline.
    nlg_default_budget_s: float = 20.0
    # Kept back from the deadline for the local writer when Gemini fails.
    nlg_local_reserve_s: float = 0.25
    # Off: Gemini answers are never cached (the cache is never used without Gemini).
    nlg_cache_enabled: bool = True
    # The check that withholds an answer repeating the system prompt or its canary (agents/nlg/leak_guard.py).
    # Only the security tests' control turns it off, to prove the test would see a leak.
    nlg_output_guard: bool = True
    # Model tokens (prompt and output) one user may spend per UTC day; 0: no budget. The edge reads the same
    # count (DAILY_TOKEN_BUDGET there too) and refuses new messages once it is spent (mesh/token_budget.py).
    daily_token_budget: int = 200_000

    @model_validator(mode="after")
    def _cache_needs_redis(self) -> NlgSettings:
        if self.is_configured() and self.nlg_cache_enabled and not self.redis_url:
            raise ValueError("REDIS_URL is required for the response cache (or set NLG_CACHE_ENABLED=false)")
        return self


def _tokens_used(request: GeminiRequest, stream: ModelStream, parts: list[str]) -> int:
    """The answer's tokens from the usage metadata; without it, about four characters a token of prompt and
    answer."""
    if stream.total_tokens:
        return stream.total_tokens
    prompt = sum(len(p.text or "") for c in request.contents for p in c.parts or [])
    return (prompt + len("".join(parts))) // 4


class NlgServicer(nlg_pb2_grpc.NlgServiceServicer):
    """Cache, then Gemini, then the local writer; without Gemini, the local writer alone."""

    def __init__(
        self,
        writer: LocalWriter,
        gemini: GeminiWriter | None = None,
        cache: AnswerCache | None = None,
        *,
        default_budget_s: float = 20.0,
        local_reserve_s: float = 0.25,
        output_guard: bool = True,
        budget: DailyTokenBudget | None = None,
    ) -> None:
        self._output_guard = output_guard
        self._budget = budget or DailyTokenBudget(None, 0)
        self._writer = writer
        self._gemini = gemini
        self._cache = cache
        self._default_budget_s = default_budget_s
        self._local_reserve_s = local_reserve_s

    def _local_info(self) -> nlg_pb2.GenerationInfo:
        return nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL)

    def _deadline(self, context: grpc.aio.ServicerContext) -> float:
        left = context.time_remaining()
        return time.monotonic() + (self._default_budget_s if left is None else left) - self._local_reserve_s

    async def _local(self, inp: nlg_pb2.GenerationInput) -> Stream:
        for chunk in self._writer.chunks(inp):
            yield nlg_pb2.StreamGenerateResponse(delta=chunk)
        yield nlg_pb2.StreamGenerateResponse(done=True, info=self._local_info())

    async def _answer(self, inp: nlg_pb2.GenerationInput, deadline: float) -> Stream:
        """The answer's messages, ending with `done`, also when the model broke off after sending text."""
        # The caller's rollout may keep the model out of this turn (the `writer` flag, mesh/flags.py).
        if self._gemini is None or inp.requested_writer == nlg_pb2.WRITER_LOCAL:
            async for message in self._local(inp):
                yield message
            return
        request = self._gemini.build(inp)
        key = cache_key(inp, request, self._gemini.models) if self._cache else None
        if self._cache is not None:
            if key is None:
                self._cache.skipped()
            elif (hit := await self._cache.get(key)) is not None:
                for chunk in hit.chunks:
                    yield nlg_pb2.StreamGenerateResponse(delta=chunk)
                yield nlg_pb2.StreamGenerateResponse(done=True, info=hit.info())
                return
        if await self._budget.exhausted(inp.user_id):
            # Admitted just under the budget: this answer is not worth going over it for.
            log.info("daily token budget spent; the local writer answers")
            async for message in self._local(inp):
                yield message
            return
        try:
            stream = await self._gemini.open(request, deadline)
        except LlmUnavailable as exc:
            log.warning("gemini unavailable; the local writer answers", extra={"reason": str(exc)[:500]})
            async for message in self._local(inp):
                yield message
            return
        parts: list[str] = []
        try:
            async with aclosing(self._checked(stream)) as chunks:
                async for chunk in chunks:
                    parts.append(chunk)
                    yield nlg_pb2.StreamGenerateResponse(delta=chunk)
        except StreamInterrupted as exc:
            log.warning("gemini broke off mid-answer; carrying on", extra={"reason": str(exc)[:500]})
            async for message in self._carry_on(inp, request, "".join(parts), stream.model, deadline):
                yield message
            return  # never cached: a continued answer is not what one model wrote for the prompt
        except AnswerLeaked as exc:
            # Never cached, never shown. With nothing sent yet the local writer answers from the facts;
            # otherwise the answer ends where the released (clean) text ended.
            log.warning("a model answer was withheld", extra={"reason": exc.reason})
            # The model was paid for even though nobody sees its answer.
            await self._budget.spend(inp.user_id, _tokens_used(request, stream, parts))
            if not exc.released:
                async for message in self._local(inp):
                    yield message
                return
            fallback = nlg_pb2.WRITER_GEMINI_FALLBACK if stream.fallback else nlg_pb2.WRITER_GEMINI
            yield nlg_pb2.StreamGenerateResponse(
                done=True, info=self._gemini.info(request, fallback, stream.model)
            )
            return
        await self._budget.spend(inp.user_id, _tokens_used(request, stream, parts))
        writer = nlg_pb2.WRITER_GEMINI_FALLBACK if stream.fallback else nlg_pb2.WRITER_GEMINI
        info = self._gemini.info(request, writer, stream.model)
        if self._cache is not None and key is not None:
            # Only here, after the stream ended normally: a broken or cancelled stream never gets this far.
            await self._cache.put(
                key, CachedAnswer(tuple(parts), stream.model, info.prompt_version, info.parameters)
            )
        yield nlg_pb2.StreamGenerateResponse(done=True, info=info)

    async def _checked(self, stream: ModelStream) -> AsyncGenerator[str]:
        """The model's text as the output check releases it (agents/nlg/leak_guard.py; all of it with the
        check off). Raises AnswerLeaked when it withholds the rest, StreamInterrupted when the model breaks off.
        """
        assert self._gemini is not None
        guard = self._gemini.leak_guard if self._output_guard else None
        async with aclosing(stream.chunks()) as chunks:
            async for chunk in guard.release(chunks) if guard else chunks:
                yield chunk

    async def _carry_on(
        self, inp: nlg_pb2.GenerationInput, request: GeminiRequest, sent: str, broke_off: str, deadline: float
    ) -> Stream:
        """After the model broke off having sent `sent`: the next model of the chain continues the text
        (WRITER_GEMINI_FALLBACK); when none can, or it breaks off too, the local writer's whole answer
        replaces what was sent (`replacement_text`, WRITER_LOCAL). Never an "interrupted" tail."""
        assert self._gemini is not None
        later = self._gemini.models_after(broke_off)
        if later:
            try:
                stream = await self._gemini.continue_answer(request, sent, deadline, later)
            except LlmUnavailable as exc:
                log.warning("no model could continue the answer", extra={"reason": str(exc)[:500]})
            else:
                # The continuation passes the same output check as a first answer.
                continued: list[str] = []
                try:
                    async with aclosing(self._checked(stream)) as chunks:
                        async for chunk in chunks:
                            continued.append(chunk)
                            yield nlg_pb2.StreamGenerateResponse(delta=chunk)
                except StreamInterrupted as exc:
                    log.warning("the continuing model broke off too", extra={"reason": str(exc)[:500]})
                except AnswerLeaked as exc:
                    log.warning("a continued answer was withheld", extra={"reason": exc.reason})
                else:
                    await self._budget.spend(
                        inp.user_id, stream.total_tokens or (len(sent) + len("".join(continued))) // 4
                    )
                    info = self._gemini.info(request, nlg_pb2.WRITER_GEMINI_FALLBACK, stream.model)
                    yield nlg_pb2.StreamGenerateResponse(done=True, info=info)
                    return
        yield nlg_pb2.StreamGenerateResponse(
            done=True, info=self._local_info(), replacement_text=self._writer.write(inp)
        )

    async def Generate(  # noqa: N802 - gRPC method name
        self, request: nlg_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> nlg_pb2.GenerateResponse:
        parts: list[str] = []
        info = self._local_info()
        async for message in self._answer(request.input, self._deadline(context)):
            parts.append(message.delta)
            if message.done:
                info = message.info
                if message.replacement_text:
                    parts = [message.replacement_text]
        return nlg_pb2.GenerateResponse(text="".join(parts), info=info)

    async def StreamGenerate(  # noqa: N802 - gRPC method name
        self, request: nlg_pb2.StreamGenerateRequest, context: grpc.aio.ServicerContext
    ) -> Stream:
        # A model breaking off mid-answer is handled inside (`_carry_on`): the stream still ends with `done`.
        async for message in coalesce_deltas(self._answer(request.input, self._deadline(context))):
            yield message


@asynccontextmanager
async def _dependencies(settings: NlgSettings) -> AsyncIterator[NlgServicer]:
    """The servicer with what the settings turn on; closes the model and Redis clients afterwards."""
    async with AsyncExitStack() as stack:
        gemini = cache = None
        budget = DailyTokenBudget(None, 0)
        if settings.is_configured():
            llm = LlmClient(settings)
            stack.push_async_callback(llm.aclose)
            gemini = GeminiWriter(llm, load_prompts())
            if settings.nlg_cache_enabled:
                redis = make_redis(settings.redis_url, settings.redis_timeout_s)
                stack.push_async_callback(redis.aclose)
                cache = AnswerCache(ResponseCache(redis, NAMESPACE))
            if settings.daily_token_budget and settings.redis_url:
                budget_redis = make_redis(settings.redis_url, settings.redis_timeout_s)
                stack.push_async_callback(budget_redis.aclose)
                budget = DailyTokenBudget(budget_redis, settings.daily_token_budget)
            log.info("gemini configured", extra={"models": settings.models(), "cache": cache is not None})
        yield NlgServicer(
            LocalWriter(),
            gemini,
            cache,
            default_budget_s=settings.nlg_default_budget_s,
            local_reserve_s=settings.nlg_local_reserve_s,
            output_guard=settings.nlg_output_guard,
            budget=budget,
        )


def nlg_service_factory(settings: NlgSettings) -> ServiceFactory:
    @asynccontextmanager
    async def nlg_service() -> AsyncIterator[Registration]:
        async with _dependencies(settings) as servicer:
            yield service_registration(
                nlg_pb2_grpc.add_NlgServiceServicer_to_server, servicer, nlg_pb2.DESCRIPTOR
            )

    return nlg_service
