#!/usr/bin/env bash
# Builds Jaeger v2 (the all-in-one `jaeger` binary, OTLP in, in-memory store, query API) from the Go module
# proxy into ${STACK_CACHE:-<repo>/.local}/bin/jaeger-<module version>; does nothing when it is already there.
#
# `go install github.com/jaegertracing/jaeger/cmd/jaeger@VERSION` is refused (Jaeger's go.mod has replace
# directives), so a scratch wrapper module requires it as a tool, with the one replace it needs (sarama's old
# import path), and builds it (tooling notes, row 5b: about 30 s of downloads and 3 min of build, cold).
#
# Usage: scripts/install_jaeger.sh        prints the binary's path on stdout
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAEGER_MODULE_VERSION="v1.76.0"   # the module version; the binary it builds is Jaeger v2
STACK_CACHE="${STACK_CACHE:-$REPO_ROOT/.local}"
mkdir -p "$STACK_CACHE/bin"
STACK_CACHE="$(cd "$STACK_CACHE" && pwd)"
BIN="$STACK_CACHE/bin/jaeger-$JAEGER_MODULE_VERSION"

log() { printf '[install_jaeger] %s\n' "$*" >&2; }
die() { printf '[install_jaeger] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x "$BIN" ]; then
  printf '%s\n' "$BIN"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "'go' is required to build Jaeger from the Go module proxy"

# One build at a time per cache (a second caller waits, then finds the binary).
exec 9>"$STACK_CACHE/install-jaeger.lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 1800 9 || die "could not take $STACK_CACHE/install-jaeger.lock"
fi
if [ -x "$BIN" ]; then
  printf '%s\n' "$BIN"
  exit 0
fi

export GO111MODULE=on GOWORK=off
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"   # never download another toolchain
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
if [ -z "${HOME:-}" ] || [ ! -w "${HOME:-/nonexistent}" ]; then
  export GOPATH="${GOPATH:-$STACK_CACHE/go}"
  export GOCACHE="${GOCACHE:-$STACK_CACHE/go/cache}"
fi

mkdir -p "$STACK_CACHE/logs"
build_log="$STACK_CACHE/logs/install-jaeger.log"
work="$(mktemp -d "$STACK_CACHE/src-jaeger.XXXXXX")"
trap 'rm -rf "$work" "$BIN.tmp"' EXIT
log "building Jaeger ($JAEGER_MODULE_VERSION) with Go, a few minutes the first time (output: $build_log)"
{
  cd "$work"
  go mod init local/jaeger-build
  go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
  timeout 900 go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_MODULE_VERSION"
  timeout 900 go build -trimpath -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
} >"$build_log" 2>&1 9>&- || {
  rc=$?
  tail -n 30 "$build_log" >&2
  if [ "$rc" -eq 124 ]; then
    die "the Go step timed out after 900 s (a busy machine): run it again, the build cache keeps the work done"
  fi
  die "Jaeger build failed, exit $rc (full output: $build_log)"
}
mv "$BIN.tmp" "$BIN"
log "built $BIN"
printf '%s\n' "$BIN"
