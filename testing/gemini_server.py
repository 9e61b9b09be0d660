"""A small HTTP server that speaks the part of Gemini's REST API the google-genai SDK calls.

Tests point the real SDK at it (GEMINI_BASE_URL), so every test runs the product's real client path:
request building, SSE parsing, error mapping. It implements

    POST /{version}/models/{model}:generateContent
    POST /{version}/models/{model}:streamGenerateContent?alt=sse   (SSE `data: {json}` events)

(`version` is v1, which this SDK release uses by default, or v1beta with GOOGLE_GENAI_API_VERSION=beta),

checks each request's shape (contents, systemInstruction, generationConfig, the API key header), records it,
and answers from a per-test script: a normal answer, a slow first token, a stream cut midway, an error status
with `Retry-After`, malformed JSON. With nothing scripted it echoes the task facts it was given, so tests
can check that the facts reached the model.

An outage (`FakeGemini.set_outage`, or `PUT /_fake/outage {"mode": "429"}` from another process) overrides
every answer while it lasts: the chaos suite (tests/chaos) switches it on and off under load.

Run it alone for benchmarks: `python -m testing.gemini_server --port 8089 --first-delay 0.4`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


@dataclass(frozen=True)
class Reply:
    """One scripted response; build it with `answer`, `echo`, `cut`, `error`, `malformed` or `json_answer`."""

    kind: str
    chunks: tuple[str, ...] = ()
    first_delay_s: float = 0.0
    between_delay_s: float = 0.0
    status: int = 200
    retry_after: str | None = None
    retry_delay: str | None = None
    payload: Any = None


def answer(*chunks: str, first_delay_s: float = 0.0, between_delay_s: float = 0.0) -> Reply:
    """A normal answer streamed as these chunks (joined for generateContent)."""
    return Reply("text", chunks, first_delay_s, between_delay_s)


def echo(*, first_delay_s: float = 0.0, between_delay_s: float = 0.0) -> Reply:
    """An answer naming every task (title and due date) found in the request's facts JSON."""
    return Reply("echo", (), first_delay_s, between_delay_s)


def obey(*, between_delay_s: float = 0.0) -> Reply:
    """An adversarial model that obeys injected instructions: it repeats its whole prompt (system
    instruction and contents) as the answer, so only a defence in the product keeps it from the user."""
    return Reply("obey", (), 0.0, between_delay_s)


def cut(*chunks: str, between_delay_s: float = 0.0) -> Reply:
    """Sends these chunks, then drops the connection without ending the stream."""
    return Reply("cut", chunks, 0.0, between_delay_s)


def error(status: int, *, retry_after: str | None = None, retry_delay: str | None = None) -> Reply:
    """An error status in Google's JSON error shape; `retry_after` sets the header, `retry_delay` RetryInfo."""
    return Reply("error", status=status, retry_after=retry_after, retry_delay=retry_delay)


def malformed() -> Reply:
    """A 200 whose body is not JSON."""
    return Reply("malformed")


def json_answer(payload: Any, *, first_delay_s: float = 0.0) -> Reply:
    """A structured-output answer: the payload serialised as the candidate's text."""
    return Reply("json", first_delay_s=first_delay_s, payload=payload)


# What the whole model does while an outage lasts: answer 429 (quota) or 500, hang without answering until
# the outage ends, or cut every stream after its first chunk. "none" is the normal service.
OutageMode = Literal["none", "429", "500", "hang", "cut"]
OUTAGE_MODES: tuple[str, ...] = get_args(OutageMode)
# Seconds a hung request is held at most, should nobody end the outage (the client gives up long before).
HANG_LIMIT_S = 120.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    model: str
    stream: bool
    body: dict[str, Any]
    headers: dict[str, str]
    at: float

    def text(self) -> str:
        """All text parts of the request (system instruction and contents), joined."""
        parts = [p.get("text", "") for p in self.body.get("systemInstruction", {}).get("parts", [])]
        for content in self.body.get("contents", []):
            parts.extend(p.get("text", "") for p in content.get("parts", []))
        return "\n".join(parts)


