"""The usability report's arithmetic on hand-made facts: SUS scoring, attempts, latest answers, hand-offs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from assist.v1 import common_pb2, nlg_pb2

from analytics.sus import band, sus_score
from analytics.usability import load_tasks, render_text
from analytics.usability_figures import ABANDONED, STARTED, SUCCEEDED, SUS_ANSWERED, compute_figures
from analytics.usability_html import render_html

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
_n = 0


def fact(kind: str, at: float, **fields: Any) -> dict[str, Any]:
    global _n
    _n += 1
    return {"_id": f"e{_n}", "kind": kind, "occur_time": T0 + timedelta(seconds=at), **fields}


def study(
    user: str, record_kind: int, at: float, task: str = "", answers: list[int] | None = None
) -> dict[str, Any]:
    return fact("study", at, user_id=user, session_id=f"s-{user}", record_kind=record_kind, task_id=task,
                sus_answers=answers or [])  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "score"),
    [
        ([5, 1] * 5, 100.0),
        ([1, 5] * 5, 0.0),
        ([3] * 10, 50.0),
        ([4, 2, 4, 2, 4, 2, 4, 2, 4, 2], 75.0),
        ([5, 2, 4, 1, 4, 2, 5, 1, 4, 3], 82.5),  # (4+3+3+4+3) + (3+4+3+4+2) = 33 -> 82.5
    ],
)
def test_sus_score_uses_the_standard_odd_even_scoring(answers: list[int], score: float) -> None:
    assert sus_score(answers) == score


def test_sus_refuses_answers_that_are_not_ten_values_from_1_to_5() -> None:
    with pytest.raises(ValueError):
        sus_score([3] * 9)
    with pytest.raises(ValueError):
        sus_score([0] + [3] * 9)


def test_sus_bands_follow_the_acceptability_ranges() -> None:
    assert [band(s) for s in (49.9, 50.0, 69.9, 70.0)] == [
        "not acceptable",
        "marginal",
        "marginal",
        "acceptable",
    ]


def _facts() -> list[dict[str, Any]]:
    up, down = int(common_pb2.FEEDBACK_RATING_UP), int(common_pb2.FEEDBACK_RATING_DOWN)
    local = int(nlg_pb2.WRITER_LOCAL)
    return [
        study("a", STARTED, 0, "late-this-week"),
        study("a", SUCCEEDED, 40, "late-this-week"),
        study("a", STARTED, 50, "who-blocks"),
        study("a", ABANDONED, 80, "who-blocks"),
        study("a", SUS_ANSWERED, 90, answers=[1, 5] * 5),
        study("a", SUS_ANSWERED, 95, answers=[5, 1] * 5),  # answered again: the last one counts
        study("b", STARTED, 0, "late-this-week"),  # never ended: unfinished
        fact("interaction", 1, user_id="a", turn_id="m1", intent=int(common_pb2.INTENT_TASKS_OVERDUE),
             writer=local, degraded=False),
        fact("interaction", 2, user_id="a", turn_id="m2", intent=int(common_pb2.INTENT_HUMAN_HANDOFF),
             writer=local, degraded=True),
        fact("interaction", 3, user_id="outsider", turn_id="m3", intent=int(common_pb2.INTENT_HELP),
             writer=local, degraded=False),
        fact("feedback", 4, user_id="a", message_id="m1", rating=up),
        fact("feedback", 5, user_id="a", message_id="m1", rating=down),
        fact("feedback", 6, user_id="a", message_id="m2", rating=up),
        fact("satisfaction", 7, user_id="a", conversation_id="c1", score=5),
        fact("satisfaction", 8, user_id="b", conversation_id="c2", score=3),
    ]  # fmt: skip


def test_figures_count_attempts_latest_answers_and_only_participants() -> None:
    f = compute_figures(_facts(), task_order=["who-blocks", "late-this-week"])
    assert f.participants == ["a", "b"] and f.sessions == 2
    assert f.sus_scores == [100.0]
    assert [(a.user_id, a.task_id, a.outcome, a.seconds) for a in f.attempts] == [
        ("a", "late-this-week", "succeeded", 40.0),
        ("a", "who-blocks", "abandoned", 30.0),
        ("b", "late-this-week", "unfinished", None),
    ]
    assert f.completion_rate == 1 / 3
    assert [t.task_id for t in f.tasks] == ["who-blocks", "late-this-week"]
    assert f.turns == 2, "the outsider's turn is not the study's"
    assert (f.handoff_turns, f.handoff_rate, f.degraded_turns) == (1, 0.5, 1)
    assert (f.thumbs_up, f.thumbs_down, f.thumbs_ratio) == (1, 1, 0.5)
    assert dict(f.thumbs_down_by_intent) == {"tasks_overdue": 1}
    assert f.csat_scores == [3, 5] and f.csat == 0.5
    assert dict(f.writers) == {"local": 2}
    assert compute_figures(_facts(), all_users=True).turns == 3


def test_report_renders_as_text_and_as_html_with_matplotlib_pngs_only() -> None:
    f = compute_figures(_facts())
    text = render_text(f, load_tasks(), "test period")
    assert "overall: 33.3 % of 3 attempts" in text
    assert "hand-off rate: 50.0 % (1 turns asked for a person" in text
    page = render_html(f, load_tasks(), "test period")
    assert page.count('src="data:image/png;base64,') == 5
    assert "<svg" not in page and "<script" not in page
    assert "hand-off rate: turns whose intent is INTENT_HUMAN_HANDOFF" in page


def test_study_tasks_file_has_both_languages_for_every_task() -> None:
    tasks = load_tasks()
    assert 5 <= len(tasks) <= 6 and len({t.task_id for t in tasks}) == len(tasks)
    assert all(set(t.title) == {"en", "pt-BR"} for t in tasks)
