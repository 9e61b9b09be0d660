"""`python -m eval.nlg --cases FILE --compare A,B`: two prompt versions on the reviewed cases, side by side.

The fake Gemini plays a model that follows one instruction only the new prompt version carries, so the
comparison must show the new version passing where the shipped one fails, through the real client path.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agents.nlg.prompts import PROMPTS_DIR
from eval.nlg import load_cases, main
from eval.prompt_compare import book_tags, prompts_at
from testing.gemini_server import FakeGemini, GeminiServer, RecordedRequest, Reply, answer

INSTRUCTION = "Always write each due date in ISO form."
CASE = {
    "id": "fb-0123456789ab",
    "review": "accepted",
    "language": "en",
    "intent": "INTENT_TASKS_OVERDUE",
    "question": "what is late?",
    "today": "2026-01-10",
    "tasks": [
        {"task_id": "T-1", "title": "Budget review", "status": "TASK_STATUS_TODO", "due_date": "2026-01-05"}
    ],
    "expect": {"titles": ["Budget review"], "dates": ["2026-01-05"], "absent": []},
}


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = GeminiServer()
    server.start()
    try:
        yield server.fake
    finally:
        server.stop()


def model_following(instruction: str) -> Callable[[RecordedRequest], Reply]:
    """A model that gives the date only when the prompt asks for it."""

    def respond(request: RecordedRequest) -> Reply:
        if instruction in request.text():
            return answer("Budget review is late: it was due on 2026-01-05.")
        return answer("Budget review is late.")

    return respond


def new_prompt_version(tmp_path: Path) -> Path:
    directory = tmp_path / "prompts-v2"
    shutil.copytree(PROMPTS_DIR, directory)
    path = directory / "task_answer.toml"
    text = path.read_text(encoding="utf-8").replace("version = 1", "version = 2", 1)
    path.write_text(
        text.replace("Question: $question", f"{INSTRUCTION}\nQuestion: $question"), encoding="utf-8"
    )
    return directory


def test_compare_shows_each_versions_pass_rates_on_reviewed_cases_only(
    fake: FakeGemini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.responder = model_following(INSTRUCTION)
    pending = {**CASE, "id": "fb-pending", "review": "pending"}
    cases = tmp_path / "feedback_cases.json"
    cases.write_text(json.dumps({"cases": [CASE, pending]}), encoding="utf-8")
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.setenv("GEMINI_BASE_URL", fake.base_url)
    v2 = new_prompt_version(tmp_path)

    assert main(["--cases", str(cases), "--compare", f"shipped,{v2}"]) == 0

    out = capsys.readouterr().out
    table = out[out.index("\ncheck") :]
    rows = {line.split()[0]: line.split()[1:] for line in table.strip().splitlines()[1:6]}
    assert rows["names"] == ["0/1", "0%", "1/1", "100%"]
    assert rows["grounded"] == ["1/1", "100%", "1/1", "100%"]
    assert rows["all"] == ["0/1", "0%", "1/1", "100%"]
    assert "task_answer@1" in table and "task_answer@2" in table
    assert f"fb-0123456789ab: fails with shipped, passes with {v2}" in table
    assert len(fake.requests) == 2, "the pending case is not asked"
    assert [c[0] for c in load_cases(cases)] == ["fb-0123456789ab"]


def test_a_git_revision_names_the_prompt_files_as_committed(tmp_path: Path) -> None:
    book = prompts_at("git:HEAD", tmp_path)

    assert "task_answer@" in book_tags(book)
    assert sorted(p.name for p in next(tmp_path.iterdir()).iterdir()) == sorted(
        p.name for p in PROMPTS_DIR.glob("*.toml")
    )
