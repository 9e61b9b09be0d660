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
from collections.abc import Callable
from dataclasses import dataclass, field

from assist.v1 import guard_pb2

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

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
CARD = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){12,18}(?![\w-])")
CPF = re.compile(r"(?<![\w.-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w.-])")
CPF_SHAPE = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
PHONE = re.compile(r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{5,}\d(?![\w-])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def cpf_valid(number: str) -> bool:
    """Both CPF check digits match, and the number is not one digit repeated (those pass the sums)."""
    if len(number) != 11 or len(set(number)) == 1:
        return False
    for size in (9, 10):
        total = sum(int(d) * w for d, w in zip(number[:size], range(size + 1, 1, -1), strict=True))
        if (total * 10 % 11) % 10 != int(number[size]):
            return False
    return True


def _is_card(raw: str) -> bool:
    digits = _digits(raw)
    return 13 <= len(digits) <= 19 and not ISO_DATE.search(raw) and luhn_valid(digits)


def _is_phone(raw: str) -> bool:
    """International numbers with "+"; otherwise 10-11 digits (area code) or a dashed 8-9 digit local one."""
    digits = _digits(raw)
    if ISO_DATE.search(raw) or CPF_SHAPE.fullmatch(raw.strip()):
        return False
    if raw.startswith("+"):
        return 8 <= len(digits) <= 15
    if 10 <= len(digits) <= 11:
        return True
    return len(digits) in (8, 9) and re.fullmatch(r"\d{4,5}[ -]\d{4}", raw.strip()) is not None


PII_RULES: list[tuple[str, re.Pattern[str], Callable[[str], bool], str]] = [
    ("pii_email", EMAIL, lambda raw: True, "[email]"),
    ("pii_card", CARD, _is_card, "[card]"),
    ("pii_cpf", CPF, lambda raw: cpf_valid(_digits(raw)), "[cpf]"),
    ("pii_phone", PHONE, _is_phone, "[phone]"),
]


def redact(text: str) -> tuple[str, list[str]]:
    """The text with each validated piece of personal data replaced by its placeholder, and the reasons."""
    reasons: list[str] = []
    for reason, pattern, valid, placeholder in PII_RULES:

        def replace(
            m: re.Match[str], valid: Callable[[str], bool] = valid, placeholder: str = placeholder
        ) -> str:
            return placeholder if valid(m.group(0)) else m.group(0)

        screened = pattern.sub(replace, text)
        if screened != text:
            reasons.append(reason)
            text = screened
    return text, reasons


def screen(text: str) -> ScreenResult:
    """BLOCK prompt injection; REDACT personal data; ALLOW the rest. A blocked text is still masked (logs)."""
    screened, reasons = redact(text)
    if is_injection(text):
        return ScreenResult(guard_pb2.GUARD_VERDICT_BLOCK, screened, ["prompt_injection", *reasons])
    if reasons:
        return ScreenResult(guard_pb2.GUARD_VERDICT_REDACT, screened, reasons)
    return ScreenResult(guard_pb2.GUARD_VERDICT_ALLOW, text, [])
