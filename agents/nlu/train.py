"""Build-time training: `python -m agents.nlu.train OUT_PATH` writes the intent model the NLU agent loads.

Training at build time keeps start-up fast and the shipped model reproducible from the data in the repo; the
agent still trains in-process when the file is missing, so a fresh checkout runs without this step.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agents.nlu.classifier import IntentClassifier, load_examples


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m agents.nlu.train OUT_PATH", file=sys.stderr)
        return 2
    out = Path(args[0])
    started = time.perf_counter()
    examples = load_examples()
    model = IntentClassifier.train(examples)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"trained on {len(examples)} utterances in {time.perf_counter() - started:.2f}s -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
