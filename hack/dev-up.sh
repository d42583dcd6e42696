#!/usr/bin/env bash
# Local control plane + S3/STS/IAM for development and integration tests
# (the same idea as controller-runtime's envtest):
#   etcd, kube-apiserver (RBAC, ServiceAccount tokens, no controllers), moto
#   (hack/moto_launcher.py: S3 + STS + IAM like AWS) and MinIO (a second S3
#   implementation, HTTPS, web identity against the kube-apiserver) on
#   127.0.0.1, all in the background.
#
# Usage: hack/dev-up.sh [up|status|start C|stop [--kill] C|kill C|restart [--kill] C]
#   up (default)  start what is not running (idempotent), wait until healthy,
#                 apply crds/ if present, write $S3C_DEV_DIR/env
#   status        print what runs; exit 1 if something is down
#   start C       start component C (etcd, kube-apiserver, moto, minio) if it
#                 is not running, with the same ports, certificates and data,
#                 and wait until it is healthy (kube-apiserver: /readyz)
#   stop C        stop C gracefully (TERM, KILL after 15s)
#   stop --kill C / kill C
#                 SIGKILL C's process group at once, as a crash would
#   restart [--kill] C   stop (or kill) + start
# moto keeps its state in memory (lost on stop; the admin user and keys come
# back the same); etcd and MinIO keep theirs on disk ($S3C_DEV_DIR/etcd,
# $S3C_DEV_DIR/minio/data). MinIO reads its OpenID provider (the
# kube-apiserver's discovery document and keys) when it starts; while it cannot,
# it retries every 1-2s and meanwhile its IAM is not initialized (admin API: 503,
# the role ARN "is not defined"), so `start minio` refuses to run while the API
# server is down. A MinIO that is already running keeps accepting tokens while
# the API server is down or restarting (same signing key; it caches the JWKS and
# only re-fetches it for a token it cannot verify).
#
# Environment (defaults):
#   S3C_DEV_DIR=<repo>/.dev   state: pids, logs, certs, etcd data, env, kubeconfig
#   ETCD_PORT=12379 (peer ETCD_PEER_PORT=ETCD_PORT+1), APISERVER_PORT=16443,
#   MOTO_PORT=15000, MINIO_PORT=MOTO_PORT+4000 (19000),
#   DEV_UP_TIMEOUT=120 (seconds per component), S3C_DEV_MINIO=1 (0: no MinIO)
# The ports used are remembered in $S3C_DEV_DIR/ports; later calls (and
# start/stop/restart) reuse them unless overridden.
#
# Afterwards: `source $S3C_DEV_DIR/env`. Stop everything with hack/dev-down.sh.
# Helpers: hack/proc.sh (processes), hack/dev-minio.sh (MinIO), hack/pki.py
# (certificates), hack/dev_env.py (health checks, generated credentials).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEV=${S3C_DEV_DIR:-$REPO/.dev}
mkdir -p "$DEV"
DEV=$(cd "$DEV" && pwd)
LOGS=$DEV/logs PKI=$DEV/pki RUN=$DEV/run
mkdir -p "$LOGS" "$PKI" "$RUN"

