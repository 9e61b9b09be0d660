"""The host's task database drives the assistant's answers: an edit or a delete in PostgreSQL, or a person's
edit through the demo site's form, shows in the next answer within seconds (the mesh's host-sync process, the
tasks agent, the writer)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import httpx
import psycopg
import pytest

from testing.sse import new_conversation, send_message
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


@pytest.fixture
def host(stack: Stack) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack.host_db_dsn, autocommit=True) as conn:
        yield conn


def _answer(client: httpx.Client, mesh_up: MeshUnderTest, user_id: str) -> str:
    headers = mesh_up.auth(user_id)
    conversation_id = new_conversation(client, headers)
    turn = send_message(client, conversation_id, "What is late?", headers, client_message_id=uuid.uuid4().hex)
    assert turn.status == 200
    return turn.answer


def _within(seconds: float, check: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.5)
    return time.monotonic() - started


def test_an_edit_and_a_delete_in_the_host_database_show_in_the_next_answer(
    mesh_up: MeshUnderTest, host: psycopg.Connection
) -> None:
    user_id, task_id = f"sync-{uuid.uuid4().hex[:8]}", f"S-{uuid.uuid4().hex[:8]}"
    host.execute("INSERT INTO users (id, display_name, locale) VALUES (%s, 'Sync Tester', 'en')", (user_id,))
    host.execute(
        "INSERT INTO tasks (id, title, due_on) VALUES (%s, 'Renew the signing certificate', current_date - 2)",
        (task_id,),
    )
    host.execute("INSERT INTO task_assignees (task_id, user_id) VALUES (%s, %s)", (task_id, user_id))
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        _within(15, lambda: "Renew the signing certificate" in _answer(client, mesh_up, user_id), "new task")
        host.execute("UPDATE tasks SET title = 'Rotate the signing keys' WHERE id = %s", (task_id,))
        _within(10, lambda: "Rotate the signing keys" in _answer(client, mesh_up, user_id), "edited title")
        host.execute("UPDATE tasks SET deleted_at = now() WHERE id = %s", (task_id,))
        _within(
            10, lambda: "Rotate the signing keys" not in _answer(client, mesh_up, user_id), "deleted task"
        )


def test_an_edit_through_the_demo_sites_form_shows_in_the_next_answer(
    mesh_up: MeshUnderTest, host: psycopg.Connection
) -> None:
    """A person moves a task's due date into the past on the host site; the assistant calls it late."""
    user_id, task_id = f"form-{uuid.uuid4().hex[:8]}", f"F-{uuid.uuid4().hex[:8]}"
    host.execute("INSERT INTO users (id, display_name, locale) VALUES (%s, 'Form Tester', 'en')", (user_id,))
    host.execute(
        "INSERT INTO tasks (id, title, due_on) VALUES (%s, 'Archive the old invoices', current_date + 5)",
        (task_id,),
    )
    host.execute("INSERT INTO task_assignees (task_id, user_id) VALUES (%s, %s)", (task_id, user_id))
    with (
        httpx.Client(base_url=mesh_up.edge_url, timeout=30) as site,
        httpx.Client(base_url=mesh_up.edge_url, timeout=30) as api,
    ):
        assert site.post("/login", data={"user": user_id, "next": "/"}).status_code == 303
        page = site.get(f"/tasks/{task_id}")
        assert page.status_code == 200 and "Archive the old invoices" in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        _within(
            15, lambda: "Archive the old invoices" not in _answer(api, mesh_up, user_id), "synced, not late"
        )
        two_days_ago = (date.today() - timedelta(days=2)).isoformat()
        saved = site.post(
            f"/tasks/{task_id}",
            data={"csrf": csrf.group(1), "status": "IN_PROGRESS", "due_date": two_days_ago},
        )
        assert saved.status_code == 303
        took = _within(10, lambda: "Archive the old invoices" in _answer(api, mesh_up, user_id), "form edit")
        print(f"form edit reached the answer in {took:.1f} s")
