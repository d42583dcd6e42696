#!/usr/bin/env bash
# Runs test suites in a private, clean environment (what `make test` and
# `make e2e` run): stops what a killed run left in $S3C_DEV_DIR, starts
# etcd, kube-apiserver, moto and MinIO (hack/dev-up.sh), checks them, runs
# each suite named, and stops everything again (hack/dev-down.sh, which
# also takes a node down), whatever happened. On a failure, the tail of
# every component's log is printed.
#
# Suites:
#   integration  cargo test --test integration (the operator as a process)
#   pods         the operator's image on a real node: `make e2e-images`,
#                `make node-up` (root; one node per machine), then
#                cargo test --test pods
# Every suite runs even when an earlier one failed; the exit status is
# non-zero if any failed.
#
# Usage: S3C_DEV_DIR=... ETCD_PORT=... APISERVER_PORT=... MOTO_PORT=...
#        MINIO_PORT=... hack/test-env.sh SUITE...
# The Makefile sets these (TEST_DEV_DIR, TEST_*_PORT) and, for `pods`,
# E2E_* (the images' tags and archives, the operator's port).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
: "${S3C_DEV_DIR:?set S3C_DEV_DIR}"
unset ETCD_PEER_PORT

log() { printf '[test-env] %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 && -d $S3C_DEV_DIR/logs ]]; then
    for f in "$S3C_DEV_DIR"/logs/*.log; do
      [[ -f $f ]] || continue
      echo "----- tail of $f"
      tail -n 25 "$f"
    done
  fi
  hack/dev-down.sh || true
  exit "$rc"
}
trap cleanup EXIT

hack/dev-down.sh
hack/dev-up.sh
# shellcheck disable=SC1091
source "$S3C_DEV_DIR/env"
moto-python hack/check_dev_env.py
moto-python hack/check_minio.py

failed=()
for suite in "$@"; do
  log "suite $suite"
  case $suite in
    integration)
      cargo test --no-fail-fast --test integration || failed+=("$suite")
      ;;
    pods)
      if ! make --no-print-directory e2e-images; then
        failed+=("$suite (images)")
        continue
      fi
      if ! make --no-print-directory node-up DEV_DIR="$S3C_DEV_DIR"; then
        failed+=("$suite (node)")
        continue
      fi
      # shellcheck disable=SC1091
      source "$S3C_DEV_DIR/node.env"
      S3C_E2E_IMAGE_REPOSITORY=$E2E_IMAGE_REPOSITORY \
        S3C_E2E_TAG=$E2E_TAG S3C_E2E_ARCHIVE=$E2E_ARCHIVE \
        S3C_E2E_NEXT_TAG=$E2E_NEXT_TAG S3C_E2E_NEXT_ARCHIVE=$E2E_NEXT_ARCHIVE \
        S3C_E2E_METRICS_PORT=$E2E_METRICS_PORT S3C_E2E_HEALTH_PORT=$E2E_HEALTH_PORT \
        cargo test --no-fail-fast --test pods || failed+=("$suite")
      ;;
    *)
      log "unknown suite $suite (integration, pods)"
      exit 2
      ;;
  esac
done
if ((${#failed[@]})); then
  log "failed: ${failed[*]}"
  exit 1
fi
