#!/usr/bin/env bash
# Seeds the running dev environment (hack/dev-up.sh) for `make dev`: bucket
# dev-data, IAM user dev-sync with a read/write policy on it, and its access key
# in Secret default/dev-s3-creds. Idempotent (re-running rotates the key).
# moto keeps its state in memory: after restarting moto, run this again.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=${S3C_DEV_DIR:-$REPO/.dev}
if [[ ! -f $DEV/env ]]; then
  echo "[seed-dev] ERROR: $DEV/env not found; run hack/dev-up.sh first" >&2
  exit 1
fi
# shellcheck disable=SC1091
source "$DEV/env"
exec "$S3C_MOTO_PYTHON" "$REPO/hack/seed_dev.py"
