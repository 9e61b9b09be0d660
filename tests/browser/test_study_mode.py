"""Study mode in a real Chromium: the tasks are offered, outcomes are recorded, and the ten SUS statements
are answered with the keyboard alone; the records reach the coordinator's store through the edge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from tests.browser.browser_engines import DESKTOP, Artifacts, EngineUnavailable, PlaywrightPage, open_page
from tests.browser.widget_flows import open_panel, shadow, sign_in, snap, wait_until
from tests.mesh_fixture import MeshUnderTest

pytestmark = [
    pytest.mark.e2e,
]

ANSWERS = [4, 2, 5, 1, 4, 2, 5, 1, 3, 2]  # SUS (3+4+4+4+4+3+4+4+2+3) * 2.5 = 87.5


@pytest.fixture
def chromium(artifacts: Artifacts) -> Iterator[PlaywrightPage]:
    try:
        tab = open_page("chromium", artifacts.logs, DESKTOP)
    except EngineUnavailable as exc:
        pytest.fail(f"chromium cannot be started: {exc}")
    assert isinstance(tab, PlaywrightPage)
    try:
        yield tab
    finally:
        tab.close()


def _focused(tab: PlaywrightPage) -> str:
    return str(shadow(tab, "return root.activeElement ? root.activeElement.textContent : '';"))


def _sessions(mongo_uri: str) -> dict[str, list[dict[str, object]]]:
    # Synchronous pymongo: Playwright's sync API already runs an event loop in this thread.
    client: MongoClient[dict[str, object]] = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        docs = list(client.get_default_database().study.find({"user_id": "carol"}))
    finally:
        client.close()
    by_session: dict[str, list[dict[str, object]]] = {}
    for doc in docs:
        by_session.setdefault(str(doc["session_id"]), []).append(doc)
    return by_session


def test_study_panel_records_tasks_and_sus_is_answerable_by_keyboard(
    chromium: PlaywrightPage, edge_url: str, mesh_up: MeshUnderTest, artifacts: Artifacts
) -> None:
    tab = chromium
    sign_in(tab, edge_url, "carol", "/")
    tab.js("document.querySelector('assist-chat').setAttribute('study', '');")
    open_panel(tab)
    tasks = shadow(tab, "return [...root.querySelectorAll('#study li')].map((li) => li.dataset.task);")
    assert tasks[:2] == ["late-this-week", "who-blocks"] and len(tasks) == 6
    assert shadow(tab, "return root.querySelector('#study-title').textContent;") == "Usability study"

    shadow(tab, "root.querySelector('#study li[data-task=\"late-this-week\"] button').focus();")
    tab.press("Enter")  # Start
    wait_until(tab, "return document.querySelector('assist-chat').shadowRoot"
               ".querySelector('#study li[data-state=\"running\"]');", what="a running task")  # fmt: skip
    assert "It worked" in _focused(tab)
    tab.press("Enter")  # It worked: focus moves to the next task's Start
    assert "Start" in _focused(tab)
    tab.press("Enter")
    tab.press("Tab")  # from "It worked" to "Give up"
    tab.press("Enter")
    states = shadow(
        tab, "return [...root.querySelectorAll('#study li')].slice(0, 2).map((li) => li.dataset.state);"
    )
    assert states == ["succeeded", "abandoned"]
    snap(tab, artifacts.screenshots, "study-tasks")

    shadow(tab, "root.querySelector('#study-finish').focus();")
    tab.press("Enter")
    assert shadow(tab, "return root.querySelectorAll('#sus fieldset legend').length;") == 10
    assert shadow(tab, "return root.activeElement.name;") == "sus-1"
    for i, answer in enumerate(ANSWERS):
        tab.press("Space")  # checks the focused radio (1)
        for _ in range(answer - 1):
            tab.press("ArrowRight")  # moves to and checks the next value
        assert (
            shadow(tab, "return root.activeElement.name + '=' + root.activeElement.value;")
            == f"sus-{i + 1}={answer}"
        )
        tab.press("Tab")  # next statement's group, then the send button
    snap(tab, artifacts.screenshots, "study-sus")
    tab.press("Enter")
    wait_until(tab, "return document.querySelector('assist-chat').shadowRoot.querySelector('#study-done');",
               what="the thanks after the questionnaire")  # fmt: skip

    sessions = _sessions(mesh_up.mongo_uri)
    ours = [docs for docs in sessions.values() if any(d["sus_answers"] == ANSWERS for d in docs)]
    assert len(ours) == 1, "one study session holds the questionnaire"
    kinds = sorted((str(d["task_id"]), int(str(d["kind"]))) for d in ours[0])
    assert kinds == [
        ("", 4),
        ("late-this-week", 1),
        ("late-this-week", 2),
        ("who-blocks", 1),
        ("who-blocks", 3),
    ]


def test_a_tester_in_the_study_mode_flag_gets_the_study_panel_without_the_attribute(
    chromium: PlaywrightPage, edge_url: str, mesh_up: MeshUnderTest, artifacts: Artifacts
) -> None:
    tab = chromium
    with mesh_up.study_testers("bruno"):
        sign_in(tab, edge_url, "bruno", "/")
        wait_until(tab, "return document.querySelector('assist-chat').hasAttribute('data-study');",
                   what="study mode from the widget config")  # fmt: skip
        assert tab.js("return document.querySelector('assist-chat').hasAttribute('study');") is False
        open_panel(tab)
        tasks = shadow(tab, "return [...root.querySelectorAll('#study li')].map((li) => li.dataset.task);")
        assert tasks[:2] == ["late-this-week", "who-blocks"] and len(tasks) == 6
        # Where the attribute puts it: first under the header, above the conversation.
        assert shadow(tab, "return root.querySelector('.head').nextElementSibling.id;") == "study"
        snap(tab, artifacts.screenshots, "study-from-flag")

        # Someone outside the cohort, on the same page, gets the plain widget.
        sign_in(tab, edge_url, "ana", "/")
        assert tab.js("return document.querySelector('assist-chat').getAttribute('data-enabled');") == "true"
        assert shadow(tab, "return root.querySelector('#study') === null;") is True
