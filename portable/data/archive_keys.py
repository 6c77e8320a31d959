"""Where the key of a sealed archive comes from: `--encryption-key env:VAR|file:PATH|kms:KEY`,
or, when none is given, the app's own archive key (the default: archives are sealed at rest).

- `env:VAR`, `file:PATH`: 32 bytes, given raw (a file of exactly 32 bytes), as 64 hex digits
  or as base64 (44 characters). The header records `env:VAR` / `file:PATH`'s name only.
- `kms:KEY_ID_OR_ALIAS`: every archive gets its own data key from AWS KMS GenerateDataKey
  (AES_256); the header holds the wrapped (KMS-encrypted) key, which KMS Decrypt opens at
  restore for whoever may use that KMS key. Endpoint and region: boto3's standard chain
  (AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL, AWS_DEFAULT_REGION).
- default: HKDF-SHA256 of the app's per-app key in the state store's secret part (the key
  of secret digests, portable.state.keys), with a purpose label of its own: everyone who
  shares the state store can restore, nothing on a target or in the blob store opens it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from portable.data.sealed import DataKey, header_of, is_sealed, tampered, unseal_file, wrong_key
from portable.errors import InputError, MigrationError

KEY_BYTES = 32
AppKey = Callable[[], bytes]  # the app's per-app key from the state store (read lazily)


def _decode(raw: bytes, where: str) -> bytes:
    """32 raw bytes, 64 hex digits or base64 of 32 bytes; anything else is refused (never echoed)."""
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    try:
        if len(text) == 2 * KEY_BYTES:
            return bytes.fromhex(text.decode("ascii"))
        decoded = base64.b64decode(text, validate=True)
        if len(decoded) == KEY_BYTES:
            return decoded
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pass
    raise InputError(f"the key in {where} is not 32 bytes (raw, 64 hex digits or base64): it has {len(text)} characters",
                     hint="make one with: head -c 32 /dev/urandom | base64")


def _derived(app_key: bytes, app: str) -> bytes:
    """HKDF-SHA256 (RFC 5869, one block) of the app's state-store key, labelled for archives."""
    prk = hmac.new(b"portable-archive-key", app_key, hashlib.sha256).digest()
    return hmac.new(prk, b"portable-archive-key:" + app.encode() + b"\x01", hashlib.sha256).digest()


