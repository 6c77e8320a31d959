"""Logging in to vCenter and waiting for its tasks.

Credentials come from environment variables or a credentials file (never the manifest);
TLS is verified unless the target says `insecure: true`. One session per provider object,
opened on first use and shared by the engine's apply threads (pyVmomi's stub pools its
HTTP connections).
"""
from __future__ import annotations

import atexit
import email.utils
import http.client
import json
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from xml.etree import ElementTree

from pyVim.connect import Disconnect
from pyVmomi import SoapStubAdapter, VmomiSupport, vim, vmodl
from pyVmomi.VmomiSupport import GetServiceVersions
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_random_exponential

from portable.engine import cancel, outage
from portable.engine.retry import budgeted, marked, retry_budget, stop_after_budget, try_timeout
from portable.errors import AuthError, InputError, PortableError, RepeatAction, TargetError, TransientError
from portable.providers.vsphere.errors import NETWORK_ERRORS, AnswerLost, translate_fault
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
REPEAT_SAFE_METHODS = (*READ_METHODS, "Login")  # a repeated login opens one more session, nothing else
#: creates that must not be sent again on an answer lost after vCenter may have acted: their
#: caller looks for what the earlier try made first (machines.clone_vm)
LOOK_FIRST_METHODS = frozenset({"CloneVM_Task"})
#: statuses that say the request was refused before anything acted on it (throttled, or
#: the service or something in front of it unavailable): any call may be sent again
REFUSED_STATUSES = frozenset({429, 503})
REREAD_ATTEMPTS = 4  # a listing raced by deletions elsewhere is read this many times at most

_last_answer = threading.local()  # the Retry-After of the last answer this thread read


def _remember_retry_after(stub: Any) -> None:
    """Makes every connection of `stub` keep the Retry-After header of its last answer
    (pyVmomi turns a 429 into an HTTPException naming only the status)."""
    get_connection = stub.GetConnection

    def recording_connection() -> Any:
        conn = get_connection()
        if not getattr(conn, "_portable_records_retry_after", False):
            getresponse = conn.getresponse

            def getresponse_recorded(*args: Any, **kwargs: Any) -> Any:
                response = getresponse(*args, **kwargs)
                _last_answer.retry_after = response.getheader("Retry-After")
                return response

            conn.getresponse = getresponse_recorded
            conn._portable_records_retry_after = True
        return conn

    stub.GetConnection = recording_connection


