#!/usr/bin/env bash
# Install what the browser tests drive: Debian's Chromium, Firefox ESR and WebKitGTK's WebDriver, Xvfb,
# geckodriver (built from crates.io, since no registry here ships its binary) and the widget's npm packages
# (esbuild, axe-core). Idempotent and cached: each step is skipped when its result is already there, and
# `apt-get update` runs at most once, only when a Debian package is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_ROOT="$ROOT/.local/cargo"

log() { printf '[install_browsers] %s\n' "$*" >&2; }

# Debian packages, each checked by the binary it provides.
declare -A WANTED=(
  [chromium]=/usr/bin/chromium
  [firefox-esr]=/usr/bin/firefox-esr
  [webkit2gtk-driver]=/usr/bin/WebKitWebDriver
  [xvfb]=/usr/bin/Xvfb
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
)
missing=()
for pkg in "${!WANTED[@]}"; do
  [[ -e "${WANTED[$pkg]}" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# geckodriver: Firefox's WebDriver server, built once into the project's own cargo root. A copy is kept in
# the user's cache so a fresh clone on the same machine (CI) restores it instead of compiling again.
GECKO_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/assist-mesh/bin/geckodriver"
if [[ ! -x "$CARGO_ROOT/bin/geckodriver" ]]; then
  mkdir -p "$CARGO_ROOT/bin"
  if [[ -x "$GECKO_CACHE" ]]; then
    log "restoring geckodriver from $GECKO_CACHE"
    cp "$GECKO_CACHE" "$CARGO_ROOT/bin/geckodriver"
  else
    log "building geckodriver with cargo (a few minutes the first time)"
    cargo install geckodriver --locked --root "$CARGO_ROOT" --quiet
    mkdir -p "$(dirname "$GECKO_CACHE")"
    cp "$CARGO_ROOT/bin/geckodriver" "$GECKO_CACHE"
  fi
fi

# The widget's build and test tools; `npm ci` again only when the lock file changed since the last install.
WIDGET="$ROOT/widget"
if [[ ! -f "$WIDGET/node_modules/.package-lock.json" || "$WIDGET/package-lock.json" -nt "$WIDGET/node_modules/.package-lock.json" ]]; then
  log "npm ci in widget/"
  (cd "$WIDGET" && npm ci --no-audit --no-fund --loglevel=error)
fi

log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"
log "firefox: $(/usr/bin/firefox-esr --version 2>/dev/null || echo missing)"
log "geckodriver: $("$CARGO_ROOT/bin/geckodriver" --version 2>/dev/null | sed -n 1p)"
log "webkit: $(dpkg-query -W -f='${Version}' webkit2gtk-driver 2>/dev/null || echo missing)"
