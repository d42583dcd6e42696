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
#   restart-moto / stop-moto / start-moto   (older names of restart/stop/start moto)
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
MINIO_DIR=$DEV/minio
# MinIO's OpenID provider (web identity): the kube-apiserver. Tokens must be
# requested with this audience (its "client ID"); web-identity sessions get the
# canned policy MINIO_ROLE_POLICY (created by dev-up as readwrite-on-everything
# if missing; tests replace it: hack/minio-admin role-policy-set).
MINIO_CLIENT_ID=$STS_AUDIENCE
MINIO_ROLE_POLICY=s3c-webidentity

BIN=$("$REPO/hack/tools.sh" path)
export PATH=$BIN:$PATH

exec 9> "$DEV/.lock"
flock -w 300 9 || die "another dev-up/dev-down holds $DEV/.lock"

# ---------------------------------------------------------------- processes
source "$REPO/hack/proc.sh"

# ---------------------------------------------------------------- health checks
etcd_healthy() { curl -sf --max-time 3 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
apiserver_ready() {
  curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" | grep -q '^ok$'
}
moto_healthy() {
  curl -sf --max-time 3 -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/" &&
    # the admin keys must work (IAM enforcement is on)
    AWS_ACCESS_KEY_ID=$MOTO_ADMIN_KEY AWS_SECRET_ACCESS_KEY=$MOTO_ADMIN_SECRET \
      "$BIN/moto-python" - "$MOTO_PORT" <<'EOF'
import sys, boto3
boto3.client("sts", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1").get_caller_identity()
EOF
}

minio_healthy() {
  curl -sf --max-time 3 --cacert "$PKI/s3-ca.crt" -o /dev/null "https://127.0.0.1:$MINIO_PORT/minio/health/ready"
}
# minio_ready: healthy, the root keys work and the OpenID role exists (an
# AssumeRoleWithWebIdentity for it with a malformed token is refused for the
# token, not for the role)
minio_ready() {
  minio_healthy && "$BIN/moto-python" - "https://127.0.0.1:$MINIO_PORT" "$PKI/s3-ca.crt" "$MINIO_ROLE_ARN" <<'EOF'
import os, sys, boto3, requests
from botocore.config import Config
ep, ca, arn = sys.argv[1:]
boto3.client("s3", endpoint_url=ep, region_name="us-east-1", verify=ca,
             aws_access_key_id=os.environ["MINIO_ROOT_USER"],
             aws_secret_access_key=os.environ["MINIO_ROOT_PASSWORD"],
             config=Config(retries={"max_attempts": 1})).list_buckets()
r = requests.post(ep + "/", verify=ca, timeout=5, data={
    "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": arn,
    "WebIdentityToken": "not-a-jwt", "DurationSeconds": "900"})
# ready: the token is refused as malformed (400 InvalidParameterValue), not
# "RoleARN ... is not defined" (no OpenID config) nor "IAM not initialized"
if r.status_code != 400 or "<Code>InvalidParameterValue</Code>" not in r.text or "RoleARN" in r.text:
    sys.exit(f"MinIO's OpenID role {arn} is not usable yet: {r.status_code} {r.text[:300]}")
EOF
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
gen_pki_openssl() {
  local d=$1
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=s3c-dev-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" > apiserver.ext
    openssl x509 -req -sha256 -days 3650 -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile apiserver.ext -out apiserver.crt
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=system:masters/CN=s3c-dev-admin" -keyout admin.key -out admin.csr
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" > admin.ext
    openssl x509 -req -sha256 -days 3650 -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -extfile admin.ext -out admin.crt
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
    openssl pkey -in sa.key -pubout -out sa.pub
    rm -f ./*.csr ./*.ext ./*.srl
  ) > "$LOGS/pki.log" 2>&1 || { cat "$LOGS/pki.log" >&2; die "openssl failed"; }
  gen_kubelet_client_openssl "$d"
}

# The kube-apiserver's client certificate for kubelets (logs, exec,
# port-forward through the node's :10250), kubeadm's
# apiserver-kubelet-client: O=system:masters, so the kubelet's webhook
# authorization allows it. Also added to an existing PKI dir that lacks it.
gen_kubelet_client_openssl() {
  local d=$1
  (
    cd "$d"
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      -keyout apiserver-kubelet-client.key -out apiserver-kubelet-client.csr
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" > apiserver-kubelet-client.ext
    openssl x509 -req -sha256 -days 3650 -in apiserver-kubelet-client.csr -CA ca.crt -CAkey ca.key \
      -CAcreateserial -CAserial apiserver-kubelet-client.srl -extfile apiserver-kubelet-client.ext \
      -out apiserver-kubelet-client.crt
    rm -f apiserver-kubelet-client.csr apiserver-kubelet-client.ext apiserver-kubelet-client.srl
  ) >> "$LOGS/pki.log" 2>&1 || { cat "$LOGS/pki.log" >&2; die "openssl failed"; }
}

# gen_pki_python DIR [kubelet-client]: everything, or only the kube-apiserver's
# kubelet client certificate (signed by the CA already in DIR)
gen_pki_python() {
  "$BIN/moto-python" - "$1" "${2:-all}" <<'EOF'
import datetime, ipaddress, sys, os
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)
def write_key(k, name):
    with open(os.path.join(d, name), "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
def write_cert(c, name):
    with open(os.path.join(d, name), "wb") as f:
        f.write(c.public_bytes(serialization.Encoding.PEM))
def name(cn, o=None):
    attrs = ([x509.NameAttribute(NameOID.ORGANIZATION_NAME, o)] if o else []) + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    return x509.Name(attrs)
def builder(subject, issuer, pub):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650)))
ku = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
def kubelet_client(ca_key, ca_name):
    kk = key()
    c = (builder(name("kube-apiserver-kubelet-client", "system:masters"), ca_name, kk.public_key())
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(ku, critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
         .sign(ca_key, hashes.SHA256()))
    write_key(kk, "apiserver-kubelet-client.key"); write_cert(c, "apiserver-kubelet-client.crt")
if sys.argv[2] == "kubelet-client":
    with open(os.path.join(d, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(os.path.join(d, "ca.crt"), "rb") as f:
        kubelet_client(ca_key, x509.load_pem_x509_certificate(f.read()).subject)
    sys.exit(0)
ca_key = key(); ca_name = name("s3c-dev-ca")
ca = (builder(ca_name, ca_name, ca_key.public_key())
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .sign(ca_key, hashes.SHA256()))
write_key(ca_key, "ca.key"); write_cert(ca, "ca.crt")
kubelet_client(ca_key, ca_name)
sk = key()
srv = (builder(name("kube-apiserver"), ca_name, sk.public_key())
       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
       .add_extension(ku, critical=True)
       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
       .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
       .sign(ca_key, hashes.SHA256()))
write_key(sk, "apiserver.key"); write_cert(srv, "apiserver.crt")
ak = key()
adm = (builder(name("s3c-dev-admin", "system:masters"), ca_name, ak.public_key())
       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
       .add_extension(ku, critical=True)
       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
       .sign(ca_key, hashes.SHA256()))
write_key(ak, "admin.key"); write_cert(adm, "admin.crt")
sa = key(); write_key(sa, "sa.key")
with open(os.path.join(d, "sa.pub"), "wb") as f:
    f.write(sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
EOF
}

ensure_pki() {
  local f
  for f in ca.crt ca.key apiserver.crt apiserver.key admin.crt admin.key sa.key sa.pub; do
    [[ -s $PKI/$f ]] || break
    if [[ $f == sa.pub ]]; then
      # a PKI dir from before the node flags: add the kubelet client certificate
      [[ -s $PKI/apiserver-kubelet-client.crt && -s $PKI/apiserver-kubelet-client.key ]] && return 0
      log "generating the kube-apiserver's kubelet client certificate in $PKI"
      if [[ ${S3C_PKI_TOOL:-} != python ]] && command -v openssl >/dev/null 2>&1; then
        gen_kubelet_client_openssl "$PKI"
      else
        gen_pki_python "$PKI" kubelet-client
      fi
      chmod 600 "$PKI"/*.key
      return 0
    fi
  done
  log "generating certificates and the service-account key in $PKI"
  rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
  # S3C_PKI_TOOL=python forces the fallback (for testing it)
  if [[ ${S3C_PKI_TOOL:-} != python ]] && command -v openssl >/dev/null 2>&1; then
    gen_pki_openssl "$PKI"
  else
    gen_pki_python "$PKI"
  fi
  chmod 600 "$PKI"/*.key
}

# The S3 CA: a second CA, only for MinIO's server certificate. Trusting the
# kube-apiserver's CA (S3C_CA_CERT) and trusting MinIO's (S3C_MINIO_CA_CERT)
# are then different facts, so a test can tell whether the operator used the
# CA bundle of the S3Connection or the cluster's, and a wrong bundle fails.
gen_s3_pki_openssl() {
  local d=$1
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=s3c-dev-s3-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout s3-ca.key -out s3-ca.crt
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=minio" -keyout minio.key -out minio.csr
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" > minio.ext
    openssl x509 -req -sha256 -days 3650 -in minio.csr -CA s3-ca.crt -CAkey s3-ca.key -CAcreateserial \
      -extfile minio.ext -out minio.crt
    rm -f minio.csr minio.ext s3-ca.srl
  ) > "$LOGS/pki-s3.log" 2>&1 || { cat "$LOGS/pki-s3.log" >&2; die "openssl failed"; }
}

gen_s3_pki_python() {
  "$BIN/moto-python" - "$1" <<'EOF'
import datetime, ipaddress, os, sys
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
d = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def save(name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
def builder(subject, issuer, pub):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650)))
ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "s3c-dev-s3-ca")])
ca = (builder(ca_name, ca_name, ca_key.public_key())
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
      .sign(ca_key, hashes.SHA256()))
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
srv = (builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minio")]), ca_name, k.public_key())
       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
       .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
       .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
       .sign(ca_key, hashes.SHA256()))
save("s3-ca.key", pem_key(ca_key)); save("s3-ca.crt", ca.public_bytes(serialization.Encoding.PEM))
save("minio.key", pem_key(k)); save("minio.crt", srv.public_bytes(serialization.Encoding.PEM))
EOF
}

ensure_s3_pki() {
  local f
  for f in s3-ca.crt s3-ca.key minio.crt minio.key; do
    [[ -s $PKI/$f ]] || break
    [[ $f == minio.key ]] && return 0
  done
  log "generating the S3 CA and MinIO's server certificate in $PKI"
  rm -f "$PKI"/s3-ca.* "$PKI"/minio.*
  if [[ ${S3C_PKI_TOOL:-} != python ]] && command -v openssl >/dev/null 2>&1; then
    gen_s3_pki_openssl "$PKI"
  else
    gen_s3_pki_python "$PKI"
  fi
  chmod 600 "$PKI"/*.key
}

# MinIO's root user: generated once per dev dir (never on a command line)
ensure_minio_admin() {
  local f=$DEV/minio-admin.env
  if [[ ! -s $f ]]; then
    (
      umask 077
      "$BIN/moto-python" - > "$f" <<'EOF'
import secrets, string
lower = string.ascii_lowercase + string.digits
print("MINIO_ROOT_USER=s3croot" + "".join(secrets.choice(lower) for _ in range(9)))
print("MINIO_ROOT_PASSWORD=" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40)))
EOF
    )
  fi
  # shellcheck disable=SC1090
  source "$f"
  # The role ARN MinIO derives for an OpenID provider with a role policy:
  # arn:minio:iam:<region>::role/<base64url(sha1(client ID)) without padding>
  # (internal/config/identity/openid/openid.go; no region is configured here).
  # MinIO logs it at startup ("IAM Roles: ..."); minio_ready checks it exists.
  MINIO_ROLE_ARN=arn:minio:iam:::role/$("$BIN/moto-python" -c \
    'import base64, hashlib, sys; print(base64.urlsafe_b64encode(hashlib.sha1(sys.argv[1].encode()).digest()).decode().rstrip("="))' \
    "$MINIO_CLIENT_ID")
}

ensure_moto_admin() {
  local f=$DEV/moto-admin.env
  if [[ ! -s $f ]]; then
    (
      umask 077
      "$BIN/moto-python" - > "$f" <<'EOF'
import secrets, string
up = string.ascii_uppercase + string.digits
print("MOTO_ADMIN_KEY=AKIA" + "".join(secrets.choice(up) for _ in range(16)))
print("MOTO_ADMIN_SECRET=" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40)))
EOF
    )
  fi
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
ETCD_MATCH="$BIN/etcd"
APISERVER_MATCH="kube-apiserver"
MOTO_MATCH="moto_launcher.py"
MINIO_MATCH="/minio server"

# ensure NAME MATCH CHECK "PORT..." -- CMD...: start CMD unless it already runs
# with the same command line (then only re-check health); restart it when its
# command line changed (e.g. flags edited in this script).
ensure() {
  local name=$1 match=$2 check=$3 ports=$4 p
  shift 5
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
  ensure etcd "$ETCD_MATCH" etcd_healthy "$ETCD_PORT $ETCD_PEER_PORT" -- \
    "$BIN/etcd" \
    --name=s3c-dev \
    --data-dir="$DEV/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="s3c-dev=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync \
    --quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
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
  ensure kube-apiserver "$APISERVER_MATCH" apiserver_ready "$APISERVER_PORT" -- \
    "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --cert-dir="$DEV/apiserver" \
    --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --secure-port="$APISERVER_PORT" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --authorization-mode=Node,RBAC \
    --service-account-issuer="$ISSUER" \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --api-audiences="$ISSUER" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --enable-admission-plugins=NodeRestriction \
    --kubelet-preferred-address-types=Hostname,InternalIP \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" \
    --allow-privileged=true \
    --enable-priority-and-fairness=false \
    --profiling=false \
    --v=1
}

up_moto() {
  S3C_MOTO_ADMIN_ACCESS_KEY_ID=$MOTO_ADMIN_KEY S3C_MOTO_ADMIN_SECRET_ACCESS_KEY=$MOTO_ADMIN_SECRET \
    ensure moto "$MOTO_MATCH" moto_healthy "$MOTO_PORT" -- \
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
  kubectl --kubeconfig "$DEV/kubeconfig" apply -f - > "$LOGS/oidc-discovery.log" 2>&1 <<'EOF' ||
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: s3c-dev-oidc-discovery
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:service-account-issuer-discovery
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: system:unauthenticated
EOF
    { cat "$LOGS/oidc-discovery.log" >&2; die "could not bind system:service-account-issuer-discovery to system:unauthenticated"; }
  local i
  for ((i = 0; i < 50; i++)); do
    oidc_discovery_ok && return 0
    sleep 0.2
  done
  curl -sS --max-time 3 --cacert "$PKI/ca.crt" "$url" >&2 || true
  die "anonymous GET $url does not return the discovery document (is anonymous auth off?)"
}

# MinIO (single drive, HTTPS with the S3 CA's certificate). Its certs dir:
# public.crt/private.key (server) and CAs/ = the CAs MinIO trusts as a client:
# the kube-apiserver's CA, for the OpenID discovery document and JWKS.
# Non-secret settings are on the command line (so `ensure` restarts MinIO when
# they change); the root keys come through the environment only.
up_minio() {
  apiserver_ready || die "MinIO reads its OpenID provider (the kube-apiserver) at startup, and the kube-apiserver is not ready: start it first ($0 start kube-apiserver)"
  local certs=$MINIO_DIR/certs
  mkdir -p "$MINIO_DIR/data" "$certs/CAs" && chmod 700 "$MINIO_DIR"
  local src dst
  for src in minio.crt:public.crt minio.key:private.key ca.crt:CAs/kube-apiserver-ca.crt; do
    dst=$certs/${src#*:} src=$PKI/${src%%:*}
    cmp -s "$src" "$dst" || install -m 600 "$src" "$dst"
  done
  MINIO_ROOT_USER=$MINIO_ROOT_USER MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD \
    ensure minio "$MINIO_MATCH" minio_ready "$MINIO_PORT" -- \
    env MINIO_BROWSER=off MINIO_UPDATE=off \
    MINIO_IDENTITY_OPENID_CONFIG_URL="$ISSUER/.well-known/openid-configuration" \
    MINIO_IDENTITY_OPENID_CLIENT_ID="$MINIO_CLIENT_ID" \
    MINIO_IDENTITY_OPENID_ROLE_POLICY="$MINIO_ROLE_POLICY" \
    "$BIN/minio" server \
    --address "127.0.0.1:$MINIO_PORT" \
    --certs-dir "$certs" \
    "$MINIO_DIR/data"
  # The role policy may be created after MinIO started (it is looked up when a
  # web-identity session is used); keep one that a test has replaced.
  minio_admin role-policy-set --if-missing "$(minio_default_role_policy)" ||
    die "could not create MinIO's role policy $MINIO_ROLE_POLICY"
}

minio_default_role_policy() {
  printf '%s' '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}'
}

minio_admin() {
  S3C_MINIO_ENDPOINT=https://127.0.0.1:$MINIO_PORT S3C_MINIO_CA_CERT=$PKI/s3-ca.crt \
    S3C_MINIO_ROOT_USER=$MINIO_ROOT_USER S3C_MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD \
    S3C_MINIO_ROLE_POLICY=$MINIO_ROLE_POLICY S3C_MINIO_ROLE_ARN=$MINIO_ROLE_ARN \
    "$BIN/moto-python" "$REPO/hack/minio_admin.py" "$@"
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
export S3C_MOTO_RESTART='$REPO/hack/dev-up.sh restart-moto'
export S3C_MOTO_STOP='$REPO/hack/dev-up.sh stop-moto'
export S3C_MOTO_START='$REPO/hack/dev-up.sh start-moto'
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
    if [[ $WITH_MINIO != 0 ]]; then
      cat >> "$tmp" <<EOF
# MinIO (S3 + STS over HTTPS; its certificate is signed by S3C_MINIO_CA_CERT,
# not by the kube-apiserver's CA). Web identity: a ServiceAccount token with
# audience S3C_MINIO_WEB_IDENTITY_AUDIENCE, AssumeRoleWithWebIdentity
# (unsigned POST to the endpoint root) with RoleArn S3C_MINIO_ROLE_ARN; the
# session gets the canned policy S3C_MINIO_ROLE_POLICY. Provisioning:
# \$S3C_MINIO_ADMIN --help (users, policies, buckets, versioning, role policy).
export S3C_MINIO_ENDPOINT='https://127.0.0.1:$MINIO_PORT'
export S3C_MINIO_ROOT_USER='$MINIO_ROOT_USER'
export S3C_MINIO_ROOT_PASSWORD='$MINIO_ROOT_PASSWORD'
export S3C_MINIO_CA_CERT='$PKI/s3-ca.crt'
export S3C_MINIO_ROLE_ARN='$MINIO_ROLE_ARN'
export S3C_MINIO_ROLE_POLICY='$MINIO_ROLE_POLICY'
export S3C_MINIO_WEB_IDENTITY_AUDIENCE='$MINIO_CLIENT_ID'
export S3C_MINIO_ADMIN='$REPO/hack/minio-admin'
export S3C_MINIO_DATA_DIR='$MINIO_DIR/data'
export MINIO_PORT='$MINIO_PORT'
EOF
    else
      cat >> "$tmp" <<'EOF'
# MinIO not started (S3C_DEV_MINIO=0)
unset S3C_MINIO_ENDPOINT S3C_MINIO_ROOT_USER S3C_MINIO_ROOT_PASSWORD S3C_MINIO_CA_CERT S3C_MINIO_ROLE_ARN \
  S3C_MINIO_ROLE_POLICY S3C_MINIO_WEB_IDENTITY_AUDIENCE S3C_MINIO_ADMIN S3C_MINIO_DATA_DIR MINIO_PORT
EOF
    fi
  )
  mv -f "$tmp" "$DEV/env"
}

save_ports() {
  local cur k v changed=0
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
    if alive etcd "$ETCD_MATCH" || alive kube-apiserver "$APISERVER_MATCH" || alive moto "$MOTO_MATCH" ||
      alive minio "$MINIO_MATCH"; then
      die "$DEV is running with other ports ($(tr '\n' ' ' < "$DEV/ports")); run hack/dev-down.sh first"
    fi
    rm -f "$DEV/kubeconfig"   # server URL changes
  fi
  printf '%s\n' "$cur" > "$DEV/ports"
}

status() {
  local rc=0
  if alive etcd "$ETCD_MATCH" && etcd_healthy; then
    echo "etcd            up    http://127.0.0.1:$ETCD_PORT"
  else
    echo "etcd            DOWN"; rc=1
  fi
  if alive kube-apiserver "$APISERVER_MATCH" && [[ -f $PKI/admin.crt ]] && apiserver_ready; then
    echo "kube-apiserver  up    https://127.0.0.1:$APISERVER_PORT"
  else
    echo "kube-apiserver  DOWN"; rc=1
  fi
  # shellcheck disable=SC1091
  [[ -f $DEV/moto-admin.env ]] && source "$DEV/moto-admin.env"
  if alive moto "$MOTO_MATCH" && [[ -n ${MOTO_ADMIN_KEY:-} ]] && moto_healthy; then
    echo "moto            up    http://127.0.0.1:$MOTO_PORT"
  else
    echo "moto            DOWN"; rc=1
  fi
  if [[ $WITH_MINIO != 0 ]]; then
    if alive minio "$MINIO_MATCH" && [[ -s $DEV/minio-admin.env ]] && ensure_minio_admin &&
      MINIO_ROOT_USER=$MINIO_ROOT_USER MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD minio_ready; then
      echo "minio           up    https://127.0.0.1:$MINIO_PORT  (role $MINIO_ROLE_ARN)"
    else
      echo "minio           DOWN"; rc=1
    fi
  fi
  echo "state dir: $DEV"
  return $rc
}

# ---------------------------------------------------------------- one component
USAGE="usage: $0 [up|status|start C|stop [--kill] C|kill C|restart [--kill] C] (C: etcd, kube-apiserver, moto, minio)"

component() {
  case $1 in
    etcd) echo etcd ;;
    kube-apiserver | apiserver) echo kube-apiserver ;;
    moto) echo moto ;;
    minio) echo minio ;;
    *) die "unknown component '$1'; $USAGE" ;;
  esac
}

component_match() {
  case $1 in
    etcd) echo "$ETCD_MATCH" ;;
    kube-apiserver) echo "$APISERVER_MATCH" ;;
    moto) echo "$MOTO_MATCH" ;;
    minio) echo "$MINIO_MATCH" ;;
  esac
}

# stop_one C [hard]: graceful (TERM, then KILL after 15s) or a crash (KILL now)
stop_one() {
  local c=$1 hard=${2:-0} match
  match=$(component_match "$c")
  if ! alive "$c" "$match"; then
    rm -f "$(pidfile "$c")"
    log "$c is not running"
    return 0
  fi
  if ((hard)); then
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
  local c=$1
  can_start "$c"
  case $c in
    etcd) up_etcd ;;
    kube-apiserver)
      up_apiserver
      ensure_oidc_discovery
      ;;
    moto)
      ensure_moto_admin
      up_moto
      ;;
    minio)
      [[ -x $BIN/minio ]] || "$REPO/hack/tools.sh" minio
      ensure_s3_pki
      ensure_minio_admin
      up_minio
      if [[ -f $DEV/minio.off ]]; then   # `up` ran without MinIO: add it to env
        rm -f "$DEV/minio.off"
        ensure_moto_admin
        write_env
      fi
      ;;
  esac
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
    up_etcd
    up_apiserver
    ensure_oidc_discovery
    up_moto
    if [[ $WITH_MINIO != 0 ]]; then
      rm -f "$DEV/minio.off"
      ensure_s3_pki
      ensure_minio_admin
      up_minio
    else
      touch "$DEV/minio.off"
    fi
    apply_crds
    write_env
    minio_ports=""
    [[ $WITH_MINIO != 0 ]] && minio_ports=", minio :$MINIO_PORT"
    log "ready in $((SECONDS - t0))s: etcd :$ETCD_PORT, kube-apiserver :$APISERVER_PORT, moto :$MOTO_PORT$minio_ports"
    log "use it with: source $DEV/env"
    ;;
  status) status ;;
  start | stop | kill | restart)
    hard=0
    [[ $cmd == kill ]] && hard=1
    if [[ ${2:-} == --kill && $cmd != start ]]; then hard=1; shift; fi
    [[ $# -eq 2 ]] || die "$USAGE"
    c=$(component "$2")
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
  stop-moto) stop_one moto ;;
  start-moto) start_one moto ;;
  restart-moto)
    can_start moto
    stop_one moto
    start_one moto
    ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "$USAGE" ;;
esac
