#!/usr/bin/env bash
# Stops what hack/dev-up.sh started in ${S3C_DEV_DIR:-<repo>/.dev} (MinIO,
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
