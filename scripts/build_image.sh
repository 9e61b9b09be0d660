#!/usr/bin/env bash
# Builds the mesh's container image (Containerfile) with podman, from Debian packages only:
#   1. a base root filesystem with mmdebstrap (Debian minbase + python3), imported into podman's store as
#      localhost/assist-base:bookworm (kept: later builds reuse it; --rebase makes it again). Both stages start
#      from it: uv makes the virtual environment itself, so the build stage needs no python3-venv or pip
#   2. the widget bundle (npm) when widget/dist has none
#   3. podman build -> localhost/assist-mesh:<version> (an OCI image), and prints its size
# Usage: scripts/build_image.sh [--rebase] [--save FILE.tar]   (--save: an oci-archive of the image)
# Needs root (podman's store, mmdebstrap); installs podman, runc and mmdebstrap with apt-get when missing.
# Podman runs with runc and the cgroupfs manager, and no default ulimits: Debian's crun fails on this kind
# of machine (cgroup v1 controllers; ulimits above the hard limit). See docs/deploy.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
STACK_CACHE="${STACK_CACHE:-$REPO_ROOT/.local}"
SUITE="bookworm"
IMAGE="${ASSIST_IMAGE:-localhost/assist-mesh}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
BASE="localhost/assist-base:$SUITE"
WORK="$REPO_ROOT/.local/image"

log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] ERROR: %s\n' "$*" >&2; exit 1; }

rebase=0 save=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rebase) rebase=1 ;;
    --save) save="$2"; shift ;;
    *) die "usage: $0 [--rebase] [--save FILE.tar]" ;;
  esac
  shift
done

[ "$(id -u)" -eq 0 ] || die "run as root (podman's store and mmdebstrap need it here)"
missing=()
for tool in podman runc mmdebstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} with apt-get"
  apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
    podman runc mmdebstrap uidmap >/dev/null
fi

mkdir -p "$WORK"
export CONTAINERS_CONF="$WORK/containers.conf"
cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF

# base_image NAME PACKAGES: a Debian root filesystem imported as NAME (docs, man pages and locales left out).
base_image() {
  local name="$1" packages="$2" tar="$WORK/$(echo "$1" | tr '/:' '__').tar" started=$SECONDS
  if [ "$rebase" -eq 0 ] && podman image exists "$name"; then return; fi
  log "mmdebstrap $SUITE minbase + $packages -> $name"
  mmdebstrap --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$SUITE" "$tar" >"$WORK/mmdebstrap.log" 2>&1 || { tail -20 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
  podman import --change 'CMD ["/bin/bash"]' "$tar" "$name" >/dev/null
  rm -f "$tar"
  log "$name made in $((SECONDS - started)) s"
}

started=$SECONDS
base_image "$BASE" "python3,ca-certificates"

if [ ! -f widget/dist/assist-chat.js ]; then
  log "building the widget bundle"
  [ -d widget/node_modules ] || (cd widget && npm ci --no-audit --no-fund --loglevel=error)
  (cd widget && npm run --silent build)
fi

mkdir -p .image
uv_bin="$(command -v uv)"
if [ "$(head -c 2 "$uv_bin")" = "#!" ] && command -v pyenv >/dev/null; then uv_bin="$(pyenv which uv)"; fi  # a pyenv shim
cp "$uv_bin" .image/uv

log "podman build -> $IMAGE:$VERSION"
build_started=$SECONDS
# The build machine's CA bundle, for the build steps that fetch wheels (a TLS-inspecting proxy's CA); a mount,
# so it never becomes part of the image.
ca_mount=()
host_ca="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
[ -f "$host_ca" ] && ca_mount=(--volume "$host_ca:/run/build-ca.crt:ro")
podman build --network=host --format oci --layers -f Containerfile "${ca_mount[@]}" \
  --build-arg "BASE_IMAGE=$BASE" \
  -t "$IMAGE:$VERSION" -t "$IMAGE:latest" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "podman build failed (log: $WORK/build.log)"; }
log "built in $((SECONDS - build_started)) s (whole script $((SECONDS - started)) s)"

if [ -n "$save" ]; then
  podman save --format oci-archive -o "$save" "$IMAGE:$VERSION"
  log "saved $save ($(du -h "$save" | cut -f1))"
fi
size="$(podman image inspect --format '{{.Size}}' "$IMAGE:$VERSION")"
printf '%s:%s %s MB (%s bytes)\n' "$IMAGE" "$VERSION" "$((size / 1000000))" "$size"
