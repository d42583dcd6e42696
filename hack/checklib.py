"""Counted checks that stop at the first failure: what hack/check_dev_env.py
and hack/check_minio.py report with."""

from __future__ import annotations

import sys

_passed = 0


def ok(msg: str) -> None:
    global _passed
    _passed += 1
    print(f"  ok  {msg}")


def fail(msg: str) -> None:
    print(f"  FAIL {msg}")
    sys.exit(1)


def expect(cond: bool, msg: str) -> None:
    ok(msg) if cond else fail(msg)


def passed() -> int:
    """How many checks passed so far."""
    return _passed
