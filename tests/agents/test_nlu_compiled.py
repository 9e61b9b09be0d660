"""The compiled intent predictor gives sklearn's probabilities (to 1e-9) and so sklearn's intent.

Checked on every shipped utterance and on a few hundred generated and odd strings: shuffled and misspelt
chat, text that is empty once normalised (only combining accents, only punctuation), unicode from other
scripts, emoji, unknown words only, and messages thousands of characters long; for both model kinds and
for a two-intent model (sklearn's binary branches).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from assist.v1 import common_pb2
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from agents.nlu.classifier import (
    IntentClassifier,
    LabelledUtterance,
    ModelKind,
    _SklearnPredictor,
    build_pipeline,
    load_examples,
)
from agents.nlu.compiled import CompiledCalibrated, CompiledLogistic, NotCompilable, compile_pipeline

TOLERANCE = 1e-9
ODD = [
    "",
    " ",
    "\u0301\u0301\u0303",  # only combining accents: nothing left after normalise
    "?!...",
    "''",
    '"Friday deploy"',
    "T-123",
    "2026-11-30 11/30 12/1/27 0042",
    "👍",
    "🔥🔥🔥 status??? 🔥",
    "ステータスは？",  # noqa: RUF001 - a full-width question mark on purpose
    "какой статус задачи",
    "ما هو وضع المهمة",
    "Ǆǅǆ ﬁ ﬀ ½ ² ℌ",  # noqa: RUF001 - compatibility characters NFKD rewrites
    "zzqx blorf wuggle snarfle",
    "qwertyuiop asdfghjkl",
    "\t\nhello\r\n",
    "a" * 5000,
    "what is late? " * 400,
    "oq tá atrasado " * 300 + "'Relatório de vendas'",
]


@pytest.fixture(scope="module")
def examples() -> list[LabelledUtterance]:
    return load_examples()


def _generated(examples: Sequence[LabelledUtterance], count: int = 300) -> list[str]:
    """Seeded chat-like noise: shuffled and recombined words, typos, unicode and emoji sprinkled in."""
    rng = random.Random(8)
    words = sorted({w for ex in examples for w in ex.text.split()})
    extras = ["🙂", "😡", "ç", "ñ", "ß", "İ", "日本", "—", "…", "@ana", "#42", "https://x.y/z?q=1", "\u200b"]
    texts = []
    for _ in range(count):
        picked = rng.sample(words, rng.randint(1, 12))
        if rng.random() < 0.5:
            picked.append(rng.choice(extras))
        text = " ".join(picked)
        if rng.random() < 0.4 and len(text) > 3:  # a typo: drop, double or swap a character
            i = rng.randrange(len(text) - 1)
            text = rng.choice(
                [
                    text[:i] + text[i + 1 :],
                    text[:i] + text[i] + text[i:],
                    text[:i] + text[i + 1] + text[i] + text[i + 2 :],
                ]
            )
        if rng.random() < 0.2:
            text = text.upper()
        texts.append(text)
    return texts


def _assert_same_as_sklearn(pipeline: Pipeline, texts: Sequence[str]) -> None:
    compiled = compile_pipeline(pipeline)
    assert compiled.classes == tuple(int(c) for c in pipeline.classes_)
    expected = pipeline.predict_proba(list(texts))
    worst = 0.0
    for text, row in zip(texts, expected, strict=True):
        got = np.asarray(compiled.predict_proba(text))
        assert got.shape == row.shape, text
        worst = max(worst, float(np.max(np.abs(got - row))))
        assert np.allclose(got, row, rtol=0.0, atol=TOLERANCE), (text[:80], got, row)
    assert worst <= TOLERANCE


@pytest.fixture(scope="module", params=["svc", "logreg"])
def trained(request: pytest.FixtureRequest, examples: list[LabelledUtterance]) -> IntentClassifier:
    kind: ModelKind = request.param
    return IntentClassifier.train(examples, kind)


def test_compiled_probabilities_equal_sklearns_on_every_shipped_utterance(
    trained: IntentClassifier, examples: list[LabelledUtterance]
) -> None:
    _assert_same_as_sklearn(trained._pipeline, [ex.text for ex in examples])


def test_compiled_probabilities_equal_sklearns_on_generated_and_odd_text(
    trained: IntentClassifier, examples: list[LabelledUtterance]
) -> None:
    _assert_same_as_sklearn(trained._pipeline, _generated(examples) + ODD)


def test_predict_picks_the_intent_sklearn_would(
    trained: IntentClassifier, examples: list[LabelledUtterance]
) -> None:
    texts = [ex.text for ex in examples] + _generated(examples, 100) + [t for t in ODD if t.strip()]
    reference = _SklearnPredictor(trained._pipeline)
    for text in texts:
        prediction = trained.predict(text)
        scores = dict(zip(reference.classes, reference.predict_proba(text), strict=True))
        best = max(scores, key=lambda intent: (scores[intent], -intent))
        assert prediction.intent == best, text[:80]
        assert prediction.confidence == pytest.approx(scores[best], abs=TOLERANCE)


def test_both_model_kinds_compile_rather_than_fall_back_to_sklearn(trained: IntentClassifier) -> None:
    assert isinstance(trained._predictor, CompiledCalibrated | CompiledLogistic)


@pytest.mark.parametrize("kind", ["svc", "logreg"])
def test_two_intent_model_follows_sklearns_binary_branch(
    kind: ModelKind, examples: list[LabelledUtterance]
) -> None:
    two = [ex for ex in examples if ex.intent in (common_pb2.INTENT_GREETING, common_pb2.INTENT_TASKS_DUE)]
    pipeline = build_pipeline(kind).fit([ex.text for ex in two], [ex.intent for ex in two])
    _assert_same_as_sklearn(pipeline, [ex.text for ex in examples[:120]] + ODD)


def test_model_it_cannot_reproduce_is_predicted_through_sklearn(examples: list[LabelledUtterance]) -> None:
    pipeline = build_pipeline("svc")
    pipeline.steps[-1] = ("model", CalibratedClassifierCV(LinearSVC(random_state=0), cv=3, method="sigmoid"))
    pipeline.fit([ex.text for ex in examples], [ex.intent for ex in examples])
    with pytest.raises(NotCompilable, match="sigmoid"):
        compile_pipeline(pipeline)
    classifier = IntentClassifier(pipeline, IntentClassifier.train(examples)._detector)
    assert isinstance(classifier._predictor, _SklearnPredictor)
    assert classifier.predict("what's late?").intent == common_pb2.INTENT_TASKS_OVERDUE
