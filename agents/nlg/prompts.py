"""Prompts as versioned TOML files (`agents/nlg/prompts/*.toml`), loaded and checked once at start-up.

`system.toml` holds the system instruction; every other file holds one prompt: an id and a version, the
intents it serves, a template, per-intent instructions, few-shot examples, the generation parameters (with
per-intent overrides) and the cache TTL. Every intent must be served by exactly one file, so a missing or
duplicated intent fails the start, not a user's turn. Errors name the file and line (`path:line: key: why`).

A turn records `id@version`: change a prompt's text or parameters and bump its version, and cached answers
of the old version stop matching (the version is part of the cache key).
"""

from __future__ import annotations

import json
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assist.v1 import common_pb2
from google.genai import types

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
SYSTEM_FILE = "system.toml"
PLACEHOLDERS = frozenset({"question", "language_name", "intent_name", "instruction", "facts_json"})
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_ID = re.compile(r"[a-z][a-z0-9_]{0,62}")
_KIND_NAMES: dict[tuple[type, ...], str] = {
    (int,): "an integer",
    (int, float): "a number",
    (str,): "a string",
    (bool,): "true or false",
    (list,): "a list",
    (dict,): "a table",
}


class PromptFileError(ValueError):
    """A prompt file that cannot be used; the message starts with `path:line:` when the line is known."""


@dataclass(frozen=True)
class GenerationParameters:
    """What the model is asked to sample with; see docs/gemini.md for why each intent got its values."""

    temperature: float
    top_p: float
    top_k: int
    max_output_tokens: int
    stop_sequences: tuple[str, ...] = ()
    safety_settings: tuple[tuple[str, str], ...] = ()
    thinking_budget: int | None = None

    def as_strings(self) -> dict[str, str]:
        """The audit-trail form (GenerationInfo.parameters) and the cache key's form: stable and flat."""
        values = {
            "temperature": f"{self.temperature:g}",
            "top_p": f"{self.top_p:g}",
            "top_k": str(self.top_k),
            "max_output_tokens": str(self.max_output_tokens),
            "stop_sequences": json.dumps(list(self.stop_sequences), ensure_ascii=False),
            "safety_settings": ",".join(f"{c}={t}" for c, t in self.safety_settings),
        }
        if self.thinking_budget is not None:
            values["thinking_budget"] = str(self.thinking_budget)
        return values

    def to_config(self, system_instruction: str) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=system_instruction,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            max_output_tokens=self.max_output_tokens,
            stop_sequences=list(self.stop_sequences) or None,
            safety_settings=[
                types.SafetySetting(category=types.HarmCategory(c), threshold=types.HarmBlockThreshold(t))
                for c, t in self.safety_settings
            ]
            or None,
            thinking_config=None
            if self.thinking_budget is None
            else types.ThinkingConfig(thinking_budget=self.thinking_budget),
        )


