"""Removes credentials from error text before anyone sees it or it is stored.

SDKs put the request in their exceptions: libcloud's EC2 driver the signed URL
(`?AWSAccessKeyId=...&Signature=...`), CloudStack `apiKey=...&signature=...`, botocore and
presigned URLs `X-Amz-Credential`/`X-Amz-Signature`, HTTP clients an `Authorization:` header.
Every `PortableError` passes its message and hint through `scrub` (portable.errors), so every
provider's failures are cleaned in one place, whether they are printed, recorded as a
revision's message or written to the migration journal.

What goes: the query string of every http(s) URL and request path (request parameters are where signatures
and keys travel; the path is kept, so the message still says which call failed), the value
of any `name=value` / `name: value` pair whose name reads like a credential, Authorization
headers, and strings shaped like AWS access key ids.
"""
from __future__ import annotations

import re

REDACTED = "<redacted>"

# a parameter or field named like a credential: ends in one of these words, or is x-amz-*
_CREDENTIAL_NAME = (
    r"(?:[A-Za-z0-9_.-]*(?:key|keyid|secret|signature|password|passwd|token|credential|credentials)"
    r"|x-amz-[a-z-]+)(?![A-Za-z0-9_.-])"
)
# a URL's query string, or a request path's (urllib3: "Max retries exceeded with url: /?Action=...")
_URL_QUERY = re.compile(r"(?P<head>\bhttps?://[^\s?#'\"<>]+|(?<![\w/.~-])/[^\s?#'\"<>]*)\?(?!<)[^\s#'\"<>]+", re.IGNORECASE)
_PAIR = re.compile(
    rf"(?P<name>\b{_CREDENTIAL_NAME})(?P<sep>\s*=\s*|[\"']?\s*:\s*[\"']?)(?P<value>[^\s&,;'\"<>)\]}}]+)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"(?P<name>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\r\n'\"]+)", re.IGNORECASE)
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")


def _pair(match: re.Match[str]) -> str:
    value = match.group("value")
    if value == REDACTED or value[0] in "<${" or set(value) == {"."}:  # placeholders in hints
        return match.group(0)
    return f"{match.group('name')}{match.group('sep')}{REDACTED}"


def scrub(text: str) -> str:
    """`text` without query strings of http(s) URLs and without credential-looking values."""
    if not text:
        return text
    text = _URL_QUERY.sub(lambda m: f"{m.group('head')}?{REDACTED}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group('name')}{REDACTED}", text)
    text = _PAIR.sub(_pair, text)
    return _ACCESS_KEY_ID.sub(REDACTED, text)
