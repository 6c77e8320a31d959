"""vSphere faults -> portable errors: one table, matched by fault type, once, at the boundary.

Every vSphere call of the provider goes through `connection.Session.call` (or its task wait,
which raises task faults the same way), so a user sees one sentence naming the object and
what to fix, never a SOAP dump. Transient faults become TransientError, which callers may retry.
"""
from __future__ import annotations

import http.client
import socket
import ssl
from xml.parsers.expat import ExpatError
from collections.abc import Callable
from typing import Any

from pyVmomi import vim, vmodl

from portable.errors import (
    AuthError,
    NotFoundError,
    PortableError,
    TargetError,
    TransientError,
)

Sentence = Callable[[Any, str], str]


class AnswerLost(TransientError):
    """A create's answer was lost after vCenter may have acted on it (a reset, an error page):
    Session.call does not send it again; its caller retries after looking for what the earlier
    try made (machines.clone_vm), so a retry never makes a second VM."""


def _name(obj: Any) -> str:
    """A readable name for a managed object reference carried in a fault."""
    if obj is None:
        return "the object"
    try:
        return f"`{obj.name}`"
    except Exception:  # noqa: BLE001 - a stale or unreadable reference: show its id
        return f"`{getattr(obj, '_moId', obj)}`"


def _privileges(fault: Any) -> str:
    missing = [p.privilegeIds for p in (getattr(fault, "missingPrivileges", None) or [])]
    flat = sorted({p for group in missing for p in group}) or [getattr(fault, "privilegeId", "") or "?"]
    return ", ".join(flat)


# Most specific first: the first isinstance match wins.
FAULTS: list[tuple[type, type[PortableError], Sentence]] = [
    (vim.fault.InvalidLogin, AuthError,
     lambda f, what: f"vCenter refused the login while {what}: check the user name and password (VSPHERE_USER / VSPHERE_PASSWORD or the credentials file)"),
    (vim.fault.NotAuthenticated, AuthError,
     lambda f, what: f"the vCenter session is not authenticated while {what}: log in again with valid credentials"),
    (vim.fault.InvalidGuestLogin, AuthError,
     lambda f, what: f"the guest OS refused the account VMware Tools runs commands as while {what}: check VSPHERE_GUEST_USER / VSPHERE_GUEST_PASSWORD "
                     "(or the variables the target's `guest_user_env` / `guest_password_env` name)"),
    (vim.fault.GuestOperationsUnavailable, TargetError,
     lambda f, what: f"VMware Tools in the guest do not answer while {what}: check that the VM runs open-vm-tools and has finished booting"),
    (vim.fault.NoPermission, AuthError,
     lambda f, what: f"the vCenter user lacks privilege {_privileges(f)} on {_name(getattr(f, 'object', None))} while {what}: grant it to the user's role"),
    (vim.fault.InsufficientStorageSpace, TargetError,
     lambda f, what: f"not enough datastore space while {what}: free space or choose another `datastore`"),
    (vim.fault.NoDiskSpace, TargetError,
     lambda f, what: f"datastore {getattr(f, 'datastore', '') or ''} is full while {what}: free space or choose another `datastore`"),
    (vim.fault.InsufficientResourcesFault, TargetError,
     lambda f, what: f"the cluster or resource pool has not enough CPU or memory while {what}: lower the service's `resources` or free capacity ({f.msg or 'insufficient resources'})"),
    (vim.fault.DuplicateName, TargetError,
     lambda f, what: f"a VM or object named `{f.name}` already exists while {what}: remove or rename it, or choose another `folder`"),
    (vim.fault.FileNotFound, NotFoundError,
     lambda f, what: f"file {getattr(f, 'file', '') or ''} is missing on the datastore while {what}: check the template's disks and the `datastore` setting"),
    (vim.fault.FileAlreadyExists, TargetError,
     lambda f, what: f"file {getattr(f, 'file', '') or ''} already exists on the datastore while {what}: remove it or choose another `datastore`"),
    (vim.fault.InvalidDatastore, TargetError,
     lambda f, what: f"the datastore cannot be used while {what}: check the `datastore` setting ({f.msg or 'invalid datastore'})"),
    (vim.fault.InvalidPowerState, TargetError,
     lambda f, what: f"the VM is {getattr(f, 'existingState', 'in another power state')} while {what}: power it on or off in vCenter and retry"),
    (vim.fault.TaskInProgress, TransientError,
     lambda f, what: f"another vCenter task is busy with the object while {what}: retry when it finishes"),
    (vmodl.fault.HostCommunication, TransientError,
     lambda f, what: f"vCenter lost contact with a host while {what}: retry when the host is connected"),
    (vmodl.fault.ManagedObjectNotFound, NotFoundError,
     lambda f, what: f"an object was removed from vCenter while {what}: run the command again"),
    (vim.fault.NotFound, NotFoundError,
     lambda f, what: f"vCenter could not find an object while {what}: {f.msg or 'check the target settings'}"),
    (vim.fault.InvalidVmConfig, TargetError,
     lambda f, what: f"vCenter rejected the VM configuration while {what}: {f.msg or 'check cpus, memory and disks'}"),
    (vmodl.fault.InvalidArgument, TargetError,
     lambda f, what: f"vCenter rejected an argument {getattr(f, 'invalidProperty', '') or ''} while {what}: {f.msg or 'check the target settings'}"),
    (vmodl.MethodFault, TargetError,
     lambda f, what: f"vCenter failed while {what}: {f.msg or type(f).__name__}"),
]

NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ExpatError,  # an error page where SOAP belongs (a 500 from something in between vCenter and us)
    ConnectionError,
    socket.timeout,
    TimeoutError,
    http.client.HTTPException,
    ssl.SSLEOFError,  # the TLS connection cut (vCenter, or what is in front of it, went away): a dropped connection
    ssl.SSLZeroReturnError,
)


def translate_fault(exc: BaseException, what: str) -> PortableError:
    """The portable error for `exc`, raised while doing `what` (e.g. "cloning VM shop-web-1")."""
    if isinstance(exc, PortableError):
        return exc
    if isinstance(exc, vim.fault.HostConnectFault) and isinstance(exc.__context__, NETWORK_ERRORS):
        # pyVim's login wraps a dropped connection (reset, timeout) in HostConnectFault: worth retrying
        return TransientError(f"the connection to vCenter failed while {what}: {exc.__context__}")
    for fault_type, error_type, sentence in FAULTS:
        if isinstance(exc, fault_type):
            return error_type(sentence(exc, what))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TargetError(
            f"vCenter's TLS certificate is not trusted while {what} ({exc.verify_message}): "
            "set `ca_file` to its CA bundle, or `insecure: true` for a lab"
        )
    if isinstance(exc, NETWORK_ERRORS):
        # connection.retry_on_the_wire marks what it gave up on: a server's Retry-After, a create's lost answer
        if getattr(exc, "look_first", False):
            return AnswerLost(f"the answer of vCenter was lost while {what}: {exc or type(exc).__name__}")
        retry_after = getattr(exc, "retry_after", None)
        return TransientError(f"the connection to vCenter failed while {what}: {exc or type(exc).__name__}",
                              retry_after=retry_after if isinstance(retry_after, (int, float)) else None)
    if isinstance(exc, OSError):
        return TargetError(f"cannot reach vCenter while {what}: {exc.strerror or exc}; check `host` and `port`")
    raise exc

