// The list of past conversations and opening one, without a DOM: a fake edge that pages like the real one
// (newest first, a token for the next page) and views that record what they were told.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, PastConversations, pastItem } from "../dist/test-lib/past.js";
import { ApiError as ConversationApiError, Conversation } from "../dist/test-lib/conversation.js";

const summary = (id, preview = "", extra = {}) => ({
  conversation: { conversationId: id, createTime: "2026-10-01T12:00:00Z" },
  preview,
  ...extra,
});

/** Pages of two over `all`, the way the edge cuts them; `fail` makes the next call fail with that code. */
function pagingEdge(all) {
  const edge = {
    calls: [],
    fail: null,
    listConversations: async (token = "") => {
      edge.calls.push(token);
      if (edge.fail) throw new ApiError(edge.fail, "refused", true);
      const start = token ? Number(token.slice(1)) : 0;
      const next = start + 2 < all.length ? `p${start + 2}` : "";
      return { conversations: all.slice(start, start + 2), nextPageToken: next };
    },
  };
  return edge;
}

function recordingPastView() {
  const view = { log: [] };
  view.loading = () => view.log.push(["loading"]);
  view.shown = (items, hasMore) => view.log.push(["shown", items.map((i) => i.conversationId), hasMore]);
  view.failed = (code) => view.log.push(["failed", code]);
  view.last = () => view.log[view.log.length - 1];
  return view;
}

function setupPast(all, currentId = null) {
  const edge = pagingEdge(all);
  const view = recordingPastView();
  const past = new PastConversations({ api: edge, view, currentId: () => currentId, locale: "en", untitled: "Untitled" });
  return { past, edge, view };
}

const FIVE = ["c5", "c4", "c3", "c2", "c1"].map((id) => summary(id, `question ${id}`));

test("opening shows the first page, and 'more' appends the next until the last", async () => {
  const { past, edge, view } = setupPast(FIVE);
  assert.equal(past.state, "closed");
  await past.open();
  assert.deepEqual(view.log, [["loading"], ["shown", ["c5", "c4"], true]]);
  await past.more();
  await past.more();
  assert.deepEqual(view.last(), ["shown", ["c5", "c4", "c3", "c2", "c1"], false]);
  assert.equal(past.hasMore, false);
  await past.more(); // nothing left: no call
  assert.deepEqual(edge.calls, ["", "p2", "p4"]);
});

test("opening again starts from the first page, since the list may have grown", async () => {
  const { past, edge, view } = setupPast(FIVE);
  await past.open();
  await past.more();
  past.close();
  await past.open();
  assert.deepEqual(view.last(), ["shown", ["c5", "c4"], true]);
  assert.deepEqual(edge.calls, ["", "p2", ""]);
});

test("a failed page says why and the list can be opened again", async () => {
  const { past, edge, view } = setupPast(FIVE);
  edge.fail = "UNAVAILABLE";
  await past.open();
  assert.deepEqual(view.last(), ["failed", "UNAVAILABLE"]);
  assert.equal(past.state, "failed");
  edge.fail = null;
  await past.open();
  assert.deepEqual(view.last(), ["shown", ["c5", "c4"], true]);
});

test("a page that arrives after the list was closed is not shown", async () => {
  const { past, edge, view } = setupPast(FIVE);
  let release;
  const held = new Promise((resolve) => (release = resolve));
  const real = edge.listConversations;
  edge.listConversations = async (token) => {
    await held;
    return real(token);
  };
  const opening = past.open();
  past.close();
  release();
  await opening;
  assert.deepEqual(view.log, [["loading"]]);
  assert.equal(past.state, "closed");
});

test("an item reads as its first question, or 'untitled', with its date and the imported and current marks", () => {
  const deps = { locale: "en", untitled: "Untitled" };
  const imported = pastItem(summary("past-ana-1", "  O que está atrasado?  ", { imported: true }), deps, "c9");
  assert.deepEqual(imported, {
    conversationId: "past-ana-1",
    label: "O que está atrasado?",
    date: "Oct 1, 2026",
    imported: true,
    current: false,
  });
  const current = pastItem(summary("c9"), deps, "c9");
  assert.equal(current.label, "Untitled");
  assert.equal(current.current, true);
  assert.equal(current.imported, false);
  assert.equal(pastItem({ preview: "x" }, deps, null).date, "");
  assert.equal(pastItem(summary("c1"), { locale: "pt-BR", untitled: "" }, null).date, "1 de out. de 2026");
});

// Opening a past conversation from the list: the Conversation controller with a recording view.
function conversationWith(history) {
  const log = [];
  const storage = new Map();
  const record =
    (name) =>
    (...args) =>
      log.push([name, ...args]);
  const view = new Proxy({}, { get: (_, name) => (name === "error" ? (code) => log.push(["error", code]) : record(name)) });
  const edge = {
    calls: [],
    listMessages: async (id) => {
      edge.calls.push(["listMessages", id]);
      if (!history.has(id)) throw new ConversationApiError("NOT_FOUND", "no such conversation", false);
      return history.get(id);
    },
    converse: async (id, request, handlers) => {
      edge.calls.push(["converse", id, request.text]);
      handlers.onDelta("ok");
      return { messageId: "m9", text: "ok", degradedComponents: [] };
    },
    createConversation: async () => "fresh",
  };
  const conversation = new Conversation({
    api: edge,
    view,
    memory: { key: async () => "k", load: (k) => storage.get(k) ?? null, save: (k, id) => storage.set(k, id) },
    pageContext: () => ({ taskId: "", pageUrl: "" }),
    language: "LANGUAGE_EN",
    newClientMessageId: () => "cm1",
  });
  return { conversation, edge, log, storage };
}

test("a past conversation picked from the list is shown, remembered, and the next message goes to it", async () => {
  const messages = [
    { messageId: "u", role: "ROLE_USER", text: "O que está atrasado?" },
    { messageId: "a", role: "ROLE_ASSISTANT", text: "Revisar contrato." },
  ];
  const { conversation, edge, log, storage } = conversationWith(new Map([["past-ana-1", messages]]));
  assert.equal(await conversation.openPast("past-ana-1"), true);
  assert.equal(conversation.id, "past-ana-1");
  assert.equal(conversation.phase, "idle");
  assert.deepEqual(log.find(([n]) => n === "historyShown"), ["historyShown", messages]);
  assert.equal(storage.get("k"), "past-ana-1");
  await conversation.send("E agora?");
  assert.deepEqual(edge.calls.at(-1), ["converse", "past-ana-1", "E agora?"]);
});

test("a past conversation that cannot be loaded leaves the current one as it was", async () => {
  const { conversation, log, storage } = conversationWith(new Map());
  assert.equal(await conversation.openPast("gone"), false);
  assert.equal(conversation.id, null);
  assert.equal(storage.size, 0);
  assert.deepEqual(log.filter(([n]) => n === "error"), [["error", "NOT_FOUND"]]);
  assert.equal(conversation.phase, "unrestored");
});
