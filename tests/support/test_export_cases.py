"""`export-cases`: a thumbs-down becomes a pending eval case with its facts, and no personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from assist.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from eval.nlg import check, load_cases
from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import Database
from mesh.storage.tasks import TaskStore
from mesh.storage.turns import ConversationStore
from support.cases import export_cases, merge_into
from tests.support.seed import one_turn

USER = "user-ana-4242"
EMAIL = "ana.souza@example.com"


def task(task_id: str, title: str, due: str, *people: tuple[str, str]) -> common_pb2.Task:
    updated = Timestamp()
    updated.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    return common_pb2.Task(
        task_id=task_id,
        title=title,
        status=common_pb2.TASK_STATUS_TODO,
        due_date=due,
        assignees=[common_pb2.Person(user_id=u, display_name=n) for u, n in people],
        url=f"https://tasks.example.com/{task_id}?owner={USER}",
        updated_at=updated,
    )


async def seed_complaint(db: Database) -> str:
    tasks = TaskStore(db)
    await tasks.upsert(
        task("T-1", "Budget review", "2026-01-05", (USER, "Ana Souza"), ("u-77", "Bruno Lima"))
    )
    await tasks.upsert(task("T-2", "Tax forms", "2026-03-01", (USER, "Ana Souza")))
    conversation = await ConversationStore(db).create_conversation(
        USER, common_pb2.PageContext(task_id="T-1")
    )
    turn_id, _ = await one_turn(
        db,
        USER,
        conversation.conversation_id,
        f"what is late? write to {EMAIL}",
        "Ana Souza, Budget review is late (due 2026-01-05); Bruno is on it.",
    )
    await FeedbackStore(db).record_feedback(
        USER, turn_id, common_pb2.FEEDBACK_RATING_DOWN, f"Bruno Lima says it is wrong, call me at {EMAIL}"
    )
    return turn_id


async def test_thumbs_down_becomes_a_pending_case_without_personal_data(db: Database, tmp_path: Path) -> None:
    turn_id = await seed_complaint(db)

    cases = await export_cases(db)

    assert len(cases) == 1
    case = cases[0]
    text = json.dumps(case, ensure_ascii=False)
    for personal in (USER, EMAIL, "Ana", "Souza", "Bruno", "Lima", "u-77", turn_id, "tasks.example.com"):
        assert personal not in text, personal
    assert case["review"] == "pending"
    assert case["intent"] == "INTENT_TASKS_OVERDUE"
    assert case["language"] == "en"
    assert case["focus_task_id"] == "T-1"
    assert case["question"] == "what is late? write to [email]"
    assert case["complaint"]["comment"] == "Person 2 says it is wrong, call me at [email]"
    assert (
        case["complaint"]["answer"] == "Person 1, Budget review is late (due 2026-01-05); Person 2 is on it."
    )
    assert case["complaint"]["prompt_version"] == "task_answer@1"
    assert [t["title"] for t in case["tasks"]] == ["Budget review", "Tax forms"]
    assert case["tasks"][0]["assignees"] == [
        {"user_id": "person-1", "display_name": "Person 1"},
        {"user_id": "person-2", "display_name": "Person 2"},
    ]
    assert case["facts_changed_since_answer"] == []

    path = tmp_path / "feedback_cases.json"
    assert merge_into(path, cases) == (1, 0)
    assert merge_into(path, await export_cases(db)) == (0, 1)
    assert load_cases(path) == [], "a pending case is not run"

    data = json.loads(path.read_text(encoding="utf-8"))
    data["cases"][0]["review"] = "accepted"
    data["cases"][0]["expect"] = {
        "titles": ["Budget review"],
        "dates": ["2026-01-05"],
        "absent": ["Tax forms"],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    [(case_id, inp, expect)] = load_cases(path)
    assert case_id == case["id"]
    assert len(inp.tasks) == 2
    problems = check(inp, expect, "Budget review is late: it was due on 2026-01-05.")
    assert not any(problems.values()), problems