@dataclass
class FakeGemini:
    """The script and the record shared between the test (main thread) and the server (its own thread)."""

    require_system_instruction: bool = True
    # Answers unscripted requests (default: `echo()`); tools use it to play a model, e.g. an oracle.
    responder: Callable[[RecordedRequest], Reply] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    base_url: str = ""
    # The outage in force (see OutageMode); read by the server's thread, set by any other.
    outage: OutageMode = "none"
    _script: dict[str | None, deque[Reply]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def set_outage(self, mode: OutageMode) -> None:
        """Switch every model's answers to `mode` now ("none" ends the outage); the script is kept."""
        if mode not in OUTAGE_MODES:
            raise ValueError(f"unknown outage mode {mode!r}; one of {', '.join(OUTAGE_MODES)}")
        self.outage = mode

    def script(self, *replies: Reply, model: str | None = None) -> None:
        """Queue replies for `model` (any model when None); unscripted requests get `echo()`."""
        with self._lock:
            self._script.setdefault(model, deque()).extend(replies)

    def reset(self) -> None:
        self.outage = "none"
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.violations.clear()

    def requests_for(self, model: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    def _next(self, request: RecordedRequest) -> Reply:
        outage = _OUTAGE_REPLIES.get(self.outage)
        if outage is not None:
            return outage if outage.kind != "cut" else cut(*_echo_text(request)[:1])
        with self._lock:
            for key in (request.model, None):
                queue = self._script.get(key)
                if queue:
                    return queue.popleft()
        return self.responder(request) if self.responder else echo()

    def _record(self, request: RecordedRequest, problems: list[str]) -> None:
        with self._lock:
            self.requests.append(request)
            self.violations.extend(problems)


def check_shape(body: Any, headers: dict[str, str], *, require_system_instruction: bool) -> list[str]:
    """What is wrong with a generateContent request body, as the real API would reject it."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = []
    if not headers.get("x-goog-api-key"):
        problems.append("no x-goog-api-key header")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        problems.append("contents must be a non-empty list")
    else:
        for i, content in enumerate(contents):
            if content.get("role") not in ("user", "model"):
                problems.append(f"contents[{i}].role must be user or model")
            parts = content.get("parts")
            if (
                not isinstance(parts, list)
                or not parts
                or not all(isinstance(p.get("text"), str) for p in parts)
            ):
                problems.append(f"contents[{i}].parts must be a non-empty list of text parts")
        if contents[-1].get("role") != "user":
            problems.append("the last content must be the user's")
    system = body.get("systemInstruction")
    if require_system_instruction and not (isinstance(system, dict) and system.get("parts")):
        problems.append("systemInstruction with parts is required")
    if not isinstance(body.get("generationConfig"), dict):
        problems.append("generationConfig is required")
    return problems


def _echo_text(request: RecordedRequest) -> list[str]:
    """Chunks naming each task in the facts; a greeting-like line when the request carried no tasks."""
    decoder = json.JSONDecoder()
    text = request.body["contents"][-1]["parts"][0]["text"] if request.body.get("contents") else ""
    tasks: list[dict[str, Any]] = []
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("tasks"), list):
            tasks = [t for t in value["tasks"] if isinstance(t, dict)]
            break
    if not tasks:
        return ["Hello ", "from ", f"{request.model}."]
    chunks = [f"You have {len(tasks)} task(s):"]
    for task in tasks:
        due = f" (due {task['due_date']})" if task.get("due_date") else ""
        chunks.append(f"\n- {task.get('title', '?')}{due}")
    return chunks


def _candidate(text: str, finish: str | None, usage: tuple[int, int] | None = None) -> dict[str, Any]:
    """One response (or stream chunk); the last one says why it finished and, like Gemini's, the token usage."""
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate], "modelVersion": "fake-001"}
    if usage is not None:
        prompt, output = usage
        body["usageMetadata"] = {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        }
    return body


def _tokens(text: str) -> int:
    """A stand-in token count (words), so tests can check usage is reported without a real tokenizer."""
    return len(text.split())


def _usage(request_body: dict[str, Any], chunks: list[str]) -> tuple[int, int]:
    prompt = json.dumps(request_body.get("contents", []))
    return _tokens(prompt), _tokens("".join(chunks))


def _error_response(reply: Reply) -> Response:
    details = []
    if reply.retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": reply.retry_delay})
    body = {
        "error": {
            "code": reply.status,
            "message": "scripted failure",
            "status": _STATUS_NAMES.get(reply.status, "UNKNOWN"),
            "details": details,
        }
    }
    headers = {"Retry-After": reply.retry_after} if reply.retry_after else None
    return JSONResponse(body, status_code=reply.status, headers=headers)


async def _sse(chunks: list[str], reply: Reply, usage: tuple[int, int]) -> AsyncIterator[bytes]:
    await asyncio.sleep(reply.first_delay_s)
    for i, chunk in enumerate(chunks):
        if i:
            await asyncio.sleep(reply.between_delay_s)
        last = i == len(chunks) - 1 and reply.kind != "cut"
        body = _candidate(chunk, "STOP" if last else None, usage if last else None)
        yield f"data: {json.dumps(body)}\r\n\r\n".encode()
    if reply.kind == "cut":
        await asyncio.sleep(0.05)  # let the chunks leave before the connection drops
        raise ConnectionAbortedError("scripted cut: the stream stops midway")