@dataclass(frozen=True)
class Example:
    """One few-shot exchange: a question (with its facts, for grounded prompts) and the wanted answer.

    It is rendered with its own intent's instruction, so the model sees consistent pairs."""

    question: str
    language: int
    answer: str
    intent: int
    instruction: str
    facts: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class IntentPrompt:
    """How one intent is written: the prompt file's content, resolved for that intent."""

    id: str
    version: int
    path: Path
    intent: int
    grounded: bool
    history_turns: int
    cache_ttl_s: int
    template: string.Template
    instruction: str
    parameters: GenerationParameters
    examples: tuple[Example, ...]

    @property
    def tag(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class SystemPrompt:
    id: str
    version: int
    text: str

    @property
    def tag(self) -> str:
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class PromptBook:
    """Every intent's prompt and the system instruction, as loaded at start-up."""

    system: SystemPrompt
    by_intent: Mapping[int, IntentPrompt]

    def for_intent(self, intent: int) -> IntentPrompt:
        return self.by_intent.get(intent) or self.by_intent[common_pb2.INTENT_UNSPECIFIED]


class _File:
    """One parsed file, with a way to point at the line of a key when something in it is wrong."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.text = path.read_text(encoding="utf-8")
            self.data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            m = _TOML_POSITION.search(str(exc))
            where = f"{path}:{m.group(1)}:{m.group(2)}" if m else str(path)
            raise PromptFileError(
                f"{where}: invalid TOML: {_TOML_POSITION.sub('', str(exc)).strip()}"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptFileError(f"{path}: cannot read: {exc}") from exc

    def error(self, key: str, why: str) -> PromptFileError:
        line = self._line_of(key)
        return PromptFileError(f"{self.path}{f':{line}' if line else ''}: {key}: {why}")

    def _line_of(self, key: str) -> int | None:
        """The line that sets `key` ("overrides.INTENT_X.top_k"): inside its table when it has one."""
        parts = [part.split("[")[0] for part in key.split(".")]
        lines = self.text.splitlines()
        start = None
        for cut in range(len(parts) - 1, 0, -1):
            header = re.compile(rf"\s*\[+\s*{re.escape('.'.join(parts[:cut]))}\s*\]+")
            start = next((n for n, text in enumerate(lines) if header.match(text)), None)
            if start is not None:
                break
        leaf = re.compile(rf'\s*"?{re.escape(parts[-1])}"?\s*=')
        found = next((n for n, text in enumerate(lines[start or 0 :], start or 0) if leaf.match(text)), start)
        return None if found is None else found + 1

    def get(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if key not in table:
            raise self.error(f"{where}{key}", "is required")
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.error(
                f"{where}{key}", f"expected {_KIND_NAMES.get(kinds, 'another type')}, got {value!r}"
            )
        return value


def _in_range(file: _File, key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise file.error(key, f"must be between {low:g} and {high:g}, got {value!r}")


def _parameters(file: _File, table: Mapping[str, Any], where: str) -> GenerationParameters:
    known = set(GenerationParameters.__dataclass_fields__)
    for key in table:
        if key not in known:
            raise file.error(f"{where}{key}", f"unknown parameter (known: {', '.join(sorted(known))})")
    temperature = float(file.get(table, "temperature", (int, float), where))
    top_p = float(file.get(table, "top_p", (int, float), where))
    top_k = file.get(table, "top_k", int, where)
    max_tokens = file.get(table, "max_output_tokens", int, where)
    _in_range(file, f"{where}temperature", temperature, 0.0, 2.0)
    _in_range(file, f"{where}top_p", top_p, 0.0, 1.0)
    _in_range(file, f"{where}top_k", top_k, 1, 500)
    _in_range(file, f"{where}max_output_tokens", max_tokens, 16, 8192)
    stops = table.get("stop_sequences", [])
    if not isinstance(stops, list) or len(stops) > 5 or not all(isinstance(s, str) and s for s in stops):
        raise file.error(f"{where}stop_sequences", "must be a list of at most 5 non-empty strings")
    safety: list[tuple[str, str]] = []
    for item in table.get("safety_settings", []):
        category, threshold = item.get("category"), item.get("threshold")
        if (
            category not in types.HarmCategory.__members__
            or threshold not in types.HarmBlockThreshold.__members__
        ):
            raise file.error(f"{where}safety_settings", f"unknown category or threshold in {item!r}")
        safety.append((category, threshold))
    budget = table.get("thinking_budget")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 0):
        raise file.error(f"{where}thinking_budget", f"must be a non-negative integer, got {budget!r}")
    return GenerationParameters(temperature, top_p, top_k, max_tokens, tuple(stops), tuple(safety), budget)


def _language(file: _File, value: Any, key: str) -> int:
    languages = {"en": common_pb2.LANGUAGE_EN, "pt-BR": common_pb2.LANGUAGE_PT_BR}
    if value not in languages:
        raise file.error(key, f"expected 'en' or 'pt-BR', got {value!r}")
    return languages[value]


def _header(file: _File) -> tuple[str, int]:
    prompt_id = file.get(file.data, "id", str, "")
    if not _ID.fullmatch(prompt_id):
        raise file.error("id", f"must be lower_snake_case, got {prompt_id!r}")
    version = file.get(file.data, "version", int, "")
    if version < 1:
        raise file.error("version", f"must be a positive integer, got {version}")
    return prompt_id, version


def _intent_prompts(file: _File) -> list[IntentPrompt]:
    prompt_id, version = _header(file)
    data = file.data
    template = string.Template(file.get(data, "template", str, ""))
    unknown = set(template.get_identifiers()) - PLACEHOLDERS
    if unknown or not template.is_valid():
        raise file.error(
            "template", f"unknown or malformed placeholders {sorted(unknown)}; use {sorted(PLACEHOLDERS)}"
        )
    if "question" not in template.get_identifiers():
        raise file.error("template", "must contain $question")
    grounded = file.get(data, "grounded", bool, "")
    if grounded and "facts_json" not in template.get_identifiers():
        raise file.error("template", "a grounded prompt must contain $facts_json")
    if not grounded and "facts_json" in template.get_identifiers():
        raise file.error(
            "template", "only a grounded prompt may contain $facts_json (its answers are shared)"
        )
    history_turns = file.get(data, "history_turns", int, "") if grounded else 0
    ttl = file.get(data, "cache_ttl_s", int, "")
    _in_range(file, "cache_ttl_s", ttl, 0, 7 * 86400)
    base = file.get(data, "parameters", dict, "")
    _parameters(file, base, "parameters.")
    instructions = file.get(data, "instructions", dict, "")
    overrides = data.get("overrides", {})
    names = file.get(data, "intents", list, "")
    for name in names:
        if name not in common_pb2.Intent.keys():  # noqa: SIM118 - an enum wrapper, not a dict
            raise file.error("intents", f"unknown intent {name!r}")
        if name not in instructions or not isinstance(instructions[name], str):
            raise file.error(f"instructions.{name}", "every listed intent needs an instruction")
    examples = []
    for i, item in enumerate(data.get("examples", [])):
        where = f"examples[{i}]."
        facts = item.get("facts")
        if grounded and not isinstance(facts, dict):
            raise file.error(f"{where}facts", "a grounded prompt's examples need a facts table")
        intent = item.get("intent", names[0] if len(names) == 1 else None)
        if intent not in names:
            raise file.error(f"{where}intent", f"must be one of this file's intents, got {intent!r}")
        language = _language(file, item.get("language"), f"{where}language")
        examples.append(
            Example(
                file.get(item, "question", str, where),
                language,
                file.get(item, "answer", str, where),
                common_pb2.Intent.Value(intent),
                instructions[intent].strip(),
                facts,
            )
        )
    prompts = []
    for name in names:
        override = overrides.get(name, {})
        params = _parameters(file, {**base, **override}, f"overrides.{name}.")
        prompts.append(
            IntentPrompt(
                prompt_id,
                version,
                file.path,
                common_pb2.Intent.Value(name),
                grounded,
                history_turns,
                ttl,
                template,
                instructions[name].strip(),
                params,
                tuple(examples),
            )
        )
    for name in (*instructions, *overrides):
        if name not in names:
            raise file.error(name, "names an intent this file does not list in `intents`")
    return prompts


def load_prompts(directory: Path = PROMPTS_DIR) -> PromptBook:
    """Read and check every prompt file; raises PromptFileError naming the first bad file and line."""
    system_file = _File(directory / SYSTEM_FILE)
    system_id, system_version = _header(system_file)
    system = SystemPrompt(
        system_id, system_version, system_file.get(system_file.data, "text", str, "").strip()
    )
    by_intent: dict[int, IntentPrompt] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == SYSTEM_FILE:
            continue
        for prompt in _intent_prompts(_File(path)):
            if prompt.intent in by_intent:
                name = common_pb2.Intent.Name(prompt.intent)  # type: ignore[arg-type]
                other = by_intent[prompt.intent].path.name
                raise _File(path).error("intents", f"{name} is also in {other}")
            by_intent[prompt.intent] = prompt
    missing = [name for name, value in common_pb2.Intent.items() if value not in by_intent]
    if missing:
        raise PromptFileError(f"{directory}: no prompt file serves {', '.join(missing)}")
    return PromptBook(system, by_intent)
