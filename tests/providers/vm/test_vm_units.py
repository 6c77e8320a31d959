"""The shared VM runtime without any engine: specs, revisions, sizing, secrets in user data."""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from portable.errors import InputError
from portable.manifest.model import Resources
from portable.providers.vm import (
    InstanceSize,
    fit_user_data,
    instance_groups,
    render_cloud_init,
    resolve_group_secrets,
    select_instance_size,
    volume_resources,
)
from vm_shop import lab_env, load_shop

CATALOGUE = [InstanceSize("small", 1, 1024), InstanceSize("medium", 2, 4096), InstanceSize("large", 4, 16384)]


def groups(app, behind_lb=True):
    return {g.name: g for g in instance_groups(app, size_for=lambda n, s: "medium", behind_load_balancer=behind_lb)}


def test_group_spec_of_shop_is_secret_free_and_deterministic(tmp_path: Path) -> None:
    app = load_shop(tmp_path, lab_env())
    first, second = groups(app), groups(app)
    assert {n: g.digest for n, g in first.items()} == {n: g.digest for n, g in second.items()}
    api = first["api"].spec
    assert api["secrets"] == [{"name": "api-token", "path": "/run/secrets/api-token", "digest": "unkeyed"}]  # no key bound: render
    assert "tok-3f9a-not-for-logs" not in repr([g.spec for g in first.values()])
    assert first["web"].spec["replicas"] == 2
    assert first["web"].spec["ports"][0]["host_port"] == 8080  # the LB listens on 8000
    assert first["kv"].depends_on == ("volume/data",)
    assert set(first["worker"].depends_on) == {"instance-group/api", "instance-group/kv"}


def test_a_rotated_secret_changes_the_revision_with_a_keyed_digest(tmp_path: Path) -> None:
    """Defect: the group spec held secret names only, so a changed value planned nothing."""
    key = b"\x01" * 32
    one = replace(load_shop(tmp_path / "a", lab_env()), digest_key=lambda: key)
    two = replace(load_shop(tmp_path / "b", lab_env(SHOP_API_TOKEN="tok-rotated-value")), digest_key=lambda: key)
    api_one, api_two = groups(one)["api"].spec, groups(two)["api"].spec
    assert api_one["revision"] != api_two["revision"]
    assert groups(one)["web"].spec["revision"] == groups(two)["web"].spec["revision"]  # web mounts no secret
    digest = api_one["secrets"][0]["digest"]
    assert len(digest) == 16 and "tok-3f9a-not-for-logs" not in repr(api_one)
    # keyed: neither the unsalted digest of earlier versions nor the digest under another key
    assert digest != hashlib.sha256(b"portable-secret:tok-3f9a-not-for-logs").hexdigest()[:12]
    other = replace(one, digest_key=lambda: b"\x02" * 32)
    assert groups(other)["api"].spec["secrets"][0]["digest"] != digest


def test_revision_ignores_replicas_but_not_the_image(tmp_path: Path) -> None:
    base = groups(load_shop(tmp_path / "a", lab_env()))["web"]
    scaled = groups(load_shop(tmp_path / "b", lab_env(SHOP_WEB_REPLICAS="3")))["web"]
    changed = groups(load_shop(tmp_path / "c", lab_env(SHOP_WEB_IMAGE="127.0.0.1:5000/lab/web:2")))["web"]
    assert scaled.spec["revision"] == base.spec["revision"] and scaled.digest != base.digest
    assert changed.spec["revision"] != base.spec["revision"]


def test_volumes_become_one_stateful_disk_per_replica(tmp_path: Path) -> None:
    app = load_shop(tmp_path, lab_env())
    vols = volume_resources(app)
    assert [(v.kind, v.name, v.stateful, v.service, v.spec["size_gib"]) for v in vols] == [("volume", "data", True, "kv", 1)]


def test_user_data_shows_placeholders_until_apply(tmp_path: Path) -> None:
    app = load_shop(tmp_path, lab_env())
    api = groups(app)["api"]
    rendered = render_cloud_init(app, api)
    assert rendered == render_cloud_init(app, api)
    assert rendered.startswith("#cloud-config\n")
    assert "tok-3f9a-not-for-logs" not in rendered
    assert "<secret api-token: written to the VM at apply time>" in rendered
    doc = yaml.safe_load(rendered)
    script = doc["write_files"][0]["content"]
    assert doc["runcmd"] == [["sh", "/var/lib/portable/bootstrap.sh"]]
    assert script.startswith("#!/bin/sh\n")
    with_secret = render_cloud_init(app, api, secrets=resolve_group_secrets(app, api))
    assert "<secret api-token" not in with_secret
    assert "write_secret api-token dG9rLTNmOWEtbm90LWZvci1sb2dz" in with_secret


def test_sizing_picks_the_smallest_fitting_size() -> None:
    assert select_instance_size(Resources(cpu=0.5, memory="128Mi"), CATALOGUE) == "small"
    assert select_instance_size(Resources(cpu=2, memory="1Gi"), CATALOGUE) == "medium"
    assert select_instance_size(Resources(), CATALOGUE, explicit="huge") == "huge"
    with pytest.raises(InputError, match=r"services.db.resources: no instance size offers 8 CPU"):
        select_instance_size(Resources(cpu=8), CATALOGUE, field_path="services.db.resources")


def test_user_data_is_gzipped_only_when_over_the_limit() -> None:
    small = "#cloud-config\n" + "x" * 100
    assert fit_user_data(small) == small.encode()
    big = "#cloud-config\n" + "line of the same text\n" * 2000
    packed = fit_user_data(big, limit=16384)
    assert len(packed) < 16384 and gzip.decompress(packed).decode() == big
    with pytest.raises(InputError, match="over the 100-byte limit"):
        fit_user_data(big, limit=100)


def test_a_volume_shared_by_two_services_is_refused_with_its_path(tmp_path: Path) -> None:
    app = load_shop(tmp_path, lab_env())
    manifest = app.manifest.model_copy(deep=True)
    manifest.services["api"].volumes = list(manifest.services["kv"].volumes)
    from dataclasses import replace

    with pytest.raises(InputError, match=r"services.kv.volumes\[0\]: volume `data` is already mounted by service `api`"):
        volume_resources(replace(app, manifest=manifest))
