"""The response cache policy: which answers may be reused, for whom, and for how long.

Two scopes:
- general (help, greeting, out of scope, hand-off, feedback): the prompt carries no user data, so the
  answer depends only on the models, the prompt versions, the parameters, the language and the normalised
  question; it is shared by every user.
- task: keyed by the user id and a hash of the task facts the prompt used (plus today, the focus task and
  the history sent), so no user ever gets another's answer and any change to a task is a new key. Tagged
  with its tasks (the task sync drops answers about a changed task) and its user (an erasure drops only
  that user's answers; general answers hold no user data and stay).
Nothing else is cached: unclassified questions, turns whose tasks could not be loaded (a degraded answer
must not outlive the outage), and anything without a user id. TTLs come from the prompt files.

The service stores an answer only after the model's stream ended normally, so an interrupted stream is
never cached; a hit is replayed chunk by chunk, as it was first streamed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from assist.v1 import common_pb2, nlg_pb2
from prometheus_client import Counter

from agents.nlg.gemini_writer import GeminiRequest
from mesh.storage.redis_store import (
    ANSWER_CACHE_NAMESPACE,
    ResponseCache,
    task_cache_tag,
    user_cache_tag,
)

log = logging.getLogger(__name__)

NAMESPACE = ANSWER_CACHE_NAMESPACE
GENERAL_INTENTS = frozenset(
    {
        common_pb2.INTENT_HELP,
        common_pb2.INTENT_GREETING,
        common_pb2.INTENT_OUT_OF_SCOPE,
        common_pb2.INTENT_HUMAN_HANDOFF,
        common_pb2.INTENT_FEEDBACK,
    }
)
LOOKUPS = Counter(
    "assist_nlg_cache_lookups_total", "NLG answer cache lookups by scope and result.", ["scope", "result"]
)
STORES = Counter("assist_nlg_cache_stores_total", "NLG answers written to the cache, by scope.", ["scope"])
_SPACES = re.compile(r"\s+")
_EDGE_PUNCTUATION = " \t\n.!?¿¡,;:…"


def normalise_question(text: str) -> str:
    """Case, width, spacing and trailing punctuation do not make a different question."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", text).strip(_EDGE_PUNCTUATION)


@dataclass(frozen=True)
class CacheKey:
    digest: str
    scope: str
    ttl_s: int
    # The tasks whose facts the answer used: a change to one of them deletes it (the task sync does).
    task_ids: tuple[str, ...] = ()
    # Whose answer it is (task scope only): an erasure of that user deletes it (`python -m support erase-user`).
    user_id: str = ""

    @property
    def tags(self) -> list[str]:
        return [task_cache_tag(t) for t in self.task_ids] + (
            [user_cache_tag(self.user_id)] if self.user_id else []
        )


@dataclass(frozen=True)
class CachedAnswer:
    """An answer as it was streamed, with how it was written (shown again, with writer=WRITER_CACHE)."""

    chunks: tuple[str, ...]
    model: str
    prompt_version: str
    parameters: Mapping[str, str]

    def encode(self) -> bytes:
        return json.dumps(
            {
                "chunks": list(self.chunks),
                "model": self.model,
                "prompt_version": self.prompt_version,
                "parameters": dict(self.parameters),
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> CachedAnswer | None:
        try:
            data = json.loads(raw)
            return cls(tuple(data["chunks"]), data["model"], data["prompt_version"], dict(data["parameters"]))
        except (ValueError, KeyError, TypeError):
            return None

    def info(self) -> nlg_pb2.GenerationInfo:
        return nlg_pb2.GenerationInfo(
            writer=nlg_pb2.WRITER_CACHE,
            model=self.model,
            prompt_version=self.prompt_version,
            parameters=dict(self.parameters),
        )


def _digest(material: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def cache_key(inp: nlg_pb2.GenerationInput, request: GeminiRequest, models: Sequence[str]) -> CacheKey | None:
    """The key of this answer, or None when it must not be cached."""
    prompt = request.prompt
    if prompt.cache_ttl_s <= 0:
        return None
    common: dict[str, object] = {
        "models": list(models),
        "prompt": prompt.tag,
        "parameters": dict(request.parameters),
        "language": inp.language,
        "intent": inp.intent,
        "question": normalise_question(inp.text),
    }
    if inp.intent in GENERAL_INTENTS and not prompt.grounded:
        return CacheKey(_digest({"scope": "general", **common}), "general", prompt.cache_ttl_s)
    grounded_ok = prompt.grounded and request.facts is not None and not inp.tasks_unavailable
    if inp.intent == common_pb2.INTENT_UNSPECIFIED or not inp.user_id or not grounded_ok:
        return None
    material = {
        "scope": "task",
        "user": inp.user_id,
        "facts": _digest(dict(request.facts or {})),
        "history": [list(turn) for turn in request.history],
        **common,
    }
    used = dict.fromkeys(
        [*(t.task_id for t in inp.tasks), *([inp.focus_task_id] if inp.focus_task_id else [])]
    )
    return CacheKey(_digest(material), "task", prompt.cache_ttl_s, tuple(used), inp.user_id)


class AnswerCache:
    """Reads and writes answers through the Redis response cache (which behaves as empty when Redis is down)."""

    def __init__(self, store: ResponseCache) -> None:
        self._store = store

    async def get(self, key: CacheKey) -> CachedAnswer | None:
        raw = await self._store.get(key.digest)
        answer = CachedAnswer.decode(raw) if raw is not None else None
        LOOKUPS.labels(key.scope, "hit" if answer else "miss").inc()
        return answer

    async def put(self, key: CacheKey, answer: CachedAnswer) -> None:
        if not answer.chunks:
            return
        await self._store.set(key.digest, answer.encode(), key.ttl_s, tags=key.tags)
        STORES.labels(key.scope).inc()

    @staticmethod
    def skipped(scope: str = "none") -> None:
        """Count an answer that was not cacheable, so the hit rate is read against all answers."""
        LOOKUPS.labels(scope, "skip").inc()
