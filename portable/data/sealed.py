"""Sealed archives: a volume archive encrypted at rest with AES-256-GCM, in chunks.

Why chunked: an archive is written as the export streams and read as the restore streams;
one GCM message would need the whole archive in memory (or its tag at the end, after the
plaintext was already used). Each 1 MiB chunk is its own GCM message, so every chunk is
authenticated before a byte of it is used, and its nonce (a random 8-byte prefix of the
archive + a 4-byte chunk counter) never repeats under one key. The additional data of each
chunk binds the header's digest, the chunk's index and a last-chunk flag: a changed header,
reordered, dropped, spliced (from another archive) or truncated chunks all fail to open.

Layout: MAGIC, a 4-byte big-endian header length, the header (JSON: format version, chunk
size, nonce prefix, how the data key is obtained, a key check value), then the chunks, each
ciphertext + 16-byte tag; every chunk but the last holds exactly CHUNK bytes of plaintext.
The header never holds the key, only where it comes from (and under KMS the wrapped key).
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from portable.errors import InputError, MigrationError

MAGIC = b"PORTABLE-SEALED\x01"
FORMAT = "portable-sealed/v1"
CHUNK = 1 << 20
TAG = 16
_MAX_HEADER = 64 * 1024


@dataclass(frozen=True)
class DataKey:
    """A 32-byte AES key and how a reader obtains it again (recorded in the header)."""

    key: bytes
    source: dict[str, Any]  # {"kind": "env"|"file"|"state"|"kms", ...}: never the key itself

    def __repr__(self) -> str:  # a key never reaches a log through repr()
        return f"DataKey(source={self.source!r})"

    def check(self) -> str:
        """A value that tells a wrong key from a damaged archive (HMAC: reveals nothing of the key)."""
        return hmac.new(self.key, b"portable-sealed-key-check", hashlib.sha256).hexdigest()[:16]


def is_sealed(path: Path) -> bool:
    """True when `path` starts like a sealed archive."""
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ModuleNotFoundError:  # pragma: no cover - a dependency of portable
        raise InputError("sealed archives need the cryptography package", hint="pip install cryptography") from None
    return AESGCM(key)


def _aad(header_digest: bytes, index: int, last: bool) -> bytes:
    return header_digest + struct.pack(">QB", index, 1 if last else 0)


class SealWriter(io.RawIOBase):
    """A write-only file that seals what is written into `out`, one chunk at a time.

    close() writes the last chunk (flagged last, possibly empty) and closes `out`."""

    def __init__(self, out: IO[bytes] | io.RawIOBase, data_key: DataKey) -> None:
        self._out = out
        self._cipher = _aesgcm(data_key.key)
        self._prefix = os.urandom(8)
        header = json.dumps({"format": FORMAT, "cipher": "AES-256-GCM", "chunk": CHUNK, "nonce_prefix": self._prefix.hex(),
                             "key": data_key.source, "key_check": data_key.check()}, sort_keys=True).encode()
        self._digest = hashlib.sha256(header).digest()
        out.write(MAGIC + struct.pack(">I", len(header)) + header)
        self._buf = bytearray()
        self._index = 0

    def writable(self) -> bool:
        return True

    def _emit(self, plain: bytes, last: bool) -> None:
        nonce = self._prefix + struct.pack(">I", self._index)
        self._out.write(self._cipher.encrypt(nonce, plain, _aad(self._digest, self._index, last)))
        self._index += 1

    def write(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        size = len(view)
        while len(self._buf) + len(view) > CHUNK:  # a full chunk and more to come: the last is written by close()
            take = CHUNK - len(self._buf)
            self._buf += view[:take]
            self._emit(bytes(self._buf), last=False)
            self._buf = bytearray()
            view = view[take:]
        self._buf += view
        return size

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buf), last=True)
            self._buf = bytearray()
            self._out.close()
        super().close()


def read_header(fh: IO[bytes], name: str) -> tuple[dict[str, Any], bytes]:
    """The header of a sealed archive open at its start, and its digest (bound in every chunk)."""
    start = fh.read(len(MAGIC) + 4)
    if len(start) < len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
        raise MigrationError(f"archive {name} is not a sealed portable archive or its header is damaged; export it again")
    (length,) = struct.unpack(">I", start[len(MAGIC):])
    raw = fh.read(length) if length <= _MAX_HEADER else b""
    try:
        header = json.loads(raw)
        if header.get("format") != FORMAT or header.get("chunk") != CHUNK or not isinstance(header.get("key"), dict):
            raise ValueError(header.get("format"))
        bytes.fromhex(header["nonce_prefix"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MigrationError(f"archive {name}'s sealed header is damaged or of an unknown version; export it again") from None
    return header, hashlib.sha256(raw).digest()


def unseal_chunks(fh: IO[bytes], data_key: DataKey, header: dict[str, Any], header_digest: bytes, name: str) -> Iterator[bytes]:
    """The plaintext of a sealed archive (read past its header), chunk by chunk, each
    authenticated before it is yielded; a damaged, reordered or truncated archive raises."""
    from cryptography.exceptions import InvalidTag

    if not hmac.compare_digest(header.get("key_check", ""), data_key.check()):
        raise wrong_key(name)
    cipher = _aesgcm(data_key.key)
    prefix = bytes.fromhex(header["nonce_prefix"])
    index = 0
    block = fh.read(CHUNK + TAG)
    while True:
        following = fh.read(CHUNK + TAG) if len(block) == CHUNK + TAG else b""
        last = not following
        if len(block) < TAG:
            raise tampered(name)
        try:
            plain = cipher.decrypt(prefix + struct.pack(">I", index), block, _aad(header_digest, index, last))
        except InvalidTag:
            raise tampered(name) from None
        yield plain
        if last:
            return
        block, index = following, index + 1


def tampered(name: str) -> MigrationError:
    return MigrationError(f"archive {name} was changed, truncated or damaged since it was sealed (its authentication failed); nothing was restored from it")


def wrong_key(name: str) -> InputError:
    return InputError(f"archive {name} was sealed with another key; pass the --encryption-key it was made with")


def seal_file(source: Path, dest: Path, data_key: DataKey) -> None:
    """Seals the file `source` into `dest` (streaming)."""
    with open(source, "rb") as src:
        writer = SealWriter(open(dest, "wb"), data_key)
        try:
            while chunk := src.read(CHUNK):
                writer.write(chunk)
        finally:
            writer.close()


def unseal_file(source: Path, dest: Path, data_key: DataKey, name: str | None = None) -> None:
    """Unseals `source` into `dest` (created 0600); on any failure `dest` is removed."""
    label = name or source.name
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(source, "rb") as fh, os.fdopen(fd, "wb") as out:
            header, digest = read_header(fh, label)
            for plain in unseal_chunks(fh, data_key, header, digest, label):
                out.write(plain)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def header_of(path: Path, name: str | None = None) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return read_header(fh, name or path.name)[0]
