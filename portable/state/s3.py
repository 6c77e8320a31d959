"""The team state store on S3 (or anything speaking S3's conditional writes).

One object per (app, target) holds its revisions and a fencing number; every write is a
compare-and-swap (`IfMatch` on the ETag just read, `IfNoneMatch: *` to create), so two
writers can never both win. A lock is an object created with `IfNoneMatch: *` holding the
holder, operation, since, a fencing token and a lease that a thread of the holder renews;
an expired lease is taken over with `IfMatch`, and the new holder raises the pair's fencing
number at once, so the old holder's next write fails instead of overwriting.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from portable.engine.crashpoints import crashpoint
from portable.errors import InputError, MissingExtraError, PortableError, StateError
from portable.plan.resources import Resource
from portable.state.keys import decode_key, new_key_hex, object_name
from portable.state.locking import holder_identity, holding, joined_lock_id, locked_error, lost_lock_error, new_lock_id, now, unknown_joined_lock, wait_for_lock
from portable.state.store import EXCLUSIVE, INTERRUPTED, LockInfo, Progress, Revision, RevisionKind, RevisionStatus, history_taken

SCHEMA_VERSION = 1
DEFAULT_LEASE = 60.0


class _Conflict(Exception):
    """A conditional write lost: someone else wrote first."""


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class S3StateStore:
    """StateStore in an S3 bucket: `s3://bucket/prefix` (boto3's credential chain, AWS_ENDPOINT_URL)."""

    def __init__(self, url: str) -> None:
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError:
            raise MissingExtraError("the S3 state store needs boto3", hint="pip install 'portable[aws]'") from None
        self._botocore = botocore
        parts = urlsplit(url)
        self.bucket = parts.netloc
        if not self.bucket:
            raise InputError(f"state URL {url} names no bucket", hint="use s3://BUCKET/PREFIX")
        query = dict(parse_qsl(parts.query))
        unknown = sorted(set(query) - {"lease"})
        if unknown:
            raise InputError(f"state URL {url}: unknown option {', '.join(unknown)} (known: lease=SECONDS)")
        try:
            self.lease = float(query.get("lease", DEFAULT_LEASE))
        except ValueError:
            raise InputError(f"state URL {url}: lease must be a number of seconds") from None
        if not 1 <= self.lease <= 86400:
            raise InputError(f"state URL {url}: lease must be between 1 and 86400 seconds")
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        self.url = f"s3://{self.bucket}/{prefix}"
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        config = botocore.config.Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 3, "mode": "standard"})
        self._s3: Any = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)
        self._held: dict[tuple[str, str], LockInfo] = {}
        self._renewers: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._etags: dict[str, str] = {}  # lock id -> ETag of our lock object, as renewed
        self._init()

    # ---- objects and errors
    def _error(self, exc: Exception) -> PortableError:
        bc = self._botocore.exceptions
        if isinstance(exc, bc.NoCredentialsError):
            return InputError(f"no AWS credentials for the state store {self.url}", hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE")
        if isinstance(exc, bc.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchBucket", "404", "NotFound") or status == 404:
                return InputError(f"the bucket {self.bucket} of the state store {self.url} does not exist", hint=f"create it (aws s3 mb s3://{self.bucket}) or fix the URL")
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
                return InputError(f"S3 refused access to the state store {self.url} ({code})", hint="check the credentials and the bucket policy")
            return StateError(f"the state store {self.url} failed: {code}: {exc.response.get('Error', {}).get('Message', '')}")
        if isinstance(exc, (bc.EndpointConnectionError, bc.ConnectionClosedError, bc.ReadTimeoutError, bc.ConnectTimeoutError, bc.HTTPClientError)):
            return StateError(f"the state store {self.url} is unreachable ({type(exc).__name__}): the outcome was not recorded", hint="run the same command again once it is back")
        return StateError(f"the state store {self.url} failed: {type(exc).__name__}: {exc}")

    def _call(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        bc = self._botocore.exceptions
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except bc.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                raise _Conflict() from None
            if code == "NoSuchKey":
                raise KeyError(kwargs.get("Key")) from None
            raise self._error(exc) from None
        except bc.BotoCoreError as exc:
            raise self._error(exc) from None

    def _get(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        try:
            answer = self._call(self._s3.get_object, Key=self.prefix + key)
        except KeyError:
            return None, None
        body = answer["Body"].read()
        try:
            data = json.loads(body)
        except ValueError:
            raise StateError(f"the state store {self.url} is damaged: {self.prefix}{key} is not JSON", hint="restore the object from a backup (bucket versioning)") from None
        return data, str(answer["ETag"])

    def _put(self, key: str, data: dict[str, Any], *, if_match: str | None = None, create: bool = False) -> str:
        extra: dict[str, Any] = {}
        if if_match is not None:
            extra["IfMatch"] = if_match
        elif create:
            extra["IfNoneMatch"] = "*"
        answer = self._call(self._s3.put_object, Key=self.prefix + key, Body=json.dumps(data, sort_keys=True).encode(), ContentType="application/json", **extra)
        return str(answer["ETag"])

    def _delete(self, key: str, etag: str | None = None) -> None:
        extra = {"IfMatch": etag} if etag else {}
        try:
            self._call(self._s3.delete_object, Key=self.prefix + key, **extra)
        except KeyError:
            pass

    def _keys(self, under: str) -> list[str]:
        keys: list[str] = []
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            answer = self._call(self._s3.list_objects_v2, Prefix=self.prefix + under, **extra)
            keys += [o["Key"][len(self.prefix):] for o in answer.get("Contents", [])]
            if not answer.get("IsTruncated"):
                return keys
            token = answer.get("NextContinuationToken")

    def _init(self) -> None:
        self._call(self._s3.head_bucket)
        meta, _ = self._get("portable-state.json")
        if meta is None:
            try:
                self._put("portable-state.json", {"schema_version": SCHEMA_VERSION}, create=True)
            except _Conflict:
                meta, _ = self._get("portable-state.json")
        if meta is not None:
            value = meta.get("schema_version")
            if not isinstance(value, int):
                raise StateError(f"the state store {self.url} is damaged: its schema_version is {value!r}, not a number")
            if value > SCHEMA_VERSION:
                raise StateError(
                    f"the state store {self.url} has schema version {value}, newer than this portable understands ({SCHEMA_VERSION})",
                    hint=f"upgrade portable to a version that writes schema {value}",
                )

    def close(self) -> None:
        for stop, thread in list(self._renewers.values()):
            stop.set()
            thread.join(5)

    def app_key(self, app: str, proposed: bytes | None = None) -> bytes:
        """`app`'s secret-digest key, created on first use (see portable.state.keys)."""
        data, _ = self._get(object_name(app))
        if data is None:
            try:
                self._put(object_name(app), {"key": proposed.hex() if proposed else new_key_hex()}, create=True)
            except _Conflict:
                pass  # another writer created it first: theirs is the key
            data, _ = self._get(object_name(app))
        return decode_key((data or {}).get("key", ""), f"of {app} in {self.url}")

    # ---- keys of things
    @staticmethod
    def _pair(app: str, target: str) -> str:
        return f"apps/{app}/{target}.json"

    @staticmethod
    def _lock_key(app: str, target: str) -> str:
        return "locks/_exclusive.json" if app == EXCLUSIVE else f"locks/{app}/{target}.json"

    @staticmethod
    def _info(data: dict[str, Any]) -> LockInfo:
        expires = data.get("expires")
        return LockInfo(str(data["lock_id"]), str(data["app"]), str(data["target"]), str(data["holder"]), str(data["since"]), str(data.get("operation", "")),
                        int(data.get("token", 0)), bool(data.get("persistent")), _stamp(float(expires)) if expires else None)

    @staticmethod
    def _live(data: dict[str, Any] | None) -> bool:
        return data is not None and (bool(data.get("persistent")) or float(data.get("expires") or 0) > time.time())

    # ---- locks
    def _lock_body(self, info: LockInfo) -> dict[str, Any]:
        return {"lock_id": info.lock_id, "app": info.app, "target": info.target, "holder": info.holder, "since": info.since,
                "operation": info.operation, "token": info.token, "persistent": info.persistent,
                "expires": None if info.persistent else time.time() + self.lease}

    def _attempt(self, app: str, target: str, operation: str, persistent: bool, read_only: bool) -> tuple[LockInfo | None, LockInfo | None]:
        exclusive = app == EXCLUSIVE
        key = self._lock_key(app, target)
        old, old_etag = self._get(key)
        if self._live(old):
            assert old is not None
            return None, self._info(old)
        if exclusive:
            token = int(time.time() * 1000)
        else:
            state, _ = self._get(self._pair(app, target))
            token = max(int((state or {}).get("fence", 0)), int((old or {}).get("token", 0))) + 1
        info = LockInfo(new_lock_id(), app, target, holder_identity(), now(), operation, token, persistent)
        try:
            etag = self._put(key, self._lock_body(info), if_match=old_etag) if old is not None else self._put(key, self._lock_body(info), create=True)
        except _Conflict:
            again, _ = self._get(key)
            return None, self._info(again) if again else LockInfo("(starting)", app, target, "another process that is just starting", now())
        # the other side of the exclusive lock: whoever put second steps back
        if exclusive:
            others = [d for d in (self._get(k)[0] for k in self._keys("locks/") if k != key) if self._live(d)]
            blocker = others[0] if others else None
        else:
            ex, _ = self._get(self._lock_key(EXCLUSIVE, EXCLUSIVE))
            blocker = ex if self._live(ex) else None
        if blocker is not None:
            self._delete(key, etag)
            return None, self._info(blocker)
        if not exclusive:
            self._raise_fence(app, target, token, mark_interrupted=not read_only)
        if not persistent:
            self._etags[info.lock_id] = etag
            self._start_renewer(key, info)
        return info, None

    def _raise_fence(self, app: str, target: str, token: int, *, mark_interrupted: bool) -> None:
        """The new holder's first write: from now on a write with an older token is refused."""
        while True:
            state, etag = self._get(self._pair(app, target))
            data = state or {"schema_version": SCHEMA_VERSION, "app": app, "target": target, "fence": 0, "revisions": []}
            data["fence"] = max(int(data.get("fence", 0)), token)
            if mark_interrupted:
                for r in data["revisions"]:
                    if r["status"] == "applying":
                        r.update(status="failed", finished_at=now(), message=INTERRUPTED)
            try:
                self._put(self._pair(app, target), data, if_match=etag) if etag else self._put(self._pair(app, target), data, create=True)
                return
            except _Conflict:
                continue

    def _start_renewer(self, key: str, info: LockInfo) -> None:
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(self.lease / 3):
                try:
                    data, etag = self._get(key)
                    if data is None or data.get("lock_id") != info.lock_id or etag is None:
                        return  # released or taken over: the next write will be refused by fencing
                    data["expires"] = time.time() + self.lease
                    self._etags[info.lock_id] = self._put(key, data, if_match=etag)
                except (_Conflict, PortableError):
                    continue  # try again at the next tick; the lease says how long we may

        thread = threading.Thread(target=renew, name=f"portable-lease-{info.lock_id}", daemon=True)
        self._renewers[info.lock_id] = (stop, thread)
        thread.start()

    def _stop_renewer(self, lock_id: str) -> None:
        pair = self._renewers.pop(lock_id, None)
        if pair is not None:
            pair[0].set()

    def _joined(self, app: str, target: str) -> LockInfo | None:
        lock_id = joined_lock_id()
        if lock_id is None:
            return None
        for candidate in (self._lock_key(EXCLUSIVE, EXCLUSIVE), self._lock_key(app, target)):
            data, _ = self._get(candidate)
            if data is not None and data.get("lock_id") == lock_id:
                return self._info(data)
        if any(d is not None and d.get("lock_id") == lock_id for d in (self._get(k)[0] for k in self._keys("locks/"))):
            return None  # a lock on another pair: it does not cover this one
        raise unknown_joined_lock(lock_id)

    def lock(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None, read_only: bool = False) -> AbstractContextManager[LockInfo]:
        return holding(self._held, app, target, lambda: self._joined(app, target), lambda: self._attempt(app, target, operation, False, read_only), wait, progress,
                       lambda info: self._release(app, target, info))

    def _release(self, app: str, target: str, info: LockInfo) -> None:
        self._stop_renewer(info.lock_id)
        try:
            data, etag = self._get(self._lock_key(app, target))
            if data is not None and data.get("lock_id") == info.lock_id:
                self._delete(self._lock_key(app, target), etag)
        except (_Conflict, PortableError):
            pass  # lost meanwhile, or the store failed: the error that brought us here is the one to show
        self._etags.pop(info.lock_id, None)

    def hold(self, app: str, target: str, operation: str, *, wait: float = 30.0, progress: Progress | None = None) -> LockInfo:
        subject = "the whole state store" if app == EXCLUSIVE else f"{app} on target {target}"
        return wait_for_lock(subject, lambda: self._attempt(app, target, operation, True, True), wait, progress)

    def _lock_objects(self) -> list[tuple[str, dict[str, Any], str]]:
        out = []
        for key in self._keys("locks/"):
            data, etag = self._get(key)
            if data is not None and etag is not None:
                out.append((key, data, etag))
        return out

    def unlock(self, lock_id: str) -> LockInfo:
        for key, data, etag in self._lock_objects():
            if data.get("lock_id") == lock_id:
                try:
                    self._delete(key, etag)
                except _Conflict:
                    raise StateError(f"lock {lock_id} changed while being released", hint="portable state list, then try again") from None
                return self._info(data)
        raise InputError(f"no lock with id {lock_id}", hint="portable state list shows the held locks")

    def locks(self) -> list[LockInfo]:
        return sorted((self._info(d) for _, d, _ in self._lock_objects() if self._live(d)), key=lambda i: i.since)

    # ---- revisions
    def _write(self, app: str, target: str, change: Callable[[list[dict[str, Any]]], Any]) -> Any:
        """Read, check the lock and the fence, change, compare-and-swap; again if someone wrote between."""
        held = self._held.get((app, target))
        if held is not None:
            cover, _ = self._get(self._lock_key(EXCLUSIVE, EXCLUSIVE) if held.exclusive else self._lock_key(app, target))
            if cover is None or cover.get("lock_id") != held.lock_id:
                raise lost_lock_error(self.url, held, self._info(cover) if cover else None)
        else:
            for key in (self._lock_key(EXCLUSIVE, EXCLUSIVE), self._lock_key(app, target)):
                data, _ = self._get(key)
                if self._live(data):
                    assert data is not None
                    raise locked_error(self._info(data))
        while True:
            state, etag = self._get(self._pair(app, target))
            data = state or {"schema_version": SCHEMA_VERSION, "app": app, "target": target, "fence": 0, "revisions": []}
            fence = int(data.get("fence", 0))
            if held is not None:
                if fence > held.token:
                    raise lost_lock_error(self.url, held, None)
                data["fence"] = max(fence, held.token)
            result = change(data["revisions"])
            try:
                self._put(self._pair(app, target), data, if_match=etag) if etag else self._put(self._pair(app, target), data, create=True)
                return result
            except _Conflict:
                continue

    def begin(self, app: str, target: str, kind: RevisionKind, manifest_digest: str, resources: list[Resource], message: str = "") -> Revision:
        crashpoint("state.before-begin")
        created = now()

        def add(revisions: list[dict[str, Any]]) -> Revision:
            number = max((int(r["revision"]) for r in revisions), default=0) + 1
            rev = Revision(app, target, number, kind, "applying", created, None, manifest_digest, list(resources), message)
            revisions.append(rev.record())
            return rev

        result: Revision = self._write(app, target, add)
        crashpoint("state.after-begin")
        return result

    def finish(self, revision: Revision, status: RevisionStatus, message: str = "") -> Revision:
        crashpoint("state.before-finish")
        done = Revision(revision.app, revision.target, revision.number, revision.kind, status, revision.created_at, now(), revision.manifest_digest, revision.resources, message or revision.message)

        def update(revisions: list[dict[str, Any]]) -> None:
            for i, r in enumerate(revisions):
                if int(r["revision"]) == revision.number:
                    revisions[i] = done.record()

        self._write(revision.app, revision.target, update)
        crashpoint("state.after-finish")
        return done

    def import_history(self, app: str, target: str, revisions: list[Revision]) -> None:
        def put_all(existing: list[dict[str, Any]]) -> None:
            if existing:
                raise history_taken(self.url, app, target)
            existing.extend(r.record() for r in revisions)

        self._write(app, target, put_all)

    def _revisions(self, app: str, target: str) -> list[Revision]:
        state, _ = self._get(self._pair(app, target))
        try:
            return [Revision.from_record(r) for r in (state or {}).get("revisions", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"the state store {self.url} is damaged: {self.prefix}{self._pair(app, target)} has a revision without {exc}") from None

    def history(self, app: str, target: str) -> list[Revision]:
        return sorted(self._revisions(app, target), key=lambda r: r.number)

    def current(self, app: str, target: str) -> Revision | None:
        done = [r for r in self.history(app, target) if r.status in ("deployed", "destroyed")]
        return done[-1] if done else None

    def latest(self, app: str, target: str) -> Revision | None:
        revs = self.history(app, target)
        return revs[-1] if revs else None

    def get(self, app: str, target: str, number: int) -> Revision:
        for r in self.history(app, target):
            if r.number == number:
                return r
        raise InputError(f"{app} has no revision {number} on target {target}", hint=f"portable history --target {target}")

    def deployments(self) -> Iterator[Revision]:
        pairs = []
        for key in self._keys("apps/"):
            parts = key.split("/")
            if len(parts) == 3 and parts[2].endswith(".json"):
                pairs.append((parts[1], parts[2][: -len(".json")]))
        for app, target in sorted(pairs):
            newest = self.latest(app, target)
            if newest is not None:
                yield newest
