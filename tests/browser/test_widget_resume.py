"""A network drop mid-answer: the widget picks the answer up by itself and the person sees it once.

The browser talks to the edge through a proxy (testing/dropping_proxy.py) that closes the first answer's
connection after three events (accepted, intent, the first text), in every engine alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from testing.dropping_proxy import DroppingProxy
from tests.browser.browser_engines import Artifacts, Page
from tests.browser.widget_flows import (
    answers_so_far,
    conversation_id,
    history_via_api,
    open_panel,
    shadow,
    sign_in,
    snap,
    wait_for_answer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def proxy(edge_url: str) -> Iterator[DroppingProxy]:
    edge = urlsplit(edge_url)
    dropping = DroppingProxy(edge.hostname or "127.0.0.1", edge.port or 80, drops=1, after_events=3)
    dropping.start()
    yield dropping
    dropping.stop()


def test_an_answer_cut_by_the_network_is_resumed_and_shown_once(
    tab: Page, proxy: DroppingProxy, artifacts: Artifacts
) -> None:
    sign_in(tab, proxy.url, "carol", "/tasks/T-109")
    open_panel(tab)
    tab.js(
        "window.__assist.reconnects = 0; window.__assist.texts = [];"
        "const el = document.querySelector('assist-chat');"
        "el.addEventListener('assist-chat:reconnecting', () => { window.__assist.reconnects++; });"
        "el.addEventListener('assist-chat:delta', (e) => { window.__assist.texts.push(e.detail.text); });"
        "return true;"
    )
    before = answers_so_far(tab)
    tab.click("#input")
    tab.type_text("Who is blocking this?")
    tab.press("Enter")
    wait_for_answer(tab, before)
    snap(tab, artifacts.screenshots, "resumed-answer")

    assert proxy.dropped == 1, "the proxy cut the first answer's stream"
    (client_id, fresh), *resumed = proxy.turn_requests
    assert fresh == "" and resumed, f"the widget resent the message by itself: {proxy.turn_requests}"
    assert resumed[0][0] == client_id and resumed[0][1].count(":") == 2, (
        f"with the same client message id and the last event id it had: {proxy.turn_requests}"
    )
    assert tab.js("return window.__assist.reconnects;") >= 1
    history = history_via_api(tab, conversation_id(tab, "carol", "T-109"))
    turn = [m for m in history if m.get("clientMessageId") == client_id]
    assert [m.get("role") for m in turn] == ["ROLE_USER", "ROLE_ASSISTANT"], f"one pair stored: {turn}"
    assert history[-1] == turn[-1], "nothing was stored after the answer"
    stored = str(turn[1].get("text", ""))
    streamed = "".join(tab.js("return window.__assist.texts;"))
    assert streamed == stored, "every piece of text arrived once: none lost at the cut, none repeated"
    answer_event = tab.js("return window.__assist.answers[window.__assist.answers.length - 1];")
    assert answer_event["text"] == stored
    assert shadow(tab, "return root.querySelectorAll('.msg.bot .bubble').length;") >= 1
    bubbles = shadow(
        tab, "return Array.from(root.querySelectorAll('.msg.bot .bubble')).map((b) => b.textContent);"
    )
    assert bubbles.count(bubbles[-1]) == 1, "the answer is shown in one bubble, not twice"