_OUTAGE_REPLIES: dict[str, Reply] = {
    "429": error(429, retry_after="1"),
    "500": error(500),
    "hang": Reply("hang"),
    "cut": Reply("cut"),
}


async def _hang_while_out(fake: FakeGemini) -> None:
    """Hold a request for as long as the hang outage lasts (the client's timeout usually ends it first)."""
    held_until = time.monotonic() + HANG_LIMIT_S
    while True:  # polled: the switch is flipped from other threads, where an asyncio.Event cannot be set
        if fake.outage != "hang" or time.monotonic() > held_until:
            return
        await asyncio.sleep(0.05)


def build_app(fake: FakeGemini) -> Starlette:
    async def outage(request: Request) -> Response:
        """GET: the outage in force; PUT {"mode": ...}: switch it (for a fake run as its own process)."""
        if request.method == "PUT":
            try:
                fake.set_outage((await request.json())["mode"])
            except (ValueError, KeyError, TypeError) as exc:
                return JSONResponse({"error": {"code": 400, "message": str(exc)}}, status_code=400)
        return JSONResponse({"mode": fake.outage})

    async def models(request: Request) -> Response:
        name, _, method = request.path_params["rest"].partition(":")
        if method not in ("generateContent", "streamGenerateContent"):
            return JSONResponse({"error": {"code": 404, "message": f"no method {method}"}}, status_code=404)
        stream = method == "streamGenerateContent"
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in request.headers.items()}
        problems = check_shape(body, headers, require_system_instruction=fake.require_system_instruction)
        if stream and request.query_params.get("alt") != "sse":
            problems.append("streamGenerateContent without alt=sse")
        recorded = RecordedRequest(
            name, stream, body if isinstance(body, dict) else {}, headers, time.monotonic()
        )
        fake._record(recorded, problems)
        if problems:
            return _error_response(Reply("error", status=400))
        reply = fake._next(recorded)
        if reply.kind == "hang":
            await _hang_while_out(fake)
            reply = fake._next(recorded)
            if reply.kind == "hang":  # held for HANG_LIMIT_S and still out: give up as a server would
                reply = error(503)
        if reply.kind == "error":
            return _error_response(reply)
        if reply.kind == "malformed":
            media = "text/event-stream" if stream else "application/json"
            return PlainTextResponse("data: {not json\r\n\r\n" if stream else "{not json", media_type=media)
        if reply.kind == "json":
            chunks = [json.dumps(reply.payload)]
        elif reply.kind == "echo":
            chunks = _echo_text(recorded)
        elif reply.kind == "obey":
            prompt = recorded.text()
            chunks = [prompt[i : i + 48] for i in range(0, len(prompt), 48)]
        else:
            chunks = list(reply.chunks)
        usage = _usage(recorded.body, chunks)
        if reply.kind == "cut" and not stream:  # the connection drops before any of the body
            return StreamingResponse(_sse([], reply, usage), media_type="application/json")
        if stream:
            return StreamingResponse(_sse(chunks, reply, usage), media_type="text/event-stream")
        await asyncio.sleep(reply.first_delay_s)
        return JSONResponse(_candidate("".join(chunks), "STOP", usage))

    return Starlette(
        routes=[
            Route("/_fake/outage", outage, methods=["GET", "PUT"]),
            Route("/{version:str}/models/{rest:path}", models, methods=["POST"]),
        ]
    )


class GeminiServer:
    """The fake on a real port, in a background thread with its own event loop."""

    def __init__(self, fake: FakeGemini | None = None, *, port: int = 0) -> None:
        self.fake = fake or FakeGemini()
        config = uvicorn.Config(
            build_app(self.fake),
            host="127.0.0.1",
            port=port,
            log_level="critical",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-gemini", daemon=True)

    def start(self, timeout_s: float = 10.0) -> FakeGemini:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake Gemini server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.fake.base_url = f"http://127.0.0.1:{port}"
        return self.fake

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Gemini API (echoes task facts).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--first-delay", type=float, default=0.0, help="seconds before the first chunk")
    args = parser.parse_args(argv)

    server = GeminiServer(
        FakeGemini(responder=lambda _: echo(first_delay_s=args.first_delay)), port=args.port
    )
    fake = server.start()
    print(f"GEMINI_BASE_URL={fake.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
