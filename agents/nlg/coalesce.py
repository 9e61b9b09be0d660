"""Coalescing an answer's text deltas: fewer, larger messages between the writer and the browser.

A writer streams a word or a token at a time. Passed on one by one, each becomes a gRPC message to the
coordinator, another to the edge and an SSE event to the browser: three serialisations, three writes and
three wake-ups per word, which was most of the mesh's CPU per turn with the local writer. People read no
faster than a few words per 100 ms, so text is held for at most `max_delay_s` (or until `max_chars`
gather) and sent as one delta; the first text is not held longer than that, and the end of the answer
(the `done` message) or a failure of the writer flushes what is held first, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from assist.v1 import nlg_pb2

MAX_CHARS = 160
MAX_DELAY_S = 0.04


async def coalesce_deltas(
    source: AsyncIterator[nlg_pb2.StreamGenerateResponse],
    *,
    max_chars: int = MAX_CHARS,
    max_delay_s: float = MAX_DELAY_S,
) -> AsyncIterator[nlg_pb2.StreamGenerateResponse]:
    """The same stream with runs of text-only messages merged; order and the final `done` are kept."""
    loop = asyncio.get_running_loop()
    held: list[str] = []
    held_chars = 0
    flush_at = 0.0
    pending: asyncio.Future[nlg_pb2.StreamGenerateResponse] | None = None

    def take() -> nlg_pb2.StreamGenerateResponse:
        nonlocal held, held_chars
        message = nlg_pb2.StreamGenerateResponse(delta="".join(held))
        held, held_chars = [], 0
        return message

    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            if held:
                done, _ = await asyncio.wait({pending}, timeout=max(0.0, flush_at - loop.time()))
                if not done:  # the writer is slower than the reader: send what is held now
                    yield take()
                    continue
            try:
                message = await pending
            except StopAsyncIteration:
                if held:
                    yield take()
                return
            except BaseException:
                if held:
                    yield take()
                raise
            finally:
                if pending.done():
                    pending = None
            if message.delta and not message.done and not message.HasField("info"):
                if not held:
                    flush_at = loop.time() + max_delay_s
                held.append(message.delta)
                held_chars += len(message.delta)
                if held_chars >= max_chars:
                    yield take()
                continue
            if held:
                yield take()
            yield message
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
