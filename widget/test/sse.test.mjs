import { test } from "node:test";
import assert from "node:assert/strict";
import { SseParser } from "../dist/test-lib/sse.js";

const all = (chunks) => {
  const parser = new SseParser();
  return chunks.flatMap((c) => parser.push(c));
};

test("named events with JSON data are dispatched on a blank line", () => {
  const events = all(['event: accepted\ndata: {"userMessageId":"u1"}\n\nevent: delta\ndata: {"text":"Hi"}\n\n']);
  assert.deepEqual(events, [
    { event: "accepted", data: '{"userMessageId":"u1"}', id: "" },
    { event: "delta", data: '{"text":"Hi"}', id: "" },
  ]);
});

test("an event split across chunks at every position parses the same", () => {
  const stream = 'event: delta\r\ndata: {"text":"a\\nb"}\r\n\r\n: keep-alive\r\n\r\nevent: done\rdata: {}\r\r';
  const expected = all([stream]);
  assert.equal(expected.length, 2);
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(all([stream.slice(0, cut), stream.slice(cut)]), expected, `cut at ${cut}`);
  }
  // One character at a time, too: CR and LF arrive in different chunks.
  assert.deepEqual(all([...stream]), expected);
});

test("a CRLF split between chunks does not make an extra blank line", () => {
  assert.deepEqual(all(["data: x\r", "\ndata: y\r", "\n\r", "\n"]), [{ event: "message", data: "x\ny", id: "" }]);
});

test("multi-line data is joined with newlines and a missing event name is 'message'", () => {
  assert.deepEqual(all(["data: one\ndata:two\ndata\n\n"]), [{ event: "message", data: "one\ntwo\n", id: "" }]);
});

test("comments, retry fields and data-less events are ignored", () => {
  assert.deepEqual(all([": hello\nid: 7\nretry: 10\n\nevent: ping\n\n"]), []);
});

test("each event carries the last id seen, which outlives the event that set it", () => {
  const events = all(["id: u1:0:1\nevent: accepted\ndata: {}\n\n", "event: intent\ndata: {}\n\nid: u1:0:3\ndata: x\n\n"]);
  assert.deepEqual(
    events.map((e) => e.id),
    ["u1:0:1", "u1:0:1", "u1:0:3"],
  );
});

test("an id with NUL is ignored and an empty id resets it", () => {
  assert.deepEqual(
    all(["id: a\ndata: 1\n\nid: b\0c\ndata: 2\n\nid\ndata: 3\n\n"]).map((e) => e.id),
    ["a", "a", ""],
  );
});

test("only one leading space is stripped from a value", () => {
  assert.deepEqual(all(["data:  two spaces\n\n"]), [{ event: "message", data: " two spaces", id: "" }]);
});

test("an event not closed by a blank line is not dispatched and end() clears it", () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push("event: delta\ndata: partial\n"), []);
  parser.end();
  assert.deepEqual(parser.push("data: next\n\n"), [{ event: "message", data: "next", id: "" }]);
});
