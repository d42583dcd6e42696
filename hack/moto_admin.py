"""The admin IAM user and IAM enforcement of the dev moto (see 1. in
hack/moto_launcher.py's module doc): the admin user with the fixed access key
is seeded in-process (again after `POST /moto-api/reset`, and in any other
account the admin keys act in), then enforcement is switched on."""

from __future__ import annotations

import json
import logging
from typing import Any

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.models import iam_backends
from moto_config import CFG, DEFAULT_ACCOUNT

log = logging.getLogger("moto_launcher")

ADMIN_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
)



def seed_admin(account: str = DEFAULT_ACCOUNT) -> None:
    """Create the admin IAM user with the fixed key in `account` (idempotent)."""
    if not (CFG.admin_key_id and CFG.admin_secret):
        return
    backend = iam_backends[account]["aws"]
    user_name = CFG.admin_user
    try:
        backend.get_user(user_name)
    except Exception:
        backend.create_user(region_name="us-east-1", user_name=user_name, path="/", tags=[])
    backend.put_user_policy(user_name, "AdministratorAccess", ADMIN_POLICY)
    user = backend.get_user(user_name)
    if any(k.access_key_id == CFG.admin_key_id for k in user.access_keys):
        return
    key = backend.create_access_key(user_name)
    backend.access_keys.pop(key.access_key_id, None)
    key.access_key_id = CFG.admin_key_id
    key.secret_access_key = CFG.admin_secret
    backend.access_keys[key.access_key_id] = key
    log.info("admin IAM user %r seeded in account %s", user_name, account)


def enforce_auth() -> None:
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def auth_enforced() -> bool:
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def patch_reset() -> None:
    from moto.moto_api._internal.models import MotoAPIBackend

    orig = MotoAPIBackend.reset

    def reset(self: Any) -> None:
        orig(self)
        seed_admin()

    MotoAPIBackend.reset = reset  # type: ignore[method-assign]

