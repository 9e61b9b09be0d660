"""Rule-based entity extraction: dates, task references and @mentions, in English and Portuguese.

Rules rather than a model because the entity kinds are few, their shapes are regular, and a reader must be
able to see why "sexta" became 2026-11-27. Dates are resolved against the caller's `today` (the user's day,
not the server's), so the same message always yields the same entities for the same day.

Quoted spans are task titles and are taken out before dates are looked for: in "the 'Friday deploy' task"
the word Friday is part of a title, not a date.
"""

from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from collections.abc import Callable

from assist.v1 import common_pb2

TASK_REF = "task_ref"
DATE = "date"
PERSON = "person"

# A quoted title: straight or curly quotes. A straight single quote only opens after a non-word character,
# so the apostrophe in "what's" is not taken for a quote.
QUOTED = re.compile(
    r"\"([^\"\n]{1,200})\""  # "straight"
    r"|\u201c([^\u201d\n]{1,200})\u201d"  # curly double
    r"|\u2018([^\u2019\n]{1,200})\u2019"  # curly single
    r"|(?<!\w)'([^'\n]{1,200})'(?!\w)"  # 'straight single'
)
TASK_ID = re.compile(r"(?<![\w-])(?:[A-Za-z]{1,6}-\d{1,7}|#\d{1,7})(?![\w-])")
THIS_TASK = re.compile(
    r"\b(?:this|that) (?:task|ticket|card|one)\b|\b(?:d|n)?(?:esta|essa) tarefa\b|\b(?:d|n)?(?:este|esse) card\b",
    re.IGNORECASE,
)
MENTION = re.compile(r"(?<![\w@])@([A-Za-z][\w.-]{0,40}[A-Za-z0-9])")

WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4, "sabado": 5, "domingo": 6,
}  # fmt: skip
EN_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}  # fmt: skip
PT_MONTHS = {
    "jan": 1, "janeiro": 1, "fev": 2, "fevereiro": 2, "mar": 3, "marco": 3, "abr": 4, "abril": 4, "mai": 5,
    "maio": 5, "jun": 6, "junho": 6, "jul": 7, "julho": 7, "ago": 8, "agosto": 8, "set": 9, "setembro": 9,
    "out": 10, "outubro": 10, "nov": 11, "novembro": 11, "dez": 12, "dezembro": 12,
}  # fmt: skip
MONTHS = EN_MONTHS | PT_MONTHS
_EN_MONTH = "|".join(sorted(EN_MONTHS, key=len, reverse=True))
_PT_MONTH = "|".join(sorted(PT_MONTHS, key=len, reverse=True))
_WEEKDAY = "|".join(WEEKDAYS)

Resolver = Callable[[re.Match[str], datetime.date], datetime.date | None]


def fold(text: str) -> str:
    """Lowercase and strip accents, one output character per input character so spans stay aligned."""
    out = []
    for ch in text:
        kept = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        low = (kept if len(kept) == 1 else ch).lower()
        out.append(low if len(low) == 1 else ch)
    return "".join(out)


def _end_of_week(day: datetime.date) -> datetime.date:
    """Weeks end on Sunday (ISO weeks), so "this week" on a Friday still covers the weekend."""
    return day + datetime.timedelta(days=6 - day.weekday())


def _end_of_month(day: datetime.date) -> datetime.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _next_month(day: datetime.date) -> datetime.date:
    return _end_of_month(_end_of_month(day) + datetime.timedelta(days=1))


def _weekday(m: re.Match[str], today: datetime.date) -> datetime.date:
    """The coming occurrence (today counts); with "next"/"próxima" it is the one after today."""
    ahead = (WEEKDAYS[m.group("wd")] - today.weekday()) % 7
    if m.group("next") and ahead == 0:
        ahead = 7
    return today + datetime.timedelta(days=ahead)


def _day_of_month(m: re.Match[str], today: datetime.date) -> datetime.date | None:
    """A bare day number means this month, or next month when the day has passed."""
    day = int(m.group("d"))
    year, month = today.year, today.month
    if day < today.day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return datetime.date(year, month, day)


def _nearest(today: datetime.date, month: int, day: int, year: str | None) -> datetime.date | None:
    """A day and month with no year is taken in whichever year puts it nearest to today (future on a tie)."""
    years = (
        [int(year) + (2000 if len(year) == 2 else 0)]
        if year
        else [today.year - 1, today.year, today.year + 1]
    )
    options = []
    for y in years:
        try:
            options.append(datetime.date(y, month, day))
        except ValueError:
            continue
    if not options:
        return None
    return min(options, key=lambda d: (abs((d - today).days), d < today))


def _iso(m: re.Match[str], today: datetime.date) -> datetime.date | None:
    try:
        return datetime.date(int(m.group("y")), int(m.group("m")), int(m.group("d")))
    except ValueError:
        return None


def _slashed(m: re.Match[str], today: datetime.date) -> datetime.date | None:
    """dd/mm as written in Brazil; mm/dd only when dd/mm is impossible (11/30)."""
    a, b = int(m.group("a")), int(m.group("b"))
    if 1 <= b <= 12:
        return _nearest(today, b, a, m.group("y"))
    return _nearest(today, a, b, m.group("y")) if 1 <= a <= 12 else None


def _month_day(m: re.Match[str], today: datetime.date) -> datetime.date | None:
    return _nearest(today, MONTHS[m.group("mon")], int(m.group("d")), None)


