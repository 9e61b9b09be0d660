// Builds the widget into ONE minified file, dist/assist-chat.js, and fails when it is over the size budget
// (30 KB gzipped), printing the gzipped size either way. With --test-lib it instead builds the pure modules
// (SSE parser, markdown renderer, strings, token claims, conversation controller, API client, availability) as plain ES modules for `node --test`.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";

const BUDGET_BYTES = 30 * 1024;
const OUT = "dist/assist-chat.js";

if (process.argv.includes("--test-lib")) {
  await build({
    entryPoints: [
      "src/sse.ts",
      "src/markdown.ts",
      "src/i18n.ts",
      "src/auth.ts",
      "src/conversation.ts",
      "src/api.ts",
      "src/availability.ts",
      "src/study/recorder.ts",
      "src/past.ts",
    ],
    outdir: "dist/test-lib",
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    logLevel: "warning",
  });
  process.exit(0);
}

await build({
  entryPoints: ["src/index.ts"],
  outfile: OUT,
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "none",
  logLevel: "warning",
});

const raw = readFileSync(OUT);
const gzipped = gzipSync(raw, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1);
console.log(`${OUT}: ${kb(raw.length)} KB minified, ${kb(gzipped)} KB gzipped (${gzipped} bytes; budget ${kb(BUDGET_BYTES)} KB)`);
if (gzipped > BUDGET_BYTES) {
  console.error(`size budget exceeded: ${gzipped} bytes gzipped > ${BUDGET_BYTES}`);
  process.exit(1);
}
