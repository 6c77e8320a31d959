"""A migrated volume on Kubernetes is fed by portable: the init container's script waits, the
feed command fills it (providers/kubernetes/feed.py).

The scripts run here in the machine's `sh` against a temporary directory standing for the
claim (their mount path swapped for it), with the real coreutils the init container's busybox
also has (head, sha256sum, tar). The e2e proof on the lab's real node is
tests/e2e/test_migrate_docker_to_k8s.py.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

from portable.manifest import load_app
from portable.data.fed_restore import NOT_OVER_DATA, final_marker
from portable.providers.kubernetes.feed import MOUNT, feed_command, wait_script
from portable.providers.kubernetes.settings import KubernetesSettings
from portable.providers.kubernetes.translate import translate

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: fed}
services:
  db:
    image: lab/web:1
    volumes: [{volume: data, path: /data}]
volumes:
  data: {size: 1Gi}
targets:
  k8s: {provider: kubernetes, namespace: fed}
"""


def archive(tmp: Path, name: str, files: dict[str, bytes]) -> tuple[Path, dict[str, Any]]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp / name
    out.write_bytes(buf.getvalue())
    return out, {"key": f"fed/{name}", "sha256": hashlib.sha256(buf.getvalue()).hexdigest(), "phase": name.split(".")[1], "local": str(out)}


def in_claim(script: str, claim: Path | str) -> str:
    return script.replace(MOUNT, str(claim))


def feed(claim: Path, path: Path, record: dict[str, Any], *, first: bool, last: bool, marker: str) -> subprocess.CompletedProcess[bytes]:
    command = feed_command(record, path.stat().st_size, first=first, last=last, marker=marker)
    return subprocess.run(["sh", "-c", in_claim(command[-1], claim)], input=path.read_bytes(), capture_output=True, timeout=30)


def test_the_statefulset_names_the_archives_by_checksum_only(tmp_path: Path) -> None:
    base_path, base = archive(tmp_path, "data.base.tar.gz", {"a.txt": b"one"})
    app = load_app(_manifest(tmp_path), "k8s")
    app = dataclasses.replace(app, restores={"data": [base]})
    [sts] = [r for r in translate(app, KubernetesSettings.model_validate({"namespace": "fed"})) if r.kind == "StatefulSet"]
    [init] = sts.spec["spec"]["template"]["spec"]["initContainers"]
    script = init["command"][-1]
    assert base["sha256"] in script and base["key"] in script
    assert "://" not in script and str(tmp_path) not in script and "wget" not in script


def test_the_wait_ends_when_portable_has_fed_every_archive(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    base_path, base = archive(tmp_path, "data.base.tar.gz", {"a.txt": b"one", "gone.txt": b"x"})
    final_path, final = archive(tmp_path, "data.final.tar.gz", {"b.txt": b"two"})
    final["deleted"] = ["gone.txt"]
    archives = [base, final]
    waiting = subprocess.Popen(["sh", "-c", in_claim(wait_script("data", archives), str(claim))], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        assert waiting.poll() is None, "the init container must wait for its archives"
        marker = final_marker(archives)
        assert feed(claim, base_path, base, first=True, last=False, marker=marker).returncode == 0
        assert waiting.poll() is None, "one archive of two is not the end of the wait"
        assert feed(claim, final_path, final, first=False, last=True, marker=marker).returncode == 0
        out, _ = waiting.communicate(timeout=10)
    finally:
        waiting.kill()
    assert waiting.returncode == 0
    assert b"volume data restored" in out
    assert (claim / "a.txt").read_bytes() == b"one" and (claim / "b.txt").read_bytes() == b"two"
    assert not (claim / "gone.txt").exists() and not (claim / ".portable-feeding").exists()
    # a restarted pod finds the marker and starts at once
    again = subprocess.run(["sh", "-c", in_claim(wait_script("data", archives), str(claim))], capture_output=True, timeout=10)
    assert again.returncode == 0 and b"already restored" in again.stdout


def test_a_claim_that_holds_data_is_never_written_over(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    (claim / "theirs.txt").write_text("the user's")
    path, record = archive(tmp_path, "data.full.tar.gz", {"theirs.txt": b"migrated"})
    marker = final_marker([record])
    waited = subprocess.run(["sh", "-c", in_claim(wait_script("data", [record]), str(claim))], capture_output=True, timeout=10)
    assert waited.returncode == 0 and b"already holds data" in waited.stdout
    assert feed(claim, path, record, first=True, last=True, marker=marker).returncode == NOT_OVER_DATA
    assert (claim / "theirs.txt").read_text() == "the user's"


def test_a_tampered_archive_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    claim.mkdir()
    path, record = archive(tmp_path, "data.full.tar.gz", {"a.txt": b"one"})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    done = feed(claim, path, record, first=True, last=True, marker=final_marker([record]))
    assert done.returncode == 3 and b"does not match its checksum" in done.stderr
    assert sorted(p.name for p in claim.iterdir()) == [".portable-feeding"]  # half-fed: a restarted pod waits again, never starts on it


def _manifest(tmp: Path) -> Path:
    path = tmp / "portable.yaml"
    path.write_text(MANIFEST)
    return path


def test_a_vm_bootstrap_waits_with_its_volume_in_place_until_portable_has_written_it(tmp_path: Path) -> None:
    """providers/vm/bootstrap.fed_wait_step: the flag the SSH feeder looks for, then the wait."""
    import os

    from portable.providers.vm.bootstrap import RESTORE_WAITING, fed_wait_step

    root = tmp_path / "root"
    (root / "volumes" / "data").mkdir(parents=True)
    _, record = archive(tmp_path, "data.full.tar.gz", {"a.txt": b"one"})
    script = "\n".join(["set -eu", 'fail() { echo "failed: $*" >&2; exit 1; }', *fed_wait_step("data", [record])])
    waiting = subprocess.Popen(["sh", "-c", script], env={"ROOT": str(root), "PATH": os.environ["PATH"]}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        flag = root / f"{RESTORE_WAITING}data"
        deadline = time.monotonic() + 10
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert flag.exists() and waiting.poll() is None
        (root / "volumes" / "data" / final_marker([record])).touch()
        out, err = waiting.communicate(timeout=10)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert b"volume data restored" in out and not flag.exists()
