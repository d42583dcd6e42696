#!/usr/bin/env python3
"""Provision MinIO (started by hack/dev-up.sh) for tests: users, canned policies,
buckets, versioning, the web-identity role's policy.

Call it through the shim hack/minio-admin (it runs this file with the tool
venv's python, which has the `minio` package: hack/tools.sh moto). After
`source $S3C_DEV_DIR/env` the shim is also $S3C_MINIO_ADMIN:

    $S3C_MINIO_ADMIN user-add ACCESS_KEY SECRET_KEY
    $S3C_MINIO_ADMIN policy-add NAME POLICY          # POLICY: a file, '-' (stdin) or the JSON itself
    $S3C_MINIO_ADMIN policy-attach NAME USER         # idempotent
    $S3C_MINIO_ADMIN bucket-add BUCKET [--versioning]   # idempotent
    $S3C_MINIO_ADMIN bucket-versioning BUCKET on|off    # on = Enabled, off = Suspended
    $S3C_MINIO_ADMIN role-policy-set POLICY          # what web-identity sessions may do
    $S3C_MINIO_ADMIN role-arn                        # prints $S3C_MINIO_ROLE_ARN

Several commands in one process (one python start-up, ~0.3 s), separated by --:

    $S3C_MINIO_ADMIN user-add app app-secret-123 -- policy-add app-rw rw.json \\
        -- policy-attach app-rw app -- bucket-add app-bucket --versioning

All commands (output on stdout; errors on stderr with exit status 1):
    user-add ACCESS SECRET          create (or reset the secret of) an enabled user;
                                    ACCESS 3..128 chars, SECRET 8..40 chars
    user-remove ACCESS              delete a user (missing: ok)
    user-disable ACCESS / user-enable ACCESS
    user-info ACCESS                JSON (status, policyName, ...)
    policy-add NAME POLICY          create or replace a canned policy
    policy-remove NAME              (missing: ok)
    policy-info NAME                the policy document as JSON
    policy-attach NAME USER         attach a canned policy to a user (already attached: ok)
    policy-detach NAME USER         (not attached: ok)
    bucket-add BUCKET [--versioning]
    bucket-versioning BUCKET on|off
    bucket-remove BUCKET            delete every object version and delete marker, then
                                    the bucket (missing: ok)
    role-policy-set [--if-missing] POLICY
                                    replace (--if-missing: create) the canned policy named by
                                    $S3C_MINIO_ROLE_POLICY, the one MinIO's OpenID role grants
                                    to web-identity sessions (all of them: MinIO has one role
                                    per OpenID provider)
    role-arn                        print the role ARN for AssumeRoleWithWebIdentity
    ping                            check endpoint, CA and root credentials

Canned policy documents are IAM JSON ({"Version": "2012-10-17", "Statement": [...]},
resources arn:aws:s3:::bucket/prefix*). MinIO's built-in canned policies
(readwrite, readonly, writeonly, diagnostics, consoleAdmin) can be attached as
they are.

Connection (from the environment written by dev-up, $S3C_DEV_DIR/env):
    S3C_MINIO_ENDPOINT  (https://127.0.0.1:PORT)   S3C_MINIO_CA_CERT
    S3C_MINIO_ROOT_USER S3C_MINIO_ROOT_PASSWORD    S3C_MINIO_ROLE_POLICY, S3C_MINIO_ROLE_ARN
When they are not set, they are read from $S3C_DEV_DIR/env (or .dev/env). It
talks to MinIO's admin HTTP API (/minio/admin/v3, via the `minio` package's
MinioAdmin, which encrypts request bodies itself; no `mc` needed) and to S3 for
buckets. It prints no secrets.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED
from minio.credentials import StaticProvider
from minio.deleteobjects import DeleteObject
from minio.error import MinioAdminException, S3Error
from minio.minioadmin import MinioAdmin
from minio.versioningconfig import SUSPENDED, VersioningConfig

ENV_KEYS = ("S3C_MINIO_ENDPOINT", "S3C_MINIO_CA_CERT", "S3C_MINIO_ROOT_USER",
            "S3C_MINIO_ROOT_PASSWORD", "S3C_MINIO_ROLE_POLICY", "S3C_MINIO_ROLE_ARN")


class Fail(Exception):
    pass


def load_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_KEYS if os.environ.get(k)}
    if len(env) == len(ENV_KEYS):
        return env
    dev = os.environ.get("S3C_DEV_DIR") or str(Path(__file__).resolve().parent.parent / ".dev")
    f = Path(dev) / "env"
    if f.is_file():
        for line in f.read_text().splitlines():
            if not line.startswith("export "):
                continue
            try:
                parts = shlex.split(line[len("export "):])
            except ValueError:
                continue
            if len(parts) == 1 and "=" in parts[0]:
                k, v = parts[0].split("=", 1)
                if k in ENV_KEYS and k not in env:
                    env[k] = v
    missing = [k for k in ENV_KEYS if not env.get(k)]
    if missing:
        raise Fail(f"{', '.join(missing)} not set and not in {f} "
                   "(start MinIO with hack/dev-up.sh, then source $S3C_DEV_DIR/env)")
    return env


class Admin:
    def __init__(self, env: dict[str, str]):
        self.env = env
        u = urlsplit(env["S3C_MINIO_ENDPOINT"])
        if u.scheme != "https" or not u.netloc:
            raise Fail(f"S3C_MINIO_ENDPOINT must be https://host:port, not {env['S3C_MINIO_ENDPOINT']!r}")
        http = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=env["S3C_MINIO_CA_CERT"],
            timeout=urllib3.Timeout(connect=5, read=30),
            # 503: MinIO starting (IAM not initialized yet); not processed, so retry any method
            retries=urllib3.Retry(total=5, backoff_factor=0.5, status_forcelist=[503], allowed_methods=None))
        creds = StaticProvider(env["S3C_MINIO_ROOT_USER"], env["S3C_MINIO_ROOT_PASSWORD"])
        self.admin = MinioAdmin(endpoint=u.netloc, credentials=creds, secure=True, http_client=http)
        self.s3 = Minio(u.netloc, credentials=creds, secure=True, http_client=http, region="us-east-1")

    # ------------------------------------------------------------ users
    def user_add(self, access: str, secret: str) -> None:
        if not 3 <= len(access) <= 128:
            raise Fail("access key must be 3..128 characters")
        if not 8 <= len(secret) <= 40:
            raise Fail("secret key must be 8..40 characters")
        self.admin.user_add(access, secret)

    def user_remove(self, access: str) -> None:
        try:
            self.admin.user_remove(access)
        except MinioAdminException as e:
            if not _is(e, "XMinioAdminNoSuchUser"):
                raise

    def user_disable(self, access: str) -> None:
        self.admin.user_disable(access)

    def user_enable(self, access: str) -> None:
        self.admin.user_enable(access)

    def user_info(self, access: str) -> None:
        print(self.admin.user_info(access))

    # ------------------------------------------------------------ policies
    def policy_add(self, name: str, policy: str) -> None:
        self.admin.policy_add(name, policy=read_policy(policy))

    def policy_remove(self, name: str) -> None:
        try:
            self.admin.policy_remove(name)
        except MinioAdminException as e:
            if not _is(e, "XMinioAdminNoSuchPolicy"):
                raise

    def policy_info(self, name: str) -> None:
        print(self.admin.policy_info(name))

    def policy_attach(self, name: str, user: str) -> None:
        try:
            self.admin.attach_policy([name], user=user)
        except MinioAdminException as e:
            # "The specified policy change is already in effect."
            if not _is(e, "XMinioAdminPolicyChangeAlreadyApplied"):
                raise

    def policy_detach(self, name: str, user: str) -> None:
        try:
            self.admin.detach_policy([name], user=user)
        except MinioAdminException as e:
            if not _is(e, "XMinioAdminPolicyChangeAlreadyApplied"):
                raise

    def role_policy_set(self, *args: str) -> None:
        if len(args) == 2 and args[0] == "--if-missing":
            try:
                self.admin.policy_info(self.env["S3C_MINIO_ROLE_POLICY"])
                return
            except MinioAdminException as e:
                if not _is(e, "XMinioAdminNoSuchPolicy"):
                    raise
            args = args[1:]
        if len(args) != 1:
            raise Fail("role-policy-set [--if-missing] POLICY")
        self.admin.policy_add(self.env["S3C_MINIO_ROLE_POLICY"], policy=read_policy(args[0]))

    def role_arn(self) -> None:
        print(self.env["S3C_MINIO_ROLE_ARN"])

    # ------------------------------------------------------------ buckets
    def bucket_add(self, bucket: str, *flags: str) -> None:
        if any(f != "--versioning" for f in flags):
            raise Fail("bucket-add BUCKET [--versioning]")
        try:
            self.s3.make_bucket(bucket)
        except S3Error as e:
            if e.code != "BucketAlreadyOwnedByYou":
                raise
        if flags:
            self.bucket_versioning(bucket, "on")

    def bucket_versioning(self, bucket: str, state: str) -> None:
        if state not in ("on", "off"):
            raise Fail("bucket-versioning BUCKET on|off")
        self.s3.set_bucket_versioning(bucket, VersioningConfig(ENABLED if state == "on" else SUSPENDED))

    def bucket_remove(self, bucket: str) -> None:
        if not self.s3.bucket_exists(bucket):
            return
        objs = [DeleteObject(o.object_name, o.version_id)
                for o in self.s3.list_objects(bucket, recursive=True, include_version=True)]
        for err in self.s3.remove_objects(bucket, objs, bypass_governance_mode=True):
            raise Fail(f"deleting {err.name} from {bucket}: {err.code} {err.message}")
        self.s3.remove_bucket(bucket)

    def ping(self) -> None:
        self.s3.list_buckets()
        self.admin.policy_list()
        print(f"ok: {self.env['S3C_MINIO_ENDPOINT']} as {self.env['S3C_MINIO_ROOT_USER']}")


def _is(e: MinioAdminException, code: str) -> bool:
    try:
        return json.loads(e._body).get("Code") == code  # noqa: SLF001 (the package keeps it there)
    except (ValueError, AttributeError, TypeError):
        return code in str(e)


def _describe(e: MinioAdminException) -> str:
    try:
        body = json.loads(e._body)  # noqa: SLF001
        return f"{body.get('Code')}: {body.get('Message')}"
    except (ValueError, AttributeError, TypeError):
        return str(e)


def read_policy(arg: str) -> dict:
    if arg == "-":
        text = sys.stdin.read()
    elif arg.lstrip().startswith("{"):
        text = arg
    else:
        try:
            text = Path(arg).read_text()
        except OSError as e:
            raise Fail(f"policy {arg!r}: {e.strerror} (pass a file, '-' or the JSON itself)") from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise Fail(f"policy is not JSON: {e}") from None
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise Fail("policy must be a JSON object with a Statement")
    return doc


COMMANDS = {
    # name: (method, min args, max args, usage)
    "user-add": ("user_add", 2, 2, "ACCESS SECRET"),
    "user-remove": ("user_remove", 1, 1, "ACCESS"),
    "user-disable": ("user_disable", 1, 1, "ACCESS"),
    "user-enable": ("user_enable", 1, 1, "ACCESS"),
    "user-info": ("user_info", 1, 1, "ACCESS"),
    "policy-add": ("policy_add", 2, 2, "NAME POLICY"),
    "policy-remove": ("policy_remove", 1, 1, "NAME"),
    "policy-info": ("policy_info", 1, 1, "NAME"),
    "policy-attach": ("policy_attach", 2, 2, "NAME USER"),
    "policy-detach": ("policy_detach", 2, 2, "NAME USER"),
    "bucket-add": ("bucket_add", 1, 2, "BUCKET [--versioning]"),
    "bucket-versioning": ("bucket_versioning", 2, 2, "BUCKET on|off"),
    "bucket-remove": ("bucket_remove", 1, 1, "BUCKET"),
    "role-policy-set": ("role_policy_set", 1, 2, "[--if-missing] POLICY"),
    "role-arn": ("role_arn", 0, 0, ""),
    "ping": ("ping", 0, 0, ""),
}


def split_commands(argv: list[str]) -> list[list[str]]:
    cmds, cur = [], []
    for a in argv:
        if a == "--":
            cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    cmds.append(cur)
    return [c for c in cmds if c]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if argv else 2
    cmds = split_commands(argv)
    for c in cmds:
        spec = COMMANDS.get(c[0])
        if spec is None:
            print(f"minio-admin: unknown command {c[0]!r} (see --help)", file=sys.stderr)
            return 2
        if not spec[1] <= len(c) - 1 <= spec[2]:
            print(f"minio-admin: usage: {c[0]} {spec[3]}", file=sys.stderr)
            return 2
    try:
        adm = Admin(load_env())
        for c in cmds:
            try:
                getattr(adm, COMMANDS[c[0]][0])(*c[1:])
            except MinioAdminException as e:
                raise Fail(f"{' '.join(c[:2])}: HTTP {e._code}: {_describe(e)}") from None  # noqa: SLF001
            except S3Error as e:
                raise Fail(f"{' '.join(c[:2])}: {e.code}: {e.message}") from None
            except ValueError as e:  # the SDK's own argument checks (bucket names, ...)
                raise Fail(f"{' '.join(c[:2])}: {e}") from None
    except Fail as e:
        print(f"minio-admin: {e}", file=sys.stderr)
        return 1
    except (urllib3.exceptions.HTTPError, OSError) as e:
        print(f"minio-admin: cannot reach MinIO: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
