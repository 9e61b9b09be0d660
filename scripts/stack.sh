#!/usr/bin/env bash
# Local infrastructure for Assist mesh, as plain local processes (no Docker):
#   redis  - Debian's redis-server                      127.0.0.1:16379
#   kafka  - Apache Kafka 4.1.1, KRaft broker+controller 127.0.0.1:19092 (controller 19093)
#   mongo  - FerretDB v1.24.2 (MongoDB wire)              127.0.0.1:27027
#            on a private PostgreSQL cluster (Debian's)  127.0.0.1:15432 (default), where
#            every declared index also gets a GIN index that serves FerretDB's queries
#            (stack/postgres/ferretdb_gin.sql); STACK_MONGO_BACKEND=sqlite for the old backend
#
# Usage: scripts/stack.sh install
#        scripts/stack.sh start  [redis|kafka|mongo ...]   (all by default)
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
#   STACK_KAFKA_HEAP             default "-Xms256m -Xmx512m"
#   STACK_KAFKA_TIMEOUT / STACK_REDIS_TIMEOUT / STACK_MONGO_TIMEOUT / STACK_POSTGRES_TIMEOUT
#                                readiness timeouts (90/30/30/60 s)
# See docs/stack.md.
set -euo pipefail

# ---------------------------------------------------------------- settings --
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="$REPO_ROOT/stack"

KAFKA_VERSION="4.1.1"
FERRETDB_VERSION="v1.24.2"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"

# STACK_PROFILE=test (what the test suite sets): a stack of the tests' own, with its own data and ports,
# so that tests which stop and restart servers never touch the one `./dev up` runs, and two clones on one
# machine do not collide (the offset is drawn from the clone's path: 200 to 695 in steps of 5).
case "${STACK_PROFILE:-dev}" in
  dev) ;;
  test)
    STACK_HOME="${STACK_HOME:-$REPO_ROOT/.local/test-stack}"
    STACK_PORT_OFFSET="${STACK_PORT_OFFSET:-$(( 200 + 5 * ($(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1) % 100) ))}"
    ;;
  *) printf '[stack] ERROR: STACK_PROFILE must be dev or test, not %s\n' "$STACK_PROFILE" >&2; exit 1 ;;
esac
STACK_HOME="${STACK_HOME:-$REPO_ROOT/.local}"
mkdir -p "$STACK_HOME"
STACK_HOME="$(cd "$STACK_HOME" && pwd)"
STACK_CACHE="${STACK_CACHE:-$REPO_ROOT/.local}"
mkdir -p "$STACK_CACHE"
STACK_CACHE="$(cd "$STACK_CACHE" && pwd)"

OFFSET="${STACK_PORT_OFFSET:-0}"
case "$OFFSET" in ''|*[!0-9]*) printf '[stack] ERROR: STACK_PORT_OFFSET must be a number, not %s\n' "$OFFSET" >&2; exit 1 ;; esac
REDIS_PORT="${STACK_REDIS_PORT:-$((16379 + OFFSET))}"
KAFKA_PORT="${STACK_KAFKA_PORT:-$((19092 + OFFSET))}"
KAFKA_CONTROLLER_PORT="${STACK_KAFKA_CONTROLLER_PORT:-$((19093 + OFFSET))}"
MONGO_PORT="${STACK_MONGO_PORT:-$((27027 + OFFSET))}"
POSTGRES_PORT="${STACK_POSTGRES_PORT:-$((15432 + OFFSET))}"
HOST="127.0.0.1"

case "${STACK_MONGO_BACKEND:-postgresql}" in
  postgresql|postgres|pg) MONGO_BACKEND=postgresql ;;
  sqlite) MONGO_BACKEND=sqlite ;;
  *) printf '[stack] ERROR: STACK_MONGO_BACKEND must be postgresql or sqlite, not %s\n' "$STACK_MONGO_BACKEND" >&2; exit 1 ;;
esac

BIN_DIR="$STACK_CACHE/bin"
DATA_DIR="$STACK_HOME/data"
LOG_DIR="$STACK_HOME/logs"
RUN_DIR="$STACK_HOME/run"
KAFKA_HOME="$STACK_HOME/kafka"          # rendered config
KAFKA_LIBS="$STACK_CACHE/kafka/libs"    # jars resolved by Maven
FERRETDB_BIN="$BIN_DIR/ferretdb"

