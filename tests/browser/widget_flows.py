"""The steps a person takes with the widget, as engine-neutral helpers over `browser_engines.Page`.

State is read from the page the way the widget exposes it: the open shadow root's DOM (what is shown) and
the `assist-chat:*` events the element fires for host pages (how many answer deltas arrived).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.browser.browser_engines import Page

TURN_TIMEOUT_S = 60.0

# Records the widget's events, any alert/confirm/prompt call (so an injected script cannot go unnoticed) and
# every Content-Security-Policy violation (the demo pages send a strict policy, as a careful host does).
PROBE = """
if (window.__assist) return true;
window.__assist = {deltas: 0, answers: [], errors: [], alerts: [], csp: []};
document.addEventListener('securitypolicyviolation', (e) => {
  window.__assist.csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
const el = document.querySelector('assist-chat');
el.addEventListener('assist-chat:delta', () => { window.__assist.deltas++; });
el.addEventListener('assist-chat:answer', (e) => { window.__assist.answers.push(e.detail); });
el.addEventListener('assist-chat:error', (e) => { window.__assist.errors.push(e.detail); });
for (const name of ['alert', 'confirm', 'prompt']) {
  window[name] = (msg) => { window.__assist.alerts.push(name + ': ' + msg); };
}
return true;
"""

# The focused element, looking through the widget's shadow root: "launcher", "input", "page:<tag>", ...
DEEP_FOCUS = """
const host = document.querySelector('assist-chat');
const active = document.activeElement;
if (active === host) {
  const inner = host.shadowRoot.activeElement;
  if (!inner) return 'host';
  const inPanel = host.shadowRoot.querySelector('#panel').contains(inner);
  return (inner.id || inner.tagName.toLowerCase()) + (inPanel ? '@panel' : '');
}
return 'page:' + (active ? active.tagName.toLowerCase() : 'none');
"""


def wait_until(page: Page, body: str, *args: Any, timeout: float = 20.0, what: str = "") -> Any:
    """Poll a script until it returns something truthy; fail naming `what` and the engine."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = page.js(body, *args)
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(
        f"{page.engine}: timed out after {timeout}s waiting for {what or body} (last: {last!r})"
    )


def sign_in(page: Page, base: str, user: str, path: str) -> None:
    """Use the demo site's sign-in form, then land on `path` with the widget defined."""
    page.goto(f"{base}/login?next={path}")
    page.click(f"button[value='{user}']", in_widget=False)
    wait_until(page, "return location.pathname === arguments[0];", path, what=f"the page {path}")
    wait_until(
        page,
        "const el = document.querySelector('assist-chat');"
        "return !!(customElements.get('assist-chat') && el && el.shadowRoot"
        " && el.shadowRoot.querySelector('#launcher'));",
        what="the widget to be defined",
    )
    page.js(PROBE)


def shadow(page: Page, body: str, *args: Any) -> Any:
    """Run `body` with `root` bound to the widget's shadow root."""
    return page.js("const root = document.querySelector('assist-chat').shadowRoot;" + body, *args)


def panel_open(page: Page) -> bool:
    return bool(shadow(page, "return !root.querySelector('#panel').hidden;"))


def open_panel(page: Page) -> None:
    """Click the launcher and wait until the stored conversation (if any) is shown."""
    # The launcher appears once the edge's widget config said yes: after a reload that is a fetch away.
    wait_until(
        page,
        "const el = document.querySelector('assist-chat');"
        "return !!(el && el.shadowRoot && el.shadowRoot.querySelector('#launcher'));",
        what="the widget's launcher",
    )
    page.click("#launcher")
    wait_until(
        page, "return !document.querySelector('assist-chat').shadowRoot.querySelector('#panel').hidden;"
    )
    wait_until(
        page,
        "return document.querySelector('assist-chat').getAttribute('data-history');",
        what="the widget to restore its history",
    )


def answers_so_far(page: Page) -> int:
    return int(page.js("return window.__assist.answers.length;"))


def wait_for_answer(page: Page, before: int) -> str:
    """Wait for answer number `before + 1` and return its text as shown."""
    wait_until(
        page,
        "return window.__assist.answers.length > arguments[0] || window.__assist.errors.length > 0;",
        before,
        timeout=TURN_TIMEOUT_S,
        what="the answer",
    )
    errors = page.js("return window.__assist.errors;")
    assert not errors, f"{page.engine}: the turn failed: {errors}"
    return str(
        shadow(
            page, "const b = root.querySelectorAll('.msg.bot .bubble'); return b[b.length - 1].textContent;"
        )
    )


def ask_by_typing(page: Page, text: str) -> str:
    before = answers_so_far(page)
    page.click("#input")
    page.type_text(text)
    page.press("Enter")
    return wait_for_answer(page, before)


def deep_focus(page: Page) -> str:
    return str(page.js(DEEP_FOCUS))


def conversation_id(page: Page, user: str, task_id: str) -> str:
    """The conversation id the widget stored for this user and task."""
    found = page.js(
        "const suffix = ':' + arguments[0] + ':' + arguments[1];"
        "for (let i = 0; i < localStorage.length; i++) {"
        "  const k = localStorage.key(i);"
        "  if (k.startsWith('assist-chat:v1:') && k.endsWith(suffix)) return localStorage.getItem(k);"
        "}"
        "return null;",
        user,
        task_id or "*",
    )
    assert found, f"{page.engine}: no stored conversation for {user}/{task_id}"
    return str(found)


def history_via_api(page: Page, conversation: str) -> list[dict[str, Any]]:
    """The conversation's messages as the edge stores them, fetched with the host's token, as the widget does."""
    result = page.js(
        "return fetch('/token', {credentials: 'include'}).then((r) => r.json()).then((t) =>"
        "  fetch('/v1/conversations/' + encodeURIComponent(arguments[0]) + '/messages',"
        "        {headers: {Authorization: 'Bearer ' + t.token}})"
        ").then((r) => r.json());",
        conversation,
    )
    messages = result.get("messages") if isinstance(result, dict) else None
    assert isinstance(messages, list), f"{page.engine}: unexpected history response {result!r}"
    return messages


def snap(page: Page, directory: Path, step: str) -> Path:
    path = directory / f"{page.engine}-{step}.png"
    page.screenshot(path)
    return path
