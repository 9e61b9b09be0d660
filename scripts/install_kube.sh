#!/usr/bin/env bash
# Builds the tools the Helm chart's tests need, from the Go module proxy (never prebuilt downloads):
#   helm                                          (chart lint, template, install/upgrade/rollback/uninstall)
#   etcd, kube-apiserver, kube-controller-manager,
#   kube-scheduler, kwok                          (a real, loopback-only control plane; kwok simulates nodes/pods)
# into ${STACK_CACHE:-<repo>/.local}/bin, one versioned file per tool, skipping any that is already there.
# kwok's stage files (how fake nodes and pods change state) are copied next to it from its module.
#
# Usage: scripts/install_kube.sh [helm|control-plane|all]   (default all)
#        scripts/install_kube.sh paths                      print NAME=path for each tool (installs nothing)
# The tests (testing/kube.py) run `paths`, then install what is missing. Cold builds on 2 cores: helm about
# 3 min, kube-apiserver about 6 min, the rest 3 to 4 min; see /work/shared/design/tooling-notes.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM_VERSION="v3.22.0"
ETCD_VERSION="v3.7.3"
KUBE_VERSION="v1.37.2"
KUBE_STAGING_VERSION="v0.37.2"  # the k8s.io/* staging modules' tag for KUBE_VERSION
KWOK_VERSION="v0.8.0"

STACK_CACHE="${STACK_CACHE:-$REPO_ROOT/.local}"
mkdir -p "$STACK_CACHE/bin"
STACK_CACHE="$(cd "$STACK_CACHE" && pwd)"
BIN="$STACK_CACHE/bin"
SRC="$STACK_CACHE/src/kube"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}" GOMODCACHE="${GOMODCACHE:-$HOME/go/pkg/mod}"
export GOFLAGS="${GOFLAGS:--mod=mod}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
GO_TIMEOUT="${GO_TIMEOUT:-900}"

HELM="$BIN/helm-$HELM_VERSION"
ETCD="$BIN/etcd-$ETCD_VERSION"
KUBE_APISERVER="$BIN/kube-apiserver-$KUBE_VERSION"
KUBE_CONTROLLER_MANAGER="$BIN/kube-controller-manager-$KUBE_VERSION"
KUBE_SCHEDULER="$BIN/kube-scheduler-$KUBE_VERSION"
KWOK="$BIN/kwok-$KWOK_VERSION"
KWOK_STAGES="$STACK_CACHE/kwok-stages-$KWOK_VERSION"

log() { printf '[install_kube] %s\n' "$*" >&2; }
die() { printf '[install_kube] ERROR: %s\n' "$*" >&2; exit 1; }

paths() {
  printf 'HELM=%s\nETCD=%s\nKUBE_APISERVER=%s\nKUBE_CONTROLLER_MANAGER=%s\nKUBE_SCHEDULER=%s\nKWOK=%s\nKWOK_STAGES=%s\nKUBE_VERSION=%s\n' \
    "$HELM" "$ETCD" "$KUBE_APISERVER" "$KUBE_CONTROLLER_MANAGER" "$KUBE_SCHEDULER" "$KWOK" "$KWOK_STAGES" "$KUBE_VERSION"
}

# go_build OUT [go build args...]: builds in the current directory into OUT atomically (a half-written
# binary never looks installed), timing it.
go_build() {
  local out="$1" started=$SECONDS
  shift
  timeout "$GO_TIMEOUT" go build -trimpath -o "$out.tmp" "$@" || die "go build of $(basename "$out") failed or timed out"
  mv "$out.tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - started)) s"
}

install_helm() {
  [ -x "$HELM" ] && return
  local dir="$SRC/helm-$HELM_VERSION"
  mkdir -p "$dir" && cd "$dir"
  [ -f go.mod ] || { printf 'module local/helm\n\ngo 1.24\n' >go.mod; printf '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v3/cmd/helm"\n' >tools.go; }
  timeout "$GO_TIMEOUT" go get "helm.sh/helm/v3@$HELM_VERSION"
  # Helm's default Kubernetes version (for `template` and `lint` without a cluster) is set by its Makefile from the
  # client-go it is built with; without it helm assumes 1.20 and refuses a chart with kubeVersion >= 1.30.
  local kminor
  kminor="$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
  go_build "$HELM" -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor" \
    helm.sh/helm/v3/cmd/helm
}

install_etcd() {
  [ -x "$ETCD" ] && return
  local dir="$SRC/etcd-$ETCD_VERSION"
  mkdir -p "$dir" && cd "$dir"
  if [ ! -f main.go ]; then
    printf 'module local/etcd\n\ngo 1.24\n' >go.mod
    printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' >main.go
  fi
  timeout "$GO_TIMEOUT" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  timeout "$GO_TIMEOUT" go mod tidy
  go_build "$ETCD" .
}

