#!/usr/bin/env bash
# Local infrastructure for Assist mesh, as plain local processes (no Docker):
#   redis  - Debian's redis-server                      127.0.0.1:16379
#   kafka  - Apache Kafka 4.1.1, KRaft broker+controller 127.0.0.1:19092 (controller 19093)
#   mongo  - FerretDB v1.24.2 (MongoDB wire)              127.0.0.1:27027
#            on a private PostgreSQL cluster (Debian's)  127.0.0.1:15432 (default), where
#            every declared index also gets a GIN index that serves FerretDB's queries
#            (stack/postgres/ferretdb_gin.sql); STACK_MONGO_BACKEND=sqlite for the old backend
#   prometheus - Debian's Prometheus 2.42 (extracted,     127.0.0.1:19090
#            no service), scraping every local mesh (file_sd targets the launcher writes)
#
# Usage: scripts/stack.sh install
#        scripts/stack.sh start  [redis|kafka|mongo|prometheus ...]   (all by default)
#        scripts/stack.sh stop   [redis|kafka|mongo ...]   (postgres alone also works)
#        scripts/stack.sh restart [names...]
#        scripts/stack.sh status
#        scripts/stack.sh logs [-f] [names...]
#        scripts/stack.sh env                               eval "$(scripts/stack.sh env)"
#        scripts/stack.sh kafka-topics ARGS...              TopicCommand against the broker
#
# Environment (all optional):
#   STACK_PROFILE                dev (default) | test: the tests' own stack (<repo>/.local/test-stack,
#                                ports offset by 200-695, drawn from the clone's path)
#   STACK_HOME                   data root (default <repo>/.local): data/, logs/, run/
#   STACK_CACHE                  what installs build (default <repo>/.local): bin/, kafka/libs, go/
#   STACK_PORT_OFFSET            added to every default port below (default 0): `./dev test` runs its
#                                own stack beside `./dev up`'s with another STACK_HOME and offset
#   STACK_PG_HOME                where the PostgreSQL cluster lives (default: STACK_HOME/data/postgres-home
#                                for a normal user; for root, a directory under /var/tmp owned by the
#                                postgres user, because the cluster runs as that user and a clone may
#                                sit under a directory closed to other users)
#   STACK_REDIS_PORT             default 16379
#   STACK_KAFKA_PORT             default 19092
#   STACK_KAFKA_CONTROLLER_PORT  default 19093
#   STACK_MONGO_PORT             default 27027
#   STACK_MONGO_BACKEND          postgresql (default) | sqlite
#   STACK_POSTGRES_PORT          default 15432 (FerretDB's PostgreSQL, loopback only)
#   STACK_PROMETHEUS_PORT        default 19090 (scrapes every local mesh through file_sd targets)
#   STACK_KAFKA_HEAP             default "-Xms256m -Xmx512m"
#   STACK_KAFKA_TIMEOUT / STACK_REDIS_TIMEOUT / STACK_MONGO_TIMEOUT / STACK_POSTGRES_TIMEOUT
#                                readiness timeouts (90/30/30/60 s)
# Installs (apt, Maven, Go) are done here; starting, stopping and reporting on the servers is
# `python -m devtools.stack` (devtools/stack/), run from the clone's .venv once installs are done.
# See docs/stack.md.
set -euo pipefail

# ---------------------------------------------------------------- settings --
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="$REPO_ROOT/stack"

KAFKA_VERSION="4.1.1"
FERRETDB_VERSION="v1.24.2"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"

# Only what installs need: where builds go (STACK_CACHE) and where their logs go (STACK_HOME/logs).
# Ports, offsets and every other setting are read by devtools/stack/settings.py.
if [ "${STACK_PROFILE:-dev}" = test ]; then
  STACK_HOME="${STACK_HOME:-$REPO_ROOT/.local/test-stack}"
fi
STACK_HOME="${STACK_HOME:-$REPO_ROOT/.local}"
STACK_CACHE="${STACK_CACHE:-$REPO_ROOT/.local}"
mkdir -p "$STACK_HOME" "$STACK_CACHE"
STACK_CACHE="$(cd "$STACK_CACHE" && pwd)"
case "${STACK_MONGO_BACKEND:-postgresql}" in
  sqlite) MONGO_BACKEND=sqlite ;;
  *) MONGO_BACKEND=postgresql ;;   # devtools.stack rejects a value that is neither
