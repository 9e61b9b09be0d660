"""Fixtures for the widget's end-to-end tests in real browsers.

They need the whole product running (edge with the demo site mounted, coordinator, agents, stores):
`ASSIST_EDGE_URL` points at one already running, otherwise the session-scoped `mesh_up` fixture starts it.
Screenshots and the axe-core reports go to `test-artifacts/` (which ignores itself in git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.browser.browser_engines import ENGINES, ROOT, Artifacts, EngineUnavailable, Page, open_page


@pytest.fixture(scope="session")
def edge_url(request: pytest.FixtureRequest) -> str:
    """The edge's base URL, with the demo site at `/` and the widget bundle at `/widget/assist-chat.js`."""
    url = os.environ.get("ASSIST_EDGE_URL", "").strip()
    if not url:
        try:
            mesh = request.getfixturevalue("mesh_up")
        except pytest.FixtureLookupError:
            pytest.skip(
                "the browser tests need the running product: set ASSIST_EDGE_URL, or define the session "
                "fixture `mesh_up` where tests/browser can see it (tests/conftest.py or a plugin it loads)"
            )
        url = str(mesh.edge_url)
    url = url.rstrip("/")
    response = httpx.get(f"{url}/widget/assist-chat.js", timeout=10)
    if response.status_code != 200:
        pytest.fail(
            f"{url}/widget/assist-chat.js answered {response.status_code}: build the widget first "
            "(cd widget && npm ci && npm run build)"
        )
    return url


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    base = ROOT / "test-artifacts"
    base.mkdir(exist_ok=True)
    # Artifacts are never committed: the folder ignores itself.
    (base / ".gitignore").write_text("*\n", encoding="utf-8")
    found = Artifacts(base / "screenshots", base / "reports", base / "logs")
    for directory in (found.screenshots, found.reports, found.logs):
        directory.mkdir(exist_ok=True)
    return found


@pytest.fixture(params=ENGINES)
def tab(request: pytest.FixtureRequest, artifacts: Artifacts) -> Iterator[Page]:
    """A fresh browser of each engine (fresh profile: no cookies, no localStorage) with one tab."""
    try:
        opened = open_page(request.param, artifacts.logs)
    except EngineUnavailable as exc:
        pytest.fail(f"{request.param} cannot be started: {exc}")
    print(f"\n[{opened.engine}] {opened.version}")
    try:
        yield opened
    finally:
        opened.close()
