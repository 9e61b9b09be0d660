"""The widget's end-to-end flow in Chromium, Firefox ESR and WebKitGTK, against the running product.

Each test signs in to the demo site as a person would, uses the widget on a real page, and checks what the
person sees; stored state is checked through the edge's history API. Screenshots of every engine are kept
under test-artifacts/screenshots/<engine>-<step>.png.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.browser.browser_engines import Artifacts, Page
from tests.browser.widget_flows import (
    PROBE,
    answers_so_far,
    ask_by_typing,
    conversation_id,
    deep_focus,
    history_via_api,
    open_panel,
    panel_open,
    shadow,
    sign_in,
    snap,
    wait_for_answer,
    wait_until,
)
from tests.local_stack import ROOT, subprocess_env
from tests.mesh_fixture import MeshUnderTest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

XSS_TITLE = "<img src=x onerror=alert(1)> XSS check"


def test_task_page_answer_streams_in_and_names_the_task(
    tab: Page, edge_url: str, artifacts: Artifacts
) -> None:
    sign_in(tab, edge_url, "ana", "/tasks/T-101")
    assert (
        shadow(tab, "return root.querySelector('#launcher').getAttribute('aria-label');")
        == "Abrir o assistente"
    )
    open_panel(tab)
    context = shadow(tab, "return root.querySelector('#context').textContent;")
    assert "T-101" in context and "Preparar relatório trimestral" in context, context

    before = answers_so_far(tab)
    tab.click("#quick button")  # "Resumir esta tarefa"
    answer = wait_for_answer(tab, before)
    snap(tab, artifacts.screenshots, "task-answer")

    deltas = tab.js("return window.__assist.deltas;")
    assert deltas >= 1, f"{tab.engine}: the answer arrived without any streamed delta"
    assert "T-101" in answer or "Preparar relatório trimestral" in answer, answer
    # The question is shown as the person's message, and the answer has its feedback controls.
    assert shadow(tab, "return root.querySelectorAll('.msg.user').length;") >= 1
    assert shadow(tab, "return root.querySelectorAll('.msg.bot button[data-rating]').length;") == 2


def test_widget_works_styled_under_the_pages_strict_csp(
    tab: Page, edge_url: str, artifacts: Artifacts
) -> None:
    sign_in(tab, edge_url, "ana", "/tasks/T-101")
    policy = tab.js("return fetch(location.href).then((r) => r.headers.get('content-security-policy'));")
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy, policy
    open_panel(tab)
    before = answers_so_far(tab)
    tab.click("#quick button")
    wait_for_answer(tab, before)
    snap(tab, artifacts.screenshots, "strict-csp")
    # Styled: the shadow root's stylesheet applied (a blocked <style> would leave the launcher static).
    position = shadow(tab, "return getComputedStyle(root.querySelector('#launcher')).position;")
    assert position == "fixed", f"{tab.engine}: the widget's styles did not apply under the CSP"
    assert tab.js("return window.__assist.csp;") == [], f"{tab.engine}: CSP violations"


def test_thumbs_down_comment_is_stored_and_history_survives_reload(
    tab: Page, edge_url: str, artifacts: Artifacts
) -> None:
    sign_in(tab, edge_url, "ana", "/tasks/T-101")
    open_panel(tab)
    answer = ask_by_typing(tab, "Qual é a situação desta tarefa?")

    tab.click(".msg.bot:last-of-type button[data-rating='down']")
    wait_until(
        tab,
        "return document.querySelector('assist-chat').shadowRoot.querySelector('.comment:not([hidden])');",
    )
    assert deep_focus(tab).startswith("fc-"), "the comment box should take focus"
    tab.type_text("Faltou dizer o que bloqueia a tarefa.")
    tab.click(".comment:not([hidden]) button[type='submit']")
    wait_until(
        tab,
        "const s = document.querySelector('assist-chat').shadowRoot.querySelector('.msg.bot .status');"
        "return s && s.textContent.includes('Obrigado');",
        what="the feedback confirmation",
    )
    snap(tab, artifacts.screenshots, "feedback")

    conversation = conversation_id(tab, "ana", "T-101")
    stored = [m for m in history_via_api(tab, conversation) if m.get("role") == "ROLE_ASSISTANT"]
    assert stored and stored[-1].get("feedbackRating") == "FEEDBACK_RATING_DOWN", stored

    tab.reload()
    wait_until(tab, "return !!customElements.get('assist-chat');")
    tab.js(PROBE)
    open_panel(tab)
    assert tab.js("return document.querySelector('assist-chat').getAttribute('data-history');") == "loaded"
    shown = shadow(tab, "return Array.from(root.querySelectorAll('.msg .bubble'), (b) => b.textContent);")
    assert "Qual é a situação desta tarefa?" in shown, shown
    assert answer in shown, shown
    pressed = shadow(
        tab, "return root.querySelector('.msg.bot button[data-rating=down]').getAttribute('aria-pressed');"
    )
    assert pressed == "true", "the thumbs down given before the reload should show as given"
    snap(tab, artifacts.screenshots, "history-after-reload")


def test_answer_about_a_task_titled_with_html_is_inert(
    tab: Page, edge_url: str, artifacts: Artifacts
) -> None:
    sign_in(tab, edge_url, "carol", "/tasks/T-110")
    assert tab.js("return document.querySelectorAll('img').length;") == 0, (
        "the demo page rendered the title as HTML"
    )
    open_panel(tab)
    assert XSS_TITLE in shadow(tab, "return root.querySelector('#context').textContent;")

    before = answers_so_far(tab)
    tab.click("#quick button")  # "Summarize this task"
    answer = wait_for_answer(tab, before)
    tab.js("return new Promise((r) => setTimeout(r, 500));")  # let any onerror handler fire
    snap(tab, artifacts.screenshots, "xss-answer")

    assert "T-110" in answer or "XSS check" in answer, answer
    assert tab.native_dialogs() == []
    assert tab.js("return window.__assist.alerts;") == []
    injected = shadow(tab, "return root.querySelectorAll('img, script, iframe, object, embed').length;")
    assert injected == 0, f"{tab.engine}: the answer injected {injected} element(s) into the widget"
    hrefs = shadow(tab, "return Array.from(root.querySelectorAll('a'), (a) => a.getAttribute('href'));")
    assert all(not h.lower().lstrip().startswith(("javascript:", "data:")) for h in hrefs), hrefs

    # The renderer itself, in this real engine, against the classic attacks.
    result = tab.js(
        """
        return import('/widget/assist-chat.js').then((m) => {
          window.__xss = 0;
          const box = document.createElement('div');
          document.body.append(box);
          m.renderMarkdown(box, [
            '<img src=x onerror="window.__xss++">', '<script>window.__xss++</script>',
            '<svg onload="window.__xss++">', '[a](javascript:window.__xss++)', '[b](JaVaScRiPt:window.__xss++)',
            '[c](java\\tscript:window.__xss++)', '[d](data:text/html,<script>parent.__xss++</script>)',
            '<a href="javascript:window.__xss++">e</a>', '[ok](https://example.com/x)', '[rel](/tasks/T-110)',
            '[f](//evil.example/x)', '[g](/\\\\evil.example/x)', '[h](&#47;&#47;evil.example)',
            '[i](&#x2F;&#x5C;evil.example)', '[j](\\\\/evil.example)', '[k](&#106;avascript:window.__xss++)',
          ].join('\\n\\n'));
          for (const a of box.querySelectorAll('a')) a.dispatchEvent(new MouseEvent('mouseover'));
          return new Promise((r) => setTimeout(r, 300)).then(() => ({
            xss: window.__xss,
            tags: Array.from(box.querySelectorAll('*'), (e) => e.tagName.toLowerCase()),
            hrefs: Array.from(box.querySelectorAll('a'), (a) => a.getAttribute('href')),
          }));
        });
        """
    )
    assert result["xss"] == 0, result
    assert set(result["tags"]) <= {"p", "a", "strong", "em", "code", "ul", "ol", "li", "br", "pre"}, result
    assert result["hrefs"] == ["https://example.com/x", "/tasks/T-110"], result


def test_keyboard_alone_opens_sends_and_closes(tab: Page, edge_url: str, artifacts: Artifacts) -> None:
    sign_in(tab, edge_url, "carol", "/")
    tab.js("document.activeElement && document.activeElement.blur(); window.focus(); return true;")
    for _ in range(40):
        tab.press("Tab")
        if deep_focus(tab) == "launcher":
            break
    assert deep_focus(tab) == "launcher", f"{tab.engine}: Tab never reached the launcher"

    tab.press("Enter")
    wait_until(
        tab, "return !document.querySelector('assist-chat').shadowRoot.querySelector('#panel').hidden;"
    )
    wait_until(tab, "return document.querySelector('assist-chat').getAttribute('data-history');")
    assert deep_focus(tab) == "input@panel", "opening should put focus in the message box"

    before = answers_so_far(tab)
    tab.type_text("What is overdue?")
    tab.press("Enter")
    wait_for_answer(tab, before)
    snap(tab, artifacts.screenshots, "keyboard-answer")

    # Tab cycles inside the open panel instead of wandering off into the page.
    for _ in range(12):
        tab.press("Tab")
        assert deep_focus(tab).endswith("@panel"), f"{tab.engine}: focus left the panel: {deep_focus(tab)}"
    tab.press("Shift+Tab")
    assert deep_focus(tab).endswith("@panel")

    tab.press("Escape")
    wait_until(tab, "return document.querySelector('assist-chat').shadowRoot.querySelector('#panel').hidden;")
    assert not panel_open(tab)
    assert deep_focus(tab) == "launcher", "closing should give focus back to the launcher"
    snap(tab, artifacts.screenshots, "keyboard-closed")


def test_ending_a_conversation_asks_for_satisfaction_then_starts_fresh(
    tab: Page, edge_url: str, artifacts: Artifacts
) -> None:
    sign_in(tab, edge_url, "carol", "/tasks/T-108")
    open_panel(tab)
    ask_by_typing(tab, "What is blocking this task?")
    first = conversation_id(tab, "carol", "T-108")

    tab.click("#end")
    wait_until(
        tab, "return !document.querySelector('assist-chat').shadowRoot.querySelector('#satisfaction').hidden;"
    )
    assert shadow(tab, "return root.querySelector('#composer').hidden;")
    tab.click("#satisfaction .scale button:nth-child(4)")
    tab.click("#sat-comment")
    tab.type_text("Quick and clear.")
    snap(tab, artifacts.screenshots, "satisfaction")
    tab.click("#satisfaction button[type='submit']")
    wait_until(
        tab,
        "const r = document.querySelector('assist-chat').shadowRoot;"
        "return r.querySelector('#satisfaction').hidden && r.querySelector('#log .hint[role=status]');",
        what="the thank-you after the satisfaction answer",
    )
    assert tab.js("return window.__assist.errors;") == []
    assert shadow(tab, "return root.querySelectorAll('.msg').length;") == 0

    ask_by_typing(tab, "What is due this week?")
    assert conversation_id(tab, "carol", "T-108") != first, "a new conversation should start after ending one"


def test_past_conversations_list_an_imported_chat_that_opens_and_continues(
    tab: Page, edge_url: str, artifacts: Artifacts, mesh_up: MeshUnderTest
) -> None:
    # The host's past chats, brought in with the import-history command (idempotent: every engine runs it).
    subprocess.run(
        [sys.executable, "-m", "history_import", str(ROOT / "samples" / "history-good.jsonl")],
        env=subprocess_env(MONGO_URI=mesh_up.mongo_uri),
        check=True,
        capture_output=True,
        timeout=120,
    )
    sign_in(tab, edge_url, "ana", "/")
    open_panel(tab)
    tab.click("#past-toggle")
    item = "[data-conversation-id='past-ana-1']"
    wait_until(
        tab,
        "return document.querySelector('assist-chat').shadowRoot.querySelector(arguments[0]);",
        item,
        what="the imported conversation in the list",
    )
    line = shadow(tab, "return root.querySelector(arguments[0]).textContent;", item)
    assert "O que está atrasado?" in line and "importada" in line, line
    assert shadow(tab, "return root.querySelector('#log').hidden;") is True
    snap(tab, artifacts.screenshots, "past-list")

    tab.click(item)
    wait_until(
        tab,
        "return document.querySelector('assist-chat').shadowRoot.querySelector('#log').textContent"
        ".includes('Revisar contrato do fornecedor venceu ontem.');",
        what="the imported conversation's messages",
    )
    assert shadow(tab, "return root.querySelector('#past').hidden;") is True
    before = answers_so_far(tab)
    ask_by_typing(tab, "O que vence esta semana?")
    assert answers_so_far(tab) == before + 1
    assert conversation_id(tab, "ana", "") == "past-ana-1", "the next message went to the opened conversation"
    snap(tab, artifacts.screenshots, "past-opened")
