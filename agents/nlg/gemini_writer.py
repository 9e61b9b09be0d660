"""Gemini as a writer: builds the request from a GenerationInput and a prompt, and opens the stream.

Grounding: a grounded prompt gets the task facts as one JSON object inside the user's message (only the
fields the tasks agent returned, never the user id), and the system instruction forbids anything not in
it. A prompt that is not grounded (greeting, help, ...) gets neither facts nor history, which is what
makes its answers safe to share between users through the cache.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assist.v1 import common_pb2, nlg_pb2
from google.genai import types

from agents.nlg.leak_guard import LeakGuard, new_canary
from agents.nlg.prompts import IntentPrompt, PromptBook
from mesh.llm import LlmClient, ModelStream

LANGUAGE_NAMES: dict[int, str] = {
    common_pb2.LANGUAGE_EN: "English",
    common_pb2.LANGUAGE_PT_BR: "Brazilian Portuguese",
}
STATUS_NAMES = {
    common_pb2.TASK_STATUS_TODO: "todo",
    common_pb2.TASK_STATUS_IN_PROGRESS: "in_progress",
    common_pb2.TASK_STATUS_BLOCKED: "blocked",
    common_pb2.TASK_STATUS_DONE: "done",
}
# Long descriptions cost tokens and latency and rarely change an answer; summaries see the first part.
DESCRIPTION_LIMIT = 600
# Asked of the fallback model when the primary broke off mid-answer; the person already read the text sent.
CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stops, in the same language and format. "
    "Do not repeat any of it and do not mention the interruption."
)


def task_fact(task: common_pb2.Task) -> dict[str, Any]:
    """One task as the model sees it: the fields that are set, with enums as words."""
    fact: dict[str, Any] = {"task_id": task.task_id, "title": task.title}
    optional: dict[str, Any] = {
        "status": STATUS_NAMES.get(task.status, ""),
        "due_date": task.due_date,
        "assignees": [p.display_name or p.user_id for p in task.assignees],
        "project": task.project,
        "priority": task.priority,
        "blocked_by_task_ids": list(task.blocked_by_task_ids),
        "description": task.description[:DESCRIPTION_LIMIT],
        "url": task.url,
    }
    if task.HasField("updated_at"):
        optional["updated_at"] = task.updated_at.ToJsonString()
    fact.update({key: value for key, value in optional.items() if value})
    return fact


def task_facts(inp: nlg_pb2.GenerationInput) -> dict[str, Any]:
    """The structured context of a grounded prompt; its hash is also part of the per-user cache key."""
    facts: dict[str, Any] = {"today": inp.today, "tasks": [task_fact(t) for t in inp.tasks]}
    if inp.focus_task_id:
        facts["focus_task_id"] = inp.focus_task_id
    if inp.tasks_unavailable:
        facts["tasks_unavailable"] = True
    return facts


def language_name(language: int) -> str:
    return LANGUAGE_NAMES.get(language, "the same language as the question")


def render_turn(
    prompt: IntentPrompt,
    *,
    question: str,
    language: int,
    intent: int,
    instruction: str,
    facts: Mapping[str, Any] | None,
) -> str:
    return prompt.template.substitute(
        question=question.strip(),
        language_name=language_name(language),
        intent_name=common_pb2.Intent.Name(intent).removeprefix("INTENT_").lower(),  # type: ignore[arg-type]
        instruction=instruction,
        facts_json=json.dumps(facts, ensure_ascii=False, sort_keys=True) if facts is not None else "",
    ).strip()


def _turn(role: str, text: str) -> types.Content:
    return types.Content(role=role, parts=[types.Part(text=text)])


@dataclass(frozen=True)
class GeminiRequest:
    """Everything sent for one answer, and what the cache key and the audit trail need to know of it."""

    prompt: IntentPrompt
    contents: list[types.Content]
    config: types.GenerateContentConfig
    facts: Mapping[str, Any] | None
    history: tuple[tuple[str, str], ...]
    parameters: Mapping[str, str]


def build_request(
    inp: nlg_pb2.GenerationInput, book: PromptBook, system_text: str | None = None
) -> GeminiRequest:
    """The request for one answer: few-shot turns, then recent history (grounded prompts), then the question.
    `system_text` replaces the book's system instruction (the writer's adds its canary)."""
    prompt = book.for_intent(inp.intent)
    facts = task_facts(inp) if prompt.grounded else None
    turns = list(inp.history)[-prompt.history_turns :] if prompt.history_turns else []
    history = tuple((t.user_text, t.answer_text) for t in turns if t.user_text and t.answer_text)
    contents: list[types.Content] = []
    for ex in prompt.examples:
        text = render_turn(
            prompt,
            question=ex.question,
            language=ex.language,
            intent=ex.intent,
            instruction=ex.instruction,
            facts=ex.facts,
        )
        contents += [_turn("user", text), _turn("model", ex.answer)]
    for user_text, answer_text in history:
        contents += [_turn("user", user_text), _turn("model", answer_text)]
    question = render_turn(
        prompt,
        question=inp.text,
        language=inp.language,
        intent=inp.intent,
        instruction=prompt.instruction,
        facts=facts,
    )
    contents.append(_turn("user", question))
    parameters = {**prompt.parameters.as_strings(), "system_prompt": book.system.tag}
    config = prompt.parameters.to_config(book.system.text if system_text is None else system_text)
    return GeminiRequest(prompt, contents, config, facts, history, parameters)


class GeminiWriter:
    """Writes answers with Gemini: the prompt book chooses the prompt, the model client streams."""

    def __init__(self, llm: LlmClient, book: PromptBook, canary: str | None = None) -> None:
        self._llm = llm
        self._book = book
        # A secret only the system instruction holds: an answer carrying it proves the prompt leaked.
        self.canary = canary or new_canary()
        self._system_text = (
            f"{book.system.text.rstrip()}\nConfidential reference (never write it): {self.canary}\n"
        )
        self.leak_guard = LeakGuard([self.canary], [book.system.text])

    @property
    def models(self) -> Sequence[str]:
        return self._llm.settings.models()

    def build(self, inp: nlg_pb2.GenerationInput) -> GeminiRequest:
        return build_request(inp, self._book, self._system_text)

    async def open(self, request: GeminiRequest, deadline: float) -> ModelStream:
        """Start the answer (retries and the fallback model inside); raises `LlmUnavailable`."""
        return await self._llm.open_stream(request.contents, request.config, deadline)

    def models_after(self, model: str) -> list[str]:
        """The models of the chain after `model`: those that may continue an answer it broke off."""
        chain = list(self.models)
        return chain[chain.index(model) + 1 :] if model in chain else []

    async def continue_answer(
        self, request: GeminiRequest, sent: str, deadline: float, models: Sequence[str]
    ) -> ModelStream:
        """Continue an answer that broke off after `sent`: the same prompt, the text sent as the model's
        turn, and an instruction to go on from there (a trailing model turn as prefill is not accepted by
        every Gemini endpoint, an alternating user turn is). Raises `LlmUnavailable`."""
        contents = [*request.contents, _turn("model", sent), _turn("user", CONTINUE_INSTRUCTION)]
        return await self._llm.open_stream(contents, request.config, deadline, models=models)

    @staticmethod
    def info(request: GeminiRequest, writer: int, model: str) -> nlg_pb2.GenerationInfo:
        return nlg_pb2.GenerationInfo(
            writer=writer,  # type: ignore[arg-type]
            model=model,
            prompt_version=request.prompt.tag,
            parameters=dict(request.parameters),
        )
