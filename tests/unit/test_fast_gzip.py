"""The parallel gzip writer's output is one ordinary gzip member every reader takes as is."""
from __future__ import annotations

import gzip
import io
import random
import subprocess
import zlib
from pathlib import Path

import pytest

from portable.data.fast_gzip import CHUNK, ParallelGzipWriter


def _mixed(blocks: int) -> bytes:
    """Random blocks (stored) between repetitive ones (deflated), and a ragged tail."""
    rng = random.Random(3)
    line = b"order 12345 shipped to 221B Baker Street, London; total 42.00 EUR\n"
    text = (line * (CHUNK // len(line) + 1))[:CHUNK]
    return b"".join(rng.randbytes(CHUNK) if i % 2 else text for i in range(blocks)) + b"tail" * 777


def _written(data: bytes, piece: int = 10240) -> bytes:
    out = io.BytesIO()
    with ParallelGzipWriter(out) as gz:
        for i in range(0, len(data), piece):
            gz.write(data[i:i + piece])
    assert not out.closed  # as GzipFile: the caller's file stays open
    return out.getvalue()


@pytest.mark.parametrize("data", [b"", b"x", _mixed(7)], ids=["empty", "one byte", "mixed"])
def test_python_and_zlib_read_it_back_whole(data: bytes) -> None:
    blob = _written(data)
    assert gzip.decompress(blob) == data
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one member: nothing left over, the end is seen
    assert stream.decompress(blob) == data and stream.eof and stream.unused_data == b""


def test_random_blocks_are_stored_and_text_blocks_shrink() -> None:
    rng = random.Random(5)
    noise = rng.randbytes(4 * CHUNK)
    assert len(_written(noise)) < len(noise) * 1.001  # stored: a few bytes of framing per 64 KiB
    text = _mixed(1)[:CHUNK] * 4
    assert len(_written(text)) < len(text) / 20


def test_gzip_tool_reads_it(tmp_path: Path) -> None:
    data = _mixed(5)
    path = tmp_path / "a.gz"
    path.write_bytes(_written(data))
    assert subprocess.run(["gzip", "-dc", str(path)], capture_output=True, check=True).stdout == data
