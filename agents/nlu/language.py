"""English or Brazilian Portuguese, for one short chat message.

Two signals, both deterministic: a character n-gram naive Bayes model learned from the labelled utterances
(it catches "ção", "nh", "ã" and informal spellings no word list has), and a short list of function words
that only one of the two languages uses (it keeps the decision sane on text unlike the training data).
Chat messages are often too short to tell ("ok", "hi", "T-881?"): then the client's hint wins, because the
widget knows the page's locale better than two letters do.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from assist.v1 import common_pb2

from agents.nlu.entities import QUOTED

EN = common_pb2.LANGUAGE_EN
PT_BR = common_pb2.LANGUAGE_PT_BR
UNSPECIFIED = common_pb2.LANGUAGE_UNSPECIFIED

# Words common in one language and absent (or rare) in the other. "a", "do", "no", "me", "to" are in both.
PT_WORDS = frozenset(
    (
        "o", "os", "que", "oq", "de", "da", "das", "dos", "em", "na", "nas", "nos", "um", "uma", "e", "é",
        "para", "pra", "por", "com", "não", "nao", "tá", "ta", "está", "esta", "essa", "esse", "isso", "isto",
        "tarefa", "tarefas", "quem", "qual", "quais", "como", "meu", "minha", "meus", "minhas", "você", "voce",
        "vc", "tem", "já", "ja", "até", "ate", "hoje", "amanhã", "amanha", "semana", "obrigado", "obrigada",
        "valeu", "oi", "olá", "ola", "tudo", "bem", "bom", "boa", "dia", "eu", "sobre", "ainda", "quando",
        "onde", "atrasado", "atrasada", "atrasadas", "atrasados", "prazo", "hj", "aí", "ai", "sim", "muito",
        "pode", "faz", "fala", "quero"
    )
)  # fmt: skip
EN_WORDS = frozenset(
    (
        "the", "is", "are", "what", "what's", "whats", "who", "who's", "which", "how", "this", "that", "of",
        "for", "on", "my", "i", "you", "your", "does", "did", "any", "anything", "task", "tasks", "due", "late",
        "today", "tomorrow", "week", "thanks", "thank", "hi", "hello", "please", "pls", "with", "can", "about",
        "and", "it", "be", "have", "has", "not", "help", "still", "yet", "i'm", "there", "where", "when", "why"
    )
)  # fmt: skip
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
MIN_LETTERS = 4  # below this the text alone does not decide
MARGIN = 1.0  # log-odds below which the text is called ambiguous
WORD_WEIGHT = 2.0  # log-odds added per language-specific word


def _ngrams(text: str) -> list[str]:
    padded = f" {' '.join(WORD.findall(text.lower()))} "
    return [padded[i : i + n] for n in (1, 2, 3) for i in range(len(padded) - n + 1)]


class LanguageDetector:
    """A two-class naive Bayes over character 1-3-grams, plus the function-word score."""

    def __init__(self, counts: dict[int, Counter[str]]) -> None:
        self._counts = counts
        self._totals = {lang: sum(c.values()) for lang, c in counts.items()}
        self._vocab = len(set().union(*counts.values())) + 1

    @classmethod
    def train(cls, samples: Iterable[tuple[str, int]]) -> LanguageDetector:
        counts: dict[int, Counter[str]] = {EN: Counter(), PT_BR: Counter()}
        for text, language in samples:
            if language in counts:
                counts[language].update(_ngrams(text))
        return cls(counts)

    def log_odds(self, text: str) -> float:
        """Evidence for Portuguese (positive) over English (negative), in nats."""
        score = 0.0
        for gram in _ngrams(text):
            pt = (self._counts[PT_BR][gram] + 1) / (self._totals[PT_BR] + self._vocab)
            en = (self._counts[EN][gram] + 1) / (self._totals[EN] + self._vocab)
            score += math.log(pt / en)
        words = WORD.findall(text.lower())
        score += WORD_WEIGHT * sum((w in PT_WORDS) - (w in EN_WORDS) for w in words)
        return score

    def detect(self, text: str, hint: int = UNSPECIFIED) -> int:
        """LANGUAGE_EN or LANGUAGE_PT_BR. A hint of EN or PT_BR wins when the text is short or ambiguous.

        Quoted task titles are left out: a title is user data and may be in either language.
        """
        text = QUOTED.sub(" ", text)
        letters = sum(ch.isalpha() for ch in text)
        score = self.log_odds(text)
        if hint in (EN, PT_BR) and (letters < MIN_LETTERS or abs(score) < MARGIN):
            return hint
        return PT_BR if score > 0 else EN


@lru_cache(maxsize=1)
def default_detector() -> LanguageDetector:
    """The detector trained on every shipped utterance, built once per process (a few milliseconds)."""
    from agents.nlu.classifier import load_examples  # deferred: the classifier module imports this one

    return LanguageDetector.train((ex.text, ex.language) for ex in load_examples())


def detect_language(text: str, hint: int = UNSPECIFIED) -> int:
    """Detect the language of one message with the default detector (see `LanguageDetector.detect`)."""
    return default_detector().detect(text, hint)
