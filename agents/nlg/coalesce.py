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


class _Held:
    """Text held back: its pieces, their length, and when it must leave at the latest."""

    def __init__(self, max_delay_s: float) -> None:
        self._max_delay_s = max_delay_s
        self._parts: list[str] = []
        self.chars = 0
        self.flush_at = 0.0

    def __bool__(self) -> bool:
        return bool(self._parts)

    def add(self, text: str, now: float) -> None:
        if not self._parts:
            self.flush_at = now + self._max_delay_s
        self._parts.append(text)
        self.chars += len(text)

    def take(self) -> nlg_pb2.StreamGenerateResponse:
        message = nlg_pb2.StreamGenerateResponse(delta="".join(self._parts))
        self._parts, self.chars = [], 0
        return message


def _text_only(message: nlg_pb2.StreamGenerateResponse) -> bool:
    return bool(message.delta) and not message.done and not message.HasField("info")


async def coalesce_deltas(
    source: AsyncIterator[nlg_pb2.StreamGenerateResponse],
    *,
    max_chars: int = MAX_CHARS,
    max_delay_s: float = MAX_DELAY_S,
) -> AsyncIterator[nlg_pb2.StreamGenerateResponse]:
    """The same stream with runs of text-only messages merged; order and the final `done` are kept."""
    loop = asyncio.get_running_loop()
    held = _Held(max_delay_s)
    pending: asyncio.Future[nlg_pb2.StreamGenerateResponse] | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(source))
            if held:
                done, _ = await asyncio.wait({pending}, timeout=max(0.0, held.flush_at - loop.time()))
                if not done:  # the writer is slower than the reader: send what is held now
                    yield held.take()
                    continue
            try:
                message = await pending
            except BaseException:  # the end of the answer, or the writer failed: what is held goes first
                if held:
                    yield held.take()
                raise
            finally:
                if pending.done():
                    pending = None
            if _text_only(message):
                held.add(message.delta, loop.time())
                if held.chars >= max_chars:
                    yield held.take()
                continue
            if held:
                yield held.take()
            yield message
    except StopAsyncIteration:
        return
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
