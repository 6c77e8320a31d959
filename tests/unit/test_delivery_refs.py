"""Image references and `targets.<t>.registry` as a user writes them (pure: no lab)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from portable.delivery.refs import ImageRef
from portable.delivery.settings import ImageRegistry

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("ref", "host", "repo", "tag", "digest"), [
    ("lab/web:1", None, "lab/web", "1", None),
    ("busybox", None, "busybox", None, None),
    ("127.0.0.1:5000/lab/web:1", "127.0.0.1:5000", "lab/web", "1", None),
    ("localhost/a/b", "localhost", "a/b", None, None),
    ("ghcr.io/o/app@" + DIGEST, "ghcr.io", "o/app", None, DIGEST),
    ("registry:5000/app:v2@" + DIGEST, "registry:5000", "app", "v2", DIGEST),
])
def test_references_split_as_docker_splits_them(ref: str, host: str | None, repo: str, tag: str | None, digest: str | None) -> None:
    parsed = ImageRef.parse(ref)
    assert (parsed.host, parsed.repository, parsed.tag, parsed.digest) == (host, repo, tag, digest)
    assert str(parsed) == ref


def test_a_pinned_reference_keeps_host_and_repository_and_drops_the_tag() -> None:
    parsed = ImageRef.parse("127.0.0.1:5000/cd/web:live")
    assert not parsed.pinned
    assert parsed.with_digest(DIGEST) == f"127.0.0.1:5000/cd/web@{DIGEST}"
    assert ImageRef.parse(parsed.with_digest(DIGEST)).pinned


def test_registry_shorthand_names_server_and_prefix() -> None:
    reg = ImageRegistry.model_validate("127.0.0.1:5000/team/app")
    assert (reg.server, reg.prefix, reg.pushes) == ("127.0.0.1:5000", "team/app", True)
    assert reg.repository("shop", "web") == "127.0.0.1:5000/team/app/shop-web"
    assert not ImageRegistry.model_validate("ghcr.io").pushes  # no prefix: pull-only, nothing pinned


def test_a_username_without_password_from_is_refused() -> None:
    with pytest.raises(ValidationError, match="username and password_from go together"):
        ImageRegistry.model_validate({"server": "ghcr.io", "username": "ci"})
    with pytest.raises(ValidationError):
        ImageRegistry.model_validate({"server": "ghcr.io", "username": "ci", "password_from": "hunter2"})  # a literal is no source
