"""Errors in words, and a retry that reuses the same client message id (Chromium, where Playwright can
make the edge's answer fail on demand by intercepting the request in the browser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.browser_engines import Artifacts, EngineUnavailable, PlaywrightPage, open_page
from tests.browser.widget_flows import (
    answers_so_far,
    conversation_id,
    history_via_api,
    open_panel,
    shadow,
    sign_in,
    snap,
    wait_for_answer,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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


def test_failed_turn_is_explained_and_retry_reuses_the_client_message_id(
    chromium: PlaywrightPage, edge_url: str, artifacts: Artifacts
) -> None:
    tab = chromium
    sign_in(tab, edge_url, "carol", "/tasks/T-109")
    open_panel(tab)
    sent = tab.fail_turns(1)

    tab.click("#input")
    tab.type_text("Who is blocking this?")
    tab.press("Enter")
    wait_until(tab, "return document.querySelector('assist-chat').shadowRoot.querySelector('.msg.error');")
    message = shadow(tab, "return root.querySelector('.msg.error p').textContent;")
    assert "busy or unavailable" in message, message
    assert shadow(tab, "return root.querySelector('.msg.error').getAttribute('role');") == "alert"
    snap(tab, artifacts.screenshots, "error-retry")

    before = answers_so_far(tab)
    tab.js("window.__assist.errors = []; return true;")
    tab.click(".msg.error button")
    wait_for_answer(tab, before)

    assert len(sent) == 2 and sent[0] == sent[1] != "", f"the retry should resend the same id: {sent}"
    history = history_via_api(tab, conversation_id(tab, "carol", "T-109"))
    users = [m for m in history if m.get("role") == "ROLE_USER" and m.get("clientMessageId") == sent[0]]
    assert len(users) == 1, f"one stored user message for the retried id, found {len(users)}"
    assert shadow(tab, "return root.querySelectorAll('.msg.user').length;") == 1, (
        "the retry must not repeat the bubble"
    )
