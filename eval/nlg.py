"""NLG evaluation without a model judge: `python -m eval.nlg [--temperatures 0.1,0.4,0.7] [--repeats 3]`.

Runs the task-grounded questions of `eval/nlg_cases.json` through the local writer and, when a Gemini key
(or Vertex AI) is configured, through Gemini with the shipped prompts, and checks each answer:
- names: every expected task title, person and date is in the answer (a date in any common written form);
- absent: no task the question excludes (a done task in "what is late?") is named;
- grounded: every date written in the answer, and every bold or linked span, comes from the facts (or is
  today, or a date from the question); nothing invented;
- language: the answer is in the language asked for (titles left out, they are user data).

`--cases FILE` runs another cases file (reviewed feedback cases: `eval/feedback_cases.json`, exported by
`python -m support export-cases`); `--compare A,B` runs them with two prompt versions through Gemini and
prints each check's pass rate side by side (eval/prompt_compare.py).

`--temperatures` overrides every prompt's temperature in turn and `--repeats` asks each question several
times, so the same command measures how grounding holds up as sampling warms: the evidence behind the
temperatures in `agents/nlg/prompts/*.toml`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import html
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from assist.v1 import common_pb2, nlg_pb2
from google.protobuf import json_format

from agents.nlg import phrases
from agents.nlg.gemini_writer import GeminiWriter
from agents.nlg.local_writer import LocalWriter
from agents.nlg.prompts import PromptBook, load_prompts
from agents.nlu.language import detect_language
from eval.prompt_compare import SideResult, book_tags, prompts_at, scratch_dir, side_by_side
from mesh.llm import LlmClient, LlmSettings, LlmUnavailable, StreamInterrupted

CASES = Path(__file__).resolve().parent / "nlg_cases.json"
LANGUAGES = {"en": common_pb2.LANGUAGE_EN, "pt-BR": common_pb2.LANGUAGE_PT_BR}
CHECKS = ("names", "absent", "grounded", "language")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{4}))?\b")
_EN_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_PT_MONTHS = ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"]
_EN_DATE = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (\d{1,2})(?:st|nd|rd|th)?(?:,? (\d{4}))?"
)
_PT_DATE = re.compile(
    r"\b(\d{1,2}) de (jan|fev|mar|abr|mai|jun|jul|ago|set|out|nov|dez)[a-zç]*\.?(?: de (\d{4}))?"
)
_SPANS = re.compile(r"\*\*\[?(.+?)\]?(?:\([^)]*\))?\*\*|\[([^\]]+)\]\([^)]*\)")

Writer = Callable[[nlg_pb2.GenerationInput], Awaitable[str]]


Case = tuple[str, nlg_pb2.GenerationInput, dict[str, Any]]


def load_cases(path: Path = CASES) -> list[Case]:
    """The file's cases, leaving out candidates not yet accepted by a reviewer (`"review": "pending"`).

    Curated cases carry no `review` field; cases exported from feedback (`python -m support export-cases`)
    run only once someone set `"review": "accepted"`.
    """
    cases = []
    for raw in json.loads(path.read_text(encoding="utf-8"))["cases"]:
        if raw.get("review", "accepted") != "accepted":
            continue
        inp = nlg_pb2.GenerationInput(
            user_id="eval",
            text=raw["question"],
            today=raw["today"],
            language=LANGUAGES[raw["language"]],
            intent=common_pb2.Intent.Value(raw["intent"]),
            focus_task_id=raw.get("focus_task_id", ""),
        )
        for task in raw.get("tasks", []):
            json_format.ParseDict(task, inp.tasks.add())
        for entity in raw.get("entities", []):
            json_format.ParseDict(entity, inp.entities.add())
        cases.append((raw["id"], inp, raw["expect"]))
    return cases


def plain(answer: str) -> str:
    """The answer as a reader sees it: HTML entities and markdown escapes undone."""
    return re.sub(r"\\(.)", r"\1", html.unescape(answer))


def written_dates(text: str, today: dt.date) -> set[dt.date]:
    """Every calendar date written in the text, in ISO, dd/mm or month-name form (en and pt-BR)."""
    found: set[dt.date] = set()
    low = text.lower()

    def add(year: str | None, month: int, day: int) -> None:
        with contextlib.suppress(ValueError):
            found.add(dt.date(int(year) if year else today.year, month, day))

    for y, m, d in _ISO.findall(low):
        add(y, int(m), int(d))
    for d, m, y in _SLASH.findall(low):
        add(y or None, int(m), int(d))
    for mon, d, y in _EN_DATE.findall(low):
        add(y or None, _EN_MONTHS.index(mon) + 1, int(d))
    for d, mon, y in _PT_DATE.findall(low):
        add(y or None, _PT_MONTHS.index(mon) + 1, int(d))
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check(inp: nlg_pb2.GenerationInput, expect: dict[str, Any], answer: str) -> dict[str, list[str]]:
    """Each check's problems (an empty list is a pass)."""
    text = plain(answer)
    folded = text.casefold()
    today = dt.date.fromisoformat(inp.today)
    facts = [json_format.MessageToDict(t, preserving_proto_field_name=True) for t in inp.tasks]
    fact_strings = [s.casefold() for s in _strings(facts)] + [e.text.casefold() for e in inp.entities]
    allowed = written_dates(" ".join(_strings(facts)), today) | {today}
    allowed |= {dt.date.fromisoformat(e.value) for e in inp.entities if e.kind == "date" and e.value}
    problems: dict[str, list[str]] = {name: [] for name in CHECKS}
    for name in [*expect.get("titles", []), *expect.get("people", [])]:
        if name.casefold() not in folded:
            problems["names"].append(f"does not name {name!r}")
    for iso in expect.get("dates", []):
        if dt.date.fromisoformat(iso) not in written_dates(text, today):
            problems["names"].append(f"does not give the date {iso}")
    problems["absent"] = [f"names {t!r}" for t in expect.get("absent", []) if t.casefold() in folded]
    problems["grounded"] = [f"invents the date {d}" for d in sorted(written_dates(text, today) - allowed)]
    for match in _SPANS.finditer(text):
        span = (match.group(1) or match.group(2) or "").strip().casefold()
        statuses = {s.casefold() for lang in phrases.STATUS_NAMES.values() for s in lang.values()}
        if span and span not in statuses and not any(span in s for s in fact_strings):
            problems["grounded"].append(f"invents {span!r}")
    prose = _SPANS.sub(" ", text)
    for title in (t.title for t in inp.tasks):
        prose = prose.replace(title, " ")
    if detect_language(prose) != inp.language:
        problems["language"].append("answers in the wrong language")
    return problems


