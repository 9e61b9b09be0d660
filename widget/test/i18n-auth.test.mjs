import { test } from "node:test";
import assert from "node:assert/strict";
import { errorText, languageHint, resolveLocale, strings } from "../dist/test-lib/i18n.js";
import { decodeClaims } from "../dist/test-lib/auth.js";

test("the locale comes from the attribute, else the browser's language; Portuguese variants map to pt-BR", () => {
  assert.equal(resolveLocale("en", "pt-BR"), "en");
  assert.equal(resolveLocale(null, "pt-PT"), "pt-BR");
  assert.equal(resolveLocale("", "de-DE"), "en");
  assert.equal(resolveLocale(null, undefined), "en");
  assert.equal(languageHint("pt-BR"), "LANGUAGE_PT_BR");
  assert.equal(languageHint("en"), "LANGUAGE_EN");
});

test("both locales have every string, and none is empty or still English in Portuguese", () => {
  const en = strings("en");
  const pt = strings("pt-BR");
  assert.deepEqual(Object.keys(pt).sort(), Object.keys(en).sort());
  for (const key of Object.keys(en)) {
    const a = typeof en[key] === "function" ? en[key](3) : en[key];
    const b = typeof pt[key] === "function" ? pt[key](3) : pt[key];
    assert.ok(a && b, key);
  }
  assert.notEqual(pt.send, en.send);
});

test("error codes are explained in words, with a fallback for unknown codes", () => {
  const en = strings("en");
  assert.match(errorText(en, "UNAVAILABLE"), /unavailable/);
  assert.match(errorText(en, "NETWORK"), /connection/);
  assert.equal(errorText(en, "SOMETHING_NEW"), en.errGeneric);
  assert.match(errorText(strings("pt-BR"), "UNAUTHENTICATED"), /sessão/);
  assert.match(errorText(en, "DAILY_BUDGET"), /tomorrow/);
  assert.notEqual(errorText(en, "DAILY_BUDGET"), errorText(en, "RESOURCE_EXHAUSTED"));
});

test("token claims are read from the JWT payload (base64url, UTF-8)", () => {
  const payload = Buffer.from(JSON.stringify({ sub: "ana", name: "Ana Souza Conceição", exp: 1900000000 })).toString("base64url");
  assert.deepEqual(decodeClaims(`h.${payload}.s`), { sub: "ana", exp: 1900000000 });
  assert.equal(decodeClaims("not-a-jwt"), null);
  assert.equal(decodeClaims("a.!!!.c"), null);
});