log() { printf '[dev-up] %s\n' "$*" >&2; }
die() { printf '[dev-up] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- configuration
# explicit environment > ports remembered in $DEV/ports > defaults
if [[ -f $DEV/ports ]]; then
  while IFS='=' read -r k v; do
    [[ $k =~ ^(ETCD_PORT|ETCD_PEER_PORT|APISERVER_PORT|MOTO_PORT|MINIO_PORT)$ ]] || continue
    [[ -n ${!k:-} ]] || printf -v "$k" '%s' "$v"
  done < "$DEV/ports"
fi
ETCD_PORT=${ETCD_PORT:-12379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-$((ETCD_PORT + 1))}
APISERVER_PORT=${APISERVER_PORT:-16443}
MOTO_PORT=${MOTO_PORT:-15000}
MINIO_PORT=${MINIO_PORT:-$((MOTO_PORT + 4000))}
TIMEOUT=${DEV_UP_TIMEOUT:-120}
ISSUER=https://127.0.0.1:$APISERVER_PORT
OIDC_PROVIDER=${ISSUER#https://}
AWS_ACCOUNT=123456789012
STS_AUDIENCE=sts.amazonaws.com
# MinIO or not: S3C_DEV_MINIO, else what `up` chose last time for this dir
if [[ -n ${S3C_DEV_MINIO:-} ]]; then
  WITH_MINIO=$S3C_DEV_MINIO
elif [[ -f $DEV/minio.off ]]; then
  WITH_MINIO=0
else
  WITH_MINIO=1
fi
[[ $WITH_MINIO == 0 && -f $DEV/run/minio.pid ]] && WITH_MINIO=1   # it runs: keep managing it

BIN=$("$REPO/hack/tools.sh" path)
export PATH=$BIN:$PATH

exec 9> "$DEV/.lock"
flock -w 300 9 || die "another dev-up/dev-down holds $DEV/.lock"

# ---------------------------------------------------------------- processes, MinIO
source "$REPO/hack/proc.sh"
source "$REPO/hack/dev-minio.sh"

# ---------------------------------------------------------------- python helpers
# hack/dev_env.py: health checks and generated credentials; hack/pki.py: the
# certificates (the one generator, also used by hack/node-up.sh)
dev_env() { "$BIN/moto-python" "$REPO/hack/dev_env.py" "$@"; }

# pki LOG COMMAND DIR: hack/pki.py COMMAND DIR, its output appended to $LOGS/LOG
pki() {
  local logf=$LOGS/$1; shift
  "$BIN/moto-python" "$REPO/hack/pki.py" "$@" >> "$logf" 2>&1 ||
    { cat "$logf" >&2; die "hack/pki.py $* failed"; }
}

# ---------------------------------------------------------------- health checks
etcd_healthy() { curl -sf --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
apiserver_ready() {
  curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" | grep -q '^ok$'
}
# the admin keys must work too (IAM enforcement is on)
moto_healthy() {
  curl -sf --max-time 3 -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" &&
    AWS_ACCESS_KEY_ID=$MOTO_ADMIN_KEY AWS_SECRET_ACCESS_KEY=$MOTO_ADMIN_SECRET dev_env moto-ready "$MOTO_PORT"
}

# ---------------------------------------------------------------- tools
# hack/tools.sh is cheap when everything is cached (it only re-links the
# pinned versions); it builds what is missing and says so.
ensure_tools() {
  local t
  for t in etcd kube-apiserver kubectl moto-python; do
    [[ -x $BIN/$t ]] || log "$t is missing: building/installing it (first time only; see hack/tools.sh)"
  done
  "$REPO/hack/tools.sh" kubectl
  "$REPO/hack/tools.sh" moto
  "$REPO/hack/tools.sh" etcd
  "$REPO/hack/tools.sh" kube-apiserver
  if [[ $WITH_MINIO != 0 ]]; then
    [[ -x $BIN/minio ]] || log "minio is missing: building it (first time only, ~3 min; S3C_DEV_MINIO=0 skips MinIO)"
    "$REPO/hack/tools.sh" minio
  fi
}

# ---------------------------------------------------------------- certificates
# The control plane's CA and certificates and the service-account key (what
# each is: hack/pki.py). A PKI dir from before the node flags lacks the
# kube-apiserver's kubelet client certificate: only that is added.
ensure_pki() {
  local f
  for f in ca.crt ca.key apiserver.crt apiserver.key admin.crt admin.key sa.key sa.pub; do
    [[ -s $PKI/$f ]] && continue
    log "generating certificates and the service-account key in $PKI"
    rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
    rm -f "$LOGS/pki.log"
    pki pki.log control-plane "$PKI"
    return 0
  done
  [[ -s $PKI/apiserver-kubelet-client.crt && -s $PKI/apiserver-kubelet-client.key ]] && return 0
  log "generating the kube-apiserver's kubelet client certificate in $PKI"
  pki pki.log kubelet-client "$PKI"
}

# moto's IAM user "admin": its keys, generated once per dev dir
ensure_moto_admin() {
  local f=$DEV/moto-admin.env
  [[ -s $f ]] || (umask 077 && dev_env moto-admin-keys > "$f")
  # shellcheck disable=SC1090
  source "$f"
}

write_kubeconfig() {
  local kc=$DEV/kubeconfig
  [[ -s $kc ]] && return 0
  local tmp=$kc.tmp
  rm -f "$tmp"
  (
    export KUBECONFIG=$tmp
    kubectl config set-cluster s3c-dev --server="https://127.0.0.1:$APISERVER_PORT" \
      --certificate-authority="$PKI/ca.crt" --embed-certs=true
    kubectl config set-credentials s3c-dev-admin --client-certificate="$PKI/admin.crt" \
      --client-key="$PKI/admin.key" --embed-certs=true
    kubectl config set-context s3c-dev --cluster=s3c-dev --user=s3c-dev-admin --namespace=default
    kubectl config use-context s3c-dev
  ) > /dev/null
  chmod 600 "$tmp" && mv "$tmp" "$kc"
}

# ---------------------------------------------------------------- components
# what each component's command line contains (proc.sh's `alive`)
declare -A MATCH=([etcd]="$BIN/etcd" [kube-apiserver]=kube-apiserver [moto]=moto_launcher.py [minio]="/minio server")

# ensure NAME CHECK "PORT..." -- CMD...: start CMD unless it already runs
# with the same command line (then only re-check health); restart it when its
# command line changed (e.g. flags edited in this script).
ensure() {
  local name=$1 match=${MATCH[$1]} check=$2 ports=$3 p
  shift 4
  local want; want=$(printf '%q ' "$@")
  if alive "$name" "$match"; then
    if [[ -f $RUN/$name.cmd && $(<"$RUN/$name.cmd") == "$want" ]]; then
      wait_for "$name" "$check"
      log "$name already running (pid $(<"$(pidfile "$name")")), healthy"
      return 0
    fi
    log "$name runs with another command line: restarting it"
    stop_component "$name" "$match"
  fi
  for p in $ports; do
    port_busy "$p" && die "port $p for $name is in use by another process (set other ports: ETCD_PORT, APISERVER_PORT, MOTO_PORT, MINIO_PORT)"
  done
  log "starting $name (ports $ports, log $LOGS/$name.log)"
  start "$name" "$@"
  printf '%s' "$want" > "$RUN/$name.cmd"
  wait_for "$name" "$check"
}

up_etcd() {
  mkdir -p "$DEV/etcd" && chmod 700 "$DEV/etcd"
  local client=http://127.0.0.1:$ETCD_PORT peer=http://127.0.0.1:$ETCD_PEER_PORT
  ensure etcd etcd_healthy "$ETCD_PORT $ETCD_PEER_PORT" -- \
    "$BIN/etcd" --name=s3c-dev --data-dir="$DEV/etcd" \
    --listen-client-urls="$client" --advertise-client-urls="$client" \
    --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" --initial-cluster="s3c-dev=$peer" \
    --unsafe-no-fsync --quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
}

# Flags as controller-runtime's envtest uses them, plus what a node
# (hack/node-up.sh) needs, harmless without one: the Node authorizer and
# NodeRestriction for its kubelet, the kubelet client certificate and CA for
# logs/exec through 127.0.0.1:10250 (the node is named `localhost`: Hostname
# first), and the ServiceAccount admission plugin (envtest disables it) that
# gives Pods their projected token volume - without the controller manager
# (node-up starts it) Pods are refused because ServiceAccount `default` is
# missing; nothing else is affected. --api-audiences is only the
# issuer (as on EKS): a token for STS must be requested with
# audience sts.amazonaws.com (TokenRequest accepts any audience), and a token
# requested without one is not accepted by moto's STS - as in real AWS.
up_apiserver() {
  mkdir -p "$DEV/apiserver"
  ensure kube-apiserver apiserver_ready "$APISERVER_PORT" -- \
    "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --cert-dir="$DEV/apiserver" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --secure-port="$APISERVER_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --authorization-mode=Node,RBAC \
    --service-account-issuer="$ISSUER" --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" --api-audiences="$ISSUER" \
    --service-cluster-ip-range=10.0.0.0/24 --enable-admission-plugins=NodeRestriction \
    --kubelet-preferred-address-types=Hostname,InternalIP \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" --kubelet-certificate-authority="$PKI/ca.crt" \
    --allow-privileged=true --enable-priority-and-fairness=false --profiling=false --v=1
}

up_moto() {
  S3C_MOTO_ADMIN_ACCESS_KEY_ID=$MOTO_ADMIN_KEY S3C_MOTO_ADMIN_SECRET_ACCESS_KEY=$MOTO_ADMIN_SECRET \
    ensure moto moto_healthy "$MOTO_PORT" -- \
    "$BIN/moto-python" "$REPO/hack/moto_launcher.py" \
    --host 127.0.0.1 --port "$MOTO_PORT" \
    --sa-public-key "$PKI/sa.pub" --issuer "$ISSUER" --audiences "$STS_AUDIENCE"
}

# The kube-apiserver as an OpenID provider for MinIO: anonymous clients may read
# /.well-known/openid-configuration and /openid/v1/jwks (anonymous auth is on:
# kube-apiserver's default, no --anonymous-auth flag here). The ClusterRole
# exists by default but is only bound to system:serviceaccounts.
ensure_oidc_discovery() {
  local url=$ISSUER/.well-known/openid-configuration
  oidc_discovery_ok() { curl -sf --max-time 3 --cacert "$PKI/ca.crt" "$url" | grep -q '"jwks_uri"'; }
  oidc_discovery_ok && return 0
  kubectl --kubeconfig "$DEV/kubeconfig" create clusterrolebinding s3c-dev-oidc-discovery \
    --clusterrole=system:service-account-issuer-discovery --group=system:unauthenticated \
    --dry-run=client -o yaml 2> "$LOGS/oidc-discovery.log" |
    kubectl --kubeconfig "$DEV/kubeconfig" apply -f - >> "$LOGS/oidc-discovery.log" 2>&1 ||
    { cat "$LOGS/oidc-discovery.log" >&2; die "could not bind system:service-account-issuer-discovery to system:unauthenticated"; }
  local i
  for ((i = 0; i < 50; i++)); do
    oidc_discovery_ok && return 0
    sleep 0.2
  done
  curl -sS --max-time 3 --cacert "$PKI/ca.crt" "$url" >&2 || true
  die "anonymous GET $url does not return the discovery document (is anonymous auth off?)"
}

# up_component C: C's credentials and certificates, then C itself (healthy)
up_component() {
  case $1 in
    etcd) up_etcd ;;
    kube-apiserver) up_apiserver; ensure_oidc_discovery ;;
    moto) ensure_moto_admin; up_moto ;;
    minio) ensure_s3_pki; ensure_minio_admin; up_minio ;;
  esac
}

