"""The usability study's figures, computed from analytics facts (events), never from the live tables.

Input: the fact documents the analytics consumer stored (`analytics_events`, one per event, see
analytics/consumer.py). The study's records say who took part; by default every other figure (thumbs,
CSAT, intents, writers, hand-offs) is restricted to those participants, so the report describes the study
and not the whole product.

Definitions (the report prints them too):
- task attempt: one study session's task, from its first "started" to its last outcome (succeeded or
  abandoned); an attempt with no outcome is "unfinished" and counts as not completed;
- completion rate: succeeded attempts / attempts; time on task: outcome time - start time, over succeeded
  attempts (abandoned ones are shown apart);
- SUS: each session's last questionnaire, scored the standard way (analytics/sus.py);
- thumbs ratio: thumbs up / rated answers, by each answer's latest rating;
- CSAT: share of rated conversations scoring 4 or 5 (of 5), by each conversation's latest score;
- hand-off rate: turns whose intent is INTENT_HUMAN_HANDOFF (the user asked for a person, and the answer
  tells them support will reach out) / turns. Degraded turns (a part of the mesh answered in its fallback
  mode) are a separate figure: the product does not hand those to a person.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assist.v1 import common_pb2, coordinator_pb2, nlg_pb2

from analytics.sus import band, sus_score

Fact = dict[str, Any]

STARTED = int(coordinator_pb2.STUDY_RECORD_KIND_TASK_STARTED)
SUCCEEDED = int(coordinator_pb2.STUDY_RECORD_KIND_TASK_SUCCEEDED)
ABANDONED = int(coordinator_pb2.STUDY_RECORD_KIND_TASK_ABANDONED)
SUS_ANSWERED = int(coordinator_pb2.STUDY_RECORD_KIND_SUS_ANSWERED)
UP = int(common_pb2.FEEDBACK_RATING_UP)
DOWN = int(common_pb2.FEEDBACK_RATING_DOWN)
HANDOFF = int(common_pb2.INTENT_HUMAN_HANDOFF)


def intent_name(value: int) -> str:
    """`INTENT_TASKS_OVERDUE` -> `tasks_overdue` (unknown numbers stay numbers)."""
    try:
        return common_pb2.Intent.Name(value).removeprefix("INTENT_").lower()  # type: ignore[arg-type]
    except ValueError:
        return str(value)


def writer_name(value: int) -> str:
    """`WRITER_GEMINI_FALLBACK` -> `gemini_fallback`."""
    try:
        return nlg_pb2.Writer.Name(value).removeprefix("WRITER_").lower()  # type: ignore[arg-type]
    except ValueError:
        return str(value)


@dataclass(frozen=True)
class Attempt:
    """One session's try at one task."""

    user_id: str
    session_id: str
    task_id: str
    outcome: str  # "succeeded" | "abandoned" | "unfinished"
    seconds: float | None  # outcome time - start time; None when unfinished


@dataclass(frozen=True)
class TaskFigures:
    task_id: str
    attempts: int
    succeeded: int
    abandoned: int
    unfinished: int
    success_seconds: list[float]
    abandoned_seconds: list[float]

    @property
    def completion_rate(self) -> float:
        return self.succeeded / self.attempts if self.attempts else 0.0


@dataclass
class UsabilityFigures:
    """Everything the report shows; plain numbers, so tests compare them with what was sent."""

    participants: list[str]
    sessions: int
    attempts: list[Attempt]
    tasks: list[TaskFigures]
    sus_scores: list[float]
    turns: int = 0
    degraded_turns: int = 0
    handoff_turns: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    csat_scores: list[int] = field(default_factory=list)
    intents: Counter[str] = field(default_factory=Counter)
    thumbs_down_by_intent: Counter[str] = field(default_factory=Counter)
    writers: Counter[str] = field(default_factory=Counter)

    @property
    def completion_rate(self) -> float:
        done = sum(1 for a in self.attempts if a.outcome == "succeeded")
        return done / len(self.attempts) if self.attempts else 0.0

    @property
    def success_seconds(self) -> list[float]:
        return [a.seconds for a in self.attempts if a.outcome == "succeeded" and a.seconds is not None]

    @property
    def sus_mean(self) -> float:
        return statistics.fmean(self.sus_scores) if self.sus_scores else 0.0

    @property
    def sus_bands(self) -> Counter[str]:
        return Counter(band(s) for s in self.sus_scores)

    @property
    def thumbs_ratio(self) -> float:
        rated = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / rated if rated else 0.0

    @property
    def csat(self) -> float:
        return sum(1 for s in self.csat_scores if s >= 4) / len(self.csat_scores) if self.csat_scores else 0.0

    @property
    def handoff_rate(self) -> float:
        return self.handoff_turns / self.turns if self.turns else 0.0

    @property
    def degraded_rate(self) -> float:
        return self.degraded_turns / self.turns if self.turns else 0.0


