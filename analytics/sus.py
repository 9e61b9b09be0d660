"""The System Usability Scale (Brooke, 1996): its ten statements and its standard scoring.

Scoring: odd statements are positive (agreeing is good) and contribute `answer - 1`; even statements are
negative and contribute `5 - answer`; the sum (0 to 40) times 2.5 gives 0 to 100. A SUS score is not a
percentage: about 68 is the average of published studies, and Bangor, Kortum and Miller's acceptability
ranges (not acceptable below 50, marginal 50 to 70, acceptable from 70) are how the report groups scores.

The wording is Brooke's original, with "system" read as "assistant"; the Portuguese is the usual
translation of the same ten statements, so answers in both languages are comparable. They live in
study/sus.json, the one copy the widget's study mode shows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

QUESTIONS = 10

SUS_FILE = Path(__file__).resolve().parent.parent / "study" / "sus.json"
# The statements, per language, in question order (the widget reads the same file).
STATEMENTS: dict[str, list[str]] = json.loads(SUS_FILE.read_text(encoding="utf-8"))["statements"]

# Acceptability ranges (Bangor, Kortum and Miller 2008), lower bound inclusive.
BANDS: tuple[tuple[str, float], ...] = (("not acceptable", 0.0), ("marginal", 50.0), ("acceptable", 70.0))


def sus_score(answers: Sequence[int]) -> float:
    """The SUS score (0-100) of ten answers given in question order, each 1 to 5."""
    if len(answers) != QUESTIONS or any(not 1 <= a <= 5 for a in answers):
        raise ValueError("SUS needs ten answers between 1 and 5")
    positive = sum(a - 1 for a in answers[0::2])  # statements 1, 3, 5, 7, 9
    negative = sum(5 - a for a in answers[1::2])  # statements 2, 4, 6, 8, 10
    return (positive + negative) * 2.5


def band(score: float) -> str:
    """The acceptability range a score falls in."""
    name = BANDS[0][0]
    for label, lower in BANDS:
        if score >= lower:
            name = label
    return name
