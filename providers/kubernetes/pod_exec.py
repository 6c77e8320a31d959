"""The pod exec subresource, spoken one way by everything that runs a command in a pod:
`portable exec` (exec.py), reading a volume out (data.py) and restoring one (restore.py).

The SDK's stream API opens the websocket; its frames are then read off the socket directly
as they come (first byte: the channel, as in k8s.io/apimachinery's remotecommand), because
the SDK's own reader appends every frame to one growing buffer, which made reading a volume
quadratic in its size. The command's exit code comes from the Status the server sends on
the error channel.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from portable.errors import PortableError, TargetError
from portable.providers.kubernetes.client import Kube

STDIN, STDOUT, STDERR, ERROR = 0, 1, 2, 3  # the exec channels (k8s.io/apimachinery remotecommand)


def open_exec(kube: Kube, ns: str, pod: str, command: list[str], *, refused: str, hint: str, stdin: bool = False, container: str | None = None) -> Any:
    """The exec websocket (the SDK's, opened but not read). A refusal is one TargetError:
    `refused`, then what the server said in brackets, and `hint`."""
    from kubernetes.stream import stream

    which = {"container": container} if container is not None else {}
    try:
        return stream(kube.core().connect_get_namespaced_pod_exec, pod, ns, command=command, **which,
                      stderr=True, stdin=stdin, stdout=True, tty=False, _preload_content=False)
    except PortableError:
        raise
    except Exception as exc:  # the SDK raises ApiException or websocket errors here
        detail = (str(exc).splitlines() or [type(exc).__name__])[0]
        quoted = re.search(r"'([^']+)'$", detail)  # the client wraps the server's words in a ValueError
        raise TargetError(f"{refused} ({(quoted.group(1) if quoted else detail)[:200]})", hint=hint) from None


def frames(ws: Any) -> Iterator[tuple[int, bytes]]:
    """(channel, payload) of each data frame the server sends, until it closes the stream.

    Read off the socket in large pieces (_RawFrames) while the SDK's reader holds nothing yet:
    websocket-client reads a frame in several small reads and copies it twice, which made a
    100 MB volume's 3,600 frames cost 0.8 s of CPU (issue 19). Otherwise its reader is used."""
    raw = _RawFrames.of(ws)
    if raw is not None:
        yield from raw
        return
    from websocket import ABNF

    while True:
        opcode, frame = ws.sock.recv_data_frame(True)
        if opcode == ABNF.OPCODE_CLOSE:
            return
        data = frame.data or b""
        if not data or opcode not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT):
            continue
        yield data[0], bytes(data[1:])


class _RawFrames:
    """RFC 6455 frames read from the websocket's own socket, a megabyte at a time.

    Handles what a server sends: unmasked (or masked) frames, fragmented messages, pings
    (answered through the SDK's sender) and the close frame."""

    READ = 1 << 20

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._sock = ws.sock.sock
        self._buf = bytearray()
        self._pos = 0

    @classmethod
    def of(cls, ws: Any) -> _RawFrames | None:
        conn = getattr(ws, "sock", None)
        buffered = getattr(conn, "frame_buffer", None)
        if conn is None or getattr(conn, "sock", None) is None or buffered is None:
            return None
        if buffered.recv_buffer or not buffered.needs_header() or getattr(conn.cont_frame, "recving_frames", None):
            return None  # the SDK's reader has started on a frame: only it can finish it
        return cls(ws)

    def _take(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n:
            if self._pos:
                del self._buf[: self._pos]
                self._pos = 0
            chunk = self._sock.recv(self.READ)
            if not chunk:
                raise ConnectionError("the API server closed the exec stream mid-frame")
            self._buf += chunk
        out = bytes(self._buf[self._pos: self._pos + n])
        self._pos += n
        return out

    def _frame(self) -> tuple[bool, int, bytes]:
        b1, b2 = self._take(2)
        length = b2 & 0x7F
        if length == 126:
            length = int.from_bytes(self._take(2), "big")
        elif length == 127:
            length = int.from_bytes(self._take(8), "big")
        mask = self._take(4) if b2 & 0x80 else b""
        payload = self._take(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(b1 & 0x80), b1 & 0x0F, payload

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        message: list[bytes] = []
        while True:
            fin, opcode, payload = self._frame()
            if opcode == 0x8:  # close
                return
            if opcode == 0x9:  # ping
                self._ws.sock.pong(payload)
                continue
            if opcode == 0xA:  # pong
                continue
            message.append(payload)
            if not fin:
                continue
            data = b"".join(message) if len(message) > 1 else message[0]
            message = []
            if data:
                yield data[0], data[1:]


def exit_status(status: bytes) -> tuple[int, str]:
    """(0, "") for a `Success` Status on the error channel (or none); else the command's exit
    code and what the server said."""
    if not status:
        return 0, ""
    try:
        parsed = json.loads(status)
    except ValueError:
        return 1, status.decode("utf-8", "replace")
    if parsed.get("status") == "Success":
        return 0, ""
    message = str(parsed.get("message", ""))
    causes = (parsed.get("details") or {}).get("causes") or []
    codes = [c.get("message") for c in causes if c.get("reason") == "ExitCode"]  # a kubelet's NonZeroExitCode
    if codes and str(codes[0]).isdigit():
        return int(codes[0]), message
    said = re.search(r"exit (?:status|code) (\d+)", message)  # other servers say it in words
    return (int(said.group(1)) if said and said.group(1) != "0" else 1), message


def run_to_end(ws: Any) -> tuple[int, str]:
    """Reads a command's output to its end: (exit code, what it printed on stderr, else what
    the server said). For commands fed through stdin, whose stdout is not wanted."""
    errors: list[bytes] = []
    status = b""
    for channel, payload in frames(ws):
        if channel == STDERR:
            errors.append(payload)
        elif channel == ERROR:
            status += payload
    code, message = exit_status(status)
    return code, b"".join(errors).decode("utf-8", "replace").strip() or message
