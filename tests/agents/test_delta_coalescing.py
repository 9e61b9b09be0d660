"""Coalescing the writer's deltas: fewer messages, the same text, nothing held back or lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from assist.v1 import nlg_pb2

from agents.nlg.coalesce import coalesce_deltas

Message = nlg_pb2.StreamGenerateResponse


async def _words(
    words: list[str], *, gap_s: float = 0.0, fail_after: int | None = None
) -> AsyncIterator[Message]:
    for i, word in enumerate(words):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("the writer broke off")
        if gap_s:
            await asyncio.sleep(gap_s)
        yield Message(delta=word)
    yield Message(done=True, info=nlg_pb2.GenerationInfo(writer=nlg_pb2.WRITER_LOCAL))


async def _collect(source: AsyncIterator[Message]) -> list[Message]:
    return [m async for m in source]


async def test_a_fast_writer_s_words_travel_in_a_few_messages_with_the_same_text() -> None:
    words = [f"word{i} " for i in range(200)]
    out = await _collect(coalesce_deltas(_words(words), max_chars=160, max_delay_s=0.04))
    text = "".join(m.delta for m in out)
    assert text == "".join(words)
    assert out[-1].done and out[-1].info.writer == nlg_pb2.WRITER_LOCAL
    deltas = [m for m in out if m.delta]
    assert len(deltas) <= len(text) // 160 + 1
    assert all(len(m.delta) < 160 + 10 for m in deltas)


async def test_a_slow_writer_s_text_is_not_held_longer_than_the_delay() -> None:
    seen: list[tuple[float, str]] = []
    started = time.monotonic()
    async for message in coalesce_deltas(_words(["a ", "b ", "c "], gap_s=0.15), max_delay_s=0.03):
        if message.delta:
            seen.append((time.monotonic() - started, message.delta))
    assert [d for _, d in seen] == ["a ", "b ", "c "]
    # each word leaves within the delay of its arrival (0.15 s apart), well before the next one arrives
    for i, (at, _) in enumerate(seen):
        assert at < 0.15 * (i + 1) + 0.1


async def test_text_held_when_the_writer_fails_is_sent_before_the_failure() -> None:
    out: list[Message] = []
    with pytest.raises(RuntimeError, match="broke off"):
        async for message in coalesce_deltas(_words(["one ", "two ", "three "], fail_after=2), max_delay_s=5):
            out.append(message)
    assert "".join(m.delta for m in out) == "one two "
    assert not any(m.done for m in out)
