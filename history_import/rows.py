"""Reading and checking a past-chats file: JSON Lines or CSV, one message a row, with line numbers.

Columns: conversation_id, user_id, role ("user" | "assistant"), text, created_at (RFC 3339 with an
offset), task_id (optional). Every row is checked; a bad row is reported with its line and reason, and
its whole conversation is left out (a conversation is never imported half).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

COLUMNS = ("conversation_id", "user_id", "role", "text", "created_at", "task_id")
ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
MAX_TEXT = 4000


@dataclass(frozen=True)
class Message:
    """One valid row."""

    line: int
    conversation_id: str
    user_id: str
    role: str
    text: str
    created_at: datetime
    task_id: str


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be imported, and why; `conversation_id` when it could be read."""

    line: int
    reason: str
    conversation_id: str = ""


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, object] | str]]:
    """(line number, fields) per row; a string instead of fields when the row cannot be parsed at all."""
    with path.open(encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS[:5] if c not in (reader.fieldnames or [])]
            if missing:
                yield 1, f"the header lacks {', '.join(missing)}"
                return
            for row in reader:
                yield reader.line_num, dict(row)
            return
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"not JSON ({exc.msg})"
                continue
            yield number, value if isinstance(value, dict) else "not a JSON object"


def check(line: int, fields: dict[str, object]) -> Message | BadRow:
    """The row as a message, or the first reason it is bad."""
    cid = fields.get("conversation_id")
    conversation_id = cid if isinstance(cid, str) and ID.fullmatch(cid) else ""
    if not conversation_id:
        return BadRow(line, "conversation_id must be 1-64 characters of [A-Za-z0-9_-]")

    def bad(reason: str) -> BadRow:
        return BadRow(line, reason, conversation_id)

    user_id, role, text = fields.get("user_id"), fields.get("role"), fields.get("text")
    created, task_id = fields.get("created_at"), fields.get("task_id") or ""
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 128:
        return bad("user_id is required (at most 128 characters)")
    if role not in ("user", "assistant"):
        return bad(f"role must be 'user' or 'assistant', not {role!r}")
    if not isinstance(text, str) or not text.strip():
        return bad("text is empty")
    if len(text) > MAX_TEXT:
        return bad(f"text is longer than {MAX_TEXT} characters")
    if not isinstance(created, str) or not RFC3339.fullmatch(created.strip()):
        return bad(f"created_at {created!r} is not an RFC 3339 time with an offset")
    try:
        created_at = datetime.fromisoformat(created.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return bad(f"created_at {created!r} is not a valid time")
    if not isinstance(task_id, str) or len(task_id) > 64:
        return bad("task_id must be text (at most 64 characters)")
    return Message(line, conversation_id, user_id, str(role), text, created_at.astimezone(UTC), task_id)
