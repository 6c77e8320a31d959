"""Where volume archives live between export and restore: a local directory by default,
S3 (or any S3-compatible store) when asked. Targets fetch archives by the URL it gives.

Archives are sealed (portable.data.sealed) before they reach a store. The one exception is
a migration's transit copy for a destination that restores from inside (`put(transit=True)`):
unsealed, so it is written 0600 in a directory store and server-side encrypted (SSE-S3) in
S3, reached by a URL that lives minutes (`locate(expires_s=)`), and deleted after the deploy.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from portable.errors import InputError, MigrationError

DEFAULT_URL_LIFE_S = 15 * 60  # a presigned URL is a bearer credential: minutes, never days


class BlobStore(Protocol):
    url: str
    reachable_by_targets: bool  # a target can fetch its URLs itself (S3), not only this machine

    def put(self, key: str, source: Path, *, transit: bool = False) -> str:
        """Stores `source` under `key`; returns the URL a target fetches it from."""
        ...

    def delete(self, key: str) -> None:
        """Removes the blob `key` (gone already is fine)."""
        ...

    def fetch(self, key: str, dest: Path) -> Path:
        """Copies the blob `key` to `dest`."""
        ...

    def exists(self, key: str) -> bool: ...

    def locate(self, key: str, expires_s: int = DEFAULT_URL_LIFE_S) -> str:
        """The URL for `key` (file:// for a directory, a presigned https URL for S3 valid `expires_s`)."""
        ...

    def writable_path(self, key: str, scratch: Path) -> Path:
        """Where to write the blob `key` before `put` (in place for a directory store)."""
        ...

    def readable_path(self, key: str, scratch: Path) -> Path:
        """A local file holding the blob `key` (fetched into `scratch` when remote)."""
        ...


@dataclass
class LocalBlobStore:
    """A directory on this machine (the default: `.portable/archives` beside the manifest)."""

    root: Path
    reachable_by_targets = False  # file:// URLs: only this machine reads them

    @property
    def url(self) -> str:
        return self.root.resolve().as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise InputError(f"blob key {key!r} escapes the blob store")
        return path

    def put(self, key: str, source: Path, *, transit: bool = False) -> str:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != dest:
            tmp = dest.with_name(dest.name + ".partial")
            if transit:  # unsealed: readable by this user only
                tmp.touch(mode=0o600)
                tmp.chmod(0o600)
            shutil.copyfile(source, tmp)
            tmp.replace(dest)
        return dest.as_uri()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def fetch(self, key: str, dest: Path) -> Path:
        src = self._path(key)
        if not src.is_file():
            raise MigrationError(f"archive {key} is not in the blob store {self.url}")
        if src != dest.resolve():
            shutil.copyfile(src, dest)
        return dest

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def locate(self, key: str, expires_s: int = DEFAULT_URL_LIFE_S) -> str:
        return self._path(key).as_uri()

    def writable_path(self, key: str, scratch: Path) -> Path:
        return self._path(key)

    def readable_path(self, key: str, scratch: Path) -> Path:
        return self._path(key)


def _s3_errors() -> tuple[type[Exception], ...]:
    """What boto3 raises for a refused or failed call (imported late: no SDK at start-up)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError, Boto3Error)


def _s3_or_os_errors() -> tuple[type[Exception], ...]:
    return (*_s3_errors(), OSError)


def _response(exc: Exception) -> dict[str, Any]:
    """The parsed answer a botocore ClientError carries (empty for transport errors)."""
    return getattr(exc, "response", None) or {}


@dataclass
class S3BlobStore:
    """An S3 bucket and prefix; credentials through boto3's standard chain."""

    reachable_by_targets = True  # presigned https URLs

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _client(self) -> Any:
        try:
            import boto3
        except ModuleNotFoundError:
            raise InputError("an s3:// blob store needs boto3", hint="pip install 'portable[aws]'") from None
        return boto3.client("s3", endpoint_url=self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"), region_name=self.region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))

    def _key(self, key: str) -> str:
        return f"{self.prefix.rstrip('/')}/{key}" if self.prefix else key

    def _failed(self, exc: Exception, doing: str) -> MigrationError:
        """One sentence for an S3 error: what was being done, where, and what S3 said."""
        error = _response(exc).get("Error", {})
        said = f"{error.get('Code')}: {error.get('Message')}" if error.get("Code") else (str(exc).splitlines() or [type(exc).__name__])[0]
        return MigrationError(f"blob store {self.url}: {doing} failed ({said})",
                              hint="check the bucket's name, region (AWS_DEFAULT_REGION) and that these credentials may read and write it")

    def _ensure_bucket(self, client) -> None:  # type: ignore[no-untyped-def]
        """Creates the bucket on first use, in the client's region (S3 wants it named outside us-east-1)."""
        try:
            client.head_bucket(Bucket=self.bucket)
            return
        except _s3_errors() as exc:
            status = _response(exc).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status != 404:
                raise self._failed(exc, "checking the bucket") from None
        region = client.meta.region_name
        extra = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        try:
            client.create_bucket(Bucket=self.bucket, **extra)
        except _s3_errors() as exc:
            code = _response(exc).get("Error", {}).get("Code")
            if code not in ("BucketAlreadyOwnedByYou",):  # created meanwhile by another run
                raise self._failed(exc, f"creating bucket {self.bucket} in {region}") from None

    def put(self, key: str, source: Path, *, transit: bool = False) -> str:
        client = self._client()
        self._ensure_bucket(client)
        try:
            client.upload_file(str(source), self.bucket, self._key(key), ExtraArgs={"ServerSideEncryption": "AES256"} if transit else None)
        except _s3_or_os_errors() as exc:
            raise self._failed(exc, f"uploading {key}") from None
        return self.locate(key)

    def delete(self, key: str) -> None:
        try:
            self._client().delete_object(Bucket=self.bucket, Key=self._key(key))
        except _s3_or_os_errors() as exc:
            raise self._failed(exc, f"deleting {key}") from None

    def fetch(self, key: str, dest: Path) -> Path:
        try:
            self._client().download_file(self.bucket, self._key(key), str(dest))
        except _s3_or_os_errors() as exc:
            raise self._failed(exc, f"downloading {key}") from None
        return dest

    def exists(self, key: str) -> bool:
        try:
            self._client().head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception:
            return False

    def writable_path(self, key: str, scratch: Path) -> Path:
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch / key.replace("/", "_")

    def readable_path(self, key: str, scratch: Path) -> Path:
        return self.fetch(key, self.writable_path(key, scratch))

    def locate(self, key: str, expires_s: int = DEFAULT_URL_LIFE_S) -> str:
        return str(self._client().generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_s))


def open_blob_store(url: str | None, default_dir: Path) -> LocalBlobStore | S3BlobStore:
    """`s3://bucket/prefix`, `file:///dir` or a directory path; None means `default_dir`."""
    if not url:
        return LocalBlobStore(default_dir)
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InputError(f"blob store {url!r}: expected s3://BUCKET[/PREFIX]")
        return S3BlobStore(parsed.netloc, parsed.path.lstrip("/"))
    if parsed.scheme == "file":
        return LocalBlobStore(Path(parsed.path))
    if parsed.scheme:
        raise InputError(f"blob store {url!r}: use a directory, file:///DIR or s3://BUCKET/PREFIX")
    return LocalBlobStore(Path(url))
