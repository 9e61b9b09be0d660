"""The demo host site's own task database (PostgreSQL, `demo/host_schema.sql`), through psycopg 3.

The demo site reads its pages from here and writes a person's edits (status, due date) here, as a real host
would; the assistant learns of those edits only through the sync worker (`host_sync`). The host's words
differ from the assistant's on purpose (`doing` for IN_PROGRESS, priority 1-4, `due_on`): the sync's
mapping file translates them, which is the point of having a mapping.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from demo.data import DemoData, DemoTask, DemoUser

SCHEMA_PATH = Path(__file__).resolve().parent / "host_schema.sql"

# The demo data's words -> the host schema's, and back.
HOST_STATE = {"TODO": "todo", "IN_PROGRESS": "doing", "BLOCKED": "blocked", "DONE": "done"}
SITE_STATUS = {v: k for k, v in HOST_STATE.items()}
HOST_PRIORITY = {"urgent": 1, "high": 2, "medium": 3, "low": 4}
SITE_PRIORITY = {v: k for k, v in HOST_PRIORITY.items()}


def apply_schema(conn: psycopg.Connection) -> None:
    """Create or update the host schema (idempotent)."""
    conn.execute(SCHEMA_PATH.read_text(encoding="utf-8").encode())


def seed(conn: psycopg.Connection, data: DemoData, *, reset: bool = False) -> int:
    """Insert the demo users, projects and tasks that are missing; returns how many tasks were written.

    Existing tasks are left as they are, so a person's edits survive a second seed; `reset` puts every demo
    task back as data.json has it (the sync sees each as changed).
    """
    on_conflict = (
        "DO UPDATE SET project_id = EXCLUDED.project_id, title = EXCLUDED.title, "
        "description = EXCLUDED.description, state = EXCLUDED.state, priority = EXCLUDED.priority, "
        "due_on = EXCLUDED.due_on, deleted_at = NULL"
        if reset
        else "DO NOTHING"
    )
    with conn.transaction():
        for user in data.users:
            conn.execute(
                "INSERT INTO users (id, display_name, email, locale) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (user.user_id, user.display_name, f"{user.user_id}@example.com", user.locale),
            )
        for project in sorted({t.project for t in data.tasks}):
            conn.execute("INSERT INTO projects (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (project,))
        written = 0
        for task in data.tasks:
            cur = conn.execute(
                "INSERT INTO tasks (id, project_id, title, description, state, priority, due_on) "
                "SELECT %s, p.id, %s, %s, %s, %s, %s FROM projects p WHERE p.name = %s "
                f"ON CONFLICT (id) {on_conflict}",
                (
                    task.task_id,
                    task.title,
                    task.description,
                    HOST_STATE[task.status],
                    HOST_PRIORITY[task.priority],
                    date.fromisoformat(task.due_date) if task.due_date else None,
                    task.project,
                ),
            )
            if cur.rowcount != 1:
                continue
            written += 1
            conn.execute("DELETE FROM task_assignees WHERE task_id = %s", (task.task_id,))
            conn.execute("DELETE FROM task_dependencies WHERE task_id = %s", (task.task_id,))
            for user_id in task.assignee_ids:
                conn.execute(
                    "INSERT INTO task_assignees (task_id, user_id) VALUES (%s, %s)", (task.task_id, user_id)
                )
        # Dependencies after every task exists (a task may depend on one listed after it).
        for task in data.tasks:
            for blocker in task.blocked_by:
                conn.execute(
                    "INSERT INTO task_dependencies (task_id, depends_on_task_id) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (task.task_id, blocker),
                )
    return written


_TASKS = """
SELECT t.id, t.title, t.description, t.state::text AS state, t.priority, t.due_on, coalesce(p.name, '') AS project,
       coalesce(array(SELECT a.user_id FROM task_assignees a WHERE a.task_id = t.id ORDER BY a.user_id), '{}')
           AS assignee_ids,
       coalesce(array(SELECT d.depends_on_task_id FROM task_dependencies d WHERE d.task_id = t.id
                      ORDER BY d.depends_on_task_id), '{}') AS blocked_by
FROM tasks t LEFT JOIN projects p ON p.id = t.project_id
WHERE t.deleted_at IS NULL
ORDER BY t.id
"""


def load_site_data(conn: psycopg.Connection) -> DemoData:
    """Every live user and task, as the demo pages show them."""
    with conn.cursor(row_factory=dict_row) as cur:
        users = [
            DemoUser(r["id"], r["display_name"], r["locale"])
            for r in cur.execute("SELECT id, display_name, locale FROM users ORDER BY id")
        ]
        tasks = [
            DemoTask(
                task_id=r["id"],
                title=r["title"],
                description=r["description"],
                status=SITE_STATUS[r["state"]],
                due_date=r["due_on"].isoformat() if r["due_on"] else "",
                assignee_ids=list(r["assignee_ids"]),
                priority=SITE_PRIORITY.get(r["priority"], "medium"),
                project=r["project"],
                blocked_by=list(r["blocked_by"]),
            )
            for r in cur.execute(_TASKS)
        ]
    return DemoData(users=users, tasks=tasks)


def update_task(conn: psycopg.Connection, task_id: str, user_id: str, *, status: str, due_date: str) -> bool:
    """Set a task's status and due date ("" clears it), only when `user_id` is one of its assignees.

    Raises ValueError on an unknown status or a malformed date; False when the task is not the user's.
    """
    if status not in HOST_STATE:
        raise ValueError(f"unknown status {status!r}")
    due = date.fromisoformat(due_date) if due_date else None
    cur = conn.execute(
        "UPDATE tasks SET state = %s, due_on = %s WHERE id = %s AND deleted_at IS NULL "
        "AND EXISTS (SELECT 1 FROM task_assignees a WHERE a.task_id = tasks.id AND a.user_id = %s)",
        (HOST_STATE[status], due, task_id, user_id),
    )
    return cur.rowcount == 1
