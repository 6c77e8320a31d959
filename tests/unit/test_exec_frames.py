"""The exec stream's frames read off the socket in large pieces (providers/kubernetes/pod_exec.py):
the same (channel, payload) pairs for every framing a server may use."""
from __future__ import annotations

import socket
import threading
from types import SimpleNamespace
from typing import Any

from portable.providers.kubernetes.pod_exec import STDERR, STDOUT, _RawFrames, frames


def _frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes = b"") -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    flag = 0x80 if mask else 0
    if n < 126:
        head += bytes([flag | n])
    elif n < 1 << 16:
        head += bytes([flag | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([flag | 127]) + n.to_bytes(8, "big")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if mask else payload
    return head + mask + body


class _Conn:
    """What `frames` reads of the SDK's websocket: its socket, an idle frame reader, its pong sender."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.frame_buffer = SimpleNamespace(recv_buffer=[], needs_header=lambda: True)
        self.cont_frame = SimpleNamespace(recving_frames=None)
        self.pongs: list[bytes] = []

    def pong(self, payload: bytes) -> None:
        self.pongs.append(payload)


def _read(wire: bytes) -> tuple[list[tuple[int, bytes]], Any]:
    ours, theirs = socket.socketpair()
    sender = threading.Thread(target=lambda: (theirs.sendall(wire), theirs.close()))
    sender.start()
    ws = SimpleNamespace(sock=_Conn(ours))
    got = list(frames(ws))
    sender.join()
    ours.close()
    return got, ws.sock


def test_every_length_form_fragments_pings_and_masks_read_as_the_server_meant() -> None:
    big = bytes(range(256)) * 300  # 76,800 bytes: the 8-byte length form
    wire = (_frame(0x2, bytes([STDOUT]) + b"hello")
            + _frame(0x9, b"are you there")
            + _frame(0x2, bytes([STDOUT]) + b"x" * 1000)  # the 2-byte length form
            + _frame(0x2, bytes([STDOUT]) + big[:40000], fin=False) + _frame(0x0, big[40000:])  # one message in two frames
            + _frame(0x2, bytes([STDERR]) + b"warn", mask=b"\x01\x02\x03\x04")
            + _frame(0x2, b"")  # empty: skipped
            + _frame(0x8, b"\x03\xe8")
            + _frame(0x2, bytes([STDOUT]) + b"after close: never read"))
    got, conn = _read(wire)
    assert got == [(STDOUT, b"hello"), (STDOUT, b"x" * 1000), (STDOUT, big), (STDERR, b"warn")]
    assert conn.pongs == [b"are you there"]


def test_a_reader_the_sdk_already_started_is_left_to_the_sdk() -> None:
    ours, theirs = socket.socketpair()
    conn = _Conn(ours)
    conn.frame_buffer.recv_buffer = [b"\x82"]  # half a header read by the SDK
    assert _RawFrames.of(SimpleNamespace(sock=conn)) is None
    ours.close()
    theirs.close()
