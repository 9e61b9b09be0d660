"""The fake Gemini's outage switch, as the model client sees it: the chaos suite relies on each mode."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from google.genai import types

from mesh.llm import LlmUnavailable, StreamInterrupted
from testing.gemini_server import FakeGemini, answer
from tests.agents.conftest import FALLBACK, PRIMARY
from tests.agents.test_llm_client import Build

CONTENTS = [types.Content(role="user", parts=[types.Part(text="hello")])]
CONFIG = types.GenerateContentConfig(system_instruction="Be brief.")


@pytest.mark.parametrize("mode", ["429", "500"])
async def test_an_error_outage_fails_every_model_until_it_ends(
    fake_gemini: FakeGemini, llm_client: Build, mode: str
) -> None:
    fake_gemini.script(answer("scripted, but the outage wins"))
    fake_gemini.set_outage(mode)  # type: ignore[arg-type]
    client = llm_client()
    with pytest.raises(LlmUnavailable, match=mode):
        await client.open_stream(CONTENTS, CONFIG, time.monotonic() + 5)
    tried = {r.model for r in fake_gemini.requests}
    assert tried == {PRIMARY, FALLBACK}
    fake_gemini.set_outage("none")
    stream = await client.open_stream(CONTENTS, CONFIG, time.monotonic() + 5)
    assert [c async for c in stream.chunks()] == ["scripted, but the outage wins"]


async def test_a_hang_outage_answers_nothing_until_the_client_gives_up(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.set_outage("hang")
    deadline = time.monotonic() + 1.5
    with pytest.raises(LlmUnavailable, match="TimeoutError"):
        await llm_client().open_stream(CONTENTS, CONFIG, deadline)
    assert time.monotonic() < deadline + 0.2


async def test_a_request_held_by_a_hang_is_answered_once_the_outage_ends(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.set_outage("hang")
    opening = asyncio.create_task(llm_client().open_stream(CONTENTS, CONFIG, time.monotonic() + 5))
    await asyncio.sleep(0.5)
    assert not opening.done()
    fake_gemini.set_outage("none")
    stream = await opening
    assert "".join([c async for c in stream.chunks()]).startswith("Hello")


async def test_a_cut_outage_breaks_every_stream_after_its_first_chunk(
    fake_gemini: FakeGemini, llm_client: Build
) -> None:
    fake_gemini.set_outage("cut")
    stream = await llm_client().open_stream(CONTENTS, CONFIG, time.monotonic() + 5)
    received = []
    with pytest.raises(StreamInterrupted):
        async for chunk in stream.chunks():
            received.append(chunk)
    assert received == ["Hello "]


async def test_another_process_switches_the_outage_over_http(fake_gemini: FakeGemini) -> None:
    async with httpx.AsyncClient(base_url=fake_gemini.base_url) as client:
        switched = await client.put("/_fake/outage", json={"mode": "500"})
        assert switched.json() == {"mode": "500"} and fake_gemini.outage == "500"
        refused = await client.put("/_fake/outage", json={"mode": "sometimes"})
        assert refused.status_code == 400 and fake_gemini.outage == "500"
        await client.put("/_fake/outage", json={"mode": "none"})
        assert (await client.get("/_fake/outage")).json() == {"mode": "none"}
