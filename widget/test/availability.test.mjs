// The widget asks the edge before showing itself (GET /v1/widget/config) and fails closed: only an answer
// of `enabled: true` shows it; the same answer's `study: true` puts it in study mode. Checked through the
// real API client over a scripted `fetch`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EdgeApi } from "../dist/test-lib/api.js";
import { TokenSource } from "../dist/test-lib/auth.js";
import { availability } from "../dist/test-lib/availability.js";

/** Replace `fetch` with one answering `respond(url, init)`; returns the requests seen. */
function scriptedFetch(respond) {
  const seen = [];
  globalThis.fetch = async (url, init) => {
    seen.push({ url, method: init.method, authorization: init.headers.Authorization });
    return respond(url, init);
  };
  return seen;
}

const json = (status, body) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

const HIDDEN = { state: "disabled", study: false };

const api = () => new EdgeApi("https://edge.example", new TokenSource(null, "tok"));

test("the widget shows itself when the edge says enabled, asking with the bearer token", async () => {
  const seen = scriptedFetch(() => json(200, { enabled: true }));
  assert.deepEqual(await availability(api()), { state: "enabled", study: false });
  assert.deepEqual(seen, [
    { url: "https://edge.example/v1/widget/config", method: "GET", authorization: "Bearer tok" },
  ]);
});

test("the widget stays hidden when the user is outside the rollout", async () => {
  scriptedFetch(() => json(200, { enabled: false }));
  assert.deepEqual(await availability(api()), HIDDEN);
});

test("an answer without enabled: true keeps the widget hidden", async () => {
  scriptedFetch(() => json(200, {}));
  assert.deepEqual(await availability(api()), HIDDEN);
});

test("an edge that refuses or cannot be reached keeps the widget hidden (fail closed)", async () => {
  scriptedFetch(() => json(403, { error: { code: "PERMISSION_DENIED", message: "no", retryable: false } }));
  assert.deepEqual(await availability(api()), HIDDEN);
  scriptedFetch(() => json(503, { error: { code: "UNAVAILABLE", message: "down", retryable: true } }));
  assert.deepEqual(await availability(api()), HIDDEN);
  scriptedFetch(() => {
    throw new TypeError("fetch failed");
  });
  assert.deepEqual(await availability(api()), HIDDEN);
});

test("a tester of the study cohort gets study mode with the widget", async () => {
  scriptedFetch(() => json(200, { enabled: true, study: true }));
  assert.deepEqual(await availability(api()), { state: "enabled", study: true });
});

test("study mode never comes without the widget, nor from anything but study: true", async () => {
  scriptedFetch(() => json(200, { enabled: false, study: true }));
  assert.deepEqual(await availability(api()), HIDDEN);
  scriptedFetch(() => json(200, { enabled: true, study: "yes" }));
  assert.deepEqual(await availability(api()), { state: "enabled", study: false });
});
