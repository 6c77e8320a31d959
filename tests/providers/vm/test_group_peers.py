"""An instance group's spec holds what its own VMs need, not the list of every other service.

Defect (issue 19): every group's spec listed all the app's services with ports ("peers"), and
the revision hashes the spec, so adding one service with ports replaced every VM of every
service on aws, libcloud and vSphere, and a 1,000-service render wrote 22 MB of JSON.
Peers are now looked up when an instance starts (from the addresses then), outside the spec.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from portable.session import Session
from portable.providers.vm import GROUP_KIND, peer_services
from vm_shop import lab_env, shop_with_target

TARGETS = """  aws:
    provider: aws
    region: eu-west-1
    ami: ami-0123456789abcdef0
  libcloud:
    provider: libcloud
    driver: ec2
    region: eu-west-1
    image: ami-0123456789abcdef0
  vsphere:
    provider: vsphere
    host: vcenter.example.com
    template: debian-12
"""
SEARCH = """  catalog:
    image: 127.0.0.1:5000/lab/web:1
    ports:
      - port: 8080
        protocol: http
"""


def _groups(path: Path, target: str) -> dict[str, dict[str, object]]:
    session = Session.open(path, env=lab_env())
    app = session.app(target)
    return {r.name: r.spec for r in session.provider(target).translate(app) if r.kind == GROUP_KIND}


@pytest.mark.parametrize("target", ["aws", "libcloud", "vsphere"])
def test_adding_an_unrelated_service_leaves_every_other_group_unchanged(tmp_path: Path, target: str) -> None:
    path = shop_with_target(tmp_path, TARGETS)  # one directory: the same key for secret digests
    old = _groups(path, target)
    path.write_text(path.read_text().replace("\nvolumes:\n", "\n" + SEARCH + "volumes:\n", 1))
    new = _groups(path, target)
    assert set(new) == set(old) | {"catalog"}
    for name, spec in old.items():
        assert new[name] == spec, f"{target}: the group {name} changed when `catalog` was added"
        assert "catalog" not in repr(spec)
    # the new service is still among the peers a VM is told of when it starts
    app = Session.open(path, env=lab_env()).app(target)
    assert "catalog" in peer_services(app, "web") and "web" not in peer_services(app, "web")
