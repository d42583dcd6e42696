#!/usr/bin/env bash
# Stops what hack/dev-up.sh started in ${S3C_DEV_DIR:-<repo>/.dev} (first the
# node of hack/node-up.sh if this dir has one: hack/node-down.sh; then MinIO,
# moto, kube-apiserver, etcd: each its own process group, recorded in
# run/*.pid), waits until they are gone, and removes the state (etcd and MinIO
# data, certificates, kubeconfig, env) so the next dev-up starts a clean cluster. Logs of the last
# run stay in $S3C_DEV_DIR/logs (pass --purge to remove the whole directory).
# The tool cache ($HOME/.cache/s3-connection-operator) is not touched.
# Idempotent: does nothing when nothing runs.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=${S3C_DEV_DIR:-$REPO/.dev}
PURGE=0
[[ ${1:-} == --purge ]] && PURGE=1

log() { printf '[dev-down] %s\n' "$*" >&2; }

if [[ ! -d $DEV ]]; then
  log "nothing to do ($DEV does not exist)"
  exit 0
fi
DEV=$(cd "$DEV" && pwd)
RUN=$DEV/run

exec 9> "$DEV/.lock"
flock -w 300 9 || { log "another dev-up/dev-down holds $DEV/.lock"; exit 1; }

source "$REPO/hack/proc.sh"

# A node (hack/node-up.sh) of this dir goes first: its pods, mounts and fixed
# paths outside $DEV. If that fails, stop here: removing $DEV under live
# mounts would reach into them.
if [[ -d $DEV/node || -f $RUN/kubelet.pid || -f $RUN/containerd.pid || $(cat /run/s3c-node/owner 2>/dev/null) == "$DEV" ]]; then
  S3C_DEV_DIR=$DEV "$REPO/hack/node-down.sh" ||
    { log "ERROR: hack/node-down.sh failed; the control plane keeps running (fix that, then run dev-down again)"; exit 1; }
fi

stop_component minio "/minio server"
stop_component moto moto_launcher.py
stop_component kube-apiserver kube-apiserver
stop_component etcd etcd

if ((PURGE)); then
  rm -rf "$DEV"
  log "removed $DEV"
else
  find "$DEV" -mindepth 1 -maxdepth 1 ! -name logs ! -name .lock -exec rm -rf {} +
  log "stopped; state removed (logs kept in $DEV/logs)"
fi
