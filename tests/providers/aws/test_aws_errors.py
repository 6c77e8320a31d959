"""AWS failures as users see them: one sentence, the right portable error, throttling retried."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from portable.errors import AuthError, NotFoundError, TargetError, TransientError
from portable.providers.aws.errors import call, map_client_error


def client_error(code: str, status: int = 400, message: str = "it went wrong", retry_after: str | None = None) -> ClientError:
    headers = {"retry-after": retry_after} if retry_after else {}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers}}, "RunInstances")


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("AuthFailure", 401, AuthError), ("UnauthorizedOperation", 403, AuthError), ("InvalidClientTokenId", 403, AuthError),
        ("Throttling", 400, TransientError), ("RequestLimitExceeded", 503, TransientError), ("InternalError", 500, TransientError),
        ("InvalidAMIID.NotFound", 400, NotFoundError), ("InvalidSubnetID.NotFound", 400, NotFoundError), ("TargetGroupNotFound", 400, NotFoundError),
        ("InvalidParameterValue", 400, TargetError),
    ],
)
def test_client_errors_map_by_code(code: str, status: int, kind: type) -> None:
    error = map_client_error(client_error(code, status), "start", "an instance of web")
    assert type(error) is kind
    assert "\n" not in error.message and "an instance of web" in error.message


def test_throttling_is_retried_and_permanent_errors_are_not() -> None:
    calls: list[str] = []

    def throttled_twice() -> str:
        calls.append("x")
        if len(calls) < 3:
            raise client_error("RequestLimitExceeded", 503, retry_after="0.01")
        return "done"

    assert call(throttled_twice, action="start", what="web") == "done" and len(calls) == 3

    refused: list[str] = []

    def unauthorized() -> None:
        refused.append("x")
        raise client_error("UnauthorizedOperation", 403, "You are not authorized to perform this operation.")

    with pytest.raises(AuthError, match=r"AWS refused to start web \(UnauthorizedOperation\)"):
        call(unauthorized, action="start", what="web")
    assert len(refused) == 1