apply_crds() {
  if [[ -f $REPO/crds/s3connection.yaml ]]; then
    log "applying CRDs from crds/"
    kubectl --kubeconfig "$DEV/kubeconfig" apply --server-side --force-conflicts -f "$REPO/crds/" > "$LOGS/crds.log" 2>&1 ||
      { cat "$LOGS/crds.log" >&2; die "kubectl apply -f crds/ failed"; }
    kubectl --kubeconfig "$DEV/kubeconfig" wait --for=condition=Established --timeout=60s \
      -f "$REPO/crds/" >> "$LOGS/crds.log" 2>&1 ||
      { cat "$LOGS/crds.log" >&2; die "CRDs in crds/ not Established"; }
  else
    log "note: crds/s3connection.yaml not found, CRD not applied (generate it, then re-run dev-up)"
  fi
}

write_env() {
  local tmp=$DEV/env.tmp
  (
    umask 077
    cat > "$tmp" <<EOF
# Generated by hack/dev-up.sh; source it: . $DEV/env
export S3C_DEV_DIR='$DEV'
export KUBECONFIG='$DEV/kubeconfig'
case ":\$PATH:" in *':$BIN:'*) ;; *) export PATH='$BIN':"\$PATH" ;; esac
# moto (S3, STS, IAM on one endpoint; IAM enforcement on; admin = IAM user "admin")
export AWS_ENDPOINT_URL='http://127.0.0.1:$MOTO_PORT'
export AWS_ACCESS_KEY_ID='$MOTO_ADMIN_KEY'
export AWS_SECRET_ACCESS_KEY='$MOTO_ADMIN_SECRET'
export AWS_REGION='us-east-1'
export AWS_DEFAULT_REGION='us-east-1'
export AWS_EC2_METADATA_DISABLED='true'
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
export S3C_AWS_ACCOUNT='$AWS_ACCOUNT'
export S3C_MOTO_ENDPOINT='http://127.0.0.1:$MOTO_PORT'
export S3C_MOTO_RESET_URL='http://127.0.0.1:$MOTO_PORT/moto-api/reset'
export S3C_MOTO_PYTHON='$BIN/moto-python'
# kube-apiserver / service-account tokens (IRSA-style web identity)
export S3C_APISERVER_URL='https://127.0.0.1:$APISERVER_PORT'
export S3C_OIDC_ISSUER='$ISSUER'
export S3C_OIDC_PROVIDER='$OIDC_PROVIDER'
export S3C_OIDC_PROVIDER_ARN='arn:aws:iam::$AWS_ACCOUNT:oidc-provider/$OIDC_PROVIDER'
export S3C_STS_AUDIENCE='$STS_AUDIENCE'
export S3C_SA_SIGNING_KEY='$PKI/sa.key'
export S3C_SA_PUBLIC_KEY='$PKI/sa.pub'
export S3C_CA_CERT='$PKI/ca.crt'
# stop/start/kill one component: \$S3C_DEV_CTL stop [--kill] kube-apiserver; \$S3C_DEV_CTL start kube-apiserver
# (etcd, kube-apiserver, moto, minio; start waits until it is healthy)
export S3C_DEV_CTL='$REPO/hack/dev-up.sh'
# ports
export ETCD_PORT='$ETCD_PORT'
export ETCD_PEER_PORT='$ETCD_PEER_PORT'
export APISERVER_PORT='$APISERVER_PORT'
export MOTO_PORT='$MOTO_PORT'
EOF
    minio_env >> "$tmp"
  )
  mv -f "$tmp" "$DEV/env"
}

