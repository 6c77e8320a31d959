"""The portable volume archive: a gzip'd tar of a volume's files plus a checksummed index.

Any target can produce one (it only needs to stream a tar of the volume) and any target can
restore one (Docker through a helper container, Kubernetes through an init container, VMs
in their bootstrap). The index lists every file with its size and SHA-256, so a restore can
prove the data arrived intact, and the archive's own SHA-256 is kept beside it.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from portable.data.fast_gzip import ParallelGzipWriter
from portable.data.sealed import DataKey, SealWriter
from portable.errors import MigrationError

INDEX_NAME = ".portable-index.json"
_COPY_MB: dict[str, Any] = {"copybufsize": 1 << 20}  # TarFile's (typeshed does not list it): each file copied a megabyte at a time
FORMAT = "portable-volume/v1"


@dataclass(frozen=True)
class ArchiveInfo:
    """What is known of one volume archive once written."""

    volume: str
    path: Path
    sha256: str
    size: int  # bytes of the compressed archive
    files: int  # files carried in this archive
    data_bytes: int  # bytes of file content carried
    deleted: int = 0  # paths a delta archive removes
    base: str | None = None  # sha256 of the archive this one is a delta on
    sealed: bool = False  # encrypted at rest (portable.data.sealed); sha256 is then the plaintext's

    def to_dict(self) -> dict[str, Any]:
        return {"volume": self.volume, "path": str(self.path), "sha256": self.sha256, "size": self.size, "files": self.files,
                "data_bytes": self.data_bytes, "deleted": self.deleted, "base": self.base, "sealed": self.sealed}


class _HashingWriter(io.RawIOBase):
    """Writes through to `inner`, hashing what passes (the plaintext's checksum of a sealed archive)."""

    def __init__(self, inner: IO[bytes] | io.RawIOBase) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.digest.update(b)
        self.inner.write(b)
        return len(b)

    def close(self) -> None:
        if not self.closed:
            self.inner.close()
        super().close()


class _HashingReader(io.RawIOBase):
    """Reads through to `inner`, hashing what passes, so a file is read once and never buffered."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.digest.update(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (what SDKs stream tar data as)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _strip_root(name: str, root: str) -> str:
    """Docker's get_archive names members `data/...`: archives hold paths relative to the volume."""
    if root and (name == root or name.startswith(root + "/")):
        name = name[len(root):].lstrip("/")
    return name or "."


def write_archive(volume: str, tar_chunks: Iterable[bytes], dest: Path, *, strip: str = "", base: Mapping[str, Any] | None = None,
                  key: DataKey | None = None) -> ArchiveInfo:
    """Re-packs a tar stream of a volume into a checksummed archive at `dest` (atomically).

    With `key` the gzip'd tar (index included) is sealed as it is written (AES-256-GCM,
    portable.data.sealed): no plaintext reaches the disk; `sha256` is the plaintext's.

    With `base` (the index of an earlier archive of the same volume) only files whose size
    or modification time changed are carried, and paths that disappeared are listed as
    deleted: the second pass of a two-pass copy, small when little was written meanwhile.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".partial")
    before = {e["path"]: e for e in (base or {}).get("files", [])}
    index: list[dict[str, Any]] = []
    seen: set[str] = set()
    carried = data_bytes = 0
    # a megabyte at a time on both sides: tarfile's 10 KiB records and 16 KiB copies made 100 MB
    # tens of thousands of trips through Python-level reads and writes
    source = tarfile.open(fileobj=io.BufferedReader(_ChunkReader(tar_chunks), 1 << 20), mode="r|*", bufsize=1 << 20)
    stored = _HashingWriter(open(tmp, "wb"))  # the bytes on disk, hashed as written (not read again)
    plain = _HashingWriter(SealWriter(stored, key)) if key is not None else stored
    # level 1, in parallel, incompressible blocks stored: archives sit on the critical path of a
    # quiesced migration; speed beats ratio (fast_gzip.py)
    with plain, ParallelGzipWriter(plain, level=1) as gz, tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20, **_COPY_MB) as out:
        for member in source:
            member.name = _strip_root(member.name, strip)
            if member.name in (".", INDEX_NAME):
                continue
            seen.add(member.name)
            old = before.get(member.name)
            if member.isfile():
                if old is not None and old.get("size") == member.size and old.get("mtime") == member.mtime and "sha256" in old:
                    index.append({**old, "carried": False})  # unchanged since the base archive
                    continue
                fileobj = source.extractfile(member)
                assert fileobj is not None
                reader = _HashingReader(fileobj)
                out.addfile(member, io.BufferedReader(reader, 1 << 20))
                index.append({"path": member.name, "size": member.size, "mtime": member.mtime, "sha256": reader.digest.hexdigest(), "mode": member.mode})
                carried += 1
                data_bytes += member.size
            else:
                out.addfile(member)
                index.append({"path": member.name, "type": "dir" if member.isdir() else "other", "mode": member.mode, "mtime": member.mtime})
        deleted = sorted(p for p in before if p not in seen)
        payload = json.dumps({"format": FORMAT, "volume": volume, "files": index, "deleted": deleted, "base": (base or {}).get("sha256")}, indent=1, sort_keys=True).encode()
        info = tarfile.TarInfo(INDEX_NAME)
        info.size = len(payload)
        info.mode = 0o644
        out.addfile(info, io.BytesIO(payload))
    source.close()
    sha = plain.digest.hexdigest()
    tmp.replace(dest)
    (dest.parent / (dest.name + ".sha256")).write_text(f"{stored.digest.hexdigest()}  {dest.name}\n")
    return ArchiveInfo(volume, dest, sha, dest.stat().st_size, carried, data_bytes, len(deleted), (base or {}).get("sha256"), key is not None)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_index(path: Path) -> dict[str, Any]:
    """The archive's index (format, volume, files, deleted, base) plus its own `sha256`."""
    with tarfile.open(path, "r:gz") as tar:
        member = tar.getmember(INDEX_NAME)
        fh = tar.extractfile(member)
        assert fh is not None
        index: dict[str, Any] = json.loads(fh.read())
    index["sha256"] = file_sha256(path)
    return index


def verify_archive(path: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    """Checks the archive's checksum and every file against its index; returns the index."""
    if expected_sha256 and file_sha256(path) != expected_sha256:
        raise MigrationError(f"archive {path} does not match its checksum: it was changed or truncated; export it again")
    index = read_index(path)
    wanted = {e["path"]: e for e in index["files"] if "sha256" in e and e.get("carried", True)}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if member.name in wanted:
                fh = tar.extractfile(member)
                assert fh is not None
                digest = hashlib.sha256()
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
                if digest.hexdigest() != wanted.pop(member.name)["sha256"]:
                    raise MigrationError(f"archive {path}: {member.name} does not match its checksum")
    if wanted:
        raise MigrationError(f"archive {path} is missing {len(wanted)} files listed in its index, e.g. {next(iter(wanted))}")
    return index


def restore_tar_stream(path: Path, expected_sha256: str | None = None) -> Iterator[bytes]:
    """The archive's files as an uncompressed tar stream, checked as they pass.

    The archive's checksum is checked first; each file's SHA-256 is checked against the
    index while streaming, and a mismatch raises before the stream ends, so a consumer that
    writes as it reads learns that what it wrote must be thrown away.
    """
    if expected_sha256 and file_sha256(path) != expected_sha256:
        raise MigrationError(f"archive {path} does not match its checksum: it was changed or truncated; export it again")
    index = read_index(path)
    wanted = {e["path"]: e["sha256"] for e in index["files"] if "sha256" in e and e.get("carried", True)}
    pipe = _Pipe()
    with tarfile.open(path, "r:gz") as src:
        out = tarfile.open(fileobj=pipe, mode="w|", format=tarfile.PAX_FORMAT)
        for member in src:
            if member.name == INDEX_NAME:
                continue
            if member.isfile():
                fh = src.extractfile(member)
                assert fh is not None
                reader = _HashingReader(fh)
                out.addfile(member, io.BufferedReader(reader, 1 << 20))
                if wanted.pop(member.name, reader.digest.hexdigest()) != reader.digest.hexdigest():
                    raise MigrationError(f"archive {path}: {member.name} does not match its checksum")
            else:
                out.addfile(member)
            yield from pipe.drain()
        out.close()
        yield from pipe.drain()
    if wanted:
        raise MigrationError(f"archive {path} is missing {len(wanted)} files listed in its index, e.g. {next(iter(wanted))}")


class _Pipe(io.RawIOBase):
    """A write-only file whose bytes are collected and drained by a generator."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self._chunks.append(bytes(b))
        return len(b)

    def drain(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, []
        if chunks:
            yield b"".join(chunks)
