#!/usr/bin/env bash
# Adds a real node, named `localhost`, to the control plane of a running
# hack/dev-up.sh environment (${S3C_DEV_DIR:-<repo>/.dev}), so Pods run:
#   containerd + runc (Debian's; CRI, cgroupfs, a loopback-only CNI: only
#     hostNetwork Pods have a network), kubelet, kube-controller-manager and
#     kube-scheduler (v1.36, hack/tools.sh node), all on 127.0.0.1, each in its
#     own process group ($S3C_DEV_DIR/run/<name>.pid, logs in $S3C_DEV_DIR/logs).
# Needs root. Its state is in $S3C_DEV_DIR/node; stop it with hack/node-down.sh
# (hack/dev-down.sh does that too).
#
# Usage: hack/node-up.sh [up|status|import FILE...]
#   up (default)  start what is not running (idempotent), import the pause
#                 image, wait until the node is Ready and the `default`
#                 ServiceAccount and ConfigMap `kube-root-ca.crt` exist in
#                 namespace default, write $S3C_DEV_DIR/node.env
#   status        print what runs; exit 1 if something is down
#   import FILE.. import OCI archives into the node's containerd (namespace
#                 k8s.io, where the kubelet looks); Pods then use them with
#                 imagePullPolicy: Never (or IfNotPresent and a fixed tag)
#
# One node per machine: the kubelet and containerd use fixed paths and ports
# (127.0.0.1:10250 kubelet, :10248 its healthz, :10257 kube-controller-manager,
# :10259 kube-scheduler; /run/containerd/s for shim sockets,
# /var/lib/kubelet/device-plugins, /var/log/containers). The machine-wide claim
# is the directory /run/s3c-node (its `owner` file names the S3C_DEV_DIR);
# node-up refuses while another dir's node runs.
#
# What Pods on this node must do (no pod network, no kube-proxy, no DNS):
#   hostNetwork: true; reach the API server at 127.0.0.1:$APISERVER_PORT
#   (KUBERNETES_SERVICE_HOST/PORT); bind to 127.0.0.1 and ports free on the
#   machine; probes with httpGet.host: 127.0.0.1 (a Pod's IP is the node's
#   InternalIP, the VM's eth0 address, which nothing may send traffic to).
#   Other Pods never start ("failed to setup network for sandbox ...: failed
#   to find network info for sandbox": the loopback CNI gives no IP). The
#   baseline and restricted Pod Security levels forbid hostNetwork, so their
#   namespaces must not enforce those. `kubectl logs/exec` work; the
#   nodes/proxy subresource does not (the API server refuses to proxy to a
#   loopback address: "address not allowed").
#
# Environment:
#   S3C_PAUSE_ARCHIVE  the sandbox image, an OCI archive (default
#                      <repo>/dist/pause.oci.tar: make pause-image)
#   S3C_PAUSE_IMAGE    its name (default localhost/s3c/pause:1)
#   NODE_UP_TIMEOUT    seconds per wait (default 180)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=${S3C_DEV_DIR:-$REPO/.dev}
PAUSE_ARCHIVE=${S3C_PAUSE_ARCHIVE:-$REPO/dist/pause.oci.tar}
PAUSE_IMAGE=${S3C_PAUSE_IMAGE:-localhost/s3c/pause:1}
TIMEOUT=${NODE_UP_TIMEOUT:-180}
NODE_NAME=localhost
CLAIM=/run/s3c-node
KUBELET_PORT=10250 KUBELET_HEALTHZ_PORT=10248 KCM_PORT=10257 SCHEDULER_PORT=10259

log() { printf '[node-up] %s\n' "$*" >&2; }
die() { printf '[node-up] ERROR: %s\n' "$*" >&2; exit 1; }

cmd=${1:-up}
case $cmd in
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  up | status | import) ;;
  *) die "usage: $0 [up|status|import FILE...]" ;;
esac

[[ -s $DEV/kubeconfig && -s $DEV/ports && -s $DEV/pki/ca.key ]] ||
  die "no dev environment in $DEV (S3C_DEV_DIR): start it first with hack/dev-up.sh"