install_kwok() {
  if [ ! -x "$KWOK" ]; then
    local dir="$SRC/kwok-$KWOK_VERSION"
    mkdir -p "$dir" && cd "$dir"
    [ -f go.mod ] || { printf 'module local/kwok\n\ngo 1.24\n' >go.mod; printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n' >tools.go; }
    timeout "$GO_TIMEOUT" go get "sigs.k8s.io/kwok@$KWOK_VERSION"
    go_build "$KWOK" sigs.k8s.io/kwok/cmd/kwok
  fi
  if [ ! -f "$KWOK_STAGES/stages.yaml" ]; then
    local mod
    mod="$(cd "$SRC/kwok-$KWOK_VERSION" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
    mkdir -p "$KWOK_STAGES"
    # Nodes become Ready at once and keep a lease; pods go Pending -> Running with an IP (no containers run).
    local stage out="$KWOK_STAGES/stages.yaml.tmp"
    : >"$out"
    for stage in node/fast node/heartbeat-with-lease pod/fast; do
      for f in "$mod/kustomize/stage/$stage"/*.yaml; do
        [ "$(basename "$f")" = kustomization.yaml ] && continue
        printf -- '---\n' >>"$out"
        cat "$f" >>"$out"
      done
    done
    mv "$out" "$KWOK_STAGES/stages.yaml"
  fi
}

install_kube_binaries() {
  [ -x "$KUBE_APISERVER" ] && [ -x "$KUBE_CONTROLLER_MANAGER" ] && [ -x "$KUBE_SCHEDULER" ] && return
  # k8s.io/kubernetes replaces its staging modules with ./staging paths, so `go install` refuses it: a wrapper
  # module requires it and points every staging module at its published tag instead.
  local dir="$SRC/kubernetes-$KUBE_VERSION" gomod
  mkdir -p "$dir" && cd "$dir"
  if [ ! -f go.sum ]; then
    gomod="$(timeout "$GO_TIMEOUT" go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$gomod" ] || die "could not fetch k8s.io/kubernetes@$KUBE_VERSION's go.mod"
    {
      printf 'module local/kube\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBE_VERSION"
      grep '=> ./staging' "$gomod" | awk -v v="$KUBE_STAGING_VERSION" '{print "\t"$1" => "$1" "v}'
      printf ')\n'
    } >go.mod
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n\t_ "k8s.io/kubernetes/cmd/kube-scheduler"\n)\n' >tools.go
    timeout "$GO_TIMEOUT" go mod tidy
  fi
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local ld="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  [ -x "$KUBE_SCHEDULER" ] || go_build "$KUBE_SCHEDULER" -ldflags "$ld" k8s.io/kubernetes/cmd/kube-scheduler
  [ -x "$KUBE_CONTROLLER_MANAGER" ] || go_build "$KUBE_CONTROLLER_MANAGER" -ldflags "$ld" k8s.io/kubernetes/cmd/kube-controller-manager
  [ -x "$KUBE_APISERVER" ] || go_build "$KUBE_APISERVER" -ldflags "$ld" k8s.io/kubernetes/cmd/kube-apiserver
}

with_lock() {
  # One build at a time per cache: concurrent clones (helpers, CI jobs) wait rather than build twice.
  exec 8>"$STACK_CACHE/kube-install.lock"
  flock -w 3600 8 || die "could not take $STACK_CACHE/kube-install.lock"
  "$@"
}

# Everything `what` needs is there: nothing to build, so no lock to wait for (another clone may be building).
built() {
  case "$1" in
    helm) [ -x "$HELM" ] ;;
    control-plane) [ -x "$ETCD" ] && [ -x "$KWOK" ] && [ -f "$KWOK_STAGES/stages.yaml" ] && [ -x "$KUBE_APISERVER" ] \
                   && [ -x "$KUBE_CONTROLLER_MANAGER" ] && [ -x "$KUBE_SCHEDULER" ] ;;
    all) built helm && built control-plane ;;
    *) return 1 ;;
  esac
}

what="${1:-all}"
if built "$what"; then exit 0; fi
case "$what" in
  paths) paths ;;
  helm) command -v go >/dev/null || die "Go is required"; with_lock install_helm ;;
  control-plane) command -v go >/dev/null || die "Go is required"
                 with_lock install_etcd; install_kwok; install_kube_binaries ;;
  all) command -v go >/dev/null || die "Go is required"
       with_lock install_helm; install_etcd; install_kwok; install_kube_binaries ;;
  *) die "usage: $0 [helm|control-plane|all|paths]" ;;
esac
