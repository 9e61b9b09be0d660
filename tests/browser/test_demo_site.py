"""The demo site on its own (no mesh, no browser): sign-in, the token endpoint, and pages that embed the
widget the way a real site would and never render task data as markup."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from demo import create_demo_app, load_demo_data
from demo.keyring import LiveKeyring, rotate
from mesh.auth import StaticKey, TokenVerifier


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """The site's keyring directory (a fresh one per test: some rotate it)."""
    return tmp_path / "keys"


@pytest.fixture
def client(keys: Path) -> Iterator[TestClient]:
    app = create_demo_app(keys=LiveKeyring(keys), cookie_secret=b"test-secret")
    with TestClient(app, follow_redirects=False) as c:
        yield c


def sign_in(client: TestClient, user: str, next_path: str = "/") -> None:
    response = client.post("/login", data={"user": user, "next": next_path})
    assert response.status_code == 303
    assert response.headers["location"] == next_path


def test_pages_need_sign_in_and_remember_where_to_return(client: TestClient) -> None:
    response = client.get("/tasks/T-101")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/tasks/T-101"
    assert 'value="/tasks/T-101"' in client.get("/login?next=/tasks/T-101").text


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_sign_in_never_redirects_off_site(client: TestClient, target: str) -> None:
    response = client.post("/login", data={"user": "ana", "next": target})
    assert response.headers["location"] == "/"


async def test_token_is_signed_for_the_signed_in_user_only(client: TestClient, keys: Path) -> None:
    anonymous = client.get("/token")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"

    sign_in(client, "bruno")
    response = client.get("/token")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    public_pem = (keys / "current.pub.pem").read_bytes()
    principal = await TokenVerifier(StaticKey(public_pem)).verify(response.json()["token"])
    assert (principal.user_id, principal.display_name) == ("bruno", "Bruno Lima")


def test_the_jwks_names_the_key_that_signs_and_follows_a_rotation_while_running(
    client: TestClient, keys: Path
) -> None:
    sign_in(client, "ana")
    first_kid = jwt.get_unverified_header(client.get("/token").json()["token"])["kid"]
    published = client.get("/.well-known/jwks.json").json()["keys"]
    assert [k["kid"] for k in published] == [first_kid]
    assert published[0]["kty"] == "EC" and "d" not in published[0], "only the public half is published"

    rotate(keys, keep_previous=1)
    second_kid = jwt.get_unverified_header(client.get("/token").json()["token"])["kid"]
    assert second_kid != first_kid
    assert [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]] == [second_kid, first_kid]

    rotate(keys, keep_previous=0)
    third = [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
    assert len(third) == 1 and third[0] not in (first_kid, second_kid)


def test_an_edited_cookie_signs_nobody_in(client: TestClient) -> None:
    sign_in(client, "ana")
    value = client.cookies["demo_user"]
    client.cookies.clear()
    client.cookies.set("demo_user", "carol" + value[value.index(".") :])
    assert client.cookies["demo_user"].startswith("carol.")
    assert client.get("/token").status_code == 401


def test_task_list_shows_only_the_users_tasks_with_the_widget_in_general_mode(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/").text
    assert 'lang="pt-BR"' in page
    assert "T-101" in page and "T-103" in page and "T-111" in page
    assert "T-108" not in page
    assert page.count('<script src="/widget/assist-chat.js" type="module" defer></script>') == 1
    tags = re.findall(r"<assist-chat [^>]*>", page)
    assert tags == ['<assist-chat token-url="/token" locale="pt-BR" theme="light">']


def test_task_page_embeds_the_widget_in_contextual_mode(client: TestClient) -> None:
    sign_in(client, "ana")
    page = client.get("/tasks/T-101").text
    assert re.findall(r"<assist-chat [^>]*>", page) == [
        '<assist-chat token-url="/token" locale="pt-BR" theme="light" task-id="T-101" '
        'task-title="Preparar relatório trimestral">'
    ]


def test_html_in_task_data_is_shown_as_text(client: TestClient) -> None:
    sign_in(client, "carol")
    page = client.get("/tasks/T-110").text
    assert "<img" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; XSS check" in page
    assert 'task-title="&lt;img src=x onerror=alert(1)&gt; XSS check"' in page


class _InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style elements and attributes, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style" or "style" in names:
            self.found.append(f"inline style on <{tag}>")
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        self.found += [f"{name} on <{tag}>" for name in names if name.startswith("on")]


def test_pages_send_a_strict_csp_and_carry_no_inline_script_or_style(client: TestClient) -> None:
    sign_in(client, "carol")
    for path in ("/", "/tasks/T-110", "/login"):
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
        assert "frame-ancestors 'none'" in policy
        parser = _InlineCode()
        parser.feed(response.text)
        assert parser.found == [], path
    assert client.get("/demo-assets/site.css").headers["content-type"].startswith("text/css")


def test_another_persons_task_is_not_found(client: TestClient) -> None:
    sign_in(client, "ana")
    assert client.get("/tasks/T-108").status_code == 404
    assert client.get("/tasks/T-999").status_code == 404


def test_demo_data_dates_are_relative_to_today() -> None:
    today = date(2030, 1, 10)
    data = load_demo_data(today=today)
    assert len(data.users) == 3 and len(data.tasks) >= 12
    by_id = {t.task_id: t for t in data.tasks}
    assert by_id["T-102"].due_date == (today - timedelta(days=3)).isoformat()
    assert by_id["T-111"].due_date == today.isoformat()
    assert by_id["T-110"].title == "<img src=x onerror=alert(1)> XSS check"
    assert by_id["T-110"].assignee_ids == ["carol"]
    assert {t.status for t in data.tasks} == {"TODO", "IN_PROGRESS", "BLOCKED", "DONE"}
    overdue = [t for t in data.tasks if t.due_date < today.isoformat() and t.status != "DONE"]
    assert {u for t in overdue for u in t.assignee_ids} == {"ana", "bruno", "carol"}


def test_inconsistent_demo_data_is_refused_with_the_reason(tmp_path: Path) -> None:
    raw = json.loads((Path(__file__).resolve().parents[2] / "demo" / "data.json").read_text(encoding="utf-8"))
    raw["tasks"][0]["blocked_by"] = ["T-404"]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="T-404"):
        load_demo_data(path)
