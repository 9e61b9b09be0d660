"""The demo site's users and tasks, read from `data.json`.

The lead seeds the assistant's task store from the same data, so the site and the assistant agree on every
task. Due dates are stored relative to today (`due_in_days`) and made absolute when loaded: questions about
late or due-soon work always have answers, whatever day the demo runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DATA_PATH = Path(__file__).resolve().parent / "data.json"
STATUSES = frozenset({"TODO", "IN_PROGRESS", "BLOCKED", "DONE"})
LOCALES = frozenset({"pt-BR", "en"})


@dataclass(frozen=True)
class DemoUser:
    """A person who can sign in to the demo site."""

    user_id: str
    display_name: str
    locale: str


@dataclass(frozen=True)
class DemoTask:
    """A task as the host site keeps it. `status` is TODO, IN_PROGRESS, BLOCKED or DONE; `due_date` is ISO."""

    task_id: str
    title: str
    description: str
    status: str
    due_date: str
    assignee_ids: list[str]
    priority: str
    project: str
    blocked_by: list[str]


@dataclass(frozen=True)
class DemoData:
    """Everything the demo site shows."""

    users: list[DemoUser]
    tasks: list[DemoTask]

    def user(self, user_id: str) -> DemoUser | None:
        return next((u for u in self.users if u.user_id == user_id), None)

    def task(self, task_id: str) -> DemoTask | None:
        return next((t for t in self.tasks if t.task_id == task_id), None)

    def tasks_of(self, user_id: str) -> list[DemoTask]:
        """The user's tasks, soonest due first, those without a due date last."""
        return sorted(
            (t for t in self.tasks if user_id in t.assignee_ids),
            key=lambda t: (not t.due_date, t.due_date, t.task_id),
        )


def _str(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise ValueError(f"demo data: {key!r} must be a string in {record!r}")
    return value


def _str_list(record: dict[str, Any], key: str) -> list[str]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"demo data: {key!r} must be a list of strings in {record!r}")
    return list(value)


def load_demo_data(path: Path | None = None, *, today: date | None = None) -> DemoData:
    """Read and check the demo data; `due_in_days` becomes an ISO `due_date` counted from `today`.

    Raises ValueError naming the record when the file is inconsistent (unknown status, assignee or
    blocking task), so a bad edit fails at start-up rather than as a confusing answer.
    """
    raw = json.loads((path or DATA_PATH).read_text(encoding="utf-8"))
    base = today or date.today()
    users = [
        DemoUser(_str(u, "user_id"), _str(u, "display_name"), _str(u, "locale")) for u in raw.get("users", [])
    ]
    user_ids = {u.user_id for u in users}
    tasks: list[DemoTask] = []
    for t in raw.get("tasks", []):
        days = t.get("due_in_days")
        if not isinstance(days, int):
            raise ValueError(f"demo data: 'due_in_days' must be an integer in {t!r}")
        tasks.append(
            DemoTask(
                task_id=_str(t, "task_id"),
                title=_str(t, "title"),
                description=_str(t, "description"),
                status=_str(t, "status"),
                due_date=(base + timedelta(days=days)).isoformat(),
                assignee_ids=_str_list(t, "assignee_ids"),
                priority=_str(t, "priority"),
                project=_str(t, "project"),
                blocked_by=_str_list(t, "blocked_by"),
            )
        )
    task_ids = {t.task_id for t in tasks}
    for user in users:
        if user.locale not in LOCALES:
            raise ValueError(f"demo data: user {user.user_id} has unknown locale {user.locale!r}")
    for task in tasks:
        if task.status not in STATUSES:
            raise ValueError(f"demo data: task {task.task_id} has unknown status {task.status!r}")
        if unknown := set(task.assignee_ids) - user_ids:
            raise ValueError(f"demo data: task {task.task_id} names unknown assignees {sorted(unknown)}")
        if unknown := set(task.blocked_by) - task_ids:
            raise ValueError(f"demo data: task {task.task_id} is blocked by unknown tasks {sorted(unknown)}")
    if len(task_ids) != len(tasks) or len(user_ids) != len(users):
        raise ValueError("demo data: task and user ids must be unique")
    return DemoData(users=users, tasks=tasks)
