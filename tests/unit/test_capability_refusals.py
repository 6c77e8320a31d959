"""A capability a target lacks is refused while planning: exit 2, one sentence naming the
target and the flag or command that needs it, before any target is contacted.

The targets below point at addresses where nothing listens (port 1), so a command that
tried to reach one would fail differently; these must not even try.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: cap}
services:
  db:
    image: lab/kv:1
    volumes: [{volume: data, path: /data}]
volumes:
  data: {}
targets:
  vc: {provider: vsphere, host: 127.0.0.1, port: 1, datacenter: DC0, cluster: DC0_C0, datastore: LocalDS_0, template: portable-template}
  cloud: {provider: aws, region: us-east-1}
  k8s: {provider: kubernetes, kubeconfig: /nonexistent/kubeconfig}
"""

CASES = [
    # `backup --quiesce` on vSphere used to crash with an AttributeError shown as "internal error";
    # it now stops the writers through guest operations, whose account is checked before vCenter is reached
    (["backup", "--quiesce", "-t", "vc"], "needs the guest OS account VMware Tools runs commands as", "set VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD"),
    (["logs", "-t", "vc"], "target `vc` (vsphere) cannot read container logs through vCenter; portable logs needs it", "docker logs"),
    # an AWS source needs its SSH channel declared: named at plan time
    (["migrate", "--from", "cloud", "--to", "vc", "--yes"], "target `cloud` (aws) cannot export volume data", "`key_name`"),
    # a destination restoring from inside needs archives it can fetch: said before anything moves
    (["migrate", "--from", "local", "--to", "k8s", "--yes"], "target `k8s` (kubernetes) restores volumes from inside, at first start, and cannot read archives kept on this machine", "--blob-store s3://"),
    (["migrate", "--from", "local", "--to", "k8s", "--dry-run"], "cannot read archives kept on this machine", "--blob-store s3://"),
    (["migrate", "--from", "local", "--to", "vc", "--dry-run"], "target `vc` (vsphere) restores volumes from inside, at first start, and cannot read archives kept on this machine", "--blob-store s3://"),
]


@pytest.mark.parametrize("args,sentence,also", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_missing_capability_is_refused_up_front(tmp_path: Path, args: list[str], sentence: str, also: str) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    out = subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert sentence in out.stderr and also in out.stderr, out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / ".portable" / "archives").exists()  # nothing was exported or staged


def test_validate_with_a_target_finds_its_missing_capabilities_at_their_line(tmp_path: Path) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST.replace("    image: lab/kv:1\n", "    image: lab/kv:1\n    autoscale: {min: 1, max: 3}\n", 1))
    plain = subprocess.run([sys.executable, "-m", "portable.cli.main", "validate"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert plain.returncode == 0, plain.stderr
    out = subprocess.run([sys.executable, "-m", "portable.cli.main", "validate", "-t", "vc"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "portable.yaml:7:5: services.db.autoscale: target `vc` (vsphere) cannot provide autoscale" in out.stderr, out.stderr
