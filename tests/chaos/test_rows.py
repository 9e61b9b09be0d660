"""Which chaos rows run: CI's subset is made of real rows and covers every kind of fault."""

from __future__ import annotations

import pytest

from tests.chaos.faults import CI_ROWS, FAULTS, selected_rows


def test_the_ci_rows_are_rows_and_cover_every_kind_of_fault() -> None:
    assert set(CI_ROWS) <= set(FAULTS)
    kinds = {name.split("-")[0] for name in CI_ROWS}
    assert kinds == {name.split("-")[0] for name in FAULTS}  # kill, stop, redis, kafka, mongo, gemini


def test_rows_are_chosen_by_name_or_all_and_an_unknown_name_is_refused() -> None:
    assert selected_rows("") == list(CI_ROWS)
    assert selected_rows("all") == list(FAULTS)
    assert selected_rows("kill-nlu, gemini-hang") == ["kill-nlu", "gemini-hang"]
    with pytest.raises(ValueError, match="kill-nope"):
        selected_rows("kill-nope")