# FerretDB's PostgreSQL: cluster in PG_DATA, run as the OS user PG_OS_USER (root may not
# run it), database role "postgres" (trust auth, loopback only), database "ferretdb".
# PG_HOME holds everything that user writes (cluster, server log): for root it lies outside
# the clone, in a directory named after this STACK_HOME, so a clone under a directory
# closed to other users (0700, as CI's) still works; data/postgres links to it.
if [ "$(id -u)" -eq 0 ]; then
  PG_OS_USER=postgres
  PG_HOME="${STACK_PG_HOME:-/var/tmp/assist-stack-postgres/$(printf '%s' "$STACK_HOME" | sha1sum | cut -c1-16)}"
else
  PG_OS_USER="$(id -un)"
  PG_HOME="${STACK_PG_HOME:-$DATA_DIR/postgres-home}"
fi
PG_DATA="$PG_HOME/data"
PG_LOG="$PG_HOME/postgres.log"
PG_ROLE="postgres"
PG_DATABASE="ferretdb"

ALL_SERVERS=(redis kafka mongo)
STATUS_SERVERS=(redis kafka mongo postgres)

# ----------------------------------------------------------------- helpers --
log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed${2:+ ($2)}"
}

now() { date +%s; }

# Serialise install/start/stop between concurrent invocations on one STACK_HOME.
# The lock fd (9) is closed in every server we launch (9>&-), so servers never hold it.
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/stack.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 1800 9 || die "could not take $RUN_DIR/stack.lock (another stack.sh is busy)"
  fi
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"
  fi
}

canonical_name() {
  case "$1" in
    redis) echo redis ;;
    kafka) echo kafka ;;
    mongo|mongodb|ferretdb) echo mongo ;;
    postgres|postgresql|pg) echo postgres ;;
    *) die "unknown server '$1' (expected: redis, kafka, mongo; or postgres, FerretDB's backend)" ;;
  esac
}

port_of() {
  case "$1" in
    redis) echo "$REDIS_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
    mongo) echo "$MONGO_PORT" ;;
    postgres) echo "$POSTGRES_PORT" ;;
  esac
}

timeout_of() {
  case "$1" in
    redis) echo "${STACK_REDIS_TIMEOUT:-30}" ;;
    kafka) echo "${STACK_KAFKA_TIMEOUT:-90}" ;;
    mongo) echo "${STACK_MONGO_TIMEOUT:-30}" ;;
    postgres) echo "${STACK_POSTGRES_TIMEOUT:-60}" ;;
  esac
}

# Process name (/proc/PID/comm) a live pid of that server has (guards against pid reuse).
exe_of() {
  case "$1" in
    redis) echo redis-server ;;
    kafka) echo java ;;
    mongo) echo ferretdb ;;
    postgres) echo postgres ;;
  esac
}

pid_file() { echo "$RUN_DIR/$1.pid"; }
port_file() { echo "$RUN_DIR/$1.port"; }
backend_file() { echo "$RUN_DIR/mongo.backend"; }
log_file() { if [ "$1" = postgres ]; then echo "$PG_LOG"; else echo "$LOG_DIR/$1.log"; fi; }

# Port a running server of this STACK_HOME was started with (may differ from the
# current STACK_*_PORT); falls back to the configured port.
running_port() {
  local pf
  pf="$(port_file "$1")"
  if [ -s "$pf" ]; then tr -dc '0-9' <"$pf"; else port_of "$1"; fi
}

# Log sizes at launch, so a failed start shows only what this run wrote.
declare -A LOG_OFFSET=()

