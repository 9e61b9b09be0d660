"""The guard's screen: refuse prompt injection, mask personal data, let everything else through unchanged.

It runs before any other agent (and before any model) sees the message, so it is rules only: fast,
deterministic and explainable in a log line. Injection phrases are matched on a folded copy of the text
(lowercase, no accents, punctuation as spaces), so "IGNORE as instruções" and "ignore-as-instrucoes" match
alike. Personal data is masked only when it validates (Luhn for cards, check digits for CPF), so task ids
and dates in ordinary questions ("task T-1234 due 2026-11-30") pass untouched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from assist.v1 import guard_pb2

from mesh.pii import redact

_EN_VERB = r"(?:ignore|disregard|forget|override|bypass)"
_PT_VERB = (
    r"(?:ignore|ignora|ignorar|desconsidere|desconsidera|desconsiderar|esqueca|esquece|esquecer|despreze)"
)
# Each pattern needs a qualifier ("previous", "your", "system") so that "ignore the messages from Bob" or
# "show me the setup instructions" stay ordinary questions.
INJECTION_PATTERNS = [
    re.compile(p)
    for p in (
        # English
        _EN_VERB + r" (?:all |any |the |your |of |my )*(?:previous|prior|above|earlier|preceding|former|"
        r"original|initial|system) (?:instructions?|prompts?|rules|directions|directives|guidelines|messages|"
        r"context)\b",
        _EN_VERB + r" (?:all |any |the |of )*(?:your )?(?:instructions|guidelines|directives|programming)\b",
        _EN_VERB + r" (?:all )?(?:of )?your rules\b",
        r"\byou are now\b|\bfrom now on you are\b",
        r"\bsystem prompt\b|\bsystem message\b|\binitial prompt\b|\bhidden prompt\b",
        r"\b(?:reveal|show|print|repeat|tell me|display|output|leak|dump) (?:me )?(?:your|the (?:system|"
        r"hidden|initial|original|secret)) (?:\w+ )?(?:instructions|prompt|rules|guidelines|configuration)\b",
        r"\bact as (?:a |an )?(?:dan|jailbroken|unrestricted|unfiltered)\b|\bdo anything now\b",
        r"\bjailbreak|\bdeveloper mode\b|\bdan mode\b",
        r"\bpretend (?:that )?(?:you are|you re|to be)\b|\bnew instructions\b",
        # Portuguese
        _PT_VERB
        + r" (?:todas |tudo |as |os |o |a |de )*(?:suas |seus |tuas )?(?:instrucoes|instrucao|regras|"
        r"ordens|orientacoes|diretrizes|mensagens|prompts?|comandos) (?:anteriores|acima|previas|iniciais|"
        r"originais|do sistema|de sistema)\b",
        _PT_VERB + r" (?:todas |tudo |as |os |o |a |de )*(?:suas |seus |tuas )?(?:instrucoes|instrucao|"
        r"diretrizes|programacao)\b",
        _PT_VERB + r" (?:todas )?(?:as )?(?:suas|tuas) regras\b",
        r"\b(?:voce|vc) agora e\b|\bagora (?:voce|vc) e\b|\ba partir de agora (?:voce|vc) e\b",
        r"\bprompt (?:do|de) sistema\b|\bmensagem (?:do|de) sistema\b|\binstrucoes (?:do|de) sistema\b",
        r"\b(?:revele|revela|mostre|mostra|repita|repete|diga|imprima|vaze) (?:me )?(?:as |o |a |os )?"
        r"(?:suas|seu|sua|tuas|teu) (?:instrucoes|prompt|regras|configuracao|configuracoes)\b",
        r"\b(?:aja|atue|finja) como (?:o |um |uma )?(?:dan|desbloqueado|sem restricoes|sem filtro)\b",
        r"\bfinja (?:que )?(?:voce e|vc e|ser)\b|\bmodo (?:desenvolvedor|dan)\b|\bnovas instrucoes\b",
    )
]


@dataclass(frozen=True)
class ScreenResult:
    """The guard's decision: `verdict` is a guard_pb2.GuardVerdict value."""

    verdict: guard_pb2.GuardVerdict.ValueType
    screened_text: str
    reasons: list[str] = field(default_factory=list)


_SPLIT_WORD = re.compile(r"(?<=\w)[-._*]+(?=\w)")


def fold(text: str) -> str:
    """Lowercase, accents and invisible characters removed, everything but letters and digits as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(
        ch for ch in decomposed if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    )
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def is_injection(text: str) -> bool:
    """Checked on two views of the text: as written, and with words split by "-", ".", "_" or "*" rejoined."""
    views = {fold(text), fold(_SPLIT_WORD.sub("", text))}
    return any(pattern.search(view) for view in views for pattern in INJECTION_PATTERNS)


def screen(text: str) -> ScreenResult:
    """BLOCK prompt injection; REDACT personal data; ALLOW the rest. A blocked text is still masked (logs)."""
    screened, reasons = redact(text)
    if is_injection(text):
        return ScreenResult(guard_pb2.GUARD_VERDICT_BLOCK, screened, ["prompt_injection", *reasons])
    if reasons:
        return ScreenResult(guard_pb2.GUARD_VERDICT_REDACT, screened, reasons)
    return ScreenResult(guard_pb2.GUARD_VERDICT_ALLOW, text, [])
