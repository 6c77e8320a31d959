"""Defect: libcloud's errors carried the credentials. With `credentials_file` and the EC2
driver's signature version 2, a failed call's message quoted the signed request
(`/?Action=...&AWSAccessKeyId=...&Signature=...`), and portable printed it. Every
PortableError is now scrubbed (portable/scrub.py): query strings and credential-looking
values are gone from what is shown and what is stored."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from libcloud_support import LibcloudShop, libcloud_target
from ns_proxy import NamespaceProxy
from vm_shop import shop_with_target

from portable.errors import TargetError
from portable.scrub import scrub

pytestmark = pytest.mark.lab("moto")

ACCESS_KEY = "AKIASCRUBTEST0000001"
SECRET_KEY = "scrub-test-secret-key-do-not-print"


def test_a_failed_libcloud_call_prints_no_signature_or_key(libcloud_shop: LibcloudShop, moto_url: str, tmp_path: Path) -> None:
    shop = libcloud_shop
    (tmp_path / "creds.json").write_text(f'{{"key": "{ACCESS_KEY}", "secret": "{SECRET_KEY}"}}')
    with NamespaceProxy(moto_url) as gone:  # moto's port, closed again: the first call cannot connect
        port = gone.port
    target = libcloud_target(port, shop.region, f"    credentials_file: {tmp_path / 'creds.json'}\n").replace("signature_version: '4'", "signature_version: '2'")
    manifest = shop_with_target(tmp_path / "scrub", target)
    bare = {k: v for k, v in shop.env.items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    done = subprocess.run(
        [sys.executable, "-m", "portable.cli.main", "deploy", "--yes", "--target", "cloud", "-f", str(manifest), "--state", str(tmp_path / "s.db")],
        env=bare, capture_output=True, text=True, timeout=180,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Connection refused" in out and "Max retries exceeded with url: /?<redacted> " in out  # still says what failed
    assert ACCESS_KEY not in out and SECRET_KEY not in out
    assert "Signature=" not in out and "AWSAccessKeyId=" not in out
    assert "<redacted>" in out


def test_stored_and_shown_errors_lose_cloudstack_and_presigned_credentials() -> None:
    cloudstack = "could not list nodes: 432 for url http://10.0.0.1:8080/client/api?command=listVirtualMachines&apiKey=AK-1&response=json&signature=SG%2F2"
    presigned = "GET https://bucket.s3.amazonaws.com/a.tar?X-Amz-Credential=AKIAEXAMPLEEXAMPLE12%2F&X-Amz-Signature=abc failed"
    loose = "request failed: apiKey=AK-1&signature=SG%2F2 and Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE12/x, Signature=ff"
    for text in (cloudstack, presigned, loose):
        err = TargetError(text, hint=f"retry; key id {ACCESS_KEY}")
        shown = str(err)
        assert "AK-1" not in shown and "SG%2F2" not in shown and "AKIAEXAMPLE" not in shown and "X-Amz-Signature=abc" not in shown
        assert ACCESS_KEY not in shown
    assert scrub(cloudstack) == "could not list nodes: 432 for url http://10.0.0.1:8080/client/api?<redacted>"
    assert scrub(scrub(cloudstack)) == scrub(cloudstack)  # errors built from errors are scrubbed again: stable
    # what is not a credential stays: messages still name the call and the field
    assert scrub("services.web.secrets[0]: secret `token` reads environment variable DEMO_TOKEN, which is not set") == \
        "services.web.secrets[0]: secret `token` reads environment variable DEMO_TOKEN, which is not set"
    assert scrub("export DEMO_TOKEN=... before deploying") == "export DEMO_TOKEN=... before deploying"