save_ports() {
  local cur k v c changed=0
  cur=$(printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\nMOTO_PORT=%s\nMINIO_PORT=%s\n' \
    "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" "$MOTO_PORT" "$MINIO_PORT")
  if [[ -f $DEV/ports ]]; then
    # a port missing from the file (written by an older dev-up) is no change
    while IFS='=' read -r k v; do
      [[ -n $k ]] || continue
      grep -qx "$k=$v" <<< "$cur" || changed=1
    done < "$DEV/ports"
  fi
  if ((changed)); then
    for c in "${!MATCH[@]}"; do
      alive "$c" "${MATCH[$c]}" && die "$DEV is running with other ports ($(tr '\n' ' ' < "$DEV/ports")); run hack/dev-down.sh first"
    done
    rm -f "$DEV/kubeconfig"   # server URL changes
  fi
  printf '%s\n' "$cur" > "$DEV/ports"
}

# report NAME URL CHECK...: one line of `status`, up when NAME runs and CHECK passes
report() {
  local name=$1 url=$2
  shift 2
  if alive "$name" "${MATCH[$name]}" && "$@"; then
    printf '%-15s up    %s\n' "$name" "$url"
  else
    printf '%-15s DOWN\n' "$name"
    return 1
  fi
}
moto_status() { [[ -n ${MOTO_ADMIN_KEY:-} ]] && moto_healthy; }

status() {
  local rc=0
  report etcd "http://127.0.0.1:$ETCD_PORT" etcd_healthy || rc=1
  report kube-apiserver "https://127.0.0.1:$APISERVER_PORT" apiserver_ready || rc=1
  # shellcheck disable=SC1091
  [[ ! -f $DEV/moto-admin.env ]] || source "$DEV/moto-admin.env"
  report moto "http://127.0.0.1:$MOTO_PORT" moto_status || rc=1
  if [[ $WITH_MINIO != 0 ]]; then
    [[ ! -s $DEV/minio-admin.env ]] || ensure_minio_admin
    report minio "https://127.0.0.1:$MINIO_PORT  (role ${MINIO_ROLE_ARN:-?})" minio_status || rc=1
  fi
  echo "state dir: $DEV"
  return $rc
}

# ---------------------------------------------------------------- one component
USAGE="usage: $0 [up|status|start C|stop [--kill] C|kill C|restart [--kill] C] (C: etcd, kube-apiserver, moto, minio)"

# stop_one C HARD: graceful (TERM, then KILL after 15s) or, HARD=1, a crash (KILL now)
stop_one() {
  local c=$1 match=${MATCH[$1]}
  if ! alive "$c" "$match"; then
    rm -f "$(pidfile "$c")"
    log "$c is not running"
  elif (($2)); then
    kill_component "$c" "$match"
  else
    stop_component "$c" "$match"
  fi
}

# can_start C: what C needs is there (checked before restart stops C)
can_start() {
  [[ -s $PKI/sa.pub && -s $DEV/kubeconfig ]] || die "no dev environment in $DEV; run hack/dev-up.sh first"
  case $1 in
    kube-apiserver)
      etcd_healthy || die "etcd is not running on :$ETCD_PORT; the kube-apiserver needs it: $0 start etcd" ;;
    minio)
      apiserver_ready || die "MinIO reads its OpenID provider (the kube-apiserver) at startup, and the kube-apiserver is not ready: $0 start kube-apiserver" ;;
  esac
}