esac

BIN_DIR="$STACK_CACHE/bin"
LOG_DIR="$STACK_HOME/logs"
KAFKA_LIBS="$STACK_CACHE/kafka/libs"    # jars resolved by Maven
FERRETDB_BIN="$BIN_DIR/ferretdb"
PYTHON="$REPO_ROOT/.venv/bin/python"

# ----------------------------------------------------------------- helpers --
log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed${2:+ ($2)}"
}

# Serialises installs between concurrent invocations on one cache (fd 9 is closed in every command
# an install runs, 9>&-, so none holds it); released before devtools.stack takes its own lock.
take_install_lock() {
  exec 9>"$STACK_CACHE/install.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 1800 9 || die "could not take $STACK_CACHE/install.lock (another stack.sh is installing)"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

# ----------------------------------------------------------------- install --
APT_UPDATED=0

# apt_install WHAT PACKAGES...: called only when something is missing; refreshes the
# package lists once per invocation of this script, then installs.
apt_install() {
  local what="$1" apt_log
  shift
  need apt-get "Debian's package manager, to install $what"
  mkdir -p "$LOG_DIR"
  apt_log="$LOG_DIR/install-$what.log"
  log "installing $* with apt-get (output: $apt_log)"
  : >"$apt_log"
  if [ "$APT_UPDATED" -eq 0 ]; then
    if ! as_root apt-get -o DPkg::Lock::Timeout=300 update -q >>"$apt_log" 2>&1 9>&-; then
      tail -n 30 "$apt_log" >&2
      die "apt-get update failed (full output: $apt_log)"
    fi
    APT_UPDATED=1
  fi
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
      install -y -q --no-install-recommends "$@" >>"$apt_log" 2>&1 9>&-; then
    tail -n 30 "$apt_log" >&2
    die "apt-get could not install $* (full output: $apt_log)"
  fi
}

install_redis() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  apt_install redis redis-server redis-tools
  command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt-get install"
}

# bin/ of the newest installed PostgreSQL (Debian layout), or nothing. Which version an existing
# cluster needs is devtools.stack's business (it names the package to install when it is missing).
pg_bin_dir() {
  local v d=""
  for v in /usr/lib/postgresql/*/bin/initdb; do
    if [ -x "$v" ]; then d+="${v%/initdb}"$'\n'; fi
  done
  if [ -n "$d" ]; then printf '%s' "$d" | sort -V | tail -n 1; fi   # highest version
}

install_postgres() {
  if [ -n "$(pg_bin_dir)" ]; then
    return 0
  fi
  apt_install postgres postgresql
  [ -n "$(pg_bin_dir)" ] || die "no /usr/lib/postgresql/*/bin/initdb after apt-get install postgresql"
}

kafka_stamp() {
  # Re-resolve whenever the pom changes.
  printf 'kafka %s %s\n' "$KAFKA_VERSION" "$(sha256sum "$STACK_DIR/kafka/pom.xml" | cut -d' ' -f1)"
}

install_kafka() {
  need java "Java 17+ runs the Kafka broker"
  local stamp="$KAFKA_LIBS/.stamp"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(kafka_stamp)" ]; then
    return 0
  fi
  need mvn "Maven resolves the Kafka jars from Maven Central"
  log "resolving Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
  local tmp="$KAFKA_LIBS.tmp"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  mkdir -p "$LOG_DIR"
  local mvn_log="$LOG_DIR/install-kafka.log"
  if ! mvn -B -Dstyle.color=never -f "$STACK_DIR/kafka/pom.xml" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$mvn_log" 2>&1 9>&-; then
    rm -rf "$tmp"
    tail -n 40 "$mvn_log" >&2
    die "mvn could not resolve Kafka $KAFKA_VERSION (full output: $mvn_log)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
  kafka_stamp >"$tmp/.stamp"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
}

ferretdb_ok() {
  local out
  [ -x "$1" ] || return 1
  out="$("$1" --version 2>/dev/null)" || return 1   # no pipe into grep -q: SIGPIPE + pipefail
  [[ "$out" == *"version: $FERRETDB_VERSION"* ]]
}

