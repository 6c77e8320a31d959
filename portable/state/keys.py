"""The per-app key of secret digests, as every state store keeps it.

A secret's digest (in Kubernetes annotations, Docker labels, instance-group specs, and so in
the state) tells a changed value from an unchanged one; keyed with HMAC under a random
per-app key, it tells nothing else. The key lives in the store's own secret part (the
`meta` table of SQLite and PostgreSQL, one object of an S3 prefix), so everyone sharing a
store computes the same digests, and nothing on a target holds it. Created once, on first
use, by whichever writer gets there first (insert-if-absent, then read back).
"""
from __future__ import annotations

import secrets

from portable.errors import StateError

KEY_BYTES = 32


def meta_name(app: str) -> str:
    """The `meta` row (SQLite, PostgreSQL) that holds `app`'s key."""
    return f"secret-digest-key:{app}"


def object_name(app: str) -> str:
    """The object (S3, under the store's prefix) that holds `app`'s key."""
    return f"keys/{app}.json"


def new_key_hex() -> str:
    return secrets.token_hex(KEY_BYTES)


def decode_key(value: object, where: str) -> bytes:
    """The key bytes of a stored hex value; a damaged one is refused, never replaced
    (a new key would roll every service that mounts a secret)."""
    try:
        key = bytes.fromhex(str(value))
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise StateError(f"the state store's secret-digest key {where} is damaged", hint="restore the state store from a backup")
    return key