DEV=$(cd "$DEV" && pwd)
NODE=$DEV/node LOGS=$DEV/logs RUN=$DEV/run PKI=$DEV/pki
SOCK=$NODE/containerd/containerd.sock
((${#SOCK} + 7 < 108)) || die "state dir too deep: $SOCK is too long for a unix socket; use a shorter S3C_DEV_DIR"
APISERVER_PORT=$(sed -n 's/^APISERVER_PORT=//p' "$DEV/ports")
SERVER=https://127.0.0.1:$APISERVER_PORT
BIN=$("$REPO/hack/tools.sh" path)
export PATH=$BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export KUBECONFIG=$DEV/kubeconfig

source "$REPO/hack/proc.sh"

CONTAINERD_MATCH="containerd --config $NODE/"
KUBELET_MATCH="$BIN/kubelet --config"
KCM_MATCH="$BIN/kube-controller-manager"
SCHEDULER_MATCH="$BIN/kube-scheduler"

ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }
containerd_ready() { ctr --address "$SOCK" version > /dev/null 2>&1; }

# ---------------------------------------------------------------- import
import_images() {
  (($#)) || die "usage: $0 import FILE..."
  if ! alive containerd "$CONTAINERD_MATCH" || ! containerd_ready; then
    die "the node's containerd does not run for $DEV: hack/node-up.sh first"
  fi
  local f
  for f in "$@"; do
    [[ -f $f ]] || die "$f: no such file"
    ctr_ images import "$f" >&2 || die "ctr images import $f failed"
  done
}

if [[ $cmd == import ]]; then
  shift
  import_images "$@"
  exit 0
fi

# ---------------------------------------------------------------- checks
# (no `| grep -q` under pipefail: grep exits at the first match and the writer
# may fail with SIGPIPE)
kubelet_healthy() { [[ $(curl -sf --max-time 3 "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz") == ok ]]; }
kcm_healthy() { [[ $(curl -sfk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz") == ok ]]; }
scheduler_healthy() { [[ $(curl -sfk --max-time 3 "https://127.0.0.1:$SCHEDULER_PORT/healthz") == ok ]]; }
# node_ready: Ready, and (with KUBELET_SINCE, epoch seconds) reported by the
# kubelet running now: a Node object left from before still says Ready for
# up to 40s after its kubelet stopped.
node_ready() {
  local out st hb
  out=$(kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
  read -r st hb <<< "$out"
  [[ $st == True ]] || return 1
  [[ -z ${KUBELET_SINCE:-} ]] || (($(date -d "$hb" +%s) >= KUBELET_SINCE))
}

status() {
  local rc=0 c
  for c in containerd:CONTAINERD_MATCH:containerd_ready kubelet:KUBELET_MATCH:kubelet_healthy \
    kube-controller-manager:KCM_MATCH:kcm_healthy kube-scheduler:SCHEDULER_MATCH:scheduler_healthy; do
    IFS=: read -r name var check <<< "$c"
    if alive "$name" "${!var}" && $check; then
      printf '%-24s up    pid %s\n' "$name" "$(<"$(pidfile "$name")")"
    else
      printf '%-24s DOWN\n' "$name"; rc=1
    fi
  done
  if node_ready; then echo "node $NODE_NAME           Ready"; else echo "node $NODE_NAME           not Ready"; rc=1; fi
  echo "owner of this machine's node: $(cat "$CLAIM/owner" 2>/dev/null || echo none)"
  return $rc
}

if [[ $cmd == status ]]; then
  status
  exit
fi

[[ $(id -u) == 0 ]] || die "the node needs root (kubelet, containerd, mounts, cgroups)"
# builds/installs what is missing (first time only), else only re-links
"$REPO/hack/tools.sh" node
for t in kubelet kube-controller-manager kube-scheduler kubectl; do
  [[ -x $BIN/$t ]] || die "$BIN/$t missing: run hack/tools.sh node (builds kubelet, kube-controller-manager, kube-scheduler; installs containerd, runc, CNI plugins)"
done
for t in containerd containerd-shim-runc-v2 runc ctr /usr/lib/cni/loopback; do
  command -v "$t" > /dev/null || die "$t missing: run hack/tools.sh node (as root: installs Debian's containerd, runc, containernetworking-plugins)"
done
curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$SERVER/readyz" > /dev/null ||
  die "the kube-apiserver of $DEV ($SERVER) is not ready: hack/dev-up.sh"
if ! grep -q -- '--kubelet-client-certificate' "$RUN/kube-apiserver.cmd" 2>/dev/null || [[ ! -s $PKI/apiserver-kubelet-client.crt ]]; then
  die "the kube-apiserver of $DEV runs without the node flags (started by an older hack/dev-up.sh): run hack/dev-up.sh again, it restarts it"
fi
[[ -f $PAUSE_ARCHIVE ]] || die "no pause image archive at $PAUSE_ARCHIVE: build it (make pause-image) or set S3C_PAUSE_ARCHIVE"

exec 7> "$DEV/.node.lock"
flock -w 300 7 || die "another node-up/node-down holds $DEV/.node.lock"

# ---------------------------------------------------------------- the machine's one node
# node_alive_in DIR: the node of DIR still has a running kubelet or containerd
node_alive_in() {
  local RUN=$1/run NODE=$1/node
  local CONTAINERD_MATCH="containerd --config $NODE/"
  alive kubelet "$KUBELET_MATCH" || alive containerd "$CONTAINERD_MATCH"
}

# The fixed paths outside $NODE that the kubelet, containerd, libcni and
# mount(8) create (seen: /run/containerd/s, /run/mount, /run/netns,
# /var/lib/kubelet/device-plugins, /var/lib/cni/results, /var/log/containers;
# the others are listed in case), and the kernel settings the kubelet changes.
# node-down removes the paths recorded as absent here and restores the settings.
FIXED_PATHS="/run/containerd /run/mount /var/lib/kubelet /var/lib/cni /var/log/containers /var/log/pods /run/netns /usr/libexec/kubernetes /opt/containerd /var/lib/containerd /etc/cni /opt/cni"
KUBELET_SYSCTLS="vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys kernel/keys/root_maxbytes"

claim_machine() {
  local owner i
  for ((i = 0; i < 3; i++)); do
    if mkdir "$CLAIM" 2> /dev/null; then
      printf '%s\n' "$DEV" > "$CLAIM/owner"
      break
    fi
    owner=$(cat "$CLAIM/owner" 2> /dev/null || true)
    [[ $owner == "$DEV" ]] && return 0
    if [[ -n $owner ]] && node_alive_in "$owner"; then
      die "a node is already up on this machine, owned by $owner (kubelet and containerd use fixed paths and ports: one node per machine). Stop it first: S3C_DEV_DIR=$owner $REPO/hack/node-down.sh"
    fi
    log "a stale node claim (owner ${owner:-unknown}, nothing runs): cleaning it up"
    S3C_DEV_DIR=${owner:-$DEV} S3C_NODE_FORCE_CLEAN=1 "$REPO/hack/node-down.sh" >&2 ||
      die "could not clean up the stale node of ${owner:-unknown}"
    rm -rf "$CLAIM"
  done
  [[ $(cat "$CLAIM/owner" 2> /dev/null) == "$DEV" ]] || die "could not claim $CLAIM"
  # Anything of another kubelet or containerd on this machine? (Ours are not started yet.)
  local p
  for p in $KUBELET_PORT $KUBELET_HEALTHZ_PORT $KCM_PORT $SCHEDULER_PORT; do
    if port_busy "$p"; then
      rm -rf "$CLAIM"
      die "port 127.0.0.1:$p is in use by another process (a kubelet, kube-controller-manager or kube-scheduler not started by node-up?): $(ss -Hltnp "sport = :$p" 2> /dev/null | head -n1)"
    fi
  done
  if pgrep -x containerd > /dev/null || pgrep -x kubelet > /dev/null || [[ -e /run/containerd ]]; then
    rm -rf "$CLAIM"
    die "another containerd or kubelet runs on this machine (or /run/containerd exists): this node would share its paths; stop it first ($(pgrep -ax 'containerd|kubelet' | head -n3 | tr '\n' ' '))"
  fi
  # what existed before (node-down removes only what the node created)
  for p in $FIXED_PATHS; do [[ -e $p || -L $p ]] || echo "$p"; done > "$CLAIM/absent"
  for p in $KUBELET_SYSCTLS; do echo "$p=$(cat "/proc/sys/$p")"; done > "$CLAIM/sysctl"
}

# ---------------------------------------------------------------- processes
# ensure NAME MATCH FINGERPRINT -- CMD...: start CMD unless it runs with the
# same command line and configuration (FINGERPRINT: a hash of its files)
ensure() {
  local name=$1 match=$2 fp=$3
  shift 4
  local want; want="$(printf '%q ' "$@")# $fp"
  if alive "$name" "$match"; then
    if [[ -f $RUN/$name.cmd && $(<"$RUN/$name.cmd") == "$want" ]]; then
      log "$name already running (pid $(<"$(pidfile "$name")"))"
      return 0
    fi
    log "$name runs with another command line or configuration: restarting it"
    stop_component "$name" "$match"
  fi
  log "starting $name (log $LOGS/$name.log)"
  start "$name" "$@"
  printf '%s' "$want" > "$RUN/$name.cmd"
}

fingerprint() { cat "$@" | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------- certificates
# Signed by the dev CA: the kubelet's serving certificate (localhost,
# 127.0.0.1: the kube-apiserver checks it with --kubelet-certificate-authority)
# and client certificates for the kubelet (system:node:localhost in
# system:nodes: the Node authorizer and NodeRestriction), the controller
# manager and the scheduler (their bootstrap RBAC users); hack/pki.py node.
ensure_node_pki() {
  local d=$NODE/pki
  [[ -s $d/kubelet.crt && -s $d/kubelet-client.crt && -s $d/controller-manager.crt && -s $d/scheduler.crt ]] && return 0
  log "generating the node's certificates in $d"
  mkdir -p "$d" && chmod 700 "$d"
  local out
  out=$("$BIN/moto-python" "$REPO/hack/pki.py" node "$d" "$PKI" "$NODE_NAME" 2>&1) ||
    { printf '%s\n' "$out" >&2; die "hack/pki.py node failed"; }
}

# kubeconfig NAME CERT: $NODE/NAME.kubeconfig authenticating with pki/CERT.crt
write_kubeconfig() {
  local f=$NODE/$1.kubeconfig
  (umask 077 && put "$f") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: s3c-dev
  cluster:
    server: $SERVER
    certificate-authority: $PKI/ca.crt
users:
- name: $1
  user:
    client-certificate: $NODE/pki/$2.crt
    client-key: $NODE/pki/$2.key
contexts:
- name: $1
  context: {cluster: s3c-dev, user: $1}
current-context: $1
EOF
}

# ---------------------------------------------------------------- configuration
# put FILE: stdin into FILE, atomically and only when it changes (containerd
# watches the CNI dir and would read a half-written file)
put() {
  local tmp=$NODE/.put.$$   # same filesystem, outside the watched dirs
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

write_configs() {
  mkdir -p "$NODE/containerd" "$NODE/cni/net.d" "$NODE/kubelet" "$NODE/pod-logs" "$NODE/kcm" "$NODE/scheduler"
  # CRI: cgroupfs (the kubelet's cgroupDriver); restrict_oom_score_adj: this
  # machine refuses negative oom_score_adj (no CAP_SYS_RESOURCE) and without
  # it every sandbox fails ("can't get final child's PID from pipe: EOF").
  put "$NODE/containerd/config.toml" <<EOF
version = 2
root = "$NODE/containerd/root"
state = "$NODE/containerd/state"

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$NODE/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    restrict_oom_score_adj = true
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    max_concurrent_downloads = 1
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = "$(command -v runc)"
          Root = "$NODE/containerd/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$NODE/cni/net.d"
      max_conf_num = 1
EOF
  # No pod network: loopback only (hostNetwork Pods; the node is Ready).
  put "$NODE/cni/net.d/10-loopback.conflist" <<'EOF'
{"cniVersion": "1.0.0", "name": "loopback-only", "plugins": [{"type": "loopback"}]}
EOF
  # makeIPTablesUtilChains: false - otherwise the kubelet adds KUBE-FIREWALL
  # and friends to the machine's iptables. imageGCHighThresholdPercent: 100
  # turns image garbage collection off (imported images cannot be pulled
  # again); the eviction thresholds are low for the same reason.
  put "$NODE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: 127.0.0.1
port: $KUBELET_PORT
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
readOnlyPort: 0
tlsCertFile: $NODE/pki/kubelet.crt
tlsPrivateKeyFile: $NODE/pki/kubelet.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
makeIPTablesUtilChains: false
failSwapOn: false
podLogsDir: $NODE/pod-logs
volumePluginDir: $NODE/kubelet/volume-plugins
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
serializeImagePulls: false
EOF
  write_kubeconfig kubelet kubelet-client
  write_kubeconfig controller-manager controller-manager
  write_kubeconfig scheduler scheduler
}

up_containerd() {
  ensure containerd "$CONTAINERD_MATCH" "$(fingerprint "$NODE/containerd/config.toml")" -- \
    containerd --config "$NODE/containerd/config.toml"
  wait_for containerd containerd_ready
}

import_pause() {
  ctr_ images import "$PAUSE_ARCHIVE" > "$LOGS/node-import.log" 2>&1 ||
    { cat "$LOGS/node-import.log" >&2; die "importing $PAUSE_ARCHIVE into the node's containerd failed"; }
  local images; images=$(ctr_ images ls -q)
  grep -qxF "$PAUSE_IMAGE" <<< "$images" ||
    die "$PAUSE_ARCHIVE has no image named $PAUSE_IMAGE (S3C_PAUSE_IMAGE); the node has: $(tr '\n' ' ' <<< "$images")"
}

up_kubelet() {
  ensure kubelet "$KUBELET_MATCH" "$(fingerprint "$NODE/kubelet/config.yaml" "$NODE/pki/kubelet.crt")" -- \
    "$BIN/kubelet" --config="$NODE/kubelet/config.yaml" \
    --kubeconfig="$NODE/kubelet.kubeconfig" \
    --root-dir="$NODE/kubelet/root" \
    --cert-dir="$NODE/kubelet/pki" \
    --hostname-override="$NODE_NAME" \
    --v=1
}

# Both: delegated authentication with the dev CA given (not looked up in
# kube-system/extension-apiserver-authentication: without a front proxy its
# requestheader CA is missing and both log an error in a loop).
up_kcm() {
  local kc=$NODE/controller-manager.kubeconfig
  ensure kube-controller-manager "$KCM_MATCH" "$(fingerprint "$kc")" -- \
    "$BIN/kube-controller-manager" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --authentication-skip-lookup --client-ca-file="$PKI/ca.crt" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$NODE/kcm" \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" \
    --root-ca-file="$PKI/ca.crt" \
    --flex-volume-plugin-dir="$NODE/kcm/flexvolume" \
    --profiling=false \
    --v=1
}

up_scheduler() {
  local kc=$NODE/scheduler.kubeconfig
  ensure kube-scheduler "$SCHEDULER_MATCH" "$(fingerprint "$kc")" -- \
    "$BIN/kube-scheduler" \
    --kubeconfig="$kc" --authentication-kubeconfig="$kc" --authorization-kubeconfig="$kc" \
    --authentication-skip-lookup --client-ca-file="$PKI/ca.crt" \
    --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --cert-dir="$NODE/scheduler" \
    --leader-elect=false \
    --profiling=false \
    --v=1
}

# wait_until WHAT CHECK...: poll CHECK until it succeeds (TIMEOUT)
wait_until() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" > /dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${TIMEOUT}s waiting for $what (logs: $LOGS/kubelet.log, $LOGS/kube-controller-manager.log)"
    sleep 0.5
  done
}

write_node_env() {
  mkdir -p "$NODE/bin"
  # one executable path (callers need not split a command line)
  cat > "$NODE/bin/import-image" <<EOF
#!/bin/sh
# import-image FILE...: OCI archives into the node's containerd (k8s.io)
S3C_DEV_DIR='$DEV' exec '$REPO/hack/node-up.sh' import "\$@"
EOF
  chmod +x "$NODE/bin/import-image"
  cat > "$DEV/node.env.tmp" <<EOF
# Generated by hack/node-up.sh; source it after $DEV/env: . $DEV/node.env
export S3C_NODE_NAME='$NODE_NAME'
export S3C_NODE_DIR='$NODE'
# S3C_NODE_IMPORT FILE...: import OCI archives for Pods (imagePullPolicy: Never)
export S3C_NODE_IMPORT='$NODE/bin/import-image'
export S3C_NODE_CONTAINERD_SOCKET='$SOCK'
export S3C_NODE_KUBELET_PORT='$KUBELET_PORT'
export S3C_NODE_DOWN='$REPO/hack/node-down.sh'
export S3C_PAUSE_IMAGE='$PAUSE_IMAGE'
# Pods reach the API server here (hostNetwork: true; no kube-proxy behind the Service IP)
export S3C_NODE_APISERVER_HOST='127.0.0.1'
export S3C_NODE_APISERVER_PORT='$APISERVER_PORT'
EOF
  mv -f "$DEV/node.env.tmp" "$DEV/node.env"
}

# ---------------------------------------------------------------- up
t0=$SECONDS
claim_machine
mkdir -p "$NODE" "$LOGS" "$RUN"
ensure_node_pki
write_configs
up_containerd
import_pause
up_kcm
up_scheduler
up_kubelet
wait_for kube-controller-manager kcm_healthy
wait_for kube-scheduler scheduler_healthy
wait_for kubelet kubelet_healthy
KUBELET_SINCE=$(date -d "$(ps -o lstart= -p "$(<"$(pidfile kubelet)")")" +%s)
wait_until "node $NODE_NAME to be Ready" node_ready
wait_until "ServiceAccount default/default" kubectl get serviceaccount default -n default
wait_until "ConfigMap default/kube-root-ca.crt" kubectl get configmap kube-root-ca.crt -n default
write_node_env
log "node $NODE_NAME Ready in $((SECONDS - t0))s (containerd, kubelet :$KUBELET_PORT, kube-controller-manager, kube-scheduler)"
log "use it with: source $DEV/env; source $DEV/node.env"
