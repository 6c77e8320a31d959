"""Sealed archives (AES-256-GCM in 1 MiB chunks): the data survives the round trip, and a
flipped byte anywhere, a truncation, a reordering or a wrong key is refused in one sentence,
with nothing handed on (no plaintext file left behind)."""
from __future__ import annotations

import base64
import io
import os
import tarfile
from pathlib import Path

import pytest

from portable.data.archive import read_index, restore_tar_stream, write_archive
from portable.data.archive_keys import ArchiveKeys
from portable.data.sealed import CHUNK, MAGIC, TAG, header_of, is_sealed
from portable.errors import InputError, MigrationError

STATE_KEY = os.urandom(32)


def tar_chunks(files: dict[str, bytes]) -> list[bytes]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return [raw[i:i + 65536] for i in range(0, len(raw), 65536)]


FILES = {"count": b"41\n", "big.bin": os.urandom(CHUNK * 2 + 12345)}  # incompressible: three chunks


def keys(spec: str | None = None, env: dict[str, str] | None = None) -> ArchiveKeys:
    return ArchiveKeys(spec, "sealed-app", lambda: STATE_KEY, env)


def sealed(tmp_path: Path, spec: str | None = None, env: dict[str, str] | None = None) -> Path:
    info = write_archive("data", tar_chunks(FILES), tmp_path / "data.tar.gz", strip="data", key=keys(spec, env).sealing())
    assert info.sealed and is_sealed(info.path)
    return info.path


def restored_files(path: Path, k: ArchiveKeys, scratch: Path) -> dict[str, bytes]:
    with k.plaintext(path, scratch) as plain:
        index = read_index(plain)
        assert {e["path"] for e in index["files"]} == set(FILES)
        out = {}
        with tarfile.open(fileobj=io.BytesIO(b"".join(restore_tar_stream(plain)))) as tar:
            for m in tar:
                fh = tar.extractfile(m)
                assert fh is not None
                out[m.name] = fh.read()
    assert not list(scratch.glob(".unsealed-*")), "the plaintext copy is removed after use"
    return out


def test_default_key_round_trip_and_nothing_readable_at_rest(tmp_path: Path) -> None:
    path = sealed(tmp_path)
    at_rest = path.read_bytes()
    assert FILES["big.bin"][:64] not in at_rest and b".portable-index.json" not in at_rest and b"count" not in at_rest[200:]
    assert header_of(path)["key"] == {"kind": "state", "app": "sealed-app"}
    assert STATE_KEY.hex().encode() not in at_rest
    assert restored_files(path, keys(), tmp_path / "scratch") == FILES


@pytest.mark.parametrize("encode", [bytes.hex, lambda k: base64.b64encode(k).decode()])
def test_env_key_round_trip_hex_or_base64(tmp_path: Path, encode: object) -> None:
    key = os.urandom(32)
    env = {"SEALED_KEY": encode(key)}  # type: ignore[operator]
    path = sealed(tmp_path, "env:SEALED_KEY", env)
    assert header_of(path)["key"] == {"kind": "env", "name": "SEALED_KEY"}
    assert key not in path.read_bytes() and env["SEALED_KEY"].encode() not in path.read_bytes()
    raw = tmp_path / "raw.key"
    raw.write_bytes(key)  # the same key from a file, given raw
    assert restored_files(path, keys(f"file:{raw}"), tmp_path / "scratch") == FILES


