#!/usr/bin/env bash
# Build grpcurl (the gRPC command line client docs/internal-api.md uses) from the Go module proxy into
# ${STACK_CACHE:-<repo>/.local}/bin/grpcurl-<version>, linked as grpcurl. Skipped when the binary is there.
# Prints the binary's path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="v1.9.3"
BIN_DIR="${STACK_CACHE:-$ROOT/.local}/bin"
TARGET="$BIN_DIR/grpcurl-$VERSION"

if [[ ! -x "$TARGET" ]]; then
  command -v go >/dev/null || { echo "[install_grpcurl] needs Go (go install)" >&2; exit 1; }
  mkdir -p "$BIN_DIR"
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  echo "[install_grpcurl] building grpcurl $VERSION (go install; a few minutes the first time)" >&2
  GOBIN="$scratch" GOCACHE="${GOCACHE:-$HOME/.cache/go-build}" GOMODCACHE="${GOMODCACHE:-$HOME/go/pkg/mod}" \
    timeout 900 go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$VERSION"
  mv "$scratch/grpcurl" "$TARGET.tmp"
  mv "$TARGET.tmp" "$TARGET"
fi
ln -sfn "grpcurl-$VERSION" "$BIN_DIR/grpcurl"
echo "$BIN_DIR/grpcurl"
