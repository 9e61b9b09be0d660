// The conversation controller without a DOM: a scripted fake edge, an in-memory store and a view that
// records what it was told, so each path of the state machine is checked in milliseconds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, Conversation } from "../dist/test-lib/conversation.js";

/** A promise settled from outside, to hold a call open while the test looks at the busy state. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** What the edge does, call by call; each test replaces the parts it exercises. */
function fakeEdge() {
  const edge = {
    calls: [],
    created: 0,
    history: new Map(),
    listMessages: async (id) => {
      edge.calls.push(["listMessages", id]);
      if (!edge.history.has(id)) throw new ApiError("NOT_FOUND", "no such conversation", false);
      return edge.history.get(id);
    },
    createConversation: async (pageContext) => {
      edge.calls.push(["createConversation", pageContext]);
      edge.created += 1;
      return `c${edge.created}`;
    },
    // A turn answering "Hello" in two deltas.
    turn: async (_request, handlers) => {
      handlers.onAccepted?.({ userMessageId: "u1" });
      handlers.onDelta("Hel");
      handlers.onDelta("lo");
      return { messageId: "m1", text: "Hello", degradedComponents: [] };
    },
    converse: (conversationId, request, handlers) => {
      edge.calls.push(["converse", conversationId, request.clientMessageId, request.text]);
      return edge.turn(request, handlers);
    },
    submitSatisfaction: async (conversationId, score, comment) => {
      edge.calls.push(["submitSatisfaction", conversationId, score, comment]);
    },
    submitFeedback: async (messageId, rating, comment) => {
      edge.calls.push(["submitFeedback", messageId, rating, comment]);
    },
  };
  return edge;
}

/** A view that records every call as [method, ...args]; the retry callbacks of errors are kept apart. */
function recordingView() {
  const view = { log: [], retries: [], events: [] };
  const record =
    (name) =>
    (...args) =>
      view.log.push([name, ...args]);
  for (const name of [
    "phaseChanged",
    "historyLoading",
    "historyLoadingEnded",
    "historyShown",
    "historyOutcome",
    "emptyHint",
    "turnStarted",
    "answerGrew",
    "answerDone",
    "answerDropped",
    "surveyShown",
    "conversationEnded",
  ]) {
    view[name] = record(name);
  }
  view.error = (code, retry) => {
    view.log.push(["error", code, retry ? "retry" : "no retry"]);
    view.retries.push(retry);
  };
  view.notify = (event) => {
    view.events.push(event);
    view.log.push(["notify", event.name]);
  };
  view.calls = (name) => view.log.filter(([n]) => n === name);
  view.phases = () => view.calls("phaseChanged").map(([, phase]) => phase);
  return view;
}

function setup({ stored = null, keyFails = null } = {}) {
  const edge = fakeEdge();
  const view = recordingView();
  const storage = new Map(stored ? [["k", stored]] : []);
  let ids = 0;
  const conversation = new Conversation({
    api: edge,
    view,
    memory: {
      key: async () => {
        if (keyFails) throw keyFails;
        return "k";
      },
      load: (key) => storage.get(key) ?? null,
      save: (key, id) => (id ? storage.set(key, id) : storage.delete(key)),
    },
    pageContext: () => ({ taskId: "T-1", pageUrl: "https://host/tasks/T-1" }),
    language: "LANGUAGE_EN",
    newClientMessageId: () => `cm${++ids}`,
  });
  return { conversation, edge, view, storage };
}

const USER = { messageId: "m0u", role: "ROLE_USER", text: "Hi" };
const BOT = { messageId: "m0", role: "ROLE_ASSISTANT", text: "Hello!", feedbackRating: "FEEDBACK_RATING_UP" };

test("opening with nothing stored restores nothing: the hint stays and data-history says none", async () => {
  const { conversation, edge, view } = setup();
  assert.equal(conversation.phase, "unrestored");
  await conversation.restoreIfNeeded();
  assert.deepEqual(view.phases(), ["loadingHistory", "idle"]);
  assert.deepEqual(view.calls("historyOutcome"), [["historyOutcome", "none"]]);
  assert.deepEqual(edge.calls, []);
  await conversation.restoreIfNeeded();
  assert.equal(view.calls("historyOutcome").length, 1, "restored once only");
});

test("a stored conversation is shown again after a reload, and its answer makes End ask the survey", async () => {
  const { conversation, edge, view } = setup({ stored: "c9" });
  edge.history.set("c9", [USER, BOT]);
  await conversation.restoreIfNeeded();
  assert.deepEqual(edge.calls, [["listMessages", "c9"]]);
  assert.deepEqual(
    view.log.map(([name]) => name),
    ["phaseChanged", "historyLoading", "historyShown", "emptyHint", "phaseChanged", "historyOutcome"],
  );
  assert.deepEqual(view.calls("historyShown")[0][1], [USER, BOT]);
  assert.deepEqual(view.calls("historyOutcome"), [["historyOutcome", "loaded"]]);
  assert.equal(conversation.id, "c9");
  conversation.end();
  assert.equal(conversation.survey, "open");
  assert.equal(view.calls("surveyShown").length, 1);
});

