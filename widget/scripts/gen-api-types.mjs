// Generates the widget's API types (src/gen/) from the contracts in ../protos, so they cannot drift from
// what the edge sends. `npm run gen` writes them; `node scripts/gen-api-types.mjs --check` (run by
// `npm test`) regenerates into a temporary directory and fails when the committed files differ.
//
// protoc is grpcio-tools' (the project's Python environment, ../.venv, or $PYTHON); the googleapis
// annotation protos come from the installed googleapis-common-protos package, not from the repo. ts-proto
// emits types only, in protobuf's JSON mapping as the edge writes it (json_format.MessageToDict defaults):
// lowerCamelCase names, enums as their names, Timestamps as RFC 3339 strings, and every field optional
// because fields holding their default value are left out.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const WIDGET = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(WIDGET, "..");
const PROTOS = join(ROOT, "protos");
const OUT = join(WIDGET, "src", "gen");
// coordinator.proto is the API; common.proto and nlg.proto hold the messages and enums it uses.
const SOURCES = ["assist/v1/coordinator.proto", "assist/v1/common.proto", "assist/v1/nlg.proto"];
const OPTIONS = [
  "onlyTypes=true",
  "outputServices=false",
  "emitImportedFiles=false",
  "outputIndex=false",
  "snakeToCamel=true",
  "stringEnums=true",
  "enumsAsLiterals=true",
  "unrecognizedEnum=false",
  "useOptionals=all",
  "useDate=string",
].join(",");

const python = process.env.PYTHON ?? join(ROOT, ".venv", "bin", "python");

/** The include directories: well-known types from grpc_tools, google/api/*.proto from googleapis-common-protos. */
function includeDirs() {
  const script = [
    "import pathlib, grpc_tools, google.api.annotations_pb2 as a",
    "print(pathlib.Path(grpc_tools.__file__).parent / '_proto')",
    "print(pathlib.Path(a.__file__).parents[2])",
  ].join("\n");
  return execFileSync(python, ["-c", script], { encoding: "utf8" }).trim().split("\n");
}

function generate(outDir) {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const plugin = join(WIDGET, "node_modules", ".bin", "protoc-gen-ts_proto");
  execFileSync(
    python,
    [
      "-m",
      "grpc_tools.protoc",
      `-I${PROTOS}`,
      ...includeDirs().map((dir) => `-I${dir}`),
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${OPTIONS}`,
      ...SOURCES,
    ],
    { cwd: PROTOS, stdio: ["ignore", "inherit", "inherit"] },
  );
}

function files(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** What differs between the committed files and a fresh generation; empty when they match. */
export function staleFiles() {
  const fresh = mkdtempSync(join(tmpdir(), "assist-gen-"));
  try {
    generate(fresh);
    const committed = new Set(files(OUT));
    const generated = new Set(files(fresh));
    const out = [];
    for (const name of generated) {
      if (!committed.has(name)) out.push(`missing: ${name}`);
      else if (!readFileSync(join(OUT, name)).equals(readFileSync(join(fresh, name)))) out.push(`differs: ${name}`);
    }
    for (const name of committed) if (!generated.has(name)) out.push(`not generated: ${name}`);
    return out;
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const stale = staleFiles();
    if (stale.length) {
      console.error(`src/gen/ is stale; run npm run gen (${stale.join(", ")})`);
      process.exit(1);
    }
  } else {
    generate(OUT);
    console.log(`wrote ${files(OUT).map((f) => join("src/gen", f)).join(", ")}`);
  }
}