async def local_writer(inp: nlg_pb2.GenerationInput) -> str:
    return LocalWriter().write(inp)


def gemini_writer(client: LlmClient, book: PromptBook) -> Writer:
    writer = GeminiWriter(client, book)

    async def write(inp: nlg_pb2.GenerationInput) -> str:
        stream = await writer.open(writer.build(inp), time.monotonic() + 30)
        return "".join([chunk async for chunk in stream.chunks()])

    return write


def with_temperature(book: PromptBook, temperature: float) -> PromptBook:
    prompts = {
        intent: dataclasses.replace(p, parameters=dataclasses.replace(p.parameters, temperature=temperature))
        for intent, p in book.by_intent.items()
    }
    return PromptBook(book.system, prompts)


async def run(
    name: str,
    write: Writer,
    repeats: int,
    verbose: bool,
    cases: list[Case] | None = None,
    all_passed: set[str] | None = None,
) -> Counter[str]:
    """Ask every case `repeats` times; count passes per check (`all_passed` gets cases that always pass)."""
    passed: Counter[str] = Counter()
    failed: set[str] = set()
    for case_id, inp, expect in load_cases() if cases is None else cases:
        for _ in range(repeats):
            try:
                answer = await write(inp)
            except (LlmUnavailable, StreamInterrupted) as exc:
                print(f"  {case_id}: no answer ({exc})")
                passed["total"] += 1
                failed.add(case_id)
                continue
            problems = check(inp, expect, answer)
            passed["total"] += 1
            passed.update(c for c in CHECKS if not problems[c])
            passed["all"] += not any(problems.values())
            if any(problems.values()):
                failed.add(case_id)
            if verbose or any(problems.values()):
                flat = "; ".join(p for c in CHECKS for p in problems[c]) or "ok"
                print(f"  {case_id}: {flat}\n    {answer!r}" if verbose else f"  {case_id}: {flat}")
    total = passed["total"]
    print(
        f"{name}: {passed['all']}/{total} answers pass every check; "
        + ", ".join(f"{c} {passed[c]}/{total}" for c in CHECKS)
    )
    if all_passed is not None:
        all_passed.update({case_id for case_id, _, _ in cases or load_cases()} - failed)
    return passed