# Probes, one attempt each, exit 0 when ready: tcp | kafka (Metadata answer
# with >= 1 broker) | mongo (OP_MSG ping answered ok:1). Plain python3 (no deps).
probe() {
  python3 - "$@" <<'PY'
import socket, struct, sys

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf

try:
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(5)
    if mode == "tcp":
        sys.exit(0)
    if mode == "kafka":
        client = b"stack-probe"
        # Metadata v1: api_key=3, version=1, correlation_id, client_id; topics=[] (none)
        body = struct.pack(">hhih", 3, 1, 42, len(client)) + client + struct.pack(">i", 0)
        s.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        resp = recv_exact(s, size)
        corr, nbrokers = struct.unpack(">ii", resp[:8])
        sys.exit(0 if corr == 42 and nbrokers >= 1 else 1)
    if mode == "mongo":
        def cstr(x): return x.encode() + b"\0"
        elems = b"\x10" + cstr("ping") + struct.pack("<i", 1)
        elems += b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin")
        doc = struct.pack("<i", 4 + len(elems) + 1) + elems + b"\0"
        msg = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0
        s.sendall(struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg)
        length, _, _, opcode = struct.unpack("<iiii", recv_exact(s, 16))
        resp = recv_exact(s, length - 16)
        ok = b"\x01ok\x00" + struct.pack("<d", 1.0)
        sys.exit(0 if opcode == 2013 and ok in resp else 1)
    sys.exit(2)
except (OSError, EOFError, struct.error):
    sys.exit(1)
PY
}

port_open() { probe tcp "$HOST" "$1"; }

# True while the process exists and is not a zombie (an exited child nobody has
# reaped yet: e.g. a postmaster killed with SIGKILL, whose parent, pg_ctl, is gone).
pid_alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

# pid of a live process of this server according to its pid file, else nothing.
live_pid() {
  local name="$1" pf pid exe
  pf="$(pid_file "$name")"
  [ -f "$pf" ] || return 0
  pid="$(tr -dc '0-9' <"$pf")"
  [ -n "$pid" ] || return 0
  pid_alive "$pid" || return 0
  # /proc/PID/comm, not exe: Debian's redis-server is a symlink to redis-check-rdb.
  exe="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  if [ -n "$exe" ] && [ "$exe" != "$(exe_of "$name")" ]; then
    return 0  # pid reused by something else
  fi
  echo "$pid"
}

is_ready() {
  local name="$1" port="${2:-}"
  [ -n "$port" ] || port="$(port_of "$name")"
  case "$name" in
    redis) [ "$(timeout 5 redis-cli -h "$HOST" -p "$port" ping 2>/dev/null)" = PONG ] ;;
    kafka) probe kafka "$HOST" "$port" ;;
    mongo) probe mongo "$HOST" "$port" ;;
    postgres)
      local bin
      bin="$(pg_bin_dir)"
      [ -n "$bin" ] && "$bin/pg_isready" -q -h "$HOST" -p "$port" -U "$PG_ROLE" -d postgres -t 3 \
        >/dev/null 2>&1
      ;;
  esac
}

log_files_of() { printf '%s\n' "$(log_file "$1")" "$LOG_DIR/$1.stdout.log"; }

file_size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }

