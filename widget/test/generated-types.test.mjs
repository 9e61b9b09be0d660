import { test } from "node:test";
import assert from "node:assert/strict";
import { staleFiles } from "../scripts/gen-api-types.mjs";

test("the committed API types in src/gen/ are what the protos generate today (else: npm run gen)", () => {
  assert.deepEqual(staleFiles(), []);
});
