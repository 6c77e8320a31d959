"""The one documented exception tree of portable.

Every failure a user can see is a `PortableError`; its `exit_code` is what the CLI returns
(2 for invalid input, 1 for a failed operation). Its text is scrubbed of credentials
(portable.scrub) when it is made. Providers map their SDK's exceptions to
these at their boundary, once, so the core never inspects SDK types.
"""
from __future__ import annotations

from dataclasses import dataclass

from portable.scrub import scrub


class PortableError(Exception):
    """Base of every error portable raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # SDK errors quote signed request URLs and keys: cleaned here, once, for every
        # provider, before the text is shown, recorded in a revision or journaled
        message = scrub(message)
        hint = scrub(hint) if hint else hint
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, located in its file."""

    path: str  # field path, e.g. services.web.ports[0].port
    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    hint: str | None = None

    def render(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}:{self.column or 1}"
            where += ": "
        field = f"{self.path}: " if self.path else ""
        text = f"{where}{field}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputError(PortableError):
    """Invalid input (manifest, flags, files): exit code 2, nothing is changed anywhere."""

    exit_code = 2


class ManifestError(InputError):
    """The manifest is invalid; carries every problem found, each with its location."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [p.render() for p in problems]
        super().__init__("\n".join(lines) if lines else "invalid manifest")


class MissingExtraError(InputError):
    """A provider's SDK is not installed; says which extra to install."""


class TargetError(PortableError):
    """The target refused or failed an operation (permanent)."""


class TransientError(TargetError):
    """A failure worth retrying (throttling, timeouts, 5xx). `retry_after` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class RepeatAction(TransientError):
    """A call found its create already done by an earlier try whose answer was lost: not worth
    repeating the call, but the whole action is, since it looks for what exists first."""


class Cancelled(TargetError):
    """The run was abandoned (Ctrl-C) while this action waited; never retried."""


class AuthError(TargetError):
    """Credentials are missing or refused."""


class NotFoundError(TargetError):
    """Something the operation needs does not exist on the target."""


class HealthCheckError(TargetError):
    """A new revision did not become healthy; the previous one keeps serving."""

    def __init__(self, message: str, *, details: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.details = scrub(details)

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n{self.details}" if self.details else base


class StateError(PortableError):
    """The state store is unusable (corrupt, newer schema, unreachable)."""


class StateLockedError(StateError):
    """Another operation holds the lock for this app and target."""

    def __init__(self, message: str, *, lock_id: str, holder: str, since: str) -> None:
        super().__init__(message, hint=f"if that process is gone: portable state unlock {lock_id}")
        self.lock_id = lock_id
        self.holder = holder
        self.since = since


class CapabilityError(InputError):
    """The manifest asks for something the chosen target cannot do."""


class MigrationError(PortableError):
    """A migration step failed; the source keeps serving."""
