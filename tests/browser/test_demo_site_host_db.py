"""The demo site on the host's PostgreSQL: pages read the database, and a task's assignee edits its status and
due date through a plain form that carries a token bound to the session cookie."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from demo import create_demo_app
from demo.keyring import LiveKeyring
from demo.seed import seed_host_database
from tests.local_stack import Stack


@dataclass
class HostTask:
    """A user of their own and one task of theirs in the host database, so tests never collide."""

    user_id: str
    other_user_id: str
    task_id: str


@pytest.fixture
def host(stack: Stack) -> Iterator[psycopg.Connection]:
    seed_host_database(stack.host_db_dsn)
    with psycopg.connect(stack.host_db_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def task(host: psycopg.Connection) -> HostTask:
    suffix = uuid.uuid4().hex[:8]
    made = HostTask(f"site-{suffix}", f"other-{suffix}", f"W-{suffix}")
    for user_id in (made.user_id, made.other_user_id):
        host.execute(
            "INSERT INTO users (id, display_name, locale) VALUES (%s, %s, 'en')", (user_id, user_id.title())
        )
    host.execute(
        "INSERT INTO tasks (id, title, state, due_on) VALUES (%s, 'Check the backups', 'todo', current_date + 5)",
        (made.task_id,),
    )
    host.execute(
        "INSERT INTO task_assignees (task_id, user_id) VALUES (%s, %s)", (made.task_id, made.user_id)
    )
    return made


@pytest.fixture
def client(stack: Stack, tmp_path: Path) -> Iterator[TestClient]:
    app = create_demo_app(
        keys=LiveKeyring(tmp_path / "keys"), host_db_dsn=stack.host_db_dsn, cookie_secret=b"s"
    )
    with TestClient(app, follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, user: str) -> None:
    assert client.post("/login", data={"user": user, "next": "/"}).status_code == 303


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the task page has no edit form"
    return found.group(1)


def host_row(host: psycopg.Connection, task_id: str) -> tuple[str, date | None]:
    row = host.execute("SELECT state::text, due_on FROM tasks WHERE id = %s", (task_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_pages_show_what_the_host_database_holds_now(
    client: TestClient, host: psycopg.Connection, task: HostTask
) -> None:
    sign_in(client, task.user_id)
    assert "Check the backups" in client.get("/").text
    host.execute("UPDATE tasks SET title = 'Restore a backup' WHERE id = %s", (task.task_id,))
    assert "Restore a backup" in client.get("/").text
    assert "Restore a backup" in client.get(f"/tasks/{task.task_id}").text


def test_an_assignee_edits_status_and_due_date_through_the_form(
    client: TestClient, host: psycopg.Connection, task: HostTask
) -> None:
    sign_in(client, task.user_id)
    page = client.get(f"/tasks/{task.task_id}").text
    due = (date.today() + timedelta(days=9)).isoformat()
    response = client.post(
        f"/tasks/{task.task_id}", data={"csrf": csrf_of(page), "status": "IN_PROGRESS", "due_date": due}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/tasks/{task.task_id}?saved=1"
    assert host_row(host, task.task_id) == ("doing", date.fromisoformat(due))
    shown = client.get(response.headers["location"]).text
    assert 'role="status"' in shown and '<option value="IN_PROGRESS" selected>' in shown
    assert f'value="{due}"' in shown


def test_an_empty_due_date_clears_it(client: TestClient, host: psycopg.Connection, task: HostTask) -> None:
    sign_in(client, task.user_id)
    csrf = csrf_of(client.get(f"/tasks/{task.task_id}").text)
    response = client.post(f"/tasks/{task.task_id}", data={"csrf": csrf, "status": "DONE", "due_date": ""})
    assert response.status_code == 303
    assert host_row(host, task.task_id) == ("done", None)
    assert "Check the backups" in client.get("/").text


def test_a_post_without_the_sessions_token_changes_nothing(
    client: TestClient, host: psycopg.Connection, task: HostTask
) -> None:
    sign_in(client, task.user_id)
    for csrf in ("", "0" * 64):
        response = client.post(
            f"/tasks/{task.task_id}", data={"csrf": csrf, "status": "DONE", "due_date": ""}
        )
        assert response.status_code == 403
    assert host_row(host, task.task_id)[0] == "todo"


def test_a_token_from_another_session_does_not_fit(
    client: TestClient, host: psycopg.Connection, task: HostTask
) -> None:
    # The other person's token, taken from a page of theirs: valid for their cookie, not for this one.
    host.execute(
        "INSERT INTO task_assignees (task_id, user_id) VALUES (%s, %s)", (task.task_id, task.other_user_id)
    )
    sign_in(client, task.other_user_id)
    theirs = csrf_of(client.get(f"/tasks/{task.task_id}").text)
    client.cookies.clear()
    sign_in(client, task.user_id)
    response = client.post(f"/tasks/{task.task_id}", data={"csrf": theirs, "status": "DONE", "due_date": ""})
    assert response.status_code == 403
    assert host_row(host, task.task_id)[0] == "todo"


def test_someone_not_assigned_cannot_edit_the_task(
    client: TestClient, host: psycopg.Connection, task: HostTask
) -> None:
    sign_in(client, task.other_user_id)
    assert client.get(f"/tasks/{task.task_id}").status_code == 404
    csrf = csrf_of(client.get(f"/tasks/{client_task_of(host, task.other_user_id)}").text)
    response = client.post(f"/tasks/{task.task_id}", data={"csrf": csrf, "status": "DONE", "due_date": ""})
    assert response.status_code == 404
    assert host_row(host, task.task_id)[0] == "todo"


def client_task_of(host: psycopg.Connection, user_id: str) -> str:
    """Give `user_id` a task of their own, so they have a page with a form (and a token) to take."""
    task_id = f"O-{uuid.uuid4().hex[:8]}"
    host.execute("INSERT INTO tasks (id, title) VALUES (%s, 'Theirs')", (task_id,))
    host.execute("INSERT INTO task_assignees (task_id, user_id) VALUES (%s, %s)", (task_id, user_id))
    return task_id


@pytest.mark.parametrize(
    ("status", "due_date"), [("LATE", ""), ("DONE", "2026-02-30"), ("DONE", "tomorrow"), ("DONE", "20260101")]
)
def test_an_invalid_edit_is_refused_with_the_reason_and_changes_nothing(
    client: TestClient, host: psycopg.Connection, task: HostTask, status: str, due_date: str
) -> None:
    sign_in(client, task.user_id)
    csrf = csrf_of(client.get(f"/tasks/{task.task_id}").text)
    response = client.post(
        f"/tasks/{task.task_id}", data={"csrf": csrf, "status": status, "due_date": due_date}
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert host_row(host, task.task_id)[0] == "todo"
