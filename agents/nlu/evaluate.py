"""Held-out evaluation: `python -m agents.nlu.evaluate [--model svc|logreg] [--compare] [--timing]`.

Trains on the "train" split of the shipped data set, predicts the "eval" split and prints overall and
per-language accuracy, per-intent precision and recall, the most frequent confusions and the language
detector's accuracy. `--compare` prints the headline figures for both estimators, which is how
`classifier.DEFAULT_MODEL` was chosen. `--timing` prints the CPU per prediction of sklearn's path and of
the compiled predictor in the same run (alternating, so a busy machine slows both alike) and their ratio.
Plain text, so it can be pasted into an issue.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assist.v1 import common_pb2

from agents.nlu.classifier import (
    DEFAULT_MODEL,
    IntentClassifier,
    LabelledUtterance,
    ModelKind,
    _SklearnPredictor,
    load_examples,
)
from agents.nlu.compiled import TextPredictor, compile_pipeline


@dataclass(frozen=True)
class Report:
    """Predictions for the eval split, with the figures derived from them."""

    examples: list[LabelledUtterance]
    predicted: list[int]
    confidences: list[float]
    languages: list[int]
    train_seconds: float

    def accuracy(self, language: int | None = None) -> float:
        pairs = [
            (ex.intent, p)
            for ex, p in zip(self.examples, self.predicted, strict=True)
            if language is None or ex.language == language
        ]
        return sum(gold == p for gold, p in pairs) / len(pairs) if pairs else 0.0

    def above(self, threshold: float) -> tuple[float, float]:
        """Accuracy and coverage of the predictions at or above a confidence: how a fallback would fare."""
        kept = [
            ex.intent == p
            for ex, p, c in zip(self.examples, self.predicted, self.confidences, strict=True)
            if c >= threshold
        ]
        accuracy = sum(kept) / len(kept) if kept else 0.0
        return accuracy, len(kept) / len(self.examples) if self.examples else 0.0

    def language_accuracy(self) -> float:
        hits = sum(ex.language == lang for ex, lang in zip(self.examples, self.languages, strict=True))
        return hits / len(self.examples) if self.examples else 0.0

    def precision_recall(self, intent: int) -> tuple[float, float, int]:
        gold = [ex.intent == intent for ex in self.examples]
        pred = [p == intent for p in self.predicted]
        true_pos = sum(g and p for g, p in zip(gold, pred, strict=True))
        precision = true_pos / sum(pred) if any(pred) else 0.0
        recall = true_pos / sum(gold) if any(gold) else 0.0
        return precision, recall, sum(gold)

    def confusions(self) -> list[tuple[tuple[int, int], int]]:
        pairs = Counter(
            (ex.intent, p) for ex, p in zip(self.examples, self.predicted, strict=True) if ex.intent != p
        )
        return sorted(pairs.items(), key=lambda item: (-item[1], item[0]))


def evaluate(examples: Sequence[LabelledUtterance], kind: ModelKind = DEFAULT_MODEL) -> Report:
    """Train on the train split, predict the eval split (no language hint, so detection is measured too)."""
    train = [ex for ex in examples if ex.split == "train"]
    held_out = [ex for ex in examples if ex.split == "eval"]
    started = time.perf_counter()
    model = IntentClassifier.train(train, kind)
    seconds = time.perf_counter() - started
    predictions = [model.predict(ex.text) for ex in held_out]
    return Report(
        held_out,
        [p.intent for p in predictions],
        [p.confidence for p in predictions],
        [p.language for p in predictions],
        seconds,
    )


def _name(intent: int) -> str:
    return common_pb2.Intent.Name(intent).removeprefix("INTENT_")  # type: ignore[arg-type]


def format_report(report: Report, kind: str) -> str:
    en, pt = common_pb2.LANGUAGE_EN, common_pb2.LANGUAGE_PT_BR
    lines = [
        f"model: {kind}  eval utterances: {len(report.examples)}  train time: {report.train_seconds:.2f}s",
        f"accuracy: {report.accuracy():.3f}  en: {report.accuracy(en):.3f}  pt-BR: {report.accuracy(pt):.3f}",
        f"language detection accuracy: {report.language_accuracy():.3f}",
    ]
    for threshold in (0.4, 0.5, 0.6):
        accuracy, coverage = report.above(threshold)
        lines.append(f"confidence >= {threshold}: accuracy {accuracy:.3f} on {coverage:.0%} of messages")
    lines += [
        "",
        f"{'intent':<16}{'precision':>10}{'recall':>8}{'n':>4}",
    ]
    for intent in sorted({ex.intent for ex in report.examples}):
        precision, recall, support = report.precision_recall(intent)
        lines.append(f"{_name(intent):<16}{precision:>10.2f}{recall:>8.2f}{support:>4}")
    lines += ["", "top confusions (gold -> predicted: count):"]
    lines += [f"  {_name(g)} -> {_name(p)}: {n}" for (g, p), n in report.confusions()[:10]] or ["  none"]
    return "\n".join(lines)


def _cpu_per_call_us(predictor: TextPredictor, texts: Sequence[str]) -> float:
    """Microseconds of this thread's CPU per `predict_proba` call over `texts`."""
    started = time.thread_time_ns()
    for text in texts:
        predictor.predict_proba(text)
    return (time.thread_time_ns() - started) / len(texts) / 1000


def timing(kind: ModelKind = DEFAULT_MODEL, rounds: int = 5) -> str:
    """Per-call CPU of sklearn's predict_proba and of the compiled predictor, alternating A/B, best of `rounds`.

    Every shipped utterance is predicted once per round on each side; the model is trained on all of them,
    as the shipped one is. `IntentClassifier.predict` adds the language detector to the compiled figure.
    """
    examples = load_examples()
    texts = [ex.text for ex in examples]
    model = IntentClassifier.train(examples, kind)
    sides: dict[str, TextPredictor] = {
        "sklearn predict_proba": _SklearnPredictor(model._pipeline),
        "compiled predict_proba": compile_pipeline(model._pipeline),
    }
    best = {name: float("inf") for name in sides}
    whole = float("inf")
    for _ in range(rounds):
        for name, predictor in sides.items():
            best[name] = min(best[name], _cpu_per_call_us(predictor, texts))
        started = time.thread_time_ns()
        for text in texts:
            model.predict(text)
        whole = min(whole, (time.thread_time_ns() - started) / len(texts) / 1000)
    before, after = best["sklearn predict_proba"], best["compiled predict_proba"]
    lines = [
        f"model: {kind}  texts: {len(texts)}  rounds: {rounds} (A/B alternating, best round, thread CPU)"
    ]
    lines += [f"{name:<34}{us:>10.1f} us/call" for name, us in best.items()]
    lines.append(f"{'IntentClassifier.predict (+language)':<34}{whole:>10.1f} us/call")
    lines.append(f"speed-up (sklearn / compiled): {before / after:.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.nlu.evaluate", description=__doc__)
    parser.add_argument("--model", choices=["svc", "logreg"], default=DEFAULT_MODEL)
    parser.add_argument("--compare", action="store_true", help="headline figures for both estimators")
    parser.add_argument("--timing", action="store_true", help="CPU per prediction, sklearn vs compiled")
    args = parser.parse_args(argv)
    if args.timing:
        print(timing(args.model))
        return 0
    examples = load_examples()
    if args.compare:
        for kind in ("svc", "logreg"):
            report = evaluate(examples, kind)
            print(format_report(report, kind).split("\n\n")[0], end="\n\n")
        return 0
    print(format_report(evaluate(examples, args.model), args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