async def compare(cases: list[Case], specs: list[str], repeats: int, verbose: bool) -> int:
    """Run the cases with each prompt version through Gemini and print the pass rates side by side."""
    settings = LlmSettings()
    if not settings.is_configured():
        print(
            "--compare needs Gemini (GEMINI_API_KEY or Vertex AI settings): the local writer has no prompts"
        )
        return 2
    if not cases:
        print('no reviewed case to run (cases marked "review": "pending" are left out)')
        return 2
    client = LlmClient(settings)
    results: list[SideResult] = []
    try:
        with scratch_dir() as workdir:
            for spec in specs:
                book = prompts_at(spec, Path(workdir))
                side = SideResult(label=spec, tags=book_tags(book))
                print(f"== {spec}: {side.tags}")
                side.passed = await run(
                    spec, gemini_writer(client, book), repeats, verbose, cases, side.all_passed
                )
                results.append(side)
    finally:
        await client.aclose()
    print("\n" + side_by_side(results, CHECKS))
    return 0


async def main_async(
    temperatures: list[float] | None, repeats: int, verbose: bool, cases: list[Case] | None = None
) -> None:
    print("== local writer")
    await run("local writer", local_writer, 1, verbose, cases)
    settings = LlmSettings()
    if not settings.is_configured():
        print("\n(no GEMINI_API_KEY: set it to run the same questions through Gemini)")
        return
    book = load_prompts()
    client = LlmClient(settings)
    try:
        for temperature in temperatures or [None]:  # type: ignore[list-item]
            used = book if temperature is None else with_temperature(book, temperature)
            label = "shipped temperatures" if temperature is None else f"temperature {temperature}"
            print(f"\n== gemini ({settings.gemini_model}), {label}, {repeats} run(s) per question")
            await run(f"gemini, {label}", gemini_writer(client, used), repeats, verbose, cases)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.nlg", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=Path, help="a cases file (default eval/nlg_cases.json)")
    parser.add_argument(
        "--compare",
        help="two prompt versions to compare: shipped, git:REV or a directory (e.g. git:main,shipped)",
    )
    parser.add_argument("--temperatures", help="comma-separated temperatures to compare (Gemini runs only)")
    parser.add_argument("--repeats", type=int, default=1, help="times each question is asked (Gemini runs)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)
    cases = load_cases(args.cases) if args.cases else None
    if args.compare:
        specs = [s.strip() for s in args.compare.split(",") if s.strip()]
        return asyncio.run(compare(cases or load_cases(), specs, args.repeats, args.verbose))
    temperatures = [float(t) for t in args.temperatures.split(",")] if args.temperatures else None
    asyncio.run(main_async(temperatures, args.repeats, args.verbose, cases))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