def _in_days(m: re.Match[str], today: datetime.date) -> datetime.date:
    return today + datetime.timedelta(days=int(m.group("n")))


def _fixed(offset: int) -> Resolver:
    return lambda m, today: today + datetime.timedelta(days=offset)


def _week_end(weeks: int) -> Resolver:
    return lambda m, today: _end_of_week(today + datetime.timedelta(days=7 * weeks))


# Patterns run on folded text (lowercase, no accents), most specific first; a match masks its span.
DATE_RULES: list[tuple[re.Pattern[str], Resolver]] = [
    (re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b"), _iso),
    (re.compile(r"(?<![\d/])(?P<a>\d{1,2})/(?P<b>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/])"), _slashed),
    (re.compile(r"\bdepois de amanha\b|\bday after tomorrow\b"), _fixed(2)),
    (re.compile(r"\b(?:today|tonight|hoje|hj)\b"), _fixed(0)),
    (re.compile(r"\b(?:tomorrow|tomorow|tmrw|amanha)\b"), _fixed(1)),
    (re.compile(r"\b(?:yesterday|ontem)\b"), _fixed(-1)),
    (re.compile(r"\b(?:in )?(?:the )?next (?P<n>\d{1,3}) days\b"), _in_days),
    (re.compile(r"\bin (?P<n>\d{1,3}) days\b"), _in_days),
    (re.compile(r"\b(?:nos |em )?proximos (?P<n>\d{1,3}) dias\b"), _in_days),
    (re.compile(r"\bem (?P<n>\d{1,3}) dias\b"), _in_days),
    (re.compile(r"\bnext week\b|\bsemana que vem\b|\bproxima semana\b"), _week_end(1)),
    (re.compile(r"\blast week\b|\bsemana passada\b"), _week_end(-1)),
    (re.compile(r"\b(?:by )?(?:the )?end of (?:the|this) week\b|\b(?:this|the) week\b"
                r"|\b(?:fim|final) da semana\b|\b(?:d|n)?(?:essa|esta) semana\b"), _week_end(0)),
    (re.compile(r"\bnext month\b|\bmes que vem\b|\bproximo mes\b"), lambda m, t: _next_month(t)),
    (re.compile(r"\b(?:this|the) month\b|\b(?:d|n)?(?:esse|este) mes\b|\b(?:fim|final) do mes\b"),
        lambda m, t: _end_of_month(t)),
    (re.compile(rf"\b(?P<d>\d{{1,2}}) de (?P<mon>{_PT_MONTH})\b\.?"), _month_day),
    (re.compile(rf"\b(?P<mon>{_EN_MONTH})\.? (?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b"), _month_day),
    (re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<mon>{_EN_MONTH})\b"), _month_day),
    (re.compile(rf"\b(?P<next>next |proxima |proximo )?(?P<wd>{_WEEKDAY})(?:-feira| feira)?\b"), _weekday),
    (re.compile(r"\b(?:ate )?(?:o )?dia (?P<d>\d{1,2})\b"), _day_of_month),
    (re.compile(r"\bthe (?P<d>\d{1,2})(?:st|nd|rd|th)\b"), _day_of_month),
]  # fmt: skip


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _dates(text: str, folded: str, today: datetime.date) -> list[tuple[int, common_pb2.Entity]]:
    found: list[tuple[int, common_pb2.Entity]] = []
    for pattern, resolve in DATE_RULES:
        for m in pattern.finditer(folded):
            value = resolve(m, today)
            if value is None:
                continue
            start, end = m.span()
            found.append((start, common_pb2.Entity(kind=DATE, text=text[start:end], value=value.isoformat())))
            folded = _mask(folded, [(start, end)])
    return found


def extract_entities(text: str, *, today: datetime.date, page_task_id: str = "") -> list[common_pb2.Entity]:
    """Find task references, people and dates in one message, in the order they appear.

    `value` is filled when the entity could be resolved here: "this task" becomes `page_task_id` (left empty
    off a task page), an id like T-123 or #42 becomes the id without "#", a date becomes YYYY-MM-DD (a range
    such as "this week" becomes its last day). Quoted titles keep `value` empty: only the tasks agent can
    match a title to the user's tasks.
    """
    found: list[tuple[int, common_pb2.Entity]] = []
    taken: list[tuple[int, int]] = []
    for m in QUOTED.finditer(text):
        title = next(g for g in m.groups() if g is not None).strip()
        if title:
            found.append((m.start(), common_pb2.Entity(kind=TASK_REF, text=title)))
            taken.append(m.span())
    rest = _mask(text, taken)
    for m in TASK_ID.finditer(rest):
        raw = m.group(0)
        found.append((m.start(), common_pb2.Entity(kind=TASK_REF, text=raw, value=raw.lstrip("#").upper())))
        taken.append(m.span())
    for m in THIS_TASK.finditer(rest):
        found.append((m.start(), common_pb2.Entity(kind=TASK_REF, text=m.group(0), value=page_task_id)))
        taken.append(m.span())
    for m in MENTION.finditer(rest):
        found.append((m.start(), common_pb2.Entity(kind=PERSON, text=m.group(0), value=m.group(1))))
        taken.append(m.span())
    rest = _mask(text, taken)
    found.extend(_dates(rest, fold(rest), today))
    found.sort(key=lambda item: item[0])
    return [entity for _, entity in found]