test("a stored conversation the edge no longer knows is forgotten, not reported as a failure", async () => {
  const { conversation, view, storage } = setup({ stored: "gone" });
  await conversation.restoreIfNeeded();
  assert.equal(storage.has("k"), false);
  assert.deepEqual(view.calls("historyOutcome"), [["historyOutcome", "none"]]);
  assert.deepEqual(view.calls("historyLoadingEnded").length, 1);
  assert.equal(view.calls("error").length, 0);
  assert.equal(conversation.phase, "idle");
});

test("a failed history fetch offers a retry and is tried again on the next open", async () => {
  const { conversation, edge, view } = setup({ stored: "c9" });
  edge.listMessages = async () => {
    throw new ApiError("UNAVAILABLE", "down", true);
  };
  await conversation.restoreIfNeeded();
  assert.deepEqual(view.calls("error"), [["error", "UNAVAILABLE", "retry"]]);
  assert.deepEqual(view.calls("historyOutcome"), [["historyOutcome", "failed"]]);
  assert.equal(conversation.phase, "unrestored");

  edge.listMessages = async () => [USER, BOT];
  view.retries[0]();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(view.calls("historyOutcome").at(-1), ["historyOutcome", "loaded"]);
  assert.equal(conversation.phase, "idle");
});

test("without a token the restore fails with the token's error code (UNAUTHENTICATED by default)", async () => {
  const { conversation, view } = setup({ keyFails: new Error("no cookie") });
  await conversation.restoreIfNeeded();
  assert.deepEqual(view.calls("error"), [["error", "UNAUTHENTICATED", "retry"]]);
  assert.deepEqual(view.calls("historyOutcome"), [["historyOutcome", "failed"]]);
});

test("a turn creates the conversation once, stores its id, streams the answer and ends idle", async () => {
  const { conversation, edge, view, storage } = setup();
  await conversation.restoreIfNeeded();
  view.log.length = 0;
  await conversation.send("hi there");
  assert.deepEqual(view.phases(), ["sending", "streaming", "idle"]);
  assert.deepEqual(view.calls("turnStarted"), [["turnStarted", "hi there"]]);
  assert.deepEqual(view.calls("answerGrew"), [["answerGrew", "Hel"], ["answerGrew", "Hello"]]);
  assert.deepEqual(view.calls("answerDone"), [["answerDone", "m1", "Hello", []]]);
  assert.deepEqual(
    view.events.map((e) => [e.name, e.detail]),
    [
      ["delta", { text: "Hel" }],
      ["delta", { text: "lo" }],
      ["answer", { messageId: "m1", text: "Hello" }],
    ],
  );
  assert.equal(storage.get("k"), "c1");
  await conversation.send("again");
  assert.deepEqual(
    edge.calls.map((c) => c.slice(0, 2)),
    [
      ["createConversation", { taskId: "T-1", pageUrl: "https://host/tasks/T-1" }],
      ["converse", "c1"],
      ["converse", "c1"],
    ],
  );
});

test("an answer whose done event has no text keeps the streamed text; degraded parts are passed on", async () => {
  const { conversation, edge, view } = setup();
  edge.turn = async (_request, handlers) => {
    handlers.onDelta("streamed");
    return { messageId: "m2", degradedComponents: ["COMPONENT_NLU"] };
  };
  await conversation.send("q");
  assert.deepEqual(view.calls("answerDone"), [["answerDone", "m2", "streamed", ["COMPONENT_NLU"]]]);
});

test("a replayed turn starts its answer again from empty", async () => {
  const { conversation, edge, view } = setup();
  edge.turn = async (_request, handlers) => {
    handlers.onDelta("partial ");
    handlers.onAccepted({ replayed: true });
    handlers.onDelta("whole answer");
    return { messageId: "m3", text: "" };
  };
  await conversation.send("q");
  assert.deepEqual(view.calls("answerGrew").at(-1), ["answerGrew", "whole answer"]);
  assert.deepEqual(view.calls("answerDone")[0].slice(0, 3), ["answerDone", "m3", "whole answer"]);
});

test("while a turn runs, another message and End are ignored", async () => {
  const { conversation, edge, view } = setup();
  const gate = deferred();
  edge.turn = () => gate.promise;
  const first = conversation.send("one");
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(conversation.phase, "sending");
  assert.equal(conversation.busy, true);
  await conversation.send("two");
  conversation.end();
  assert.equal(edge.calls.filter(([n]) => n === "converse").length, 1);
  assert.equal(view.calls("turnStarted").length, 1);
  assert.equal(view.calls("conversationEnded").length, 0);
  gate.resolve({ messageId: "m1", text: "ok" });
  await first;
  assert.equal(conversation.busy, false);
});

