"""A seeded usability study: simulated testers drive the real edge, the relay and the analytics consumer carry
their records as events, and `python -m analytics.usability report` must give back exactly what was sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from analytics.usability import build_report, days_between, read_facts
from analytics.usability_figures import UsabilityFigures, intent_name, writer_name
from devtools.launcher import ROOT
from mesh.storage.mongo import connect, default_database
from testing.sse import new_conversation, send_message
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e

STARTED, SUCCEEDED, ABANDONED = (
    "STUDY_RECORD_KIND_TASK_STARTED",
    "STUDY_RECORD_KIND_TASK_SUCCEEDED",
    ("STUDY_RECORD_KIND_TASK_ABANDONED"),
)


@dataclass
class SimulatedTester:
    """One simulated tester: what they do in the study, and in the chat (messages, ratings, CSAT)."""

    name: str
    language: str
    # (task id, seconds after the start of the session it began, seconds it took, outcome or None)
    tasks: list[tuple[str, int, int, str | None]]
    sus: list[int]
    messages: list[str]
    ratings: list[list[str]]  # per message, the ratings given in order (the last one counts)
    csat: int
    user_id: str = ""
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)


TESTERS = [
    SimulatedTester(
        "t1", "LANGUAGE_PT_BR",
        [("late-this-week", 0, 42, SUCCEEDED), ("who-blocks", 60, 90, SUCCEEDED), ("summarize-task", 200, 90, ABANDONED)],
        [5, 1, 5, 1, 5, 1, 5, 1, 5, 1],  # SUS 100
        ["O que está atrasado?"], [["FEEDBACK_RATING_UP"]], 5,
    ),
    SimulatedTester(
        "t2", "LANGUAGE_EN",
        [("late-this-week", 0, 30, SUCCEEDED), ("who-blocks", 40, 60, ABANDONED), ("talk-to-person", 120, 0, None)],
        [4, 2, 4, 2, 4, 2, 4, 2, 4, 2],  # SUS 75
        ["What is late?", "I want to talk to a human, please"],
        [["FEEDBACK_RATING_DOWN"], ["FEEDBACK_RATING_UP"]], 2,
    ),
    SimulatedTester(
        "t3", "LANGUAGE_EN",
        [("late-this-week", 0, 55, SUCCEEDED), ("summarize-task", 60, 60, SUCCEEDED)],
        [3, 3, 3, 3, 3, 3, 3, 3, 3, 3],  # SUS 50
        ["What is due this week?"], [["FEEDBACK_RATING_DOWN", "FEEDBACK_RATING_UP"]], 4,
    ),
]  # fmt: skip


def _stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _records(tester: SimulatedTester, start: dt.datetime) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for task_id, began, took, outcome in tester.tasks:
        kinds = [(STARTED, began)] + ([(outcome, began + took)] if outcome else [])
        for kind, at in kinds:
            records.append(
                {"kind": kind, "taskId": task_id, "occurTime": _stamp(start + dt.timedelta(seconds=at))}
            )
    records.append({"kind": "STUDY_RECORD_KIND_SUS_ANSWERED", "susAnswers": tester.sus,
                    "occurTime": _stamp(start + dt.timedelta(seconds=400))})  # fmt: skip
    return [
        {**r, "recordId": uuid.uuid4().hex, "sessionId": tester.session_id, "language": tester.language}
        for r in records
    ]


def _run_tester(
    client: httpx.Client, mesh: MeshUnderTest, tester: SimulatedTester, start: dt.datetime
) -> dict[str, Any]:
    """Do what the tester does; return what the mesh said (intents and writers of the answers)."""
    headers = mesh.auth(tester.user_id)
    seen: dict[str, Any] = {"intents": [], "writers": [], "down_intents": []}
    conversation_id = new_conversation(client, headers)
    for text, ratings in zip(tester.messages, tester.ratings, strict=True):
        turn = send_message(client, conversation_id, text, headers, client_message_id=uuid.uuid4().hex)
        assert turn.status == 200, turn
        intent, done = turn.first("intent")["intent"], turn.first("done")
        seen["intents"].append(intent)
        seen["writers"].append(done["writer"])
        for rating in ratings:
            r = client.post(
                f"/v1/messages/{done['messageId']}/feedback", json={"rating": rating}, headers=headers
            )
            assert r.status_code == 200, r.text
        if ratings[-1] == "FEEDBACK_RATING_DOWN":
            seen["down_intents"].append(intent)
    r = client.post(
        f"/v1/conversations/{conversation_id}/satisfaction", json={"score": tester.csat}, headers=headers
    )
    assert r.status_code == 200, r.text
    records = _records(tester, start)
    r = client.post("/v1/study/events", json={"records": records}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] == len(records)
    again = client.post("/v1/study/events", json={"records": records[:2]}, headers=headers)
    assert again.status_code == 200 and again.json().get("stored", 0) == 0, "a resent record is stored once"
    seen["events"] = len(records) + len(tester.messages) + sum(map(len, tester.ratings)) + 1
    return seen


async def _count_facts(mongo_uri: str, users: set[str], days: list[str]) -> int:
    client = connect(mongo_uri, 5000)
    try:
        facts = await read_facts(default_database(client), days)
    finally:
        await client.close()
    return sum(1 for f in facts if f.get("user_id") in users)


def _wait_for_facts(mongo_uri: str, users: set[str], expected: int, day: dt.date) -> UsabilityFigures:
    """The figures once the consumer has stored every event of these users (relay and consumer are async)."""
    since = day - dt.timedelta(days=1)
    deadline = time.monotonic() + 90
    while True:
        stored = asyncio.run(_count_facts(mongo_uri, users, days_between(since, day)))
        if stored >= expected or time.monotonic() > deadline:
            assert stored == expected, f"{stored} of {expected} events reached the analytics store"
            return asyncio.run(build_report(mongo_uri, since, day))
        time.sleep(1)


def test_seeded_study_report_matches_what_the_testers_sent(mesh_up: MeshUnderTest, tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(minutes=30)
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        seen = {}
        for tester in TESTERS:
            tester.user_id = f"study-{run}-{tester.name}"
            seen[tester.name] = _run_tester(client, mesh_up, tester, start)
    users = {t.user_id for t in TESTERS}
    figures = _wait_for_facts(mesh_up.mongo_uri, users, sum(s["events"] for s in seen.values()), now.date())

    assert set(figures.participants) == users and figures.sessions == 3
    assert figures.sus_scores == [50.0, 75.0, 100.0] and figures.sus_mean == 75.0
    assert len(figures.attempts) == 8
    assert figures.completion_rate == 5 / 8
    assert sorted(figures.success_seconds) == [30.0, 42.0, 55.0, 60.0, 90.0]
    by_task = {t.task_id: t for t in figures.tasks}
    assert (by_task["late-this-week"].succeeded, by_task["late-this-week"].attempts) == (3, 3)
    assert (by_task["who-blocks"].succeeded, by_task["who-blocks"].abandoned) == (1, 1)
    assert by_task["who-blocks"].abandoned_seconds == [60.0]
    assert (by_task["talk-to-person"].unfinished, by_task["talk-to-person"].attempts) == (1, 1)
    assert [t.task_id for t in figures.tasks][:2] == ["late-this-week", "who-blocks"], "the file's order"

    intents = [i for s in seen.values() for i in s["intents"]]
    assert figures.turns == 4
    assert dict(figures.intents) == {intent_name_of(i): intents.count(i) for i in intents}
    assert figures.handoff_turns == intents.count("INTENT_HUMAN_HANDOFF") == 1
    assert figures.handoff_rate == 1 / 4
    writers = [w for s in seen.values() for w in s["writers"]]
    assert dict(figures.writers) == {writer_name_of(w): writers.count(w) for w in writers}
    assert (figures.thumbs_up, figures.thumbs_down) == (3, 1), "t3 changed its mind: the last rating counts"
    assert figures.thumbs_ratio == 0.75
    assert dict(figures.thumbs_down_by_intent) == {intent_name_of(seen["t2"]["down_intents"][0]): 1}
    assert figures.csat_scores == [2, 4, 5] and figures.csat == 2 / 3

    html = tmp_path / "usability.html"
    since = (now.date() - dt.timedelta(days=1)).isoformat()
    command = [sys.executable, "-m", "analytics.usability", "report", "--since", since, "--html", str(html)]
    env = {**os.environ, "MONGO_URI": mesh_up.mongo_uri}
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "participants: 3  sessions: 3" in out.stdout
    assert "mean 75.0  median 75.0  min 50.0  max 100.0" in out.stdout
    assert "overall: 62.5 % of 8 attempts; time on task median 55.0 s, mean 55.4 s (n=5)" in out.stdout
    assert "thumbs ratio: 75.0 % up (3 up, 1 down, 4 rated)" in out.stdout
    assert "CSAT: 66.7 % scored 4-5 of 3 rated conversations" in out.stdout
    assert "hand-off rate: 25.0 %" in out.stdout
    page = html.read_text()
    assert page.count('src="data:image/png;base64,') == 5 and "<svg" not in page
    if os.environ.get("ASSIST_USABILITY_REPORT_COPY"):  # the note's screenshot is taken from this copy
        Path(os.environ["ASSIST_USABILITY_REPORT_COPY"]).write_text(page)


def intent_name_of(name: str) -> str:
    from assist.v1 import common_pb2

    return intent_name(common_pb2.Intent.Value(name))


def writer_name_of(name: str) -> str:
    from assist.v1 import nlg_pb2

    return writer_name(nlg_pb2.Writer.Value(name))