def _latest_by(facts: Iterable[Fact], key: str) -> dict[Any, Fact]:
    """The latest fact per `key` by occur time (a changed mind counts with its last answer)."""
    latest: dict[Any, Fact] = {}
    for fact in sorted(facts, key=lambda f: (f["occur_time"], f["_id"])):
        latest[fact[key]] = fact
    return latest


def _attempts(study: list[Fact]) -> list[Attempt]:
    starts: dict[tuple[str, str, str], datetime] = {}
    outcomes: dict[tuple[str, str, str], Fact] = {}
    for fact in sorted(study, key=lambda f: (f["occur_time"], f["_id"])):
        key = (fact["user_id"], fact["session_id"], fact["task_id"])
        if fact["record_kind"] == STARTED:
            starts.setdefault(key, fact["occur_time"])
        elif fact["record_kind"] in (SUCCEEDED, ABANDONED):
            outcomes[key] = fact
    attempts = []
    for key, started in sorted(starts.items()):
        outcome = outcomes.get(key)
        if outcome is None:
            attempts.append(Attempt(*key, outcome="unfinished", seconds=None))
            continue
        kind = "succeeded" if outcome["record_kind"] == SUCCEEDED else "abandoned"
        seconds = (outcome["occur_time"] - started).total_seconds()
        attempts.append(Attempt(*key, outcome=kind, seconds=seconds))
    return attempts


def _task_figures(attempts: list[Attempt], task_order: list[str]) -> list[TaskFigures]:
    by_task: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        by_task[attempt.task_id].append(attempt)
    order = [t for t in task_order if t in by_task] + sorted(t for t in by_task if t not in task_order)
    out = []
    for task_id in order:
        group = by_task[task_id]
        out.append(
            TaskFigures(
                task_id=task_id,
                attempts=len(group),
                succeeded=sum(1 for a in group if a.outcome == "succeeded"),
                abandoned=sum(1 for a in group if a.outcome == "abandoned"),
                unfinished=sum(1 for a in group if a.outcome == "unfinished"),
                success_seconds=[
                    a.seconds for a in group if a.outcome == "succeeded" and a.seconds is not None
                ],
                abandoned_seconds=[
                    a.seconds for a in group if a.outcome == "abandoned" and a.seconds is not None
                ],
            )
        )
    return out


def compute_figures(
    facts: Iterable[Fact], *, task_order: list[str] | None = None, all_users: bool = False
) -> UsabilityFigures:
    """The figures of the facts given (any days, any kinds; unknown kinds are ignored)."""
    by_kind: dict[str, list[Fact]] = defaultdict(list)
    for fact in facts:
        by_kind[str(fact.get("kind"))].append(fact)
    study = by_kind["study"]
    participants = sorted({f["user_id"] for f in study})
    who = set(participants)

    def keep(fact: Fact) -> bool:
        return all_users or fact.get("user_id") in who

    questionnaires = _latest_by((f for f in study if f["record_kind"] == SUS_ANSWERED), "session_id").values()
    attempts = _attempts([f for f in study if f["record_kind"] != SUS_ANSWERED])
    figures = UsabilityFigures(
        participants=participants,
        sessions=len({(f["user_id"], f["session_id"]) for f in study}),
        attempts=attempts,
        tasks=_task_figures(attempts, task_order or []),
        sus_scores=sorted(sus_score(q["sus_answers"]) for q in questionnaires),
    )

    turns = [f for f in by_kind["interaction"] if keep(f)]
    intent_of_turn = {f["turn_id"]: intent_name(f["intent"]) for f in turns}
    figures.turns = len(turns)
    figures.degraded_turns = sum(1 for f in turns if f.get("degraded"))
    figures.handoff_turns = sum(1 for f in turns if f["intent"] == HANDOFF)
    figures.intents = Counter(intent_name(f["intent"]) for f in turns)
    figures.writers = Counter(writer_name(f["writer"]) for f in turns)

    ratings = _latest_by((f for f in by_kind["feedback"] if keep(f)), "message_id").values()
    figures.thumbs_up = sum(1 for f in ratings if f["rating"] == UP)
    figures.thumbs_down = sum(1 for f in ratings if f["rating"] == DOWN)
    figures.thumbs_down_by_intent = Counter(
        intent_of_turn.get(f["message_id"], "unknown (turn outside the window)")
        for f in ratings
        if f["rating"] == DOWN
    )
    scores = _latest_by((f for f in by_kind["satisfaction"] if keep(f)), "conversation_id").values()
    figures.csat_scores = sorted(int(f["score"]) for f in scores)
    return figures
