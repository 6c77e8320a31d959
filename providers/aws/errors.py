"""Maps boto3/botocore failures to portable errors, once, by error code; retries transient ones.

Every AWS call of the provider goes through `call`: throttling and 5xx are retried with
exponential backoff and jitter (bounded), anything else fails at once as ONE sentence that
names the object and says what to fix.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError as BotoConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    WaiterError,
)
from botocore.parsers import ResponseParserError

from portable.engine import cancel
from portable.engine.retry import retry_transient
from portable.errors import AuthError, InputError, NotFoundError, PortableError, RepeatAction, TargetError, TransientError

T = TypeVar("T")

AUTH_CODES = frozenset({
    "AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
    "AccessDenied", "AccessDeniedException", "ExpiredToken", "ExpiredTokenException",
    "UnrecognizedClientException", "OptInRequired", "InvalidAccessKeyId",
})
TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "SlowDown", "ServiceUnavailable",
    "Unavailable", "InternalError", "InternalFailure", "InsufficientInstanceCapacity",
    "PriorRequestNotComplete", "IncorrectState",
})
NOT_FOUND_CODES = frozenset({
    "LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "NoSuchHostedZone",
    "InvalidAMIID.Malformed", "ParameterNotFound", "InvalidKeyPair.NotFound",
})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _retry_after(exc: ClientError) -> float | None:
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    try:
        return float(headers["retry-after"])
    except (KeyError, ValueError):
        return None


def map_client_error(exc: ClientError, action: str, what: str) -> PortableError:
    """One sentence for a ClientError: which object, what AWS said, what to do."""
    code = error_code(exc)
    said = exc.response.get("Error", {}).get("Message") or code
    if code in AUTH_CODES:
        return AuthError(
            f"AWS refused to {action} {what} ({code}): {said}",
            hint="check the credentials boto3 finds (AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO login) and their IAM permissions",
        )
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in TRANSIENT_CODES or status >= 500 or status == 429:  # 429: throttled, whatever the body says
        return TransientError(f"AWS is busy and could not {action} {what} ({code or status}); try again", retry_after=_retry_after(exc))
    if code in NOT_FOUND_CODES or code.endswith(".NotFound") or code.endswith("NotFound"):
        return NotFoundError(f"could not {action} {what}: {said} ({code})", hint="check the ids in the target's settings (ami, vpc_id, subnet_ids, key_name, hosted_zone)")
    return TargetError(f"could not {action} {what}: {said} ({code})")


def map_error(exc: Exception, action: str, what: str) -> PortableError:
    """Any boto3/botocore exception as a portable error."""
    if isinstance(exc, PortableError):
        return exc
    if isinstance(exc, ClientError):
        return map_client_error(exc, action, what)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return AuthError(f"no AWS credentials found to {action} {what}", hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`")
    if isinstance(exc, ProfileNotFound):
        return AuthError(
            f"AWS profile `{exc.kwargs.get('profile', '?')}` (AWS_PROFILE or the target's `profile`) is not in the AWS config files, so there are no credentials to {action} {what}",
            hint="name a profile of ~/.aws/config or ~/.aws/credentials, or unset AWS_PROFILE to use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, NoRegionError):
        return InputError("no AWS region is configured", hint="set `region` on the target or AWS_REGION")
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):  # HTTPClientError: closed before the answer, read timeouts
        return TransientError(f"could not reach AWS to {action} {what}: {exc}")
    if isinstance(exc, ResponseParserError):  # an error page instead of AWS's answer (a proxy's 5xx or 429 in between)
        return TransientError(f"AWS answered with something that is not an AWS response while trying to {action} {what}; try again")
    if isinstance(exc, WaiterError):
        return TargetError(f"gave up waiting to {action} {what}: {exc.last_response.get('Error', {}).get('Message', exc) if isinstance(exc.last_response, dict) else exc}")
    if isinstance(exc, BotoCoreError):
        return TargetError(f"could not {action} {what}: {exc}")
    raise exc


def _already_done(exc: ClientError) -> bool:
    """The error a repeated create gets when its first try went through (the answer was lost)."""
    code = error_code(exc)
    return code.endswith(("Duplicate", "AlreadyExists", "AlreadyExistsException")) or code.startswith("Duplicate")


def call(fn: Callable[..., T], *args: Any, action: str, what: str, attempts: int = 8, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` with AWS errors mapped and transient ones retried (bounded).

    A retried call whose first try may have reached AWS is not trusted blindly: a create that
    now finds its object already there raises RepeatAction, so the action runs again and
    finds (and keeps) that object instead of failing; a delete that finds its object gone is done."""
    tries = 0

    @retry_transient(attempts=attempts, max_seconds=90.0)
    def once() -> T:
        nonlocal tries
        tries += 1
        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            if tries > 1 and _already_done(exc):
                raise RepeatAction(f"{what} already exists after a retried attempt to {action} it; looking again") from exc
            mapped = map_error(exc, action, what)
            if tries > 1 and action in ("delete", "terminate") and isinstance(mapped, NotFoundError):
                return None  # type: ignore[return-value]  # the first try deleted it
            raise mapped from exc
        except (BotoCoreError, ResponseParserError) as exc:
            raise map_error(exc, action, what) from exc

    return once()


IN_USE_CODES = frozenset({"DependencyViolation", "ResourceInUse", "VolumeInUse", "IncorrectState"})


def _gone(code: str) -> bool:
    return code.endswith("NotFound")


def delete_until_free(delete: Callable[[], Any], what: str, timeout: float, *, pause: float = 3.0) -> None:
    """Runs `delete` until AWS stops answering that something still uses the object (bounded by
    `timeout`); an object already gone is deleted. Each try goes through `call`, so a dropped
    connection or a 5xx on the way is retried like any other call, not taken for a refusal."""
    deadline = time.monotonic() + timeout

    def once() -> bool:
        try:
            delete()
            return True
        except ClientError as exc:
            code = error_code(exc)
            if _gone(code):
                return True  # gone already, or the first try of a retried call deleted it
            if code in IN_USE_CODES and time.monotonic() <= deadline:
                return False
            raise

    while not call(once, action="delete", what=what):
        cancel.pause(pause)  # ends at once on Ctrl-C inside an apply
