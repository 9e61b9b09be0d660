"""Cache hit against cache miss through the edge, with the NLG agent on Gemini (the fake server).

The same general question is asked in pairs: first with the cache emptied (a miss: the real SDK calls the
fake Gemini server), then again (a hit: Redis answers). Medians of N pairs, same run, same mesh.
The fake's time to first token is a parameter (`model_delay_s`): at 0 a miss costs only our own model path
(SDK, HTTP, SSE parsing); a real model adds its own first-token time, which cannot be measured from here.
"""

from __future__ import annotations

import statistics
import time
import uuid

import httpx
import redis

from bench.harness import BenchMesh, running_mesh, stack_env, summary
from testing.gemini_server import FakeGemini, GeminiServer, echo
from testing.sse import new_conversation

QUESTION = "What can you do for me?"


def _turn(client: httpx.Client, conversation_id: str, headers: dict[str, str]) -> tuple[float, float, str]:
    """(seconds to the first delta, seconds to the end, writer) of one turn."""
    body = {"clientMessageId": uuid.uuid4().hex, "text": QUESTION}
    started = time.perf_counter()
    first = 0.0
    writer = ""
    with client.stream(
        "POST", f"/v1/conversations/{conversation_id}/messages", json=body, headers=headers
    ) as r:
        for line in r.iter_lines():
            if line == "event: delta" and not first:
                first = time.perf_counter() - started
            if line.startswith("data:") and '"writer"' in line:
                writer = line.split('"writer":"', 1)[1].split('"', 1)[0]
    return first, time.perf_counter() - started, writer


def run(n: int, model_delay_s: float = 0.0) -> None:
    server = GeminiServer(FakeGemini(responder=lambda _: echo(first_delay_s=model_delay_s)))
    server.start()
    redis_url = stack_env()["REDIS_URL"].rsplit("/", 1)[0] + "/8"
    cache = redis.Redis.from_url(redis_url)
    cache.flushdb()
    env = {
        "REDIS_URL": redis_url,
        "GEMINI_API_KEY": "fake-key",
        "GEMINI_BASE_URL": server.fake.base_url,
        "NLU_GEMINI_THRESHOLD": "0",
    }
    try:
        with running_mesh(env) as bench:
            _measure(bench, cache, n)
    finally:
        server.stop()


def _measure(bench: BenchMesh, cache: redis.Redis, n: int) -> None:
    headers = bench.auth("carol")
    misses: list[tuple[float, float]] = []
    hits: list[tuple[float, float]] = []
    with httpx.Client(base_url=bench.mesh.edge_url, timeout=30) as client:
        conversation_id = new_conversation(client, headers)
        for i in range(n + 3):
            cache.flushdb()
            miss = _turn(client, conversation_id, headers)
            hit = _turn(client, conversation_id, headers)
            assert miss[2] == "WRITER_GEMINI" and hit[2] == "WRITER_CACHE", (miss, hit)
            if i >= 3:  # warm-up pairs
                misses.append(miss[:2])
                hits.append(hit[:2])
    print(summary("cache miss: first delta", [m[0] for m in misses]))
    print(summary("cache hit: first delta", [h[0] for h in hits]))
    print(summary("cache miss: whole turn", [m[1] for m in misses]))
    print(summary("cache hit: whole turn", [h[1] for h in hits]))
    ratio_first = statistics.median(h[0] for h in hits) / statistics.median(m[0] for m in misses)
    ratio_total = statistics.median(h[1] for h in hits) / statistics.median(m[1] for m in misses)
    print(f"ratios: hit / miss = {ratio_first:.2f} (first delta), {ratio_total:.2f} (whole turn)")