# start_one C: same ports, certificates and data as before; waits until healthy
start_one() {
  can_start "$1"
  [[ $1 != minio || -x $BIN/minio ]] || "$REPO/hack/tools.sh" minio
  up_component "$1"
  if [[ $1 == minio && -f $DEV/minio.off ]]; then   # `up` ran without MinIO: add it to env
    rm -f "$DEV/minio.off"
    ensure_moto_admin
    write_env
  fi
}

cmd=${1:-up}
case $cmd in
  up)
    t0=$SECONDS
    ensure_tools
    save_ports
    ensure_pki
    ensure_moto_admin
    write_kubeconfig
    for c in etcd kube-apiserver moto; do up_component $c; done
    minio_ports=""
    if [[ $WITH_MINIO != 0 ]]; then
      rm -f "$DEV/minio.off"
      up_component minio
      minio_ports=", minio :$MINIO_PORT"
    else
      touch "$DEV/minio.off"
    fi
    apply_crds
    write_env
    log "ready in $((SECONDS - t0))s: etcd :$ETCD_PORT, kube-apiserver :$APISERVER_PORT, moto :$MOTO_PORT$minio_ports"
    log "use it with: source $DEV/env"
    ;;
  status) status ;;
  start | stop | kill | restart)
    hard=0
    [[ $cmd == kill ]] && hard=1
    if [[ ${2:-} == --kill && $cmd != start ]]; then hard=1; shift; fi
    [[ $# -eq 2 ]] || die "$USAGE"
    c=$2
    [[ $c == apiserver ]] && c=kube-apiserver
    [[ -n ${MATCH[$c]:-} ]] || die "unknown component '$c'; $USAGE"
    [[ $c == minio ]] && WITH_MINIO=1
    case $cmd in
      start) start_one "$c" ;;
      stop | kill) stop_one "$c" "$hard" ;;
      restart)
        can_start "$c"
        stop_one "$c" "$hard"
        start_one "$c"
        ;;
    esac
    ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "$USAGE" ;;
esac
