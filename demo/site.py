"""The demo site: a stand-in for the existing task-management website that embeds the assistant.

It plays the host's part of the integration: its own sign-in (a signed `demo_user` cookie), a `/token`
endpoint that signs a short-lived JWT for the signed-in user (what the widget's `token-url` fetches), its
public keys at `/.well-known/jwks.json` (rotated with `python -m demo.signing_keys rotate` while it runs,
demo/keyring.py), and pages that embed the widget with one script tag and one element. The development launcher's edge
(`devtools.demo_edge`) mounts this app at `/` and serves `/v1/*` and `/widget/*` itself; the production
edge never imports it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from demo.data import STATUSES, DemoData, DemoUser
from demo.keyring import LiveKeyring
from demo.pages import login_page, not_found_page, task_list_page, task_page
from demo.task_source import TaskSource, task_source_for
from mesh.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER

COOKIE_NAME = "demo_user"
COOKIE_MAX_AGE_S = 7 * 24 * 3600
MAX_FORM_BYTES = 4096
STATIC = Path(__file__).resolve().parent / "static"

# The policy a careful host sends, so every browser test runs the widget the way such a host embeds it: no
# inline script or style anywhere (the pages link their CSS; the widget styles its shadow root through a
# constructed stylesheet), scripts and API calls only to this origin (a host whose edge lives on another
# origin adds it to script-src and connect-src, see docs/integrator-guide.md), no framing, no plugins.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SessionCookie:
    """`demo_user` cookie values: the user id and an HMAC of it, so a visitor cannot sign in as someone else
    by editing the cookie. The secret lives only in this process unless one is passed in."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, user_id: str) -> str:
        return hmac.new(self._secret, user_id.encode(), hashlib.sha256).hexdigest()

    def encode(self, user_id: str) -> str:
        return f"{user_id}.{self._mac(user_id)}"

    def csrf_token(self, cookie_value: str) -> str:
        """The token a form must carry: bound to this session cookie, so a page of another site cannot
        forge it (it cannot read the cookie) and a token copied from another session does not fit."""
        return hmac.new(self._secret, b"csrf\0" + cookie_value.encode(), hashlib.sha256).hexdigest()

    def decode(self, value: str | None) -> str | None:
        if not value:
            return None
        user_id, _, mac = value.rpartition(".")
        if user_id and hmac.compare_digest(mac, self._mac(user_id)):
            return user_id
        return None


def _safe_next(path: str | None) -> str:
    """Only a local path may be a redirect target after sign-in (no `//host` or `https://host`)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def _valid_due_date(value: str) -> bool:
    if not value:
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def create_demo_app(
    *,
    keys: LiveKeyring,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    host_db_dsn: str | None = None,
    data_path: Path | None = None,
    cookie_secret: bytes | None = None,
    tasks: TaskSource | None = None,
) -> Starlette:
    """Build the demo site on the host's PostgreSQL (`host_db_dsn`), or read-only on `data.json` without one.

    `cookie_secret` defaults to a random one, so a restart signs everyone out.
    """
    source = tasks or task_source_for(host_db_dsn, data_path)
    cookies = SessionCookie(cookie_secret or secrets.token_bytes(32))

    async def signed_in(request: Request) -> tuple[DemoData, DemoUser | None]:
        data = await source.load()
        user_id = cookies.decode(request.cookies.get(COOKIE_NAME))
        return data, (data.user(user_id) if user_id else None)

    def csrf_for(request: Request) -> str:
        return cookies.csrf_token(request.cookies.get(COOKIE_NAME, ""))

    def to_login(request: Request) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    def html(body: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)

    async def home(request: Request) -> Response:
        data, user = await signed_in(request)
        if user is None:
            return to_login(request)
        return html(task_list_page(data, user, date.today()))

    async def show_task(request: Request) -> Response:
        data, user = await signed_in(request)
        if user is None:
            return to_login(request)
        task = data.task(request.path_params["task_id"])
        if task is None or user.user_id not in task.assignee_ids:
            return html(not_found_page(user), status_code=404)
        edit = csrf_for(request) if source.editable else None
        saved = request.query_params.get("saved") == "1"
        return html(task_page(data, user, task, date.today(), csrf_token=edit, saved=saved))

    async def edit_task(request: Request) -> Response:
        """The task page's form: status and due date, for the task's assignees, with the session's token."""
        data, user = await signed_in(request)
        if user is None:
            return to_login(request)
        task_id = request.path_params["task_id"]
        task = data.task(task_id)
        if task is None or user.user_id not in task.assignee_ids or not source.editable:
            return html(not_found_page(user), status_code=404)
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return html(not_found_page(user), status_code=413)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace")).items()}
        if not hmac.compare_digest(form.get("csrf", ""), csrf_for(request)):
            return html(not_found_page(user), status_code=403)
        status, due_date = form.get("status", ""), form.get("due_date", "").strip()
        if status not in STATUSES or not _valid_due_date(due_date):
            page = task_page(data, user, task, date.today(), csrf_token=csrf_for(request), invalid=True)
            return html(page, status_code=400)
        if not await source.update_task(task_id, user.user_id, status=status, due_date=due_date):
            return html(not_found_page(user), status_code=404)
        # Post/redirect/get: a reload of the page after saving does not post again.
        return RedirectResponse(f"/tasks/{quote(task_id)}?saved=1", status_code=303)

    async def login_form(request: Request) -> Response:
        data = await source.load()
        return html(login_page(data, _safe_next(request.query_params.get("next"))))

    async def login(request: Request) -> Response:
        data = await source.load()
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return html(login_page(data, "/"), status_code=413)
        form = parse_qs(body.decode("utf-8", errors="replace"))
        user = data.user((form.get("user") or [""])[0])
        if user is None:
            return html(login_page(data, "/"), status_code=400)
        response = RedirectResponse(_safe_next((form.get("next") or ["/"])[0]), status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            cookies.encode(user.user_id),
            max_age=COOKIE_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME)
        return response

    async def token(request: Request) -> Response:
        _, user = await signed_in(request)
        if user is None:
            return JSONResponse(
                {"error": {"code": "UNAUTHENTICATED", "message": "not signed in to the demo site"}},
                status_code=401,
                headers={"Cache-Control": "no-store"},
            )
        signer = keys.now().signer(issuer=issuer, audience=audience)
        return JSONResponse(
            {"token": signer.sign(user.user_id, user.display_name)}, headers={"Cache-Control": "no-store"}
        )

    async def jwks(_: Request) -> Response:
        # A short max-age as real hosts send; the edge refetches on an unknown kid anyway.
        return JSONResponse(keys.now().jwks(), headers={"Cache-Control": "public, max-age=60"})

    return Starlette(
        routes=[
            Route("/", home),
            Route("/tasks/{task_id}", show_task, methods=["GET"]),
            Route("/tasks/{task_id}", edit_task, methods=["POST"]),
            Route("/login", login_form, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["GET", "POST"]),
            Route("/token", token),
            Mount("/demo-assets", app=StaticFiles(directory=STATIC), name="demo-assets"),
            Route("/.well-known/jwks.json", jwks),
        ]
    )
