"""Personal data in free text: which pieces count, how each is validated, and the placeholder it becomes.

Shared by the guard (which masks a message before any other agent or model sees it) and the support
tools (which strip comments and answers before they leave the database as evaluation cases), so both
apply the same rules. A piece is masked only when it validates (Luhn for cards, check digits for CPF),
so task ids and dates in ordinary text ("task T-1234 due 2026-11-30") pass untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
CARD = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){12,18}(?![\w-])")
CPF = re.compile(r"(?<![\w.-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w.-])")
CPF_SHAPE = re.compile(r"\d{3}\.\d{3}\.\d{3}-\d{2}")
PHONE = re.compile(r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{5,}\d(?![\w-])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


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
