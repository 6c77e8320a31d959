"""Logging in to vCenter and waiting for its tasks.

Credentials come from environment variables or a credentials file (never the manifest);
TLS is verified unless the target says `insecure: true`. One session per provider object,
opened on first use and shared by the engine's apply threads (pyVmomi's stub pools its
HTTP connections).
"""
from __future__ import annotations

import atexit
import json
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from portable.engine import cancel
from portable.engine.retry import retry_budget, stop_after_budget
from portable.errors import AuthError, InputError, PortableError, TargetError, TransientError
from portable.providers.vsphere.errors import NETWORK_ERRORS, translate_fault
from portable.providers.vsphere.settings import VsphereSettings

T = TypeVar("T")
IGNORED = object()  # what wait_for_task returns for a fault it was told to ignore


def read_credentials(settings: VsphereSettings, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(user, password) from the environment variables, else the credentials file."""
    env = os.environ if env is None else env
    user, password = env.get(settings.user_env), env.get(settings.password_env)
    if user and password is not None:
        return user, password
    if settings.credentials_file:
        path = Path(settings.credentials_file).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise InputError(f"the vSphere credentials file {path} cannot be read: {exc.strerror}") from None
        found = _parse_credentials(text)
        if found.get("user") and "password" in found:
            return found["user"], found["password"]
        raise InputError(f"the vSphere credentials file {path} needs `user` and `password` entries")
    raise AuthError(
        f"no vSphere credentials: set {settings.user_env} and {settings.password_env}",
        hint="or point `credentials_file` at a file with user=... and password=... lines",
    )


def _parse_credentials(text: str) -> dict[str, str]:
    """A JSON object, or `key=value` / `key: value` lines (# comments allowed)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            return {}
        return {str(k).lower(): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        sep = "=" if "=" in line else ":"
        key, _, value = line.partition(sep)
        out[key.strip().lower().removeprefix("vsphere_")] = value.strip()
    if "username" in out and "user" not in out:
        out["user"] = out["username"]
    return out


def ssl_context(settings: VsphereSettings) -> ssl.SSLContext:
    """Verified by default (also on localhost, where pyVmomi would otherwise skip checks)."""
    if settings.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=settings.ca_file)


READ_METHODS = ("Fetch", "Retrieve", "Find", "Query", "WaitForUpdates", "CurrentTime", "CreateContainerView")  # change nothing (a view is a read cursor)


def retry_reads(stub: Any, attempts: int = 6) -> None:
    """Makes `stub` retry the calls that change nothing (property reads, which pyVmomi makes
    lazily on attribute access, outside any Session.call) when the answer is lost or is an
    error page (a reset, a 429/5xx from something in between, unparsable XML), with backoff
    and jitter within the retry budget. Calls that change something are left to Session.call,
    and creates look before they are repeated (machines.clone_vm)."""
    invoke = stub.InvokeMethod

    def invoke_retrying(mo: Any, info: Any, args: Any, *rest: Any) -> Any:
        if not str(getattr(info, "wsdlName", "")).startswith(READ_METHODS):
            return invoke(mo, info, args, *rest)
        start = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                return invoke(mo, info, args, *rest)
            except NETWORK_ERRORS:
                pause = min(8.0, 0.3 * 2 ** attempt) * (0.5 + random.random() / 2)
                if attempt == attempts or time.monotonic() - start + pause > retry_budget():
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")

    stub.InvokeMethod = invoke_retrying


class Session:
    """A lazily opened, shared vCenter session for one target."""

    def __init__(self, settings: VsphereSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._si: Any = None
        self._content: Any = None

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def service_instance(self) -> Any:
        with self._lock:
            if self._si is None:
                self._si = self._connect()
                atexit.register(self._close)
            return self._si

    @property
    def content(self) -> Any:
        """The ServiceContent (managers, root folder), fetched once per session."""
        si = self.service_instance()
        with self._lock:
            if self._content is None:
                self._content = self.call("reading vCenter's service content", si.RetrieveContent)
            return self._content

    def _connect(self) -> Any:
        user, password = read_credentials(self.settings)
        what = f"logging in to vCenter {self.where} as `{user}`"

        @retry(
            retry=retry_if_exception_type(TransientError),
            wait=wait_random_exponential(multiplier=0.5, max=8),
            stop=stop_after_attempt(4) | stop_after_budget(60.0),  # and PORTABLE_RETRY_BUDGET
            reraise=True,
        )
        def attempt() -> Any:
            try:
                si = SmartConnect(
                    host=self.settings.host,
                    port=self.settings.port,
                    user=user,
                    pwd=password,
                    sslContext=ssl_context(self.settings),
                    connectionPoolTimeout=-1,
                )
                retry_reads(si._stub)
                return si
            except Exception as exc:  # noqa: BLE001 - mapped by type in translate_fault
                if type(exc) is Exception and "is not a VIM server" in str(exc):
                    # SmartConnect raises a bare Exception when no SOAP endpoint answers, or when its
                    # version probe got an error page (a 429/5xx in between): retried a few times
                    raise TransientError(f"{self.where} does not answer as a vSphere API endpoint: check `host` and `port`") from None
                raise translate_fault(exc, what) from None

        return attempt()

    def _close(self) -> None:
        si, self._si = self._si, None
        if si is not None:
            try:
                Disconnect(si)
            except Exception:  # noqa: BLE001 - logging out at exit is best effort
                pass

    def call(self, what: str, fn: Callable[[], T], *, ignore: tuple[type, ...] = ()) -> T:
        """Runs one API call, retrying transient failures with backoff and jitter.

        A fault of a type in `ignore` (e.g. vim.fault.FileAlreadyExists) returns None.
        """

        @retry(
            retry=retry_if_exception_type(TransientError),
            wait=wait_random_exponential(multiplier=0.5, max=10),
            stop=stop_after_attempt(5) | stop_after_budget(60.0),  # and PORTABLE_RETRY_BUDGET
            reraise=True,
        )
        def attempt() -> T:
            try:
                return fn()
            except ignore:
                return None  # type: ignore[return-value]
            except PortableError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped by type in translate_fault
                raise translate_fault(exc, what) from None

        return attempt()

    def read(self, obj: Any, path: str, what: str) -> Any:
        """One property path of one object (None when unset), fetched by path.

        Reading `vm.runtime.powerState` through pyVmomi's accessor would fetch all of
        `runtime`; asking the property collector for the path alone is cheaper and keeps
        a server's odd value elsewhere in that object (vcsim sends an empty
        faultToleranceState) from failing the read.
        """
        from pyVmomi import vmodl

        pc = vmodl.query.PropertyCollector
        spec = pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=obj)],
            propSet=[pc.PropertySpec(type=type(obj), pathSet=[path])],
        )
        result = self.call(what, lambda: self.content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions()))
        for content in (result.objects if result is not None else []):
            for prop in content.propSet or []:
                if prop.name == path:
                    return prop.val
        return None

    def wait_for_task(self, task: Any, what: str, timeout: float = 600.0, *, ignore: tuple[type, ...] = ()) -> Any:
        """Waits for a vCenter task; its fault becomes one sentence about `what`.

        A fault of a type in `ignore` makes it return IGNORED instead.
        """
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            # by path: some servers (vcsim) name a non-ManagedEntity as a task's `entity`,
            # which pyVmomi refuses when it reads `info` whole
            state = self.read(task, "info.state", what)
            if state == vim.TaskInfo.State.success:
                return self.read(task, "info.result", what)
            if state == vim.TaskInfo.State.error:
                error = self.read(task, "info.error", what)
                fault = getattr(error, "fault", error)  # LocalizedMethodFault wraps the fault
                if isinstance(fault, ignore):
                    return IGNORED
                raise translate_fault(fault, what)
            if time.monotonic() > deadline:
                raise TargetError(f"vCenter task for {what} did not finish within {int(timeout)}s")
            cancel.pause(delay)
            delay = min(delay * 1.5, 2.0)