def test_every_flipped_byte_is_refused(tmp_path: Path) -> None:
    path = sealed(tmp_path)
    good = path.read_bytes()
    header_end = len(MAGIC) + 4 + int.from_bytes(good[len(MAGIC):len(MAGIC) + 4], "big")
    positions = list(range(0, header_end, 7)) + [header_end, header_end + CHUNK, header_end + CHUNK + TAG, len(good) // 2, len(good) - 1]
    positions += [int.from_bytes(os.urandom(4), "big") % len(good) for _ in range(8)]
    for pos in positions:
        bad = bytearray(good)
        bad[pos] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises((MigrationError, InputError)) as refused:
            restored_files(path, keys(), tmp_path / "scratch")
        assert "\n" not in refused.value.message and "data.tar.gz" in refused.value.message, pos
        assert not list((tmp_path / "scratch").glob(".unsealed-*"))


def test_truncated_or_reordered_chunks_are_refused(tmp_path: Path) -> None:
    path = sealed(tmp_path)
    good = path.read_bytes()
    header_end = len(MAGIC) + 4 + int.from_bytes(good[len(MAGIC):len(MAGIC) + 4], "big")
    block = CHUNK + TAG
    first, second, rest = good[header_end:header_end + block], good[header_end + block:header_end + 2 * block], good[header_end + 2 * block:]
    for bad in (good[:header_end + block], good[:header_end + 2 * block], good[:-1], good[:header_end] + second + first + rest):
        path.write_bytes(bad)
        with pytest.raises(MigrationError, match="was changed, truncated or damaged since it was sealed"):
            restored_files(path, keys(), tmp_path / "scratch")


def test_wrong_key_is_one_sentence_exit_2(tmp_path: Path) -> None:
    path = sealed(tmp_path, "env:SEALED_KEY", {"SEALED_KEY": os.urandom(32).hex()})
    other = os.urandom(32).hex()
    with pytest.raises(InputError) as refused:
        restored_files(path, keys("env:SEALED_KEY", {"SEALED_KEY": other}), tmp_path / "scratch")
    assert refused.value.exit_code == 2
    assert refused.value.message == "archive data.tar.gz was sealed with another key; pass the --encryption-key it was made with"
    assert other not in str(refused.value)
    with pytest.raises(InputError, match="sealed with the key from env:SEALED_KEY; pass the --encryption-key"):
        restored_files(path, keys(), tmp_path / "scratch")  # no key given for an env-sealed archive
    state_sealed = sealed(tmp_path / "b")
    with pytest.raises(InputError, match="sealed with another key"):  # another app's state key
        restored_files(state_sealed, ArchiveKeys(None, "sealed-app", lambda: os.urandom(32)), tmp_path / "scratch")


@pytest.mark.parametrize("value", ["short", "zz" * 32, base64.b64encode(b"x" * 31).decode()])
def test_malformed_key_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(InputError) as refused:
        keys("env:SEALED_KEY", {"SEALED_KEY": value}).sealing()
    assert refused.value.exit_code == 2 and value not in str(refused.value)
    with pytest.raises(InputError, match="--encryption-key takes env:VAR, file:PATH or kms:KEY_ID_OR_ALIAS"):
        keys("vault:x")


def test_unsealed_archives_of_earlier_versions_still_restore(tmp_path: Path) -> None:
    info = write_archive("data", tar_chunks(FILES), tmp_path / "old.tar.gz", strip="data")
    assert not info.sealed and not is_sealed(info.path)
    assert restored_files(info.path, keys(), tmp_path / "scratch") == FILES


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK])
def test_chunk_boundaries_round_trip_and_a_dropped_last_chunk_is_caught(tmp_path: Path, size: int) -> None:
    from portable.data.sealed import seal_file, unseal_file

    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    key = keys().sealing()
    seal_file(tmp_path / "plain", tmp_path / "sealed", key)
    unseal_file(tmp_path / "sealed", tmp_path / "opened", key)
    assert (tmp_path / "opened").read_bytes() == data
    sealed_bytes = (tmp_path / "sealed").read_bytes()
    if size > CHUNK:  # the stream cut right after a full chunk: that chunk was not flagged last
        header_end = len(MAGIC) + 4 + int.from_bytes(sealed_bytes[len(MAGIC):len(MAGIC) + 4], "big")
        (tmp_path / "sealed").write_bytes(sealed_bytes[:header_end + CHUNK + TAG])
        with pytest.raises(MigrationError, match="changed, truncated or damaged"):
            unseal_file(tmp_path / "sealed", tmp_path / "opened", key)
        assert not (tmp_path / "opened").exists()


def test_an_unreadable_key_is_refused_while_planning(tmp_path: Path) -> None:
    """check_key (migrate's plan step): the same sentences the first seal would give, before it."""
    from portable.data.archive_keys import check_key

    with pytest.raises(InputError, match="env:NOPE names a variable that is not set"):
        check_key("env:NOPE", {})
    with pytest.raises(InputError, match="cannot be read"):
        check_key(f"file:{tmp_path / 'missing.key'}", {})
    short = tmp_path / "short.key"
    short.write_bytes(os.urandom(31))
    with pytest.raises(InputError):
        check_key(f"file:{short}", {})
    check_key("env:K", {"K": base64.b64encode(os.urandom(32)).decode()})  # readable: no error
    check_key(None)  # the app's key from the state store
