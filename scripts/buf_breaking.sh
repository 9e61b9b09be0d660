#!/usr/bin/env bash
# buf breaking: the working tree's contracts against a git ref's (default main).
# buf cannot read the ref straight from git (`--against '.git#branch=main'`): the googleapis files our
# contracts import are not in git but copied from the installed package into .local/protos-deps
# (scripts/gen_protos.py --deps), so the ref's protos/ is extracted beside that same copy and compared with
# this tree's buf.yaml (both sides then hold the same two modules).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REF="${1:-main}"
against="$(mktemp -d)"
trap 'rm -rf "$against"' EXIT
git archive "$REF" protos | tar -x -C "$against"
# Refs from before the googleapis files left git still hold them in protos/google: the copy replaces them.
rm -rf "$against/protos/google"
"$ROOT/.venv/bin/python" scripts/gen_protos.py --deps "$against/.local/protos-deps" >/dev/null
"$ROOT/.venv/bin/python" scripts/gen_protos.py --deps >/dev/null
cp buf.yaml "$against/buf.yaml"
"$ROOT/.venv/bin/buf" breaking --against "$against"
