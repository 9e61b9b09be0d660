"""The prompt files: the shipped set loads and covers every intent; a bad file fails naming file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from assist.v1 import common_pb2

from agents.nlg.gemini_writer import build_request
from agents.nlg.prompts import PROMPTS_DIR, PromptFileError, load_prompts
from tests.agents.conftest import generation_input

TASK_INTENTS = [
    common_pb2.INTENT_TASK_STATUS,
    common_pb2.INTENT_TASKS_DUE,
    common_pb2.INTENT_TASKS_OVERDUE,
    common_pb2.INTENT_SUMMARIZE_TASK,
    common_pb2.INTENT_TASK_ASSIGNEE,
    common_pb2.INTENT_TASK_BLOCKERS,
]


@pytest.fixture
def prompts_copy(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, fragment: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line)


def test_shipped_prompts_serve_every_intent_with_an_id_and_version() -> None:
    book = load_prompts()
    assert set(book.by_intent) == set(common_pb2.Intent.values())
    assert book.system.tag == "assist_system@1"
    for prompt in book.by_intent.values():
        assert prompt.tag.count("@") == 1 and prompt.version >= 1


def test_factual_task_answers_are_cold_and_smalltalk_is_warmer() -> None:
    book = load_prompts()
    greeting = book.for_intent(common_pb2.INTENT_GREETING).parameters
    for intent in TASK_INTENTS:
        task = book.for_intent(intent).parameters
        assert 0.0 < task.temperature <= 0.2
        assert greeting.temperature > task.temperature
    assert book.for_intent(common_pb2.INTENT_TASKS_OVERDUE).grounded
    assert not book.for_intent(common_pb2.INTENT_HELP).grounded


def test_few_shot_examples_precede_the_question_with_their_own_facts() -> None:
    request = build_request(generation_input(), load_prompts())
    roles = [c.role for c in request.contents]
    assert roles[-1] == "user" and roles[:-1] == ["user", "model"] * (len(roles) // 2)
    assert "Update pricing page" in (request.contents[0].parts or [])[0].text  # type: ignore[operator]
    assert "Budget review" in (request.contents[-1].parts or [])[0].text  # type: ignore[operator]


def test_invalid_toml_names_the_file_and_line(prompts_copy: Path) -> None:
    bad = prompts_copy / "help.toml"
    _edit(bad, "top_k = 40", "top_k = = 40")
    with pytest.raises(PromptFileError) as failure:
        load_prompts(prompts_copy)
    assert str(failure.value).startswith(f"{bad}:{_line_of(bad, 'top_k = = 40')}:")
    assert "invalid TOML" in str(failure.value)


def test_a_bad_parameter_names_the_file_line_and_key(prompts_copy: Path) -> None:
    bad = prompts_copy / "smalltalk.toml"
    _edit(bad, "temperature = 0.7", 'temperature = "warm"')
    with pytest.raises(PromptFileError) as failure:
        load_prompts(prompts_copy)
    message = str(failure.value)
    assert message.startswith(f"{bad}:{_line_of(bad, 'temperature =')}: parameters.temperature:")


def test_an_out_of_range_override_names_the_override(prompts_copy: Path) -> None:
    bad = prompts_copy / "task_answer.toml"
    _edit(bad, "max_output_tokens = 600", "max_output_tokens = 99999")
    line = _line_of(bad, "max_output_tokens = 99999")
    with pytest.raises(
        PromptFileError, match=rf"task_answer\.toml:{line}: overrides\.INTENT_SUMMARIZE_TASK\.max_output"
    ):
        load_prompts(prompts_copy)


def test_an_unknown_placeholder_in_a_template_is_refused(prompts_copy: Path) -> None:
    _edit(prompts_copy / "help.toml", "Message: $question", "Message: $question $user_email")
    with pytest.raises(PromptFileError, match=r"help\.toml:\d+: template: .*user_email"):
        load_prompts(prompts_copy)


def test_a_shared_prompt_may_not_carry_task_facts(prompts_copy: Path) -> None:
    _edit(prompts_copy / "help.toml", "Message: $question", "Message: $question $facts_json")
    with pytest.raises(PromptFileError, match="only a grounded prompt"):
        load_prompts(prompts_copy)


def test_an_intent_served_by_no_file_fails_the_start(prompts_copy: Path) -> None:
    (prompts_copy / "out_of_scope.toml").unlink()
    with pytest.raises(PromptFileError, match="INTENT_OUT_OF_SCOPE"):
        load_prompts(prompts_copy)


def test_an_intent_served_twice_names_both_files(prompts_copy: Path) -> None:
    handoff = prompts_copy / "handoff.toml"
    _edit(handoff, 'intents = ["INTENT_HUMAN_HANDOFF"]', 'intents = ["INTENT_HUMAN_HANDOFF", "INTENT_HELP"]')
    _edit(handoff, "[instructions]\n", '[instructions]\nINTENT_HELP = "Say what you do."\n')
    with pytest.raises(
        PromptFileError, match=r"help\.toml:\d+: intents: INTENT_HELP is also in handoff\.toml"
    ):
        load_prompts(prompts_copy)