test("a retryable failure drops the partial answer; Try again resends the same client message id once", async () => {
  const { conversation, edge, view } = setup();
  edge.turn = async (_request, handlers) => {
    handlers.onDelta("half");
    throw new ApiError("UNAVAILABLE", "nlg down", true, true);
  };
  await conversation.send("q");
  assert.deepEqual(view.calls("answerDropped").length, 1);
  assert.deepEqual(view.events.at(-1), { name: "error", detail: { code: "UNAVAILABLE", message: "nlg down", retryable: true } });
  assert.deepEqual(view.calls("error"), [["error", "UNAVAILABLE", "retry"]]);
  assert.equal(conversation.phase, "idle");

  edge.turn = fakeEdge().turn;
  view.retries[0]();
  await new Promise((r) => setTimeout(r, 0));
  const turns = edge.calls.filter(([n]) => n === "converse");
  assert.deepEqual(turns, [
    ["converse", "c1", "cm1", "q"],
    ["converse", "c1", "cm1", "q"],
  ]);
  assert.deepEqual(view.calls("turnStarted"), [["turnStarted", "q"], ["turnStarted", null]]);
  assert.equal(view.calls("answerDone").length, 1);
});

test("a refused message (not retryable) is explained without a Try again button", async () => {
  const { conversation, edge, view } = setup();
  edge.turn = async () => {
    throw new ApiError("INVALID_ARGUMENT", "too long", false);
  };
  await conversation.send("q");
  assert.deepEqual(view.calls("error"), [["error", "INVALID_ARGUMENT", "no retry"]]);
});

test("anything that is not an ApiError counts as UNKNOWN and retryable", async () => {
  const { conversation, edge, view } = setup();
  edge.turn = async () => {
    throw new TypeError("boom");
  };
  await conversation.send("q");
  assert.deepEqual(view.calls("error"), [["error", "UNKNOWN", "retry"]]);
});

test("a conversation the edge lost is forgotten: the retry starts a new one", async () => {
  const { conversation, edge, view, storage } = setup();
  await conversation.send("first");
  edge.turn = async () => {
    throw new ApiError("NOT_FOUND", "no such conversation", false);
  };
  await conversation.send("second");
  assert.equal(conversation.id, null);
  assert.equal(storage.has("k"), false);
  assert.deepEqual(view.calls("error").at(-1), ["error", "NOT_FOUND", "retry"]);
  edge.turn = fakeEdge().turn;
  view.retries.at(-1)();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(conversation.id, "c2");
  assert.equal(storage.get("k"), "c2");
});

test("a turn before the first open that could not create a conversation still lets the open restore", async () => {
  const { conversation, view } = setup({ keyFails: new ApiError("UNAUTHENTICATED", "no token", true) });
  await conversation.send("q");
  assert.equal(conversation.phase, "unrestored");
  assert.deepEqual(view.calls("error"), [["error", "UNAUTHENTICATED", "retry"]]);
  await conversation.restoreIfNeeded();
  assert.deepEqual(view.calls("historyOutcome"), [["historyOutcome", "failed"]]);
});

test("ending a conversation without an answer starts a new one at once, without the survey", async () => {
  const { conversation, edge, view } = setup();
  edge.turn = async () => {
    throw new ApiError("UNAVAILABLE", "down", true, true);
  };
  await conversation.send("q");
  conversation.end();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(view.calls("surveyShown").length, 0);
  assert.deepEqual(view.calls("conversationEnded"), [["conversationEnded", false]]);
  assert.deepEqual(view.events.at(-1), { name: "ended", detail: { thanked: false } });
  assert.equal(conversation.id, null);
});

test("the satisfaction answer is sent for the conversation it asked about, then a new one starts", async () => {
  const { conversation, edge, view, storage } = setup();
  await conversation.send("q");
  conversation.end();
  assert.equal(conversation.survey, "open");
  assert.equal(await conversation.submitSatisfaction(4, "nice"), true);
  assert.deepEqual(edge.calls.at(-1), ["submitSatisfaction", "c1", 4, "nice"]);
  assert.deepEqual(view.calls("conversationEnded"), [["conversationEnded", true]]);
  assert.deepEqual(view.events.at(-1), { name: "ended", detail: { thanked: true } });
  assert.equal(conversation.survey, "closed");
  assert.equal(storage.has("k"), false);
  await conversation.send("new topic");
  assert.equal(conversation.id, "c2");
});

test("a satisfaction answer the edge did not store keeps the question open and says why", async () => {
  const { conversation, edge, view } = setup();
  await conversation.send("q");
  conversation.end();
  edge.submitSatisfaction = async () => {
    throw new ApiError("UNAVAILABLE", "down", true);
  };
  assert.equal(await conversation.submitSatisfaction(2, ""), false);
  assert.deepEqual(view.calls("error"), [["error", "UNAVAILABLE", "no retry"]]);
  assert.equal(conversation.survey, "open");
  assert.equal(conversation.id, "c1");
  await conversation.skipSatisfaction();
  assert.deepEqual(view.calls("conversationEnded"), [["conversationEnded", false]]);
  assert.equal(conversation.survey, "closed");
});

test("a rating goes to the edge for that message", async () => {
  const { conversation, edge } = setup();
  await conversation.rate("m1", "FEEDBACK_RATING_DOWN", "wrong date");
  assert.deepEqual(edge.calls, [["submitFeedback", "m1", "FEEDBACK_RATING_DOWN", "wrong date"]]);
});
