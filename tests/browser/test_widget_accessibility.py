"""axe-core on the page with the widget open, at desktop and phone size, in Chromium.

axe-core (the npm package the widget's install brings) is injected into the real page and run over the
whole document, the widget's open shadow root included, after a turn so that answers, feedback controls
and the comment box are all on screen. Serious and critical violations fail the test; the full result is
kept in test-artifacts/reports/ and summarised in the output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.browser.browser_engines import (
    DESKTOP,
    PHONE,
    ROOT,
    Artifacts,
    EngineUnavailable,
    PlaywrightPage,
    Viewport,
    open_page,
)
from tests.browser.widget_flows import ask_by_typing, open_panel, shadow, sign_in, snap, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AXE = ROOT / "widget" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def chromium_at(request: pytest.FixtureRequest, artifacts: Artifacts) -> Iterator[tuple[PlaywrightPage, str]]:
    viewport: Viewport = request.param
    try:
        tab = open_page("chromium", artifacts.logs, viewport)
    except EngineUnavailable as exc:
        pytest.fail(f"chromium cannot be started: {exc}")
    assert isinstance(tab, PlaywrightPage)
    try:
        yield tab, request.node.callspec.id
    finally:
        tab.close()


def test_open_widget_has_no_serious_or_critical_axe_violations(
    chromium_at: tuple[PlaywrightPage, str], edge_url: str, artifacts: Artifacts
) -> None:
    tab, size = chromium_at
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run scripts/install_browsers.sh (npm ci in widget/)")
    sign_in(tab, edge_url, "ana", "/tasks/T-101")
    open_panel(tab)
    ask_by_typing(tab, "Resuma esta tarefa")
    tab.click(".msg.bot:last-of-type button[data-rating='down']")
    wait_until(
        tab,
        "return document.querySelector('assist-chat').shadowRoot.querySelector('.comment:not([hidden])');",
    )

    if size == "phone":
        rect = shadow(
            tab,
            "const r = root.querySelector('#panel').getBoundingClientRect(); return [r.x, r.y, r.width, r.height];",
        )
        viewport = tab.js("return [innerWidth, innerHeight];")
        assert rect == [0, 0, viewport[0], viewport[1]], (
            f"the panel should fill the phone screen: {rect} vs {viewport}"
        )
    snap(tab, artifacts.screenshots, f"axe-{size}")

    tab.add_script(AXE)
    result = tab.js("return axe.run(document, {resultTypes: ['violations', 'incomplete']});")
    report = artifacts.reports / f"axe-chromium-{size}.json"
    report.write_text(json.dumps(result, indent=2), encoding="utf-8")

    violations = result["violations"]
    summary = [f"{v['impact']}: {v['id']} ({len(v['nodes'])} node(s)) - {v['help']}" for v in violations]
    print(
        f"\naxe-core {result['testEngine']['version']} at {size}: {len(violations)} violation(s), "
        f"{len(result['passes'])} passed rule(s), {len(result['incomplete'])} to review; full result in {report}"
    )
    for line in summary:
        print("  " + line)
    serious = [
        line for line, v in zip(summary, violations, strict=True) if v["impact"] in ("serious", "critical")
    ]
    assert not serious, "serious or critical accessibility violations:\n" + "\n".join(serious)

    # The dark theme's colours must meet AA as well.
    tab.js("document.querySelector('assist-chat').setAttribute('theme', 'dark'); return true;")
    snap(tab, artifacts.screenshots, f"axe-{size}-dark")
    dark = tab.js("return axe.run(document, {runOnly: ['color-contrast'], resultTypes: ['violations']});")
    (artifacts.reports / f"axe-chromium-{size}-dark-contrast.json").write_text(
        json.dumps(dark, indent=2), encoding="utf-8"
    )
    low = [f"{v['id']}: {n['target']}" for v in dark["violations"] for n in v["nodes"]]
    assert not low, "dark theme contrast violations:\n" + "\n".join(low)
