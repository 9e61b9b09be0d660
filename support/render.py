"""Plain-text tables and blocks for a person at a terminal (`--json` gives tools the same data).

Plain text rather than a terminal UI library: the output is pasted into tickets and e-mails, read over SSH
and in CronJob logs, where colour codes and box drawing become noise.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from support.conversations import ConversationSummary, ConversationView, TurnView


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, a rule under the header."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join([line.rstrip(), "  ".join("-" * w for w in widths), *body])


def conversations(found: Sequence[ConversationSummary]) -> str:
    if not found:
        return "no conversation found"
    rows = [[c.conversation_id, c.user_id, c.created_at[:19], str(c.turns), c.task_id] for c in found]
    return table(["conversation", "user", "created (UTC)", "turns", "task"], rows)


def _indent(text: str, width: int = 100) -> str:
    lines = text.splitlines() or [""]
    wrapped = [w for line in lines for w in (textwrap.wrap(line, width - 6) or [""])]
    return "\n".join("      " + w for w in wrapped)


def _turn(n: int, turn: TurnView, highlight: str) -> str:
    mark = "  <== this message" if highlight in (turn.message_id, turn.user_message_id) and highlight else ""
    degraded = ",".join(turn.degraded) or "-"
    feedback = "-"
    if turn.feedback is not None:
        feedback = turn.feedback.rating + (f' "{turn.feedback.comment}"' if turn.feedback.comment else "")
    return "\n".join(
        [
            f"[{n}] {turn.created_at[:19]}  {turn.state}{mark}",
            f"    message id  {turn.message_id}   (user message {turn.user_message_id})",
            f"    intent {turn.intent}  language {turn.language}  writer {turn.writer}  degraded {degraded}",
            f"    prompt {turn.prompt_version or '-'}  model {turn.model or '-'}  trace {turn.trace_id or '-'}",
            f"    feedback {feedback}",
            "    user:",
            _indent(turn.question),
            "    assistant:",
            _indent(turn.answer),
        ]
    )


def conversation(view: ConversationView, *, highlight: str = "") -> str:
    s = view.summary
    head = [
        f"conversation {s.conversation_id}",
        f"  user {s.user_id}  created {s.created_at[:19]} UTC  turns {s.turns}",
        f"  page task {s.task_id or '-'}  url {s.page_url or '-'}",
    ]
    if view.satisfaction is not None:
        sat = view.satisfaction
        head.append(f"  satisfaction {sat['score']}/5" + (f' "{sat["comment"]}"' if sat["comment"] else ""))
    turns = [_turn(n, t, highlight) for n, t in enumerate(view.turns, 1)]
    return "\n\n".join(["\n".join(head), *turns])
