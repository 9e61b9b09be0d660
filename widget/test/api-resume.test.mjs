import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, EdgeApi, RECONNECT_DELAYS_MS } from "../dist/test-lib/api.js";

const tokens = { get: async () => "token", canRefresh: false, invalidate() {} };
const REQUEST = { clientMessageId: "m1", text: "q", pageContext: {}, languageHint: "LANGUAGE_EN" };

const frame = (id, event, data) => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const TURN = [
  frame("u:0:1", "accepted", { userMessageId: "u" }),
  frame("u:0:2", "intent", { intent: "INTENT_HELP" }),
  frame("u:0:3", "delta", { text: "Hello " }),
  frame("u:0:4", "delta", { text: "there." }),
  frame("u:0:5", "done", { messageId: "a1", text: "Hello there." }),
];

/** An event stream that sends `frames`, then either ends or fails as a dropped connection does. */
function sse(frames, { drop = false } = {}) {
  const left = [...frames];
  // Pulled one frame at a time: an error raised up front would discard the frames queued before it.
  const body = new ReadableStream({
    pull(controller) {
      const next = left.shift();
      if (next !== undefined) controller.enqueue(new TextEncoder().encode(next));
      else if (drop) controller.error(new TypeError("network error"));
      else controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

/** A fetch that answers each request with the next of `answers` (a function of the request's headers). */
function scriptedFetch(answers) {
  const seen = [];
  globalThis.fetch = async (_url, init) => {
    seen.push(init.headers["Last-Event-ID"] ?? "");
    const next = answers.shift();
    if (!next) throw new TypeError("no answer scripted");
    return next(init.headers);
  };
  return seen;
}

async function run(api) {
  const deltas = [];
  const reconnects = [];
  const done = await api.converse("c1", REQUEST, {
    onDelta: (t) => deltas.push(t),
    onReconnecting: (n) => reconnects.push(n),
  });
  return { done, deltas, reconnects };
}

test("a stream dropped mid-answer is resumed after the last event id and no text arrives twice", async () => {
  const seen = scriptedFetch([() => sse(TURN.slice(0, 3), { drop: true }), () => sse(TURN.slice(3))]);
  const { done, deltas, reconnects } = await run(new EdgeApi("http://edge", tokens, async () => {}));
  assert.deepEqual(seen, ["", "u:0:3"]);
  assert.equal(deltas.join(""), "Hello there.");
  assert.deepEqual(reconnects, [1]);
  assert.equal(done.text, "Hello there.");
});

test("a stream that ends early without done is resumed too", async () => {
  const seen = scriptedFetch([() => sse(TURN.slice(0, 4)), () => sse(TURN.slice(4))]);
  const { deltas } = await run(new EdgeApi("http://edge", tokens, async () => {}));
  assert.deepEqual(seen, ["", "u:0:4"]);
  assert.equal(deltas.join(""), "Hello there.");
});

test("a resume the server refuses asks for the whole answer again, which is replayed", async () => {
  const refused = () =>
    new Response(JSON.stringify({ error: { code: "FAILED_PRECONDITION", message: "gone", retryable: false } }), {
      status: 400,
      headers: { "Content-Type": "application/json" },
    });
  const replay = [
    frame("u:s:1", "accepted", { userMessageId: "u", replayed: true }),
    frame("u:s:3", "delta", { text: "Hello there." }),
    frame("u:s:4", "done", { messageId: "a1", text: "Hello there." }),
  ];
  const seen = scriptedFetch([() => sse(TURN.slice(0, 3), { drop: true }), refused, () => sse(replay)]);
  const accepted = [];
  const api = new EdgeApi("http://edge", tokens, async () => {});
  const done = await api.converse("c1", REQUEST, { onDelta: () => {}, onAccepted: (a) => accepted.push(a) });
  assert.deepEqual(seen, ["", "u:0:3", ""]);
  assert.deepEqual(
    accepted.map((a) => a.replayed === true),
    [false, true],
    "the replay says so, and the conversation starts the answer again from empty",
  );
  assert.equal(done.text, "Hello there.");
});

test("reconnecting gives up after the last pause with a retryable network error", async () => {
  const drops = Array.from({ length: RECONNECT_DELAYS_MS.length + 1 }, () => () => sse(TURN.slice(0, 3), { drop: true }));
  const seen = scriptedFetch(drops);
  const waited = [];
  const api = new EdgeApi("http://edge", tokens, async (ms) => waited.push(ms));
  await assert.rejects(run(api), (err) => err instanceof ApiError && err.code === "NETWORK" && err.accepted && err.retryable);
  assert.equal(seen.length, RECONNECT_DELAYS_MS.length + 1);
  assert.deepEqual(waited, [...RECONNECT_DELAYS_MS]);
});

test("an error event is not reconnected: it is the turn's answer", async () => {
  const seen = scriptedFetch([
    () => sse([TURN[0], frame("u:0:2", "error", { code: "UNAVAILABLE", message: "down", retryable: true })]),
  ]);
  await assert.rejects(run(new EdgeApi("http://edge", tokens, async () => {})), (err) => err.code === "UNAVAILABLE");
  assert.equal(seen.length, 1);
});
