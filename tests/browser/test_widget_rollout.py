"""The widget in a real browser asks the edge before showing itself: outside the rollout it stays hidden
(Chromium; the decision itself is DOM-free and tested in node, widget/test/availability.test.mjs)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.browser.browser_engines import Artifacts, EngineUnavailable, PlaywrightPage, open_page
from tests.browser.widget_flows import shadow, snap, wait_until
from tests.mesh_fixture import MeshUnderTest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TASK_PAGE = "/tasks/T-109"


@pytest.fixture
def chromium(artifacts: Artifacts) -> Iterator[PlaywrightPage]:
    try:
        tab = open_page("chromium", artifacts.logs)
    except EngineUnavailable as exc:
        pytest.fail(f"chromium cannot be started: {exc}")
    assert isinstance(tab, PlaywrightPage)
    try:
        yield tab
    finally:
        tab.close()


def widget_state(page: PlaywrightPage) -> str | None:
    """The host element's `data-enabled` once the widget has asked the edge (None before)."""
    found = page.js(
        "const el = document.querySelector('assist-chat'); return el && el.getAttribute('data-enabled');"
    )
    return None if found is None else str(found)


def test_the_widget_does_not_show_itself_to_a_user_outside_the_rollout(
    chromium: PlaywrightPage, mesh_up: MeshUnderTest, artifacts: Artifacts
) -> None:
    base = mesh_up.edge_url
    with mesh_up.rollout_at(0):
        deadline = time.monotonic() + 5
        while mesh_up.widget_enabled("carol"):
            assert time.monotonic() < deadline, "the kill switch was not in force within 5 s"
            time.sleep(0.1)
        chromium.goto(f"{base}/login?next={TASK_PAGE}")
        chromium.click("button[value='carol']", in_widget=False)
        wait_until(chromium, "return location.pathname === arguments[0];", TASK_PAGE, what="the task page")
        wait_until(
            chromium,
            "const el = document.querySelector('assist-chat'); return el && el.getAttribute('data-enabled');",
            what="the widget to ask the edge",
        )
        assert widget_state(chromium) == "false"
        assert shadow(chromium, "return root.querySelector('#launcher') === null;") is True
        assert shadow(chromium, "return root.querySelector('#panel') === null;") is True
        snap(chromium, artifacts.screenshots, "rollout-disabled")

    chromium.goto(f"{base}{TASK_PAGE}")  # back at 100%: the same user sees the launcher again
    wait_until(
        chromium,
        "const el = document.querySelector('assist-chat');"
        "return !!(el && el.shadowRoot && el.shadowRoot.querySelector('#launcher'));",
        what="the launcher",
    )
    assert widget_state(chromium) == "true"
    snap(chromium, artifacts.screenshots, "rollout-enabled")
