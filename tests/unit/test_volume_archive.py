"""Volume archives: content survives the round trip, and tampering or truncation is caught."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from portable.errors import MigrationError
from portable.data.archive import INDEX_NAME, read_index, restore_tar_stream, verify_archive, write_archive
from portable.migrate.blobstore import LocalBlobStore, open_blob_store
from portable.migrate.journal import Journal


def tar_of(root: Path, arcroot: str = "data") -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(root, arcname=arcroot)
    data = buf.getvalue()
    return [data[i:i + 7000] for i in range(0, len(data), 7000)]  # chunked, like an SDK stream


@pytest.fixture()
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True)
    (root / "count").write_text("41\n")
    (root / "sub" / "blob.bin").write_bytes(bytes(range(256)) * 400)
    return root


def test_round_trip_keeps_every_file(volume: Path, tmp_path: Path) -> None:
    info = write_archive("data", tar_of(volume), tmp_path / "out" / "data.tar.gz", strip="data")
    assert info.files == 2 and info.data_bytes == 3 + 102400
    assert (tmp_path / "out" / "data.tar.gz.sha256").read_text().startswith(info.sha256)
    index = verify_archive(info.path, info.sha256)
    assert {e["path"] for e in index["files"]} == {"sub", "count", "sub/blob.bin"}
    restored = tmp_path / "restored"
    with tarfile.open(fileobj=io.BytesIO(b"".join(restore_tar_stream(info.path)))) as tar:
        names = tar.getnames()
        tar.extractall(restored, filter="data")
    assert INDEX_NAME not in names
    assert (restored / "count").read_text() == "41\n"
    assert (restored / "sub" / "blob.bin").read_bytes() == (volume / "sub" / "blob.bin").read_bytes()


def test_changed_archive_is_refused(volume: Path, tmp_path: Path) -> None:
    info = write_archive("data", tar_of(volume), tmp_path / "data.tar.gz", strip="data")
    with open(info.path, "r+b") as fh:
        fh.seek(info.size // 2)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(MigrationError, match="does not match its checksum"):
        verify_archive(info.path, info.sha256)


def test_file_not_matching_index_is_refused(volume: Path, tmp_path: Path) -> None:
    info = write_archive("data", tar_of(volume), tmp_path / "data.tar.gz", strip="data")
    index = read_index(info.path)
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(info.path, "r:gz") as src, gzip.open(forged, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as out:
        for m in src:
            if m.name == "count":
                payload = b"99\n"
                m.size = len(payload)
                out.addfile(m, io.BytesIO(payload))
            else:
                out.addfile(m, src.extractfile(m) if m.isfile() else None)
    assert index["volume"] == "data"
    with pytest.raises(MigrationError, match="count does not match its checksum"):
        verify_archive(forged)


def test_local_blob_store_and_url_forms(tmp_path: Path) -> None:
    store = open_blob_store(None, tmp_path / "blobs")
    assert isinstance(store, LocalBlobStore)
    src = tmp_path / "x.bin"
    src.write_bytes(b"abc")
    url = store.put("app/1/x.bin", src)
    assert url.startswith("file://") and store.exists("app/1/x.bin")
    assert store.fetch("app/1/x.bin", tmp_path / "y.bin").read_bytes() == b"abc"
    assert open_blob_store("s3://bucket/prefix", tmp_path).url == "s3://bucket/prefix"
    with pytest.raises(Exception, match="escapes"):
        store.put("../../etc/passwd", src)
    with pytest.raises(Exception, match="s3://BUCKET"):
        open_blob_store("ftp://x/y", tmp_path)


def test_journal_resumes_running_and_restarts_after_failure(tmp_path: Path) -> None:
    j = Journal.open(tmp_path, "shop", "a", "b")
    j.mark("plan", "done", {"actions": 3})
    j.mark("export", "running")
    again = Journal.open(tmp_path, "shop", "a", "b")
    assert again.id == j.id and again.done("plan") and not again.done("export")
    assert again.output("plan") == {"actions": 3}
    again.finish("failed")
    fresh = Journal.open(tmp_path, "shop", "a", "b")
    assert fresh.id != j.id and not fresh.done("plan")


def test_delta_archive_carries_only_what_changed(volume: Path, tmp_path: Path) -> None:
    import os

    base = write_archive("data", tar_of(volume), tmp_path / "base.tar.gz", strip="data")
    base_index = read_index(base.path)
    (volume / "count").write_text("42\n")
    os.utime(volume / "count", (2_000_000_000, 2_000_000_000))
    (volume / "new.txt").write_text("new")
    delta = write_archive("data", tar_of(volume), tmp_path / "delta.tar.gz", strip="data", base=base_index)
    assert (delta.files, delta.deleted, delta.base) == (2, 0, base.sha256)  # count and new.txt; blob skipped
    assert delta.data_bytes == 3 + 3
    (volume / "new.txt").unlink()
    gone = write_archive("data", tar_of(volume), tmp_path / "gone.tar.gz", strip="data", base=read_index(delta.path))
    assert gone.files == 0 and read_index(gone.path)["deleted"] == ["new.txt"]
    verify_archive(delta.path, delta.sha256)


def test_restore_stream_refuses_a_tampered_file(volume: Path, tmp_path: Path) -> None:
    info = write_archive("data", tar_of(volume), tmp_path / "data.tar.gz", strip="data")
    forged = tmp_path / "forged.tar.gz"
    with tarfile.open(info.path, "r:gz") as src, gzip.open(forged, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as out:
        for m in src:
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name == "count":
                data = b"66\n"
            out.addfile(m, io.BytesIO(data) if data is not None else None)
    with pytest.raises(MigrationError, match="count does not match its checksum"):
        b"".join(restore_tar_stream(forged))
    with pytest.raises(MigrationError, match="does not match its checksum: it was changed"):
        b"".join(restore_tar_stream(info.path, "0" * 64))


def test_restore_script_unpacks_in_order_checks_and_is_idempotent(volume: Path, tmp_path: Path) -> None:
    """The init-container/boot script, run for real with the machine's sh, wget-free via file URLs."""
    import os
    import shutil
    import subprocess

    from portable.data.restore_script import render_restore_script

    base = write_archive("data", tar_of(volume), tmp_path / "base.tar.gz", strip="data")
    (volume / "count").write_text("43\n")
    os.utime(volume / "count", (2_000_000_000, 2_000_000_000))
    (volume / "sub" / "blob.bin").unlink()
    delta = write_archive("data", tar_of(volume), tmp_path / "delta.tar.gz", strip="data", base=read_index(base.path))
    archives = [
        {"url": str(base.path), "sha256": base.sha256, "key": "base"},
        {"url": str(delta.path), "sha256": delta.sha256, "key": "delta", "deleted": read_index(delta.path)["deleted"]},
    ]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    # the archives are local paths here: a wget that copies stands in for the network
    (bindir / "wget").write_text('#!/bin/sh\nout="$3"; src="$4"; cp "$src" "$out"\n')
    (bindir / "wget").chmod(0o755)
    dest = tmp_path / "restored"
    dest.mkdir()
    script = render_restore_script("data", str(dest), archives)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    first = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr + first.stdout
    assert (dest / "count").read_text() == "43\n" and not (dest / "sub" / "blob.bin").exists()
    assert not (dest / ".portable-index.json").exists()
    again = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "already restored" in again.stdout
    shutil.rmtree(dest)
    dest.mkdir()
    bad = render_restore_script("data", str(dest), [{**archives[0], "sha256": "0" * 64}])
    refused = subprocess.run(["sh", "-c", bad], capture_output=True, text=True, env=env)
    assert refused.returncode != 0 and not (dest / "count").exists()
