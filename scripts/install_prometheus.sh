#!/usr/bin/env bash
# Prometheus and promtool for the local stack and the alert-rule tests, from Debian's `prometheus`
# package: `apt-get download` + `dpkg -x` into ${STACK_CACHE:-<repo>/.local}/prometheus/<version>/,
# so no service is installed or started (tooling notes, rows 3a/3b: about 1 s, a 19 MB .deb).
# Prints the directory holding bin/prometheus and bin/promtool; skips the work when they are there.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_CACHE="${STACK_CACHE:-$REPO_ROOT/.local}"
mkdir -p "$STACK_CACHE"
STACK_CACHE="$(cd "$STACK_CACHE" && pwd)"
PACKAGE=prometheus
VERSION="${PROMETHEUS_DEB_VERSION:-2.42.0+ds-5+deb12u1}"
DEST="$STACK_CACHE/prometheus/$VERSION"

log() { printf '[prometheus] %s\n' "$*" >&2; }
die() { printf '[prometheus] ERROR: %s\n' "$*" >&2; exit 1; }

if [ -x "$DEST/bin/prometheus" ] && [ -x "$DEST/bin/promtool" ]; then
  echo "$DEST"
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to fetch Debian's $PACKAGE package"
exec 9>"$STACK_CACHE/install-prometheus.lock"
flock -w 600 9 || die "could not take $STACK_CACHE/install-prometheus.lock"
if [ -x "$DEST/bin/prometheus" ] && [ -x "$DEST/bin/promtool" ]; then  # another install finished it
  echo "$DEST"
  exit 0
fi
work="$(mktemp -d "$STACK_CACHE/prometheus-download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "downloading Debian's $PACKAGE=$VERSION (no service is installed)"
if ! (cd "$work" && apt-get download -q "$PACKAGE=$VERSION" >"$work/apt.log" 2>&1); then
  log "apt-get download failed; refreshing the package lists once"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -q >>"$work/apt.log" 2>&1 || true
  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -q >>"$work/apt.log" 2>&1 || true
  fi
  (cd "$work" && apt-get download -q "$PACKAGE=$VERSION" >>"$work/apt.log" 2>&1) || {
    tail -n 20 "$work/apt.log" >&2
    die "apt-get download $PACKAGE=$VERSION failed"
  }
fi
dpkg -x "$work"/${PACKAGE}_*.deb "$work/root"
mkdir -p "$work/out/bin"
cp "$work/root/usr/bin/prometheus" "$work/root/usr/bin/promtool" "$work/out/bin/"
"$work/out/bin/promtool" --version >/dev/null 2>&1 || die "the extracted promtool does not run"
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$work/out" "$DEST"
log "installed $("$DEST/bin/prometheus" --version 2>&1 | head -n 1) in $DEST"
echo "$DEST"
