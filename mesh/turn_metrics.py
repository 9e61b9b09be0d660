"""What a turn did, as metrics: latency, time to first text, outcome, writer, degraded parts, feedback.

Every metric here carries `cohort`: the rollout cohort of the user the turn was for (a short bounded string
computed from the feature flags, e.g. `rollout-on`), so the rollout dashboard and the launch gates compare
the cohorts side by side. The caller passes it; until a caller knows it, it passes `UNSET_COHORT`.
All labels are bounded enums: no user, conversation or message ids, no text.

Prometheus names (OTel's exporter adds the unit and `_total`):
  assist_turn_duration_seconds{cohort,outcome,writer}           histogram
  assist_turn_time_to_first_text_seconds{cohort}                histogram
  assist_turns_total{cohort,outcome,writer}                     counter (the availability SLO's events)
  assist_turn_degraded_components_total{cohort,agent}           counter (agent: the degraded part)
  assist_turn_intents_total{cohort,intent}                      counter (hand-off rate, top intents)
  assist_feedback_total{cohort,rating}                          counter (rating: up|down)
  assist_satisfaction_score{cohort}                             histogram of CSAT scores 1-5
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from assist.v1 import common_pb2, nlg_pb2
from opentelemetry import metrics

from mesh.red_metrics import DURATION_BUCKETS_S

UNSET_COHORT = "unset"
# Cohorts are short flag-derived names; anything else is folded so a bug cannot explode the series.
_MAX_COHORT_LEN = 32


class TurnOutcome(Enum):
    """How a turn ended, from the user's point of view (the availability SLO counts `failed` as bad)."""

    ANSWERED = "answered"  # a full answer, every agent answered
    DEGRADED = "degraded"  # an answer, with at least one component's degraded result
    BLOCKED = "blocked"  # the guard refused the message (a good outcome: the guard did its job)
    FAILED = "failed"  # no answer: the store was down, the turn broke or timed out


WRITERS: dict[int, str] = {
    nlg_pb2.WRITER_UNSPECIFIED: "none",
    nlg_pb2.WRITER_LOCAL: "local",
    nlg_pb2.WRITER_GEMINI: "gemini",
    nlg_pb2.WRITER_GEMINI_FALLBACK: "fallback",
    nlg_pb2.WRITER_CACHE: "cache",
}

_meter = metrics.get_meter("assist.turns")

TURN_DURATION = _meter.create_histogram(
    "assist.turn.duration",
    unit="s",
    description="Whole turn, from the request accepted to the answer stored, by cohort, outcome and writer.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
)
TIME_TO_FIRST_TEXT = _meter.create_histogram(
    "assist.turn.time_to_first_text",
    unit="s",
    description="From the request accepted to the first answer text sent, by cohort.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
)
TURNS = _meter.create_counter(
    "assist.turns", unit="{turn}", description="Turns ended, by cohort, outcome and writer."
)
DEGRADED_COMPONENTS = _meter.create_counter(
    "assist.turn.degraded_components",
    unit="{component}",
    description="Degraded results a turn used instead of an agent's answer, by cohort and component.",
)
INTENTS = _meter.create_counter(
    "assist.turn.intents", unit="{turn}", description="Turns by recognised intent (bounded enum), by cohort."
)
FEEDBACK = _meter.create_counter(
    "assist.feedback", unit="{rating}", description="Thumbs given to answers, by cohort and rating."
)
SATISFACTION = _meter.create_histogram(
    "assist.satisfaction.score",
    unit="1",
    description="Conversation satisfaction (CSAT) scores 1-5, by cohort.",
    explicit_bucket_boundaries_advisory=(1.0, 2.0, 3.0, 4.0, 5.0),
)


def cohort_label(cohort: str) -> str:
    """The cohort as given when it is short and non-empty; `unset` otherwise."""
    if not cohort or len(cohort) > _MAX_COHORT_LEN:
        return UNSET_COHORT
    return cohort


def writer_label(writer: int) -> str:
    return WRITERS.get(writer, "none")


def intent_label(intent: int) -> str:
    """`INTENT_HUMAN_HANDOFF` -> `human_handoff`."""
    try:
        name = common_pb2.Intent.Name(intent)  # type: ignore[arg-type]
    except ValueError:
        return "unknown"
    return name.removeprefix("INTENT_").lower()


def component_label(component: int) -> str:
    """`COMPONENT_NLG` -> `nlg`."""
    try:
        name = common_pb2.Component.Name(component)  # type: ignore[arg-type]
    except ValueError:
        return "unknown"
    return name.removeprefix("COMPONENT_").lower()


def record_turn(
    *,
    cohort: str,
    outcome: TurnOutcome,
    duration_s: float,
    writer: int = nlg_pb2.WRITER_UNSPECIFIED,
    degraded: Iterable[int] = (),
    intent: int | None = None,
) -> None:
    """One ended turn (called once per turn run, not for a replayed answer)."""
    labels = {"cohort": cohort_label(cohort), "outcome": outcome.value, "writer": writer_label(writer)}
    TURNS.add(1, labels)
    TURN_DURATION.record(duration_s, labels)
    for component in degraded:
        # `agent`, not `component`: Prometheus gives every series its process's `component` target label.
        DEGRADED_COMPONENTS.add(1, {"cohort": labels["cohort"], "agent": component_label(component)})
    if intent is not None:
        INTENTS.add(1, {"cohort": labels["cohort"], "intent": intent_label(intent)})


def record_first_text(*, cohort: str, seconds: float) -> None:
    TIME_TO_FIRST_TEXT.record(seconds, {"cohort": cohort_label(cohort)})


def record_feedback(*, cohort: str, thumbs_up: bool) -> None:
    FEEDBACK.add(1, {"cohort": cohort_label(cohort), "rating": "up" if thumbs_up else "down"})


def record_satisfaction(*, cohort: str, score: int) -> None:
    SATISFACTION.record(float(score), {"cohort": cohort_label(cohort)})
