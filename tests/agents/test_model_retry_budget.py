"""The model client's retry budget (gRFC A6's rule, mesh/retry_budget.py) against the fake Gemini server."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from google.genai import types

from mesh.llm import LlmClient, LlmUnavailable
from mesh.retry_budget import RetryBudget
from testing.gemini_server import FakeGemini, error
from tests.agents.conftest import PRIMARY

CONTENTS = [types.Content(role="user", parts=[types.Part(text="hello")])]
CONFIG = types.GenerateContentConfig(system_instruction="Be brief.")


def test_the_budget_refuses_retries_below_half_and_refills_with_successes() -> None:
    budget = RetryBudget(max_tokens=4, token_ratio=0.5)
    budget.record_failure()
    assert budget.may_retry()
    budget.record_failure()
    assert not budget.may_retry(), "at half the bucket: no retry"
    budget.record_success()
    assert budget.may_retry()


@pytest.mark.parametrize(("budget_tokens", "most_primary_requests"), [(10.0, 10 + 6), (1000.0, 30)])
async def test_retry_budget_stops_model_retries_when_most_attempts_fail(
    fake_gemini: FakeGemini,
    llm_client: Callable[..., LlmClient],
    budget_tokens: float,
    most_primary_requests: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every answer fails: with the budget, retries stop after a handful; a huge budget is the control."""
    # The fake server is shared by the session and `reset()` keeps its responder: put it back after.
    monkeypatch.setattr(fake_gemini, "responder", lambda _: error(503))
    client = llm_client(
        gemini_retry_budget_tokens=budget_tokens, gemini_backoff_initial_s=0.01, gemini_backoff_max_s=0.02
    )
    for _ in range(10):
        with pytest.raises(LlmUnavailable):
            await client.open_stream(CONTENTS, CONFIG, time.monotonic() + 10)
    primary = len(fake_gemini.requests_for(PRIMARY))
    print(f"\n10 requests, the model always 503, retry budget {budget_tokens:g} tokens: {primary} attempts")
    assert primary <= most_primary_requests
    if budget_tokens == 1000.0:
        assert primary == 30, "without a budget each request makes 3 attempts"