def _retry_after_seconds(raw: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def refused_status(exc: BaseException) -> int | None:
    """The HTTP status of an answer that refused the call unprocessed (429, 503), else None."""
    if not isinstance(exc, http.client.HTTPException):
        return None
    head = str(exc).split(" ", 1)[0]
    status = int(head) if head.isdigit() else None
    return status if status in REFUSED_STATUSES else None


def retry_on_the_wire(stub: Any, attempts: int = 10) -> None:
    """Makes `stub` send a call again, with backoff and jitter within the retry budget, when
    * vCenter (or something in front of it) refused it unprocessed: 429 or 503, any call,
      after the Retry-After the answer gives;
    * or the answer of a call that changes nothing was lost or is an error page (a reset, a
      500 that is not a SOAP fault, unparsable XML): property reads, which pyVmomi makes lazily
      on attribute access, outside any Session.call, included.
    Any other failure of a call that changes something is left to Session.call; a lost answer
    to a create is marked so that it is retried only by its caller, which looks for what the
    earlier try made first (machines.clone_vm)."""
    _remember_retry_after(stub)
    invoke = stub.InvokeMethod

    def invoke_retrying(mo: Any, info: Any, args: Any, *rest: Any) -> Any:
        method = str(getattr(info, "wsdlName", ""))
        repeat_safe = method.startswith(REPEAT_SAFE_METHODS)
        start = time.monotonic()
        clock = outage.current()  # the run's: the budget counts since vCenter last answered, whichever loop saw it
        for attempt in range(1, attempts + 1):
            _last_answer.retry_after = None
            try:
                answer = invoke(mo, info, args, *rest)
            except NETWORK_ERRORS as exc:
                if clock is not None:
                    clock.failed()
                refused = refused_status(exc) is not None
                hinted = _retry_after_seconds(_last_answer.retry_after) if refused else None
                exc.retry_after = hinted  # type: ignore[union-attr]  # read by translate_fault
                if not (refused or repeat_safe):
                    exc.look_first = method in LOOK_FIRST_METHODS  # type: ignore[union-attr]
                    raise
                pause = min(hinted, 60.0) if hinted is not None else min(8.0, 0.3 * 2 ** attempt) * (0.5 + random.random() / 2)
                if attempt == attempts or max(time.monotonic() - start, outage.unanswered_seconds()) + pause > retry_budget():
                    raise
                cancel.pause(pause)
                continue
            except Exception:
                if clock is not None:
                    clock.answered()  # a fault is vCenter's answer
                raise
            if clock is not None:
                clock.answered()
            return answer
        raise AssertionError("unreachable")

    stub.InvokeMethod = invoke_retrying
    stub.portable_invoke_once = invoke  # for the logout at exit, which is not worth retrying


def _server_versions(body: bytes) -> set[str] | None:
    """The API version ids a vimServiceVersions.xml names (current and prior), None if it is not one."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    if root.tag != "namespaces":
        return None
    found: set[str] = set()
    for namespace in root.findall("namespace"):
        found.update(v.text or "" for v in [namespace.find("version"), *namespace.findall("priorVersions/version")] if v is not None)
    return found - {""}


def _repeatable(exc: BaseException) -> bool:
    """Worth sending again here: transient, and neither a create whose answer was lost nor one found done."""
    return isinstance(exc, TransientError) and not isinstance(exc, (AnswerLost, RepeatAction))


_backoff = wait_random_exponential(multiplier=0.5, max=8)


def _pause_hinted(state: RetryCallState) -> float:
    """The server's Retry-After when the failure carries one (capped), else jittered exponential backoff."""
    exc = state.outcome.exception() if state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if isinstance(hinted, (int, float)) and hinted > 0:
        return float(min(hinted, 60.0))
    return float(_backoff(state))


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
        """Logs in step by step (pyVim's SmartConnect in parts), so that each request is retried
        on its own: the version probe here, the service content and the login by the stub
        (retry_on_the_wire), instead of the whole three-request login being repeated."""
        user, password = read_credentials(self.settings)
        what = f"logging in to vCenter {self.where} as `{user}`"
        version = self._api_version()

        @retry(
            retry=retry_if_exception(_repeatable),
            wait=_pause_hinted,
            stop=stop_after_attempt(4) | stop_after_budget(60.0),  # and PORTABLE_RETRY_BUDGET
            reraise=True,
        )
        @marked
        def attempt() -> Any:
            try:
                stub = SoapStubAdapter(host=self.settings.host, port=self.settings.port, path="/sdk", version=version,
                                       sslContext=ssl_context(self.settings), connectionPoolTimeout=-1,
                                       httpConnectionTimeout=try_timeout())  # one hung request is one try, bounded
                retry_on_the_wire(stub)
                si = vim.ServiceInstance("ServiceInstance", stub)
                si.RetrieveContent().sessionManager.Login(user, password, None)
                return si
            except Exception as exc:  # noqa: BLE001 - mapped by type in translate_fault
                raise translate_fault(exc, what) from None

        return budgeted(attempt)()

    def _api_version(self) -> str:
        """The newest vSphere API version this pyVmomi and the server both speak, from the
        server's vimServiceVersions.xml (what SmartConnect asks first), retried on its own."""
        where = f"{self.where}/sdk/vimServiceVersions.xml"

        @retry(
            retry=retry_if_exception(_repeatable),
            wait=_pause_hinted,
            stop=stop_after_attempt(6) | stop_after_budget(60.0),  # and PORTABLE_RETRY_BUDGET
            reraise=True,
        )
        @marked
        def probe() -> str:
            conn = http.client.HTTPSConnection(self.settings.host, self.settings.port, context=ssl_context(self.settings), timeout=try_timeout())
            try:
                conn.request("GET", "/sdk/vimServiceVersions.xml")
                answer = conn.getresponse()
                body = answer.read()
            except Exception as exc:  # noqa: BLE001 - mapped by type in translate_fault
                raise translate_fault(exc, f"asking {where} for its API versions") from None
            finally:
                conn.close()
            if answer.status in REFUSED_STATUSES or answer.status >= 500:
                raise TransientError(f"{where} answered HTTP {answer.status} {answer.reason}; try again",
                                     retry_after=_retry_after_seconds(answer.getheader("Retry-After")))
            versions = _server_versions(body) if answer.status == 200 else None
            if versions is None:
                raise TargetError(f"{self.where} does not answer as a vSphere API endpoint (HTTP {answer.status} for /sdk/vimServiceVersions.xml): check `host` and `port`")
            for wanted in GetServiceVersions("vim25"):
                if VmomiSupport.versionIdMap[wanted] in versions:
                    return str(wanted)
            raise TargetError(f"vCenter {self.where} speaks none of the vSphere API versions this pyVmomi knows ({', '.join(sorted(versions))})")

        return budgeted(probe)()

    def _close(self) -> None:
        si, self._si = self._si, None
        if si is not None:
            stub = getattr(si, "_stub", None)
            once = getattr(stub, "portable_invoke_once", None)
            if once is not None:  # one try: a vCenter gone away must not keep the command alive after its error
                stub.InvokeMethod = once  # type: ignore[union-attr]
            try:
                Disconnect(si)
            except Exception:  # noqa: BLE001 - logging out at exit is best effort
                pass

    def call(self, what: str, fn: Callable[[], T], *, ignore: tuple[type, ...] = (), reread: bool = False) -> T:
        """Runs one API call, retrying transient failures with backoff and jitter (a server's
        Retry-After first), bounded by attempts and the retry budget. A create whose answer was
        lost (AnswerLost) is not sent again here: its caller looks for what it made first.

        A fault of a type in `ignore` (e.g. vim.fault.FileAlreadyExists) returns None.
        `reread`: `fn` only reads, looking its objects up afresh each time (a listing, the
        inventory lookup), so an object removed while it ran (by another client: vCenter is
        shared) means reading again, a few times, not failing.
        """
        tries = 0

        @retry(
            retry=retry_if_exception(_repeatable),
            wait=_pause_hinted,
            stop=stop_after_attempt(8) | stop_after_budget(60.0),  # and PORTABLE_RETRY_BUDGET
            reraise=True,
        )
        @marked
        def attempt() -> T:
            nonlocal tries
            tries += 1
            try:
                return fn()
            except ignore:
                return None  # type: ignore[return-value]
            except PortableError:
                raise
            except vmodl.fault.ManagedObjectNotFound as exc:
                if reread and tries < REREAD_ATTEMPTS:
                    raise TransientError(f"an object was removed from vCenter while {what}; reading again") from None
                raise translate_fault(exc, what) from None
            except Exception as exc:  # noqa: BLE001 - mapped by type in translate_fault
                raise translate_fault(exc, what) from None

        return budgeted(attempt)()

    def read(self, obj: Any, path: str, what: str) -> Any:
        """One property path of one object (None when unset), fetched by path.

        Reading `vm.runtime.powerState` through pyVmomi's accessor would fetch all of
        `runtime`; asking the property collector for the path alone is cheaper and keeps
        a server's odd value elsewhere in that object (vcsim sends an empty
        faultToleranceState) from failing the read.
        """

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