show_log_tail() {
  local name="$1" f off size shown=0
  while read -r f; do
    [ -s "$f" ] || continue
    off="${LOG_OFFSET[$f]:-0}"
    size="$(file_size "$f")"
    [ "$size" -ge "$off" ] || off=0   # rotated meanwhile
    [ "$size" -gt "$off" ] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -c +"$((off + 1))" "$f" | tail -n 40 >&2
    shown=1
  done < <(log_files_of "$name")
  if [ "$shown" -eq 0 ]; then
    log "$name wrote nothing to $(log_file "$name") during this start"
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

# bin/ of the PostgreSQL server to use (Debian layout), or nothing when none is installed.
# An existing cluster keeps the major version it was created with.
pg_bin_dir() {
  local v d=""
  if [ -s "$PG_DATA/PG_VERSION" ]; then
    v="$(tr -dc '0-9.' <"$PG_DATA/PG_VERSION")"
    if [ -x "/usr/lib/postgresql/$v/bin/postgres" ]; then echo "/usr/lib/postgresql/$v/bin"; fi
    return 0
  fi
  for v in /usr/lib/postgresql/*/bin/initdb; do
    if [ -x "$v" ]; then d+="${v%/initdb}"$'\n'; fi
  done
  if [ -n "$d" ]; then printf '%s' "$d" | sort -V | tail -n 1; fi   # highest version
}

install_postgres() {
  if [ -n "$(pg_bin_dir)" ]; then
    return 0
  fi
  if [ -s "$PG_DATA/PG_VERSION" ]; then
    die "$PG_DATA was created by PostgreSQL $(cat "$PG_DATA/PG_VERSION"), which is not installed (/usr/lib/postgresql/$(cat "$PG_DATA/PG_VERSION")/bin): install postgresql-$(cat "$PG_DATA/PG_VERSION") or delete $PG_DATA"
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

install_server() {
  case "$1" in
    redis) install_redis ;;
    kafka) install_kafka ;;
    mongo) install_mongo ;;
    postgres) install_postgres ;;
  esac
}

# ------------------------------------------------------------------- start --
render_kafka_config() {
  local tpl out text
  tpl="$STACK_DIR/kafka/server.properties.in"
  out="$KAFKA_HOME/server.properties"
  text="$(cat "$tpl")"
  text="${text//@KAFKA_PORT@/$KAFKA_PORT}"
  text="${text//@KAFKA_CONTROLLER_PORT@/$KAFKA_CONTROLLER_PORT}"
  text="${text//@KAFKA_DATA_DIR@/$DATA_DIR/kafka}"
  printf '%s\n' "$text" >"$out.tmp"
  mv "$out.tmp" "$out"
}

# JAVA_OPTS for the broker ("broker") or a short-lived tool ("tool").
kafka_java_opts() {
  local heap=()
  if [ "${1:-broker}" = broker ]; then
    # shellcheck disable=SC2206  # intentional word splitting of the heap options
    heap=(${STACK_KAFKA_HEAP:--Xms256m -Xmx512m}
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
      -XX:+ExplicitGCInvokesConcurrent)
  else
    heap=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
  fi
  JAVA_OPTS=("${heap[@]}"
    -Djava.awt.headless=true
    "-Dassist.stack.home=$STACK_HOME"
    "-Dlog4j2.configurationFile=$STACK_DIR/kafka/log4j2.xml"
    "-Dstack.log.file=${2:-$(log_file kafka)}"
    "-Dkafka.logs.dir=$LOG_DIR"
    -cp "$KAFKA_LIBS/*")
}

format_kafka_storage() {
  [ -f "$DATA_DIR/kafka/meta.properties" ] && return 0
  local id_file="$DATA_DIR/kafka.cluster.id" cid
  cid="$(cat "$id_file" 2>/dev/null || true)"
  if [ -z "$cid" ] || [ "${cid#-}" != "$cid" ]; then
    # A Kafka cluster id is 16 random bytes in URL-safe base64. One in 64 begins with "-",
    # which StorageTool's --cluster-id then reads as an option (Kafka's own Uuid.randomUuid
    # skips those too), so draw again until it does not.
    python3 -c 'import base64, uuid
while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"): pass
print(cid)' >"$id_file"
    cid="$(cat "$id_file")"
  fi
  log "formatting Kafka storage in $DATA_DIR/kafka (cluster id $cid)"
  kafka_java_opts tool
  if ! java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format \
      --config "$KAFKA_HOME/server.properties" --cluster-id "$cid" --ignore-formatted \
      >>"$LOG_DIR/kafka.stdout.log" 2>&1 9>&-; then
    show_log_tail kafka
    die "kafka: storage format failed"
  fi
}

# Runs a PostgreSQL program as the cluster's OS user: initdb, postgres and pg_ctl refuse
# to run as root, so root runs them as Debian's "postgres" user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    "$@"
  fi
}

# Directories the cluster's OS user writes to: owned by it, and reachable by it.
pg_prepare_dirs() {
  if [ "$(id -u)" -eq 0 ]; then
    need runuser "util-linux's runuser runs PostgreSQL as the postgres user"
    id -u "$PG_OS_USER" >/dev/null 2>&1 ||
      die "no '$PG_OS_USER' system user (Debian's postgresql package creates it): PostgreSQL refuses to run as root"
  fi
  mkdir -p "$PG_HOME" "$LOG_DIR" "$DATA_DIR"
  touch "$PG_LOG"
  if [ "$(id -u)" -eq 0 ]; then
    chmod 755 "$(dirname "$PG_HOME")" 2>/dev/null || true
    chown "$PG_OS_USER": "$PG_HOME" "$PG_LOG"
    chmod 700 "$PG_HOME"
    if [ -d "$PG_DATA" ]; then chown -R "$PG_OS_USER": "$PG_DATA"; fi
    as_pg test -x "$PG_HOME" -a -w "$PG_HOME" -a -w "$PG_LOG" ||
      die "the '$PG_OS_USER' user cannot reach $PG_HOME (a parent directory is closed to other users): set STACK_PG_HOME to a directory it can reach"
  fi
  # Where a person looks first: the clone's data/ points at the cluster.
  if [ "$PG_HOME" != "$DATA_DIR/postgres-home" ] && [ ! -e "$DATA_DIR/postgres-home" ]; then
    ln -sfn "$PG_HOME" "$DATA_DIR/postgres-home"
  fi
}

# initdb on first start (into a temporary directory, renamed when complete).
pg_init() {
  [ -s "$PG_DATA/PG_VERSION" ] && return 0
  local bin tmp="$PG_HOME/data.initdb"
  bin="$(pg_bin_dir)"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chmod 700 "$tmp"
  if [ "$(id -u)" -eq 0 ]; then chown "$PG_OS_USER": "$tmp"; fi
  log "creating the PostgreSQL cluster in $PG_DATA ($("$bin/postgres" --version))"
  if ! as_pg "$bin/initdb" -D "$tmp" -U "$PG_ROLE" --auth-local=trust --auth-host=trust \
      -E UTF8 --locale=C --no-sync </dev/null >>"$LOG_DIR/postgres.stdout.log" 2>&1 9>&-; then
    rm -rf "$tmp"
    show_log_tail postgres
    die "postgres: initdb failed (log: $(log_file postgres))"
  fi
  printf "\n# Settings of scripts/stack.sh (rewritten on every start)\ninclude_if_exists = 'stack.conf'\n" \
    >>"$tmp/postgresql.conf"
  mv "$tmp" "$PG_DATA"
}

# Loopback only, own socket dir, durability traded for speed (a local dev/test stack).
render_pg_config() {
  local out="$PG_DATA/stack.conf"
  # TCP on loopback only: no unix socket (its directory would have to be reachable by both users).
  cat >"$out.tmp" <<PGCONF
listen_addresses = '$HOST'
port = $POSTGRES_PORT
unix_socket_directories = ''
max_connections = 100
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
huge_pages = off
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
PGCONF
  if [ "$(id -u)" -eq 0 ]; then chown "$PG_OS_USER": "$out.tmp"; fi
  mv "$out.tmp" "$out"
}

# Starts the postmaster with pg_ctl (which detaches it and waits until it accepts
# connections) and records its pid.
launch_postgres() {
  local bin pid="" rc=0 limit
  bin="$(pg_bin_dir)"
  limit="$(timeout_of postgres)"
  pg_prepare_dirs
  pg_init
  render_pg_config
  # A postmaster that died (SIGKILL) stays a zombie until reaped, and its
  # postmaster.pid then still blocks a new one: give the reaper a moment.
  if [ -s "$PG_DATA/postmaster.pid" ]; then
    pid="$(head -n 1 "$PG_DATA/postmaster.pid" | tr -dc '0-9')"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! pid_alive "$pid"; then
      log "postgres: waiting for the previous postmaster (pid $pid, exited) to be reaped"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    pid=""
  fi
  as_pg "$bin/pg_ctl" start -D "$PG_DATA" -l "$(log_file postgres)" -w -t "$limit" -s \
    </dev/null >>"$LOG_DIR/postgres.stdout.log" 2>&1 9>&- || rc=$?
  if [ -s "$PG_DATA/postmaster.pid" ]; then pid="$(head -n 1 "$PG_DATA/postmaster.pid" | tr -dc '0-9')"; fi
  if [ -n "$pid" ] && pid_alive "$pid"; then
    echo "$pid" >"$(pid_file postgres)"
    echo "$POSTGRES_PORT" >"$(port_file postgres)"
  else
    pid=""
  fi
  if [ "$rc" -ne 0 ]; then
    log "postgres: pg_ctl start failed, or the server was not ready within ${limit}s"
    show_log_tail postgres
    if [ -n "$pid" ]; then stop_server postgres; fi
    die "postgres failed to start (log: $(log_file postgres))"
  fi
  [ -n "$pid" ] || die "postgres: pg_ctl reported a start but $PG_DATA/postmaster.pid names no live process"
}

# The database FerretDB uses: created once (owned by the postgres role).
ensure_pg_database() {
  local bin out
  bin="$(pg_bin_dir)"
  out="$("$bin/psql" -h "$HOST" -p "$POSTGRES_PORT" -U "$PG_ROLE" -d postgres -X -tA -v ON_ERROR_STOP=1 \
    -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" 2>&1 9>&-)" ||
    die "postgres: cannot query $HOST:$POSTGRES_PORT: $out"
  if [ "$out" != 1 ]; then
    log "creating PostgreSQL database $PG_DATABASE"
    out="$("$bin/createdb" -h "$HOST" -p "$POSTGRES_PORT" -U "$PG_ROLE" -O "$PG_ROLE" -E UTF8 \
      "$PG_DATABASE" 2>&1 9>&-)" || die "postgres: createdb $PG_DATABASE failed: $out"
  fi
  # GIN partners for FerretDB's indexes, and custom plans (see the file's comments).
  out="$("$bin/psql" -h "$HOST" -p "$POSTGRES_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" -X -q -tA \
    -v ON_ERROR_STOP=1 -f "$STACK_DIR/postgres/ferretdb_gin.sql" 2>&1 9>&-)" ||
    die "postgres: applying stack/postgres/ferretdb_gin.sql failed: $out"
}

launch() {
  local name="$1" port log out f
  port="$(port_of "$name")"
  log="$(log_file "$name")"
  out="$LOG_DIR/$name.stdout.log"
  while read -r f; do LOG_OFFSET[$f]="$(file_size "$f")"; done < <(log_files_of "$name")
  case "$name" in
    redis)
      mkdir -p "$DATA_DIR/redis"
      nohup redis-server --bind "$HOST" --port "$port" --protected-mode yes \
        --dir "$DATA_DIR/redis" --dbfilename dump.rdb --appendonly no \
        --save "60 1" --daemonize no --logfile "" \
        </dev/null >>"$log" 2>&1 9>&- &
      ;;
    kafka)
      mkdir -p "$DATA_DIR/kafka" "$KAFKA_HOME"
      render_kafka_config
      format_kafka_storage
      kafka_java_opts broker
      nohup java "${JAVA_OPTS[@]}" kafka.Kafka "$KAFKA_HOME/server.properties" \
        </dev/null >>"$out" 2>&1 9>&- &
      ;;
    mongo)
      local backend_args=()
      if [ "$MONGO_BACKEND" = postgresql ]; then
        backend_args=(--handler=postgresql
          "--postgresql-url=postgres://$PG_ROLE@$HOST:$POSTGRES_PORT/$PG_DATABASE")
      else
        mkdir -p "$DATA_DIR/ferretdb"
        backend_args=(--handler=sqlite "--sqlite-url=file:$DATA_DIR/ferretdb/")
      fi
      mkdir -p "$DATA_DIR/ferretdb-state"
      nohup "$FERRETDB_BIN" "${backend_args[@]}" \
        --listen-addr="$HOST:$port" --state-dir="$DATA_DIR/ferretdb-state" \
        --telemetry=disable --debug-addr=- --log-level=info --log-format=text \
        </dev/null >>"$log" 2>&1 9>&- &
      echo "$MONGO_BACKEND" >"$(backend_file)"
      ;;
    postgres)
      launch_postgres
      return 0
      ;;
  esac
  echo "$!" >"$(pid_file "$name")"
  echo "$port" >"$(port_file "$name")"
}

# Waits until ready; on failure prints the log tail, stops the process, returns 1.
wait_ready() {
  local name="$1" pid="$2" limit deadline
  limit="$(timeout_of "$name")"
  deadline=$(( $(now) + limit ))
  while :; do
    if ! pid_alive "$pid"; then
      log "$name (pid $pid) exited during start-up"
      show_log_tail "$name"
      rm -f "$(pid_file "$name")" "$(port_file "$name")"
      return 1
    fi
    if is_ready "$name"; then
      return 0
    fi
    if [ "$(now)" -ge "$deadline" ]; then
      log "$name did not become ready on $HOST:$(port_of "$name") within ${limit}s"
      show_log_tail "$name"
      stop_server "$name"
      return 1
    fi
    sleep 0.5
  done
}

start_server() {
  local name="$1" pid port t0
  port="$(port_of "$name")"
  pid="$(live_pid "$name")"
  if [ -n "$pid" ]; then
    if [ "$(running_port "$name")" != "$port" ]; then
      die "$name from $STACK_HOME is already running on port $(running_port "$name") (pid $pid), not $port: stop it first, or use another STACK_HOME"
    fi
    if is_ready "$name"; then
      log "$name already running (pid $pid, $HOST:$port)"
      return 0
    fi
    log "$name: pid $pid alive but not ready yet, waiting"
    wait_ready "$name" "$pid" || die "$name is not healthy (see log above)"
    return 0
  fi
  rm -f "$(pid_file "$name")" "$(port_file "$name")"
  if port_open "$port"; then
    die "$name: port $HOST:$port is already taken by another process (not ours: no live pid in $(pid_file "$name")); set STACK_${name^^}_PORT to use another port"
  fi
  if [ "$name" = kafka ] && port_open "$KAFKA_CONTROLLER_PORT"; then
    die "kafka: controller port $HOST:$KAFKA_CONTROLLER_PORT is already taken; set STACK_KAFKA_CONTROLLER_PORT"
  fi
  install_server "$name"
  t0="$(now)"
  launch "$name"
  pid="$(cat "$(pid_file "$name")")"
  if ! wait_ready "$name" "$pid"; then
    die "$name failed to start (log: $(log_file "$name"))"
  fi
  log "$name ready (pid $pid, $HOST:$port, $(( $(now) - t0 ))s)"
}

# Backend a running FerretDB of this STACK_HOME uses (sqlite for one started before
# the PostgreSQL backend existed).
running_backend() {
  if [ -s "$(backend_file)" ]; then tr -dc '[:lower:]' <"$(backend_file)"; else echo sqlite; fi
}

# mongo is FerretDB plus, on the postgresql backend, its PostgreSQL (started first).
start_named() {
  local pid
  case "$1" in
    mongo)
      pid="$(live_pid mongo)"
      if [ -n "$pid" ] && [ "$(running_backend)" != "$MONGO_BACKEND" ]; then
        die "mongo from $STACK_HOME is already running on the $(running_backend) backend (pid $pid), not $MONGO_BACKEND: stop it first (scripts/stack.sh stop mongo), or set STACK_MONGO_BACKEND=$(running_backend)"
      fi
      if [ "$MONGO_BACKEND" = postgresql ]; then
        start_server postgres
        ensure_pg_database
      fi
      start_server mongo
      ;;
    postgres)
      start_server postgres
      ensure_pg_database
      ;;
    *) start_server "$1" ;;
  esac
}

stop_named() {
  case "$1" in
    mongo) stop_server mongo; stop_server postgres ;;
    *) stop_server "$1" ;;
  esac
}

# -------------------------------------------------------------------- stop --
stop_server() {
  local name="$1" pid grace deadline
  pid="$(live_pid "$name")"
  if [ -z "$pid" ]; then
    rm -f "$(pid_file "$name")" "$(port_file "$name")"
    return 0
  fi
  case "$name" in kafka) grace=60 ;; *) grace=20 ;; esac
  log "stopping $name (pid $pid)"
  if [ "$name" = postgres ]; then
    # Fast shutdown: disconnect clients, checkpoint, exit (pg_ctl sends SIGINT and waits).
    as_pg "$(pg_bin_dir)/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$grace" -s \
      </dev/null >>"$LOG_DIR/postgres.stdout.log" 2>&1 9>&- || kill -INT "$pid" 2>/dev/null || true
  else
    kill -TERM "$pid" 2>/dev/null || true
  fi
  deadline=$(( $(now) + grace ))
  while pid_alive "$pid"; do
    if [ "$(now)" -ge "$deadline" ]; then
      log "$name (pid $pid) still alive after ${grace}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  # Zombie/slow reaping: give it a moment, then report.
  for _ in 1 2 3 4 5 6 7 8 9 10; do pid_alive "$pid" || break; sleep 0.2; done
  if pid_alive "$pid"; then
    die "$name (pid $pid) survived SIGKILL"
  fi
  rm -f "$(pid_file "$name")" "$(port_file "$name")"
  if [ "$name" = mongo ]; then rm -f "$(backend_file)"; fi
}

# ------------------------------------------------------------------ status --
status_line() {
  local name="$1" pid port state extra
  port="$(port_of "$name")"
  pid="$(live_pid "$name")"
  if [ -n "$pid" ]; then
    port="$(running_port "$name")"
    if is_ready "$name" "$port"; then state=running; else state=starting; fi
  else
    state=stopped
    if port_open "$port"; then state="stopped (port taken by another process)"; fi
  fi
  extra=""
  if [ "$name" = mongo ]; then
    if [ -n "$pid" ]; then extra=" backend=$(running_backend)"; else extra=" backend=$MONGO_BACKEND"; fi
  fi
  printf '%-8s %-10s pid=%-8s %s:%s%s\n' "$name" "$state" "${pid:--}" "$HOST" "$port" "$extra"
}

# ------------------------------------------------------------------- usage --
usage() {
  sed -n '2,29p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

names_or_all() {
  local n
  if [ "$#" -eq 0 ]; then
    printf '%s\n' "${ALL_SERVERS[@]}"
  else
    for n in "$@"; do canonical_name "$n"; done
  fi
}

main() {
  local cmd="${1:-}" n names
  [ "$#" -gt 0 ] && shift
  case "$cmd" in
    install)
      take_lock
      need python3
      install_redis; install_kafka; install_mongo
      if [ "$MONGO_BACKEND" = postgresql ]; then install_postgres; fi
      log "installed: $(redis-server --version | cut -d' ' -f1-3), Kafka $KAFKA_VERSION, FerretDB $FERRETDB_VERSION ($MONGO_BACKEND backend$(
        if [ "$MONGO_BACKEND" = postgresql ]; then printf ', %s' "$("$(pg_bin_dir)/postgres" --version)"; fi))"
      ;;
    start)
      need python3 "used for readiness probes"
      mapfile -t names < <(names_or_all "$@")
      take_lock
      mkdir -p "$DATA_DIR" "$LOG_DIR" "$RUN_DIR"
      for n in "${names[@]}"; do start_named "$n"; done
      ;;
    stop)
      mapfile -t names < <(names_or_all "$@")
      take_lock
      for n in "${names[@]}"; do stop_named "$n"; done
      ;;
    restart)
      "$0" stop "$@"
      "$0" start "$@"
      ;;
    status)
      for n in "${STATUS_SERVERS[@]}"; do status_line "$n"; done
      ;;
    logs)
      local follow=0 files=()
      if [ "${1:-}" = "-f" ]; then follow=1; shift; fi
      mapfile -t names < <(names_or_all "$@")
      if [ "$#" -eq 0 ] || printf '%s\n' "${names[@]}" | grep -qx mongo; then
        names+=(postgres)   # FerretDB's backend
      fi
      for n in "${names[@]}"; do
        [ -f "$(log_file "$n")" ] && files+=("$(log_file "$n")")
        [ -f "$LOG_DIR/$n.stdout.log" ] && files+=("$LOG_DIR/$n.stdout.log")
      done
      [ "${#files[@]}" -gt 0 ] || die "no logs yet in $LOG_DIR"
      if [ "$follow" -eq 1 ]; then
        exec tail -n 50 -F "${files[@]}"
      else
        tail -n "${STACK_LOG_LINES:-100}" "${files[@]}"
      fi
      ;;
    env)
      printf 'export MONGO_URI=mongodb://%s:%s/assist\n' "$HOST" "$MONGO_PORT"
      printf 'export REDIS_URL=redis://%s:%s/0\n' "$HOST" "$REDIS_PORT"
      printf 'export KAFKA_BOOTSTRAP=%s:%s\n' "$HOST" "$KAFKA_PORT"
      ;;
    kafka-topics)
      need java
      [ -f "$KAFKA_LIBS/.stamp" ] || die "Kafka is not installed: run scripts/stack.sh install"
      kafka_java_opts tool "$LOG_DIR/kafka-tools.log"
      exec java "${JAVA_OPTS[@]}" \
        org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" "$@"
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
