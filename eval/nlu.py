"""NLU evaluation: `python -m eval.nlu [--threshold T] [--target 0.9]`.

Trains the local classifier on the labelled set's train split and scores the eval split: accuracy (overall
and per language), per-intent recall, the top confusions, and a threshold sweep showing, for each
confidence threshold, how many messages would go to Gemini and how accurate the local classifier is on
the ones it keeps. The suggested NLU_GEMINI_THRESHOLD is the knee of that curve (see `suggest_threshold`):
the cheapest threshold within `--tolerance` of the best kept accuracy reachable with at most `--max-share`
of the messages going to Gemini.

Then the cascade, through the real SDK path:
- with GEMINI_API_KEY (or Vertex AI) set: real Gemini answers the messages below the threshold;
- otherwise the fake Gemini server plays an oracle (it answers the gold intent), which gives the cascade's
  ceiling for this threshold, and a failing fake gives its floor (every Gemini call fails -> local answer).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assist.v1 import common_pb2, nlu_pb2

from agents.nlu.cascade import NluCascade
from agents.nlu.classifier import IntentClassifier, LabelledUtterance, load_examples
from mesh.llm import LlmClient, LlmSettings
from testing.gemini_server import FakeGemini, GeminiServer, RecordedRequest, Reply, error, json_answer

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


def _name(intent: int) -> str:
    return common_pb2.Intent.Name(intent).removeprefix("INTENT_")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Scored:
    example: LabelledUtterance
    predicted: int
    confidence: float
    source: int = nlu_pb2.NLU_SOURCE_LOCAL

    @property
    def right(self) -> bool:
        return self.predicted == self.example.intent


def accuracy(rows: Sequence[Scored]) -> float:
    return sum(r.right for r in rows) / len(rows) if rows else 0.0


def suggest_threshold(rows: Sequence[Scored], max_share: float, tolerance: float) -> float:
    """The cheapest threshold that is nearly as good as the best affordable one.

    Affordable: sends at most `max_share` of messages to Gemini. Among those, take the best accuracy on the
    messages the local classifier keeps, and return the lowest threshold within `tolerance` of it: past that
    knee, raising the threshold buys almost no accuracy for a lot more Gemini traffic.
    """
    kept = {t: accuracy([r for r in rows if r.confidence >= t]) for t in THRESHOLDS}
    affordable = [t for t in THRESHOLDS if sum(r.confidence < t for r in rows) <= max_share * len(rows)]
    best = max(kept[t] for t in affordable)
    return min(t for t in affordable if kept[t] >= best - tolerance)


def report(title: str, rows: Sequence[Scored]) -> list[str]:
    en = [r for r in rows if r.example.language == common_pb2.LANGUAGE_EN]
    pt = [r for r in rows if r.example.language == common_pb2.LANGUAGE_PT_BR]
    lines = [
        f"== {title}: {len(rows)} eval utterances",
        f"accuracy {accuracy(rows):.3f}   en {accuracy(en):.3f}   pt-BR {accuracy(pt):.3f}",
    ]
    if any(r.source == nlu_pb2.NLU_SOURCE_GEMINI for r in rows):
        asked = [r for r in rows if r.source == nlu_pb2.NLU_SOURCE_GEMINI]
        lines.append(
            f"answered by Gemini: {len(asked)} ({len(asked) / len(rows):.0%}), accuracy {accuracy(asked):.3f}"
        )
    lines.append(
        "recall by intent: "
        + ", ".join(
            f"{_name(i)} {accuracy([r for r in rows if r.example.intent == i]):.2f}"
            for i in sorted({r.example.intent for r in rows})
        )
    )
    confusions = Counter((_name(r.example.intent), _name(r.predicted)) for r in rows if not r.right)
    lines.append(
        "top confusions (gold -> predicted): "
        + (", ".join(f"{g}->{p} {n}" for (g, p), n in confusions.most_common(8)) or "none")
    )
    return lines


def sweep(rows: Sequence[Scored]) -> list[str]:
    lines = ["threshold  to Gemini  local accuracy kept  local accuracy sent"]
    for t in THRESHOLDS:
        kept = [r for r in rows if r.confidence >= t]
        sent = [r for r in rows if r.confidence < t]
        lines.append(
            f"{t:>9.2f}  {len(sent) / len(rows):>9.0%}  {accuracy(kept):>19.3f}  {accuracy(sent):>19.3f}"
        )
    return lines


async def run_cascade(
    classifier: IntentClassifier,
    examples: Sequence[LabelledUtterance],
    settings: LlmSettings,
    threshold: float,
    model: str,
) -> list[Scored]:
    client = LlmClient(settings)
    try:
        cascade = NluCascade(classifier, client, threshold=threshold, model=model)
        rows = []
        for ex in examples:
            request = nlu_pb2.UnderstandRequest(text=ex.text)
            answer = await cascade.understand(request, deadline=time.monotonic() + 8.0)
            rows.append(Scored(ex, answer.intent, answer.confidence, answer.source))
        return rows
    finally:
        await client.aclose()


def _fake(responder: Callable[[RecordedRequest], Reply]) -> tuple[GeminiServer, LlmSettings]:
    server = GeminiServer(FakeGemini(responder=responder))
    fake = server.start()
    settings = LlmSettings(gemini_api_key="fake", gemini_base_url=fake.base_url, gemini_max_attempts=1)  # type: ignore[arg-type]
    return server, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.nlu", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--threshold", type=float, help="the cascade's threshold (default: the suggested one)"
    )
    parser.add_argument("--max-share", type=float, default=0.5, help="most of the traffic Gemini may get")
    parser.add_argument(
        "--tolerance", type=float, default=0.01, help="kept accuracy given up for less traffic"
    )
    parser.add_argument(
        "--model", default="gemini-2.5-flash-lite", help="the model asked below the threshold"
    )
    args = parser.parse_args(argv)
    logging.getLogger("agents").setLevel(logging.ERROR)  # the floor run fails every call on purpose
    logging.getLogger("mesh").setLevel(logging.ERROR)

    examples = load_examples()
    train = [ex for ex in examples if ex.split == "train"]
    held_out = [ex for ex in examples if ex.split == "eval"]
    classifier = IntentClassifier.train(train)
    local = [Scored(ex, p.intent, p.confidence) for ex in held_out for p in [classifier.predict(ex.text)]]
    print("\n".join(report("local classifier", local)), end="\n\n")
    print("\n".join(sweep(local)))
    suggested = suggest_threshold(local, args.max_share, args.tolerance)
    threshold = args.threshold if args.threshold is not None else suggested
    print(
        f"suggested NLU_GEMINI_THRESHOLD: {suggested} (at most {args.max_share:.0%} of messages to Gemini, "
        f"kept accuracy within {args.tolerance:.2f} of the best such threshold)\n"
    )

    settings = LlmSettings()
    if settings.is_configured():
        rows = asyncio.run(run_cascade(classifier, held_out, settings, threshold, args.model))
        print("\n".join(report(f"cascade with {args.model} at threshold {threshold}", rows)))
        return 0
    gold = {ex.text: common_pb2.Intent.Name(ex.intent) for ex in held_out}  # type: ignore[arg-type]

    def oracle(request: RecordedRequest) -> Reply:
        text = request.text().rsplit("Message:\n", 1)[-1]
        return json_answer({"intent": gold.get(text, "INTENT_OUT_OF_SCOPE"), "entities": []})

    for title, responder in (
        ("ceiling: fake Gemini always right", oracle),
        ("floor: Gemini always failing", lambda _: error(503)),
    ):
        server, fake_settings = _fake(responder)
        try:
            rows = asyncio.run(run_cascade(classifier, held_out, fake_settings, threshold, args.model))
        finally:
            server.stop()
        print("\n".join(report(f"cascade at threshold {threshold}, {title}", rows)), end="\n\n")
    print("(no GEMINI_API_KEY: set it to measure the cascade with the real model)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
