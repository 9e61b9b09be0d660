"""The breaker's rules on a clock the test moves: rate window, minimum of calls, bounded half-open probes."""

from __future__ import annotations

import pytest

from coordinator.circuit_breaker import (
    STATE_VALUES,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    _observe_states,
)

POLICY = BreakerPolicy(window=10, min_calls=5, failure_rate=0.5, open_for_s=5.0, probes=2)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock, name: str = "nlu") -> CircuitBreaker:
    return CircuitBreaker(name, POLICY, clock=clock)


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(POLICY.min_calls):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN


def test_failures_below_the_minimum_of_calls_do_not_open_it() -> None:
    breaker = _breaker(Clock())
    for _ in range(POLICY.min_calls - 1):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_a_low_failure_rate_keeps_it_closed_and_a_high_one_opens_it() -> None:
    breaker = _breaker(Clock())
    for _ in range(3):
        breaker.record_success()
        breaker.record_success()
        breaker.record_failure()  # one in three
    assert breaker.state is BreakerState.CLOSED
    for _ in range(3):
        breaker.record_failure()  # the last 10: 4 successes, 6 failures
    assert breaker.state is BreakerState.OPEN  # type: ignore[comparison-overlap]
    assert not breaker.allow()


def test_old_outcomes_leave_the_window() -> None:
    breaker = _breaker(Clock())
    for _ in range(4):
        breaker.record_failure()
    for _ in range(POLICY.window):
        breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED, "the four old failures are out of the window"


def test_half_open_lets_a_bounded_number_of_probes_through_and_closes_after_they_succeed() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    _open(breaker)
    clock.now += POLICY.open_for_s
    assert breaker.state is BreakerState.HALF_OPEN
    assert [breaker.allow() for _ in range(4)] == [True, True, False, False]
    breaker.record_success()
    assert breaker.state is BreakerState.HALF_OPEN, "one probe of two is not enough"
    assert breaker.allow(), "a finished probe frees its place"
    breaker.record_success()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED, "closing starts an empty window"


def test_a_failed_probe_opens_it_for_another_full_period() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    _open(breaker)
    clock.now += POLICY.open_for_s
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += POLICY.open_for_s - 0.1
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_late_outcomes_of_calls_from_before_it_opened_are_not_probes() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    _open(breaker)
    for _ in range(5):
        breaker.record_success()  # slow calls sent while it was closed
    clock.now += POLICY.open_for_s
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_cancelled_probe_frees_its_place_without_a_verdict() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    _open(breaker)
    clock.now += POLICY.open_for_s
    assert breaker.allow() and breaker.allow() and not breaker.allow()
    breaker.record_cancelled()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()


def test_the_state_metric_reports_each_breaker_by_name() -> None:
    clock = Clock()
    opened, closed = _breaker(clock, "metric-probe-open"), _breaker(clock, "metric-probe-closed")
    _open(opened)
    states = {o.attributes["agent"]: o.value for o in _observe_states(None) if o.attributes}  # type: ignore[arg-type]
    assert states["metric-probe-open"] == STATE_VALUES[BreakerState.OPEN]
    assert states["metric-probe-closed"] == STATE_VALUES[BreakerState.CLOSED]
    assert closed.allow()


def test_an_inconsistent_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        BreakerPolicy(window=5, min_calls=10)


def test_opening_is_logged_at_error_level_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    breaker = _breaker(Clock(), "store")
    with caplog.at_level("INFO", logger="coordinator.circuit_breaker"):
        _open(breaker)
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.breaker == "store" and record.failure_rate == 1.0 and record.calls == POLICY.min_calls  # type: ignore[attr-defined]
