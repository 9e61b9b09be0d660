"""How the load driver classifies a turn: done, refused by admission control, or failed (and how)."""

from __future__ import annotations

from bench.sse import REFUSED, TurnOutcome
from testing.sse import parse_sse


def test_a_turn_ending_in_done_is_not_a_failure() -> None:
    outcome = TurnOutcome(0.1, 200, ["accepted", "intent", "delta", "delta", "done"])
    assert outcome.done and outcome.failure == "" and outcome.deltas == 2


def test_503_with_retry_after_is_a_refusal_and_other_http_errors_are_failures() -> None:
    assert TurnOutcome(0.01, 503, retry_after_s=2, error_code="UNAVAILABLE").failure == REFUSED
    assert TurnOutcome(0.01, 503, error_code="UNAVAILABLE").failure == "HTTP 503 UNAVAILABLE"
    assert TurnOutcome(0.01, 429, retry_after_s=1, error_code="RESOURCE_EXHAUSTED").failure.startswith(
        "HTTP 429"
    )


def test_an_sse_error_event_is_a_failure_named_by_its_code() -> None:
    outcome = TurnOutcome(0.2, 200, ["accepted", "error"], error_code="UNAVAILABLE")
    assert outcome.failure == "SSE error UNAVAILABLE"


def test_a_stream_cut_before_done_is_a_failure() -> None:
    assert TurnOutcome(0.2, 200, ["accepted", "delta"]).failure == "stream ended without done"
    assert TurnOutcome(0.2, 0, transport_error="ReadTimeout").failure == "transport: ReadTimeout"


def test_events_are_parsed_with_a_final_event_lacking_its_blank_line() -> None:
    lines = ["event: accepted", 'data: {"userMessageId":"u"}', "", "event: done", 'data: {"text":"hi"}']
    assert parse_sse(lines) == [("accepted", {"userMessageId": "u"}), ("done", {"text": "hi"})]
