"""One row of the chaos table per fault, and the table itself (printed, and written for the issue's note)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.chaos.load import ChatLoad, Message, is_retryable

NEVER_RECOVERED = "no fully answered turn after the fault was healed"


@dataclass
class ChaosRow:
    """What happened to the turns and their events while one fault came and went."""

    fault: str
    degraded_answer: bool
    sent: int
    answered: int
    answered_degraded: int
    resends: int
    failed_retryable: int
    failed_otherwise: int
    # Attempts that failed in any way, resent or not: must be 0 where a degraded answer exists.
    failed_attempts: int
    # Events: one per answered turn stored; records of them on Kafka; facts analytics holds.
    events_stored: int
    events_on_topic: int
    events_counted: int
    events_lost: int
    # Facts in the row's conversations for turns no client was answered with (a second turn for one
    # message, or a turn stored although its client saw it fail): counted twice from the user's side.
    events_doubled: int
    # Seconds from the start of heal() to the end of the first fully answered turn sent after it.
    recovery_s: float | None
    heal_s: float
    # What the failed turns ended in (for a failing row's message), and ratings for the feedback row.
    failure_kinds: dict[str, int]
    ratings: str = ""
    # Agents whose coordinator breaker stayed open after the row although they served (tests/chaos/breakers.py).
    stuck_breakers: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        """Why this row fails the suite; empty when it passes."""
        found = []
        if self.failed_otherwise:
            found.append(f"{self.failed_otherwise} turns failed otherwise: {self.failure_kinds}")
        if self.degraded_answer and self.failed_attempts:
            found.append(f"{self.failed_attempts} attempts failed where a degraded answer exists")
        if self.events_lost:
            found.append(f"{self.events_lost} events lost")
        if self.events_doubled:
            found.append(f"{self.events_doubled} events doubled")
        if self.recovery_s is None:
            found.append(NEVER_RECOVERED)
        if not self.answered:
            found.append("no turn answered at all")
        return found


def turn_figures(load: ChatLoad) -> dict[str, object]:
    """The turn columns of a row, from the messages the chats sent."""
    messages = load.messages
    failed = [m for m in messages if not m.answered]
    kinds: dict[str, int] = {}
    for m in messages:
        for attempt in m.attempts:
            if not attempt.done:
                kinds[attempt.failure] = kinds.get(attempt.failure, 0) + 1
    return {
        "sent": len(messages),
        "answered": sum(1 for m in messages if m.answered),
        "answered_degraded": sum(1 for m in messages if m.degraded),
        "resends": sum(m.resends for m in messages),
        "failed_retryable": sum(1 for m in failed if is_retryable(m.final)),
        "failed_otherwise": sum(1 for m in failed if not is_retryable(m.final)),
        "failed_attempts": sum(m.failed_attempts for m in messages),
        "failure_kinds": kinds,
    }


def rating_summary(messages: list[Message]) -> str:
    """'rated N: OK ok, R resent, F failed' for a row that rates its answers, else ''."""
    rated = [m for m in messages if m.ratings]
    if not rated:
        return ""
    ok = sum(1 for m in rated if m.ratings[-1] == 200)
    resent = sum(len(m.ratings) - 1 for m in rated)
    return f"rated {len(rated)}: {ok} stored, {resent} resent, {len(rated) - ok} failed"


HEADER = (
    "| fault | sent | answered | degraded | resends | failed (retryable) | failed (otherwise) "
    "| events stored / on Kafka / counted | lost | doubled | heal s | recovery s |"
)


def markdown(rows: list[ChaosRow], *, chats: int, seconds: float) -> str:
    """The table as the issue's note shows it, with how it was made."""

    def line(r: ChaosRow) -> str:
        recovery = f"{r.recovery_s:.1f}" if r.recovery_s is not None else "never"
        return (
            f"| {r.fault} | {r.sent} | {r.answered} | {r.answered_degraded} | {r.resends} "
            f"| {r.failed_retryable} | {r.failed_otherwise} "
            f"| {r.events_stored} / {r.events_on_topic} / {r.events_counted} | {r.events_lost} "
            f"| {r.events_doubled} | {r.heal_s:.1f} | {recovery} |"
        )

    notes = [f"- {r.fault}: {r.ratings}" for r in rows if r.ratings]
    notes += [
        f"- {r.fault}: the coordinator's breaker for {', '.join(r.stuck_breakers)} stayed open after the "
        "row although the agent served"
        for r in rows
        if r.stuck_breakers
    ]
    notes += [f"- {r.fault}: FAILS: {'; '.join(r.problems)}" for r in rows if r.problems]
    return "\n".join(
        [
            f"Chaos under load: {chats} concurrent chats through the edge (HTTP + SSE, Gemini writer on the "
            f"fake Gemini), one fault per row; {seconds:.0f} s in all.",
            "",
            HEADER,
            "|" + "---|" * (HEADER.count("|") - 1),
            *(line(r) for r in rows),
            "",
            "degraded: answered without some part (degradedComponents) or by a writer other than Gemini. "
            "resends: a retryable failure sent again with the same client_message_id (answered on resend "
            "counts as answered). recovery: from the start of the heal to the end of the first fully "
            "answered turn sent after it; heal: how long the restart took.",
            *(["", *notes] if notes else []),
            "",
        ]
    )


def write_table(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
