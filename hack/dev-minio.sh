# shellcheck shell=bash
# MinIO for hack/dev-up.sh (sourced by it; uses its variables DEV, PKI, LOGS,
# BIN, REPO, ISSUER, MINIO_PORT, WITH_MINIO and its functions
# log, die, dev_env, pki, ensure, apiserver_ready): a second S3
# implementation, single drive, HTTPS with a certificate of its own CA, web
# identity against the kube-apiserver as its OpenID provider.

MINIO_DIR=$DEV/minio
# MinIO's OpenID provider (web identity): the kube-apiserver. Tokens must be
# requested with this audience (its "client ID"); web-identity sessions get the
# canned policy MINIO_ROLE_POLICY (created by dev-up as readwrite-on-everything
# if missing; tests replace it: hack/minio-admin role-policy-set).
# Not sts.amazonaws.com: a token MinIO accepts must be one AWS would refuse
# (the operator never sends a token for an AWS audience to a store).
MINIO_CLIENT_ID=minio.s3connection.dev
MINIO_ROLE_POLICY=s3c-webidentity
MINIO_KMS_KEY_NAME=s3c-key

minio_healthy() {
  curl -sf --max-time 3 --cacert "$PKI/s3-ca.crt" -o /dev/null "https://127.0.0.1:$MINIO_PORT/minio/health/ready"
}
# minio_ready: healthy, the root keys work and the OpenID role exists (an
# AssumeRoleWithWebIdentity for it with a malformed token is refused for the
# token, not for the role)
minio_ready() {
  minio_healthy && dev_env minio-ready "https://127.0.0.1:$MINIO_PORT" "$PKI/s3-ca.crt" "$MINIO_ROLE_ARN"
}
# minio_status: minio_ready, if the root keys are known (dev-up's status)
minio_status() {
  [[ -n ${MINIO_ROOT_USER:-} ]] && MINIO_ROOT_USER=$MINIO_ROOT_USER MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD minio_ready
}

# The S3 CA (only for MinIO's server certificate: trusting it and trusting the
# kube-apiserver's CA are different facts a test can tell apart) and that
# certificate (hack/pki.py s3)
ensure_s3_pki() {
  local f
  for f in s3-ca.crt s3-ca.key minio.crt minio.key; do
    [[ -s $PKI/$f ]] && continue
    log "generating the S3 CA and MinIO's server certificate in $PKI"
    rm -f "$PKI"/s3-ca.* "$PKI"/minio.* "$LOGS/pki-s3.log"
    pki pki-s3.log s3 "$PKI"
    return 0
  done
}

# MinIO's root user: generated once per dev dir (never on a command line), and
# the role ARN MinIO derives for its OpenID provider (minio_ready checks it)
ensure_minio_admin() {
  local f=$DEV/minio-admin.env
  [[ -s $f ]] || (umask 077 && dev_env minio-root-keys > "$f")
  # shellcheck disable=SC1090
  source "$f"
  MINIO_ROLE_ARN=$(dev_env minio-role-arn "$MINIO_CLIENT_ID")
  # MinIO's built-in KMS: one static key (SSE-S3 and SSE-KMS need a KMS),
  # generated once per dev dir like the root keys, since the objects it
  # encrypted stay on disk.
  local k=$DEV/minio-kms.env
  [[ -s $k ]] || (umask 077 && echo "MINIO_KMS_SECRET_KEY=$MINIO_KMS_KEY_NAME:$(head -c 32 /dev/urandom | base64)" > "$k")
  # shellcheck disable=SC1090
  source "$k"
}

# Its certs dir: public.crt/private.key (server) and CAs/ = the CAs MinIO
# trusts as a client: the kube-apiserver's CA, for the OpenID discovery
# document and JWKS. Non-secret settings are on the command line (so `ensure`
# restarts MinIO when they change); the root keys come through the
# environment only.
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
    MINIO_KMS_SECRET_KEY=$MINIO_KMS_SECRET_KEY \
    ensure minio minio_ready "$MINIO_PORT" -- \
    env MINIO_BROWSER=off MINIO_UPDATE=off \
    MINIO_IDENTITY_OPENID_CONFIG_URL="$ISSUER/.well-known/openid-configuration" \
    MINIO_IDENTITY_OPENID_CLIENT_ID="$MINIO_CLIENT_ID" MINIO_IDENTITY_OPENID_ROLE_POLICY="$MINIO_ROLE_POLICY" \
    "$BIN/minio" server --address "127.0.0.1:$MINIO_PORT" --certs-dir "$certs" "$MINIO_DIR/data"
  # The role policy may be created after MinIO started (it is looked up when a
  # web-identity session is used); keep one that a test has replaced. Default:
  # everything on every bucket.
  S3C_MINIO_ENDPOINT=https://127.0.0.1:$MINIO_PORT S3C_MINIO_CA_CERT=$PKI/s3-ca.crt \
    S3C_MINIO_ROOT_USER=$MINIO_ROOT_USER S3C_MINIO_ROOT_PASSWORD=$MINIO_ROOT_PASSWORD \
    S3C_MINIO_ROLE_POLICY=$MINIO_ROLE_POLICY S3C_MINIO_ROLE_ARN=$MINIO_ROLE_ARN \
    "$BIN/moto-python" "$REPO/hack/minio_admin.py" role-policy-set --if-missing \
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}' ||
    die "could not create MinIO's role policy $MINIO_ROLE_POLICY"
}

# minio_env: MinIO's part of $S3C_DEV_DIR/env
minio_env() {
  if [[ $WITH_MINIO == 0 ]]; then
    cat <<'EOF'
# MinIO not started (S3C_DEV_MINIO=0)
unset S3C_MINIO_ENDPOINT S3C_MINIO_ROOT_USER S3C_MINIO_ROOT_PASSWORD S3C_MINIO_CA_CERT S3C_MINIO_ROLE_ARN \
  S3C_MINIO_ROLE_POLICY S3C_MINIO_WEB_IDENTITY_AUDIENCE S3C_MINIO_ADMIN S3C_MINIO_DATA_DIR MINIO_PORT
EOF
    return 0
  fi
  cat <<EOF
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
export S3C_MINIO_KMS_KEY='$MINIO_KMS_KEY_NAME'
export S3C_MINIO_WEB_IDENTITY_AUDIENCE='$MINIO_CLIENT_ID'
export S3C_MINIO_ADMIN='$REPO/hack/minio-admin'
export S3C_MINIO_DATA_DIR='$MINIO_DIR/data'
export MINIO_PORT='$MINIO_PORT'
EOF
}