go_env_defaults() {
  export GO111MODULE=on GOWORK=off
  export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"   # never download another toolchain
  export GOFLAGS="${GOFLAGS:--buildvcs=false}"
  export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
  if [ -z "${HOME:-}" ] || [ ! -w "${HOME:-/nonexistent}" ]; then
    # No usable HOME (some CI shells): keep Go's caches under STACK_HOME.
    export GOPATH="${GOPATH:-$STACK_CACHE/go}"
    export GOCACHE="${GOCACHE:-$STACK_CACHE/go/cache}"
  fi
  export GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}"
}

install_mongo() {
  if ferretdb_ok "$FERRETDB_BIN"; then
    return 0
  fi
  need go "Go builds FerretDB $FERRETDB_VERSION from the Go module proxy"
  go_env_defaults
  # `go install .../cmd/ferretdb@v1.24.2` builds a binary that panics at start:
  # the module zip lacks build/version/version.txt, which FerretDB requires when
  # it is the main module. So: fetch the module, add that file, build it.
  local work modjson moddir src go_log="$LOG_DIR/install-mongo.log"
  mkdir -p "$LOG_DIR"
  log "building FerretDB $FERRETDB_VERSION with Go, several minutes the first time (output: $go_log)"
  work="$STACK_CACHE/src"
  mkdir -p "$work" "$BIN_DIR"
  : >"$go_log"
  if ! modjson="$(cd "$work" && go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" 2>>"$go_log" 9>&-)"; then
    printf '%s\n' "$modjson" >>"$go_log"
    tail -n 30 "$go_log" >&2
    die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed (full output: $go_log)"
  fi
  moddir="$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  { [ -n "$moddir" ] && [ -d "$moddir" ]; } || die "could not locate the FerretDB module source: $modjson"
  src="$work/ferretdb-$FERRETDB_VERSION"
  rm -rf "$src"
  cp -R "$moddir" "$src"
  chmod -R u+w "$src"
  printf '%s\n' "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  if ! (cd "$src" && go build -trimpath -o "$FERRETDB_BIN.tmp" ./cmd/ferretdb) >>"$go_log" 2>&1 9>&-; then
    rm -rf "$src" "$FERRETDB_BIN.tmp"
    tail -n 30 "$go_log" >&2
    die "go build of FerretDB $FERRETDB_VERSION failed (full output: $go_log)"
  fi
  mv "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
  rm -rf "$src"
  ferretdb_ok "$FERRETDB_BIN" || die "built $FERRETDB_BIN but it does not report $FERRETDB_VERSION"
}

# Installs what the named servers (all by default) need; unknown names are left to devtools.stack.
install_for() {
  local n names=("$@")
  [ "${#names[@]}" -gt 0 ] || names=(redis kafka mongo prometheus)
  take_install_lock
  for n in "${names[@]}"; do
    case "$n" in
      redis) install_redis ;;
      kafka) install_kafka ;;
      mongo|mongodb|ferretdb)
        install_mongo
        if [ "$MONGO_BACKEND" = postgresql ]; then install_postgres; fi
        ;;
      postgres|postgresql|pg) install_postgres ;;
      prometheus|prom) STACK_CACHE="$STACK_CACHE" bash "$REPO_ROOT/scripts/install_prometheus.sh" >/dev/null 9>&- ;;
    esac
  done
  exec 9>&-
}

supervise() {
  [ -x "$PYTHON" ] || die "no $PYTHON: run ./dev up or uv sync first"
  exec "$PYTHON" -m devtools.stack "$@"
}

usage() {
  sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install)
      install_for redis kafka mongo prometheus
      log "installed: $(redis-server --version | cut -d' ' -f1-3), Kafka $KAFKA_VERSION, FerretDB $FERRETDB_VERSION ($MONGO_BACKEND backend$(
        if [ "$MONGO_BACKEND" = postgresql ]; then printf ', %s' "$("$(pg_bin_dir)/postgres" --version)"; fi))"
      ;;
    start|restart)
      shift
      install_for "$@"
      supervise "$cmd" "$@"
      ;;
    stop|status|logs|env|kafka-topics)
      supervise "$@"
      ;;
    -h|--help|help|"")
      usage
      ;;
    *)
      usage >&2
      die "unknown command '$cmd'"
      ;;
  esac
}

main "$@"
