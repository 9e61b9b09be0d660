"""The local intent classifier, its data set and the language detector.

The accuracy floors are the figures `python -m agents.nlu.evaluate` measured on the held-out split (overall
0.81, en 0.79, pt-BR 0.84, language 0.99) minus a margin, so a data or model change that loses ground fails
here rather than in production.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import pytest
from assist.v1 import common_pb2

from agents.nlu import train
from agents.nlu.classifier import IntentClassifier, LabelledUtterance, load_examples, normalise
from agents.nlu.evaluate import evaluate, format_report
from agents.nlu.language import detect_language

EN, PT = common_pb2.LANGUAGE_EN, common_pb2.LANGUAGE_PT_BR
CANONICAL: dict[int, tuple[str, str]] = {
    common_pb2.INTENT_TASK_STATUS: ("what is the status of this task?", "qual é o status dessa tarefa?"),
    common_pb2.INTENT_TASKS_DUE: ("what is due this week?", "o que vence essa semana?"),
    common_pb2.INTENT_TASKS_OVERDUE: ("which of my tasks are late?", "quais tarefas minhas estão atrasadas?"),
    common_pb2.INTENT_SUMMARIZE_TASK: ("summarize this task for me", "faz um resumo dessa tarefa"),
    common_pb2.INTENT_TASK_ASSIGNEE: (
        "who is assigned to the launch checklist?",
        "quem é o responsável pela tarefa?",
    ),
    common_pb2.INTENT_TASK_BLOCKERS: ("what is blocking this task?", "o que está travando essa tarefa?"),
    common_pb2.INTENT_GREETING: ("hello there, good morning", "oi, bom dia!"),
    common_pb2.INTENT_HELP: ("what can you help me with?", "o que você consegue fazer?"),
    common_pb2.INTENT_FEEDBACK: ("thanks, that was really helpful", "obrigado, ajudou bastante"),
    common_pb2.INTENT_HUMAN_HANDOFF: (
        "I want to talk to a real person",
        "posso falar com um atendente humano?",
    ),
    common_pb2.INTENT_OUT_OF_SCOPE: ("tell me a funny joke", "me conta uma piada engraçada"),
}


@pytest.fixture(scope="module")
def examples() -> list[LabelledUtterance]:
    return load_examples()


@pytest.fixture(scope="module")
def train_split_model(examples: list[LabelledUtterance]) -> IntentClassifier:
    return IntentClassifier.train([ex for ex in examples if ex.split == "train"])


def test_data_set_covers_every_intent_in_both_languages(examples: list[LabelledUtterance]) -> None:
    counts = Counter((ex.intent, ex.language) for ex in examples)
    intents = [v for v in common_pb2.Intent.values() if v != common_pb2.INTENT_UNSPECIFIED]
    assert len(examples) >= 320
    for intent in intents:
        for language in (EN, PT):
            assert counts[intent, language] >= 12, (common_pb2.Intent.Name(intent), language)


def test_data_set_holds_out_a_quarter_and_labels_entities(examples: list[LabelledUtterance]) -> None:
    held_out = sum(ex.split == "eval" for ex in examples) / len(examples)
    assert 0.2 <= held_out <= 0.3
    assert sum(bool(ex.entities) for ex in examples) >= 150
    assert len({ex.text for ex in examples}) == len(examples), "duplicate utterances"


def test_eval_split_accuracy_stays_above_measured_floor(examples: list[LabelledUtterance]) -> None:
    report = evaluate(examples)
    assert report.accuracy() >= 0.75
    assert report.accuracy(EN) >= 0.72
    assert report.accuracy(PT) >= 0.76
    assert report.language_accuracy() >= 0.95
    assert "top confusions" in format_report(report, "svc")


@pytest.mark.parametrize("intent", sorted(CANONICAL))
def test_canonical_example_of_every_intent_is_understood_in_both_languages(
    train_split_model: IntentClassifier, intent: int
) -> None:
    for text, language in zip(CANONICAL[intent], (EN, PT), strict=True):
        prediction = train_split_model.predict(text)
        assert prediction.intent == intent, text
        assert prediction.language == language, text
        assert 0.0 <= prediction.confidence <= 1.0


def test_accents_and_case_do_not_change_what_the_classifier_sees() -> None:
    assert normalise("Oq tá ATRASÁDO?") == normalise("oq ta atrasado?")
    assert normalise("status of 'Friday deploy'") == normalise('status of "Monday kickoff"')
    assert normalise("task T-123 due 2026-11-30") == normalise("task #9 due 2027-01-02")


def test_empty_text_is_unspecified_with_zero_confidence(train_split_model: IntentClassifier) -> None:
    prediction = train_split_model.predict("   ")
    assert prediction.intent == common_pb2.INTENT_UNSPECIFIED
    assert prediction.confidence == 0.0


def test_saved_model_loads_and_predicts_the_same(train_split_model: IntentClassifier, tmp_path: Path) -> None:
    path = tmp_path / "nlu.model"
    train_split_model.save(path)
    loaded = IntentClassifier.load(path)
    for text in ("oq tá atrasado?", "who is blocking me?", "hi"):
        assert loaded.predict(text) == train_split_model.predict(text)


def test_model_file_of_another_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.model"
    path.write_bytes(pickle.dumps({"format_version": 0, "pipeline": None}))
    with pytest.raises(ValueError, match="format version"):
        IntentClassifier.load(path)


def test_train_command_writes_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "models" / "nlu.model"
    assert train.main([str(out)]) == 0
    assert IntentClassifier.load(out).predict("what's late?").intent == common_pb2.INTENT_TASKS_OVERDUE


def _write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "utterances.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD_LINE = json.dumps({"text": "hi", "language": "en", "intent": "INTENT_GREETING", "split": "train"})


def test_malformed_jsonl_line_raises_value_error_naming_file_and_line(tmp_path: Path) -> None:
    path = _write_lines(tmp_path, GOOD_LINE, GOOD_LINE, '{"text": "oi", "language": "pt-BR",')
    with pytest.raises(ValueError, match=r"utterances\.jsonl:3: not valid JSON"):
        load_examples(path)


def test_unknown_intent_raises_value_error_naming_the_line(tmp_path: Path) -> None:
    bad = json.dumps({"text": "hi", "language": "en", "intent": "INTENT_DANCE"})
    with pytest.raises(ValueError, match=r"utterances\.jsonl:2: unknown intent 'INTENT_DANCE'"):
        load_examples(_write_lines(tmp_path, GOOD_LINE, bad))


def test_entity_not_in_its_utterance_is_rejected(tmp_path: Path) -> None:
    bad = json.dumps(
        {
            "text": "hi",
            "language": "en",
            "intent": "INTENT_GREETING",
            "entities": [{"kind": "date", "text": "x"}],
        }
    )
    with pytest.raises(ValueError, match=r":1: entity text 'x' is not in the utterance"):
        load_examples(_write_lines(tmp_path, bad))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what's late?", EN),
        ("oq tá atrasado?", PT),
        ("tem algo vencendo essa semana?", PT),
        ("who is blocking me?", EN),
        ("quais tarefas estao atrasadas", PT),
        ("what's the status of the 'Relatório de vendas' task?", EN),
    ],
)
def test_language_is_detected_from_the_text(text: str, expected: int) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["ok", "hi", "oi", "T-881?", "👍"])
def test_language_hint_wins_when_the_text_is_too_short(text: str) -> None:
    assert detect_language(text, EN) == EN
    assert detect_language(text, PT) == PT


def test_clear_text_outweighs_a_wrong_hint() -> None:
    assert detect_language("quais tarefas estão atrasadas?", EN) == PT
    assert detect_language("which of my tasks are overdue?", PT) == EN
