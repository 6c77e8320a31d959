"""A registry HTTP API v2 client (standard library only): resolve a tag to its digest, and
copy an image by digest from one registry to another, blobs first, manifest last, so a
promoted image is byte for byte the one that ran (its digest does not change).

Plain HTTP for loopback hosts (as Docker treats them), HTTPS otherwise. Basic and bearer
token challenges are answered with the login given; errors name the registry, never the
credentials.
"""
from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from portable.delivery.credentials import Login
from portable.engine.progress import BYTES, emit
from portable.errors import InputError, TargetError

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
TIMEOUT = 30.0


class RegistryError(InputError):
    """The registry cannot be reached, refuses the login, or lacks the image: exit 2 while planning."""


def _scheme(server: str) -> str:
    host = server.rsplit(":", 1)[0] if not server.startswith("[") else server.split("]")[0] + "]"
    return "http" if host in ("localhost", "[::1]") or host.startswith("127.") else "https"


class RegistryClient:
    """One registry, with the login (or none) it is read and written with."""

    def __init__(self, server: str, login: Login | None = None) -> None:
        self.server = server
        self.base = f"{_scheme(server)}://{server}"
        self._login = login
        self._auth: str | None = None

    # -- transport ---------------------------------------------------------------------
    def _request(self, method: str, path: str, *, headers: dict[str, str] | None = None, data: bytes | None = None, what: str) -> tuple[int, dict[str, str], bytes]:
        url = path if path.startswith("http") else self.base + path
        for attempt in range(2):
            req = urllib.request.Request(url, method=method, data=data, headers=dict(headers or {}))
            if self._auth:
                req.add_header("Authorization", self._auth)
            try:
                with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                    return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read() if method != "HEAD" else b""
            except urllib.error.HTTPError as exc:
                status, hdrs = exc.code, {k.lower(): v for k, v in exc.headers.items()}
                body = exc.read() if method != "HEAD" else b""
                if status == 401 and attempt == 0 and self._answer(hdrs.get("www-authenticate", ""), what):
                    continue
                if status == 401:
                    hint = "check the registry's username and password_from, or `docker login " + self.server + "`"
                    raise RegistryError(f"registry {self.server} refused the login while {what}", hint=hint) from None
                return status, hdrs, body
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise RegistryError(f"registry {self.server} cannot be reached while {what}: {reason}",
                                    hint="check targets.<target>.registry.server and that the registry is up") from None
        raise RegistryError(f"registry {self.server} refused the login while {what}")

    def _answer(self, challenge: str, what: str) -> bool:
        """Sets the Authorization header for a Basic or Bearer challenge; False if it cannot."""
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic" and self._login:
            self._auth = "Basic " + base64.b64encode(f"{self._login[0]}:{self._login[1]}".encode()).decode()
            return True
        if scheme.lower() != "bearer":
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", None)
        if not realm:
            return False
        req = urllib.request.Request(realm + "?" + urllib.parse.urlencode(fields))
        if self._login:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{self._login[0]}:{self._login[1]}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                token = json.loads(resp.read()).get("token") or ""
        except (urllib.error.URLError, OSError, ValueError):
            raise RegistryError(f"registry {self.server} refused the login while {what}",
                                hint=f"check the registry's username and password_from, or `docker login {self.server}`") from None
        self._auth = f"Bearer {token}"
        return True

    # -- reads -------------------------------------------------------------------------
    def check(self) -> None:
        """Raises RegistryError unless the registry answers and accepts the login."""
        status, _, _ = self._request("GET", "/v2/", what="checking access")
        if status >= 400:
            raise RegistryError(f"registry {self.server} answered {status} to /v2/: it does not speak the registry API v2")

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest `repository:reference` points to now (HEAD of the manifest), or None."""
        status, headers, _ = self._request("HEAD", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}, what=f"resolving {repository}:{reference}")
        if status == 404:
            return None
        if status >= 400 or "docker-content-digest" not in headers:
            raise RegistryError(f"registry {self.server} answered {status} for {repository}:{reference} without a digest")
        return headers["docker-content-digest"]

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        status, headers, body = self._request("GET", f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}, what=f"reading {repository}@{reference}")
        if status >= 400:
            raise RegistryError(f"registry {self.server} has no manifest {repository}@{reference} ({status})")
        return body, headers.get("content-type", "application/vnd.docker.distribution.manifest.v2+json")

    def has_blob(self, repository: str, digest: str) -> bool:
        status, _, _ = self._request("HEAD", f"/v2/{repository}/blobs/{digest}", what=f"looking up blob {digest[:19]}")
        return status < 300

    def blob(self, repository: str, digest: str) -> bytes:
        status, _, body = self._request("GET", f"/v2/{repository}/blobs/{digest}", what=f"reading blob {digest[:19]} of {repository}")
        if status >= 400:
            raise TargetError(f"registry {self.server} has no blob {digest} in {repository} ({status})")
        return body

    # -- writes ------------------------------------------------------------------------
    def put_blob(self, repository: str, digest: str, data: bytes) -> None:
        status, headers, _ = self._request("POST", f"/v2/{repository}/blobs/uploads/", data=b"", what=f"starting an upload to {repository}")
        if status != 202 or "location" not in headers:
            raise TargetError(f"registry {self.server} refused an upload to {repository} ({status})")
        location = urllib.parse.urljoin(self.base + "/", headers["location"])
        sep = "&" if "?" in location else "?"
        status, _, _ = self._request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", data=data,
                                     headers={"Content-Type": "application/octet-stream"}, what=f"uploading blob {digest[:19]} to {repository}")
        if status >= 300:
            raise TargetError(f"registry {self.server} refused blob {digest} for {repository} ({status})")

    def put_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        status, headers, _ = self._request("PUT", f"/v2/{repository}/manifests/{reference}", data=body, headers={"Content-Type": media_type}, what=f"writing the manifest of {repository}")
        if status >= 300:
            raise TargetError(f"registry {self.server} refused the manifest of {repository}:{reference} ({status})")
        return headers.get("docker-content-digest", reference)


def copy_image(source: RegistryClient, src_repo: str, dest: RegistryClient, dest_repo: str, digest: str, tag: str | None = None,
               *, progress: Callable[[str], None] | None = None, transfer: str | None = None) -> str:
    """Copies `src_repo@digest` to `dest_repo` (children of an index first), returns the digest.

    With `progress`, the blobs' bytes go to it as BYTES events named `transfer` after each
    blob (a blob the destination already holds counts as done): the live table's TRANSFER
    row; a plain callback prints nothing for them."""
    body, media_type = source.manifest(src_repo, digest)
    manifest: dict[str, Any] = json.loads(body)
    if media_type in INDEX_TYPES or manifest.get("manifests"):
        for child in manifest.get("manifests") or []:
            copy_image(source, src_repo, dest, dest_repo, str(child["digest"]), progress=progress, transfer=transfer)
    else:
        blobs = [manifest["config"], *manifest.get("layers", [])] if "config" in manifest else manifest.get("layers", [])
        total = sum(int(b.get("size") or 0) for b in blobs) or None
        name = transfer or f"copy {dest_repo}@{digest[:19]}"
        done = 0

        def report(finished: bool) -> None:
            if progress is not None:
                emit(progress, "", kind=BYTES, transfer=name, bytes_done=done, bytes_total=total, finished=finished)

        report(False)
        for blob in blobs:
            d = str(blob["digest"])
            if not dest.has_blob(dest_repo, d):
                data = source.blob(src_repo, d)
                dest.put_blob(dest_repo, d, data)
                done += len(data)
            else:
                done += int(blob.get("size") or 0)
            report(False)
        report(True)
    dest.put_manifest(dest_repo, digest, body, media_type)  # the same bytes: the same digest
    if tag:
        dest.put_manifest(dest_repo, tag, body, media_type)
    return digest
