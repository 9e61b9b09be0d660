"""The daily token budget's day (mesh/token_budget.py): one key per user and UTC day, renewed at midnight UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mesh.token_budget import DailyTokenBudget, seconds_to_midnight_utc


def test_the_wait_runs_to_the_next_midnight_utc_whatever_the_callers_zone() -> None:
    assert seconds_to_midnight_utc(datetime(2026, 12, 2, 23, 59, 30, tzinfo=UTC)) == 30
    assert seconds_to_midnight_utc(datetime(2026, 12, 2, 0, 0, 0, tzinfo=UTC)) == 86400
    sao_paulo = timezone(timedelta(hours=-3))
    assert seconds_to_midnight_utc(datetime(2026, 12, 2, 20, 0, 0, tzinfo=sao_paulo)) == 3600


def test_the_key_names_the_user_and_the_utc_day() -> None:
    budget = DailyTokenBudget(None, 1000)
    late_in_brazil = datetime(2026, 12, 2, 22, 30, tzinfo=timezone(timedelta(hours=-3)))
    assert budget.key("ana", late_in_brazil) == "assist:tokens:ana:2026-12-03"


async def test_without_redis_nothing_is_counted_and_nobody_is_refused() -> None:
    budget = DailyTokenBudget(None, 10)
    await budget.spend("ana", 50)
    assert not await budget.exhausted("ana")
