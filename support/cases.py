"""Thumbs-down answers as candidate evaluation cases (`python -m support export-cases`).

Each thumbs-down becomes a case in `eval/nlg_cases.json`'s format (a GenerationInput as JSON plus the
checks' expectations), marked `"review": "pending"`: a person reads the complaint, fills `expect` (which
titles and dates a right answer names, which it must not) and sets `"review": "accepted"`; only accepted
cases are run by `python -m eval.nlg --cases ... --compare A,B`.

The task facts the writer had are RECONSTRUCTED from the tasks store, not stored with the turn: the turn
keeps its intent, page context and timestamps, and the coordinator's fetch is deterministic (the user's
tasks, soonest due first, up to 50, plus the focus task and its blockers), so the same query rebuilds it.
What the reconstruction cannot know is a task changed since the answer: such tasks are listed in
`facts_changed_since_answer` for the reviewer (and the entities NLU found are not stored, so a date the
question named must be added by hand). Storing facts per turn would cost every turn a write of up to 50
tasks to serve a few complaints.

No personal data leaves: the user who complained becomes "Person 1", other assignees "Person 2"... (also
where their names appear in the question, answer or comment), and free text goes through the guard's
rules (`mesh.pii.redact`: e-mails, cards, CPFs, phones). Task links are dropped. Names the facts do not
list cannot be found by rule: that is one of the things the review is for.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from assist.v1 import common_pb2
from google.protobuf import json_format

from mesh.intents import TASK_QUESTIONS
from mesh.pii import redact
from mesh.storage.mongo import Database, Document, as_utc
from mesh.storage.tasks import TaskStore
from support.conversations import component_name, writer_name

TASK_INTENTS = TASK_QUESTIONS | {common_pb2.INTENT_UNSPECIFIED}
LANGUAGE_CODES: dict[int, str] = {common_pb2.LANGUAGE_EN: "en", common_pb2.LANGUAGE_PT_BR: "pt-BR"}
PERSON_WORD = {"en": "Person", "pt-BR": "Pessoa"}
ABOUT = (
    "Candidate cases from thumbs-down answers (`python -m support export-cases`), in eval/nlg_cases.json's "
    "format. Review each: fill `expect`, check no personal data is left, set `review` to `accepted` (or "
    "`rejected`). `python -m eval.nlg --cases <this file> --compare A,B` runs the accepted ones."
)
REVIEW_NOTE = (
    "Fill expect.titles/dates/absent from the facts; add `entities` for dates the question names; "
    "remove any name or detail the rules did not catch."
)


def case_id_for(message_id: str) -> str:
    """A stable id that does not point back at the conversation once it is erased."""
    return "fb-" + hashlib.sha256(message_id.encode()).hexdigest()[:12]


@dataclass
class Pseudonyms:
    """Consistent stand-ins for the people in one case: same person, same stand-in, everywhere."""

    word: str
    by_id: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def person(self, user_id: str, display_name: str) -> tuple[str, str]:
        key = user_id or display_name
        if key not in self.by_id:
            self.by_id[key] = f"{self.word} {len(self.by_id) + 1}"
        stand_in = self.by_id[key]
        if display_name:
            self.names[display_name] = stand_in
        return f"person-{stand_in.split()[-1]}", stand_in

    def clean(self, text: str) -> str:
        """Personal data masked first (a name inside an e-mail must not break it), then names replaced."""
        text = redact(text)[0]
        for name in sorted(self.names, key=len, reverse=True):
            text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", self.names[name], text, flags=re.IGNORECASE)
            first = name.split()[0]
            if len(first) > 2 and first != name:
                text = re.sub(
                    rf"(?<!\w){re.escape(first)}(?!\w)", self.names[name], text, flags=re.IGNORECASE
                )
        return text


async def reconstruct_facts(db: Database, turn: Document) -> list[common_pb2.Task]:
    """The task facts the coordinator fetched for this turn, read again (see the module docstring)."""
    if int(turn.get("intent", 0)) not in TASK_INTENTS:
        return []
    store = TaskStore(db)
    user_id = turn["user_id"]
    tasks = {t.task_id: t for t in await store.list_for_user(user_id, limit=50)}
    focus_id = (turn.get("page_context") or {}).get("task_id", "")
    focus = await store.get_for_user(user_id, focus_id) if focus_id else None
    if focus is not None:
        for task in (focus, *await store.get_many(list(focus.blocked_by_task_ids))):
            tasks.setdefault(task.task_id, task)
    return list(tasks.values())


def _task_json(task: common_pb2.Task, people: Pseudonyms) -> dict[str, Any]:
    clean = common_pb2.Task()
    clean.CopyFrom(task)
    clean.ClearField("url")
    clean.ClearField("updated_at")
    clean.title = people.clean(task.title)
    clean.description = people.clean(task.description)
    for person in clean.assignees:
        person.user_id, person.display_name = people.person(person.user_id, person.display_name)
    return json_format.MessageToDict(clean, preserving_proto_field_name=True)


async def case_for(db: Database, feedback: Document) -> dict[str, Any] | None:
    """The candidate case for one thumbs-down, or None when its turn is gone or unfinished."""
    turn = await db.turns.find_one({"_id": feedback["message_id"]})
    if turn is None or turn.get("state") != "done":
        return None
    language = LANGUAGE_CODES.get(int(turn.get("language", 0)), "en")
    people = Pseudonyms(PERSON_WORD[language])
    people.person(turn["user_id"], "")  # the person who complained is always "Person 1"
    facts = await reconstruct_facts(db, turn)
    for task in facts:  # register every name before any text is cleaned
        for person in task.assignees:
            people.person(person.user_id, person.display_name)
    answered = as_utc(turn.get("completed_at") or turn["created_at"])
    changed = [
        t.task_id for t in facts if t.HasField("updated_at") and _after(t.updated_at.ToDatetime(), answered)
    ]
    generation = turn.get("generation") or {}
    focus = (turn.get("page_context") or {}).get("task_id", "")
    case: dict[str, Any] = {
        "id": case_id_for(feedback["message_id"]),
        "review": "pending",
        "review_note": REVIEW_NOTE,
        "language": language,
        "intent": common_pb2.Intent.Name(common_pb2.Intent.ValueType(int(turn.get("intent", 0)))),
        "question": people.clean(turn.get("text", "")),
        "today": as_utc(turn["created_at"]).date().isoformat(),
        "tasks": [_task_json(t, people) for t in facts],
        "expect": {"titles": [], "dates": [], "absent": []},
        "complaint": {
            "comment": people.clean(feedback.get("comment", "")),
            "answer": people.clean(turn.get("answer", "")),
            "prompt_version": str(generation.get("prompt_version", "")),
            "model": str(generation.get("model", "")),
            "writer": writer_name(int(turn.get("writer", 0))),
            "degraded": [component_name(int(c)) for c in turn.get("degraded", [])],
        },
        "facts_source": "tasks store at export time (reconstructed; see facts_changed_since_answer)",
        "facts_changed_since_answer": changed,
    }
    if focus:
        case["focus_task_id"] = focus
    return case


def _after(value: datetime, reference: datetime) -> bool:
    return as_utc(value) > reference


async def export_cases(
    db: Database, *, since: datetime | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Candidate cases for the thumbs-down answers rated since `since` (all when None), oldest first."""
    query: Document = {"rating": int(common_pb2.FEEDBACK_RATING_DOWN)}
    if since is not None:
        query["updated_at"] = {"$gte": since}
    cases: list[dict[str, Any]] = []
    async for feedback in db.feedback.find(query, sort=[("updated_at", 1)], limit=limit):
        case = await case_for(db, feedback)
        if case is not None:
            cases.append(case)
    return cases


def merge_into(path: Path, cases: list[dict[str, Any]]) -> tuple[int, int]:
    """Add new cases to the file (created when missing); a case already there keeps its review.

    Returns (added, already there)."""
    data: dict[str, Any] = {"about": ABOUT, "cases": []}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    known = {c["id"] for c in data["cases"]}
    new = [c for c in cases if c["id"] not in known]
    data["cases"].extend(new)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return len(new), len(cases) - len(new)