def _kms() -> Any:
    try:
        import boto3
    except ModuleNotFoundError:
        raise InputError("--encryption-key kms:... needs boto3", hint="pip install 'portable[aws]'") from None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client("kms", endpoint_url=endpoint, region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def _kms_failed(exc: Exception, doing: str) -> InputError:
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    said = f"{error.get('Code')}: {error.get('Message')}" if error.get("Code") else (str(exc).splitlines() or [type(exc).__name__])[0]
    return InputError(f"AWS KMS: {doing} failed ({said})", hint="check the key id or alias, AWS_DEFAULT_REGION and that these credentials may use the key")


def _kms_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def check_spec(spec: str | None) -> None:
    """Refuses a malformed --encryption-key before anything is read or changed."""
    if spec is None:
        return
    kind, _, rest = spec.partition(":")
    if kind not in ("env", "file", "kms") or not rest:
        raise InputError("--encryption-key takes env:VAR, file:PATH or kms:KEY_ID_OR_ALIAS")


def check_key(spec: str | None, env: Any = None) -> None:
    """Refuses, while planning, an --encryption-key that could not be read when the first
    archive is sealed: a malformed spec, an unset variable, a missing file or one that does not
    hold 32 bytes. A KMS key is asked for only when it is used."""
    check_spec(spec)
    if spec is not None and not spec.startswith("kms:"):
        _given(spec, env)


def _given(spec: str, env: Any) -> DataKey:
    kind, _, rest = spec.partition(":")
    if kind == "env":
        value = (env if env is not None else os.environ).get(rest)
        if not value:
            raise InputError(f"--encryption-key env:{rest} names a variable that is not set")
        return DataKey(_decode(value.encode(), f"env:{rest}"), {"kind": "env", "name": rest})
    path = Path(rest).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--encryption-key file:{rest} cannot be read ({exc.strerror})") from None
    return DataKey(_decode(raw, f"file:{rest}"), {"kind": "file", "name": rest})


def sealing_key(spec: str | None, app: str, app_key: AppKey, env: Any = None) -> DataKey:
    """The key a new archive of `app` is sealed with."""
    check_spec(spec)
    if spec is None:
        return DataKey(_derived(app_key(), app), {"kind": "state", "app": app})
    if spec.startswith("kms:"):
        key_id = spec[4:]
        try:
            answer = _kms().generate_data_key(KeyId=key_id, KeySpec="AES_256")
        except _kms_errors() as exc:
            raise _kms_failed(exc, f"a data key from {key_id}") from None
        wrapped = base64.b64encode(answer["CiphertextBlob"]).decode()
        return DataKey(bytes(answer["Plaintext"]), {"kind": "kms", "key_id": key_id, "wrapped": wrapped})
    return _given(spec, env)


def opening_key(header: dict[str, Any], spec: str | None, app: str, app_key: AppKey, name: str, env: Any = None) -> DataKey:
    """The key that opens an archive with `header`: KMS and the state key are found from the
    header itself; env:/file: keys come from --encryption-key (any source holding the same key)."""
    check_spec(spec)
    source = header["key"]
    kind = source.get("kind")
    if spec is not None and not spec.startswith("kms:"):
        return _given(spec, env)
    if kind == "kms":
        try:
            answer = _kms().decrypt(CiphertextBlob=base64.b64decode(source["wrapped"]), KeyId=source["key_id"])
        except _kms_errors() as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            if code in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise wrong_key(name) from None
            raise _kms_failed(exc, f"unwrapping the data key of archive {name}") from None
        return DataKey(bytes(answer["Plaintext"]), source)
    if kind == "state":
        return DataKey(_derived(app_key(), str(source.get("app") or app)), source)
    if kind in ("env", "file"):
        raise InputError(f"archive {name} was sealed with the key from {kind}:{source.get('name')}; pass the --encryption-key it was made with")
    raise MigrationError(f"archive {name}'s sealed header names an unknown key source; export it again")


class ArchiveKeys:
    """The keys of one app's archives for one run: sealing new ones, opening stored ones.

    `spec` is --encryption-key (None: the app's state-store key); `app_key` reads the app's
    per-app key from the state store, only when it is needed."""

    def __init__(self, spec: str | None, app: str, app_key: AppKey, env: Any = None) -> None:
        check_spec(spec)
        self.spec, self.app, self._app_key, self._env = spec, app, app_key, env

    def __repr__(self) -> str:
        return f"ArchiveKeys(spec={self.spec!r}, app={self.app!r})"  # the spec names a source, never a key

    def check(self) -> None:
        """check_key of this run's --encryption-key (while planning)."""
        check_key(self.spec, self._env)

    def sealing(self) -> DataKey:
        """A key for a new archive (under KMS a fresh data key per archive)."""
        return sealing_key(self.spec, self.app, self._app_key, self._env)

    def opening(self, path: Path, name: str) -> DataKey:
        return opening_key(header_of(path, name), self.spec, self.app, self._app_key, name, self._env)

    @contextmanager
    def plaintext(self, path: Path, scratch: Path, name: str | None = None, *, expect_sealed: bool = False) -> Iterator[Path]:
        """`path` itself when it is not sealed; else its plaintext, authenticated whole, in a
        0600 file of `scratch` removed on the way out (restores read the archive several
        times: index, checksum, stream). Nothing is yielded from a damaged archive, nor from a
        plain one where the record says it was sealed (`expect_sealed`)."""
        label = name or path.name
        if not is_sealed(path):
            with open(path, "rb") as fh:
                gzip_magic = fh.read(2) == b"\x1f\x8b"
            if expect_sealed or not gzip_magic:  # a damaged header, or a plaintext swapped in for a sealed archive
                raise tampered(label)
            yield path  # an archive of an earlier version, written before archives were sealed
            return
        key = self.opening(path, label)
        scratch.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".unsealed-", suffix=".tar.gz", dir=scratch)
        os.close(fd)
        out = Path(tmp)
        try:
            unseal_file(path, out, key, label)
            yield out
        finally:
            out.unlink(missing_ok=True)
