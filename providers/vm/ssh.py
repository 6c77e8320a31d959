"""SSH to a cloud's instances: the channel aws and libcloud read and write volumes through.

The clouds' compute APIs cannot read a disk's files, but every VM they start accepts SSH with
the key pair it was launched with (Kamal and libcloud's `deploy_node` rely on the same). This
module connects, checks host keys, logs in and runs commands; what is run is in ssh_data.py.

Host keys are checked, never accepted blindly: the keys the instance printed on its console
(cloud-init's `-----BEGIN SSH HOST KEY KEYS-----` block, which EC2 returns through
GetConsoleOutput) when the cloud offers them, else trust on first use, recorded under the
instance's id in `.portable/known_hosts` beside the manifest; a different key later is refused.
The private key comes from `ssh.key_file` or the SSH agent; it is never read into a message.
"""
from __future__ import annotations

import base64
import binascii
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from portable.errors import InputError, TargetError
from portable.providers.vm.ssh_settings import SshSettings

CHUNK = 1 << 20
WINDOW = 16 << 20  # SSH window: paramiko's 2 MiB default halved the export's throughput (100 MB: 1.8 s -> 1.1 s)
READ_TIMEOUT = 300.0  # seconds without a byte from tar before the export is given up
HOST_KEY_BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
HOST_KEY_END = "-----END SSH HOST KEY KEYS-----"
# run as root when the login user is not (cloud images give the default user password-less sudo)
AS_ROOT = 'S=; [ "$(id -u)" -eq 0 ] || S="sudo -n";'


@dataclass(frozen=True)
class Host:
    """One instance as the channel sees it."""

    id: str  # the cloud's instance id: host keys are recorded under it
    service: str
    replica: int
    public: str | None
    private: str | None
    console: Callable[[], str] | None = None  # reads the instance's console output, where the cloud offers it


def console_host_keys(text: str) -> list[paramiko.PKey]:
    """The public host keys between cloud-init's markers in a console output (none: [])."""
    keys: list[paramiko.PKey] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if HOST_KEY_BEGIN in line:
            inside, keys = True, []  # the last block printed wins (a rebooted instance prints again)
            continue
        if HOST_KEY_END in line:
            inside = False
            continue
        parts = line.split()
        if inside and len(parts) >= 2:
            try:
                keys.append(paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1])))
            except (paramiko.SSHException, binascii.Error, ValueError):
                continue  # a key type this client does not know: the others still identify the host
    return keys


def _algorithms(keys: Sequence[paramiko.PKey]) -> list[str]:
    """Host key algorithms that make the server present one of `keys`."""
    out: list[str] = []
    for key in keys:
        name = key.get_name()
        names = ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]
        out += [n for n in names if n not in out]
    return out


class KnownHosts:
    """Host keys trusted on first use, in OpenSSH's known_hosts format, under the manifest's .portable/."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.path.is_file():
            keys.load(str(self.path))
        return keys

    def lookup(self, name: str) -> list[paramiko.PKey]:
        found = self._load().lookup(name)
        return list(found.values()) if found else []

    def remember(self, name: str, key: paramiko.PKey) -> None:
        with self._lock:
            keys = self._load()
            keys.add(name, key.get_name(), key)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            keys.save(str(self.path))


class SshChannel:
    """Connections to one target's instances, with the target's `ssh` settings."""

    def __init__(self, target: str, settings: SshSettings, key_name: str | None, base_dir: Path, env: dict[str, str] | None = None) -> None:
        self.target = target
        self.settings = settings
        self.key_name = key_name
        self.base_dir = base_dir
        self.env = env
        self.known = KnownHosts(base_dir / ".portable" / "known_hosts")
        self._known_cache: dict[str, list[paramiko.PKey]] = {}
        self._console_cache: dict[str, list[paramiko.PKey]] = {}

    # ---------------------------------------------------------------- what errors name
    def _setting(self, name: str) -> str:
        return f"`ssh.{name}` on target {self.target}"

    def address(self, host: Host) -> str:
        chosen = host.public if self.settings.address == "public" else host.private
        if not chosen:
            other = "private" if self.settings.address == "public" else "public"
            raise InputError(
                f"instance {host.id} of service {host.service} has no {self.settings.address} address to reach it over SSH: set {self._setting('address')} to {other}"
                + ("" if other == "public" else " (with `ssh.bastion` when it is only reachable through a jump host)")
            )
        return chosen

    # ---------------------------------------------------------------- keys
    def _client_keys(self) -> list[paramiko.PKey]:
        if self.settings.key_file:
            path = Path(self.settings.key_file).expanduser()
            path = path if path.is_absolute() else self.base_dir / path
            if not path.is_file():
                raise InputError(f"the SSH key file {path} does not exist: set {self._setting('key_file')} to the private key of key pair {self.key_name}")
            try:
                return [paramiko.PKey.from_path(path)]
            except paramiko.PasswordRequiredException:
                raise InputError(f"the SSH key file {path} is encrypted: load it into an SSH agent and leave {self._setting('key_file')} unset") from None
            except (paramiko.SSHException, ValueError, OSError) as exc:
                raise InputError(f"the SSH key file {path} is not a private key paramiko can read ({type(exc).__name__}): check {self._setting('key_file')}") from None
        keys = list(paramiko.Agent().get_keys())
        if not keys:
            raise InputError(f"no SSH key to log in to the instances with: set {self._setting('key_file')} to the private key of key pair {self.key_name}, or load it into an SSH agent (SSH_AUTH_SOCK)")
        return keys

    # ---------------------------------------------------------------- connections
    def _handshake(self, sock: Any, name: str, where: str, expected: tuple[list[paramiko.PKey], str], setting: str) -> paramiko.Transport:
        """SSH handshake on `sock`; the server's host key must be one of `expected` (keys, where
        they come from), else (none known yet) it is recorded as `name`'s key."""
        keys, source = expected
        transport = paramiko.Transport(sock, default_window_size=WINDOW)
        if keys:
            options = transport.get_security_options()
            wanted = [a for a in _algorithms(keys) if a in options.key_types]
            if wanted:
                options.key_types = wanted
        try:
            transport.start_client(timeout=self.settings.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            transport.close()
            raise InputError(f"{where} does not speak SSH ({type(exc).__name__}: {exc}): check {setting}") from None
        key = transport.get_remote_server_key()
        if keys and not any(key.asbytes() == k.asbytes() for k in keys):
            transport.close()
            raise InputError(
                f"the SSH host key of {where} ({key.get_name()} {key.fingerprint}) is not {source}: refusing to connect",
                hint=f"if the instance was rebuilt, remove the lines for {name} from {self.known.path}; otherwise something answers in its place at {setting}",
            )
        if not keys:
            self.known.remember(name, key)
            self._known_cache[name] = [key]
        return transport

    def _known_for(self, name: str) -> tuple[list[paramiko.PKey], str]:
        if name not in self._known_cache:
            self._known_cache[name] = self.known.lookup(name)
        return self._known_cache[name], f"the key recorded in {self.known.path} when it was first reached"

    def _expected(self, host: Host) -> tuple[list[paramiko.PKey], str]:
        """The host keys `host` must present: those its console printed, else the recorded ones."""
        if host.console is not None:
            if host.id not in self._console_cache:
                self._console_cache[host.id] = console_host_keys(host.console())
            printed = self._console_cache[host.id]
            if printed:
                return printed, "one of the host keys its console output printed"
        return self._known_for(host.id)

    def _login(self, transport: paramiko.Transport, user: str, where: str, setting: str) -> None:
        for key in self._client_keys():
            try:
                transport.auth_publickey(user, key)
                return
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, OSError, EOFError) as exc:
                transport.close()
                raise InputError(f"{where} closed the SSH connection during login ({type(exc).__name__}): check {setting}") from None
        transport.close()
        source = f"the key in {self.settings.key_file}" if self.settings.key_file else "the SSH agent's keys"
        raise InputError(
            f"{where} refused SSH login as {user} with {source}: set {self._setting('user')} and {self._setting('key_file')} to the user and private key of key pair {self.key_name}"
        )

    def _open_socket(self, address: str, port: int, where: str, setting: str) -> socket.socket:
        try:
            return socket.create_connection((address, port), timeout=self.settings.connect_timeout)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise InputError(f"cannot reach {where} over SSH ({reason}): check {setting}, and that port {port} is open to this machine") from None

    def _bastion(self) -> tuple[str, str, int]:
        assert self.settings.bastion is not None
        user, _, rest = self.settings.bastion.rpartition("@")
        host, _, port = rest.partition(":")
        return user or self.settings.user, host, int(port or 22)

    @contextmanager
    def connect(self, host: Host) -> Iterator[paramiko.Transport]:
        """An authenticated connection to `host` (through the bastion when one is set)."""
        address = self.address(host)
        where = f"instance {host.id} of service {host.service} at {address}:{self.settings.port}"
        setting = self._setting("address") + (f" ({self.settings.address})" if not self.settings.bastion else f" and {self._setting('bastion')}")
        jump: paramiko.Transport | None = None
        try:
            if self.settings.bastion:
                b_user, b_host, b_port = self._bastion()
                b_where, b_setting = f"bastion {b_host}:{b_port}", self._setting("bastion")
                jump = self._handshake(self._open_socket(b_host, b_port, b_where, b_setting), f"[{b_host}]:{b_port}", b_where, self._known_for(f"[{b_host}]:{b_port}"), b_setting)
                self._login(jump, b_user, b_where, b_setting)
                try:
                    sock: Any = jump.open_channel("direct-tcpip", (address, self.settings.port), ("127.0.0.1", 0), timeout=self.settings.connect_timeout)
                except (paramiko.SSHException, OSError, EOFError) as exc:
                    raise InputError(f"{b_where} cannot reach {where} ({type(exc).__name__}: {exc}): check {setting}") from None
            else:
                sock = self._open_socket(address, self.settings.port, where, setting)
            transport = self._handshake(sock, host.id, where, self._expected(host), setting)
            try:
                self._login(transport, self.settings.user, where, self._setting("user") + " and " + self._setting("key_file"))
                yield transport
            finally:
                transport.close()
        finally:
            if jump is not None:
                jump.close()

    # ---------------------------------------------------------------- commands
    def run(self, transport: paramiko.Transport, command: str, what: str, timeout: float = 120.0) -> tuple[int, str, str]:
        """Runs `command` in the login shell; (exit status, stdout, stderr)."""
        channel = transport.open_session()
        channel.settimeout(timeout)
        try:
            channel.exec_command(command)
            out, err = bytearray(), bytearray()
            while True:
                chunk = channel.recv(CHUNK)
                if not chunk:
                    break
                out += chunk
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(CHUNK)
            code = channel.recv_exit_status()
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(CHUNK)
            return code, out.decode(errors="replace"), err.decode(errors="replace")
        except socket.timeout:
            raise TargetError(f"{what} did not finish within {int(timeout)}s") from None
        finally:
            channel.close()

    def feed(self, transport: paramiko.Transport, command: str, chunks: Iterable[bytes], what: str) -> None:
        """Runs `command` with `chunks` on its stdin; raises unless it exits 0."""
        channel = transport.open_session()
        channel.settimeout(READ_TIMEOUT)
        try:
            channel.exec_command(command)
            for chunk in chunks:
                channel.sendall(chunk)
            channel.shutdown_write()
            code = channel.recv_exit_status()
            err = b""
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(CHUNK)
            if code != 0:
                raise TargetError(f"{what} failed (exit {code}): {err.decode(errors='replace').strip()[-300:] or 'no message'}")
        except socket.timeout:
            raise TargetError(f"{what}: the instance stopped reading for {int(READ_TIMEOUT)}s") from None
        finally:
            channel.close()

    def stream(self, host: Host, command: str, what: str, ok: Callable[[int, str], bool]) -> Iterator[bytes]:
        """The stdout of `command` on `host`, chunk by chunk; a failure (per `ok`) raises after the last chunk."""
        with self.connect(host) as transport:
            channel = transport.open_session()
            channel.settimeout(READ_TIMEOUT)
            try:
                channel.exec_command(command)
                while True:
                    try:
                        chunk = channel.recv(CHUNK)
                    except socket.timeout:
                        raise TargetError(f"{what}: no data for {int(READ_TIMEOUT)}s") from None
                    if not chunk:
                        break
                    yield chunk
                code = channel.recv_exit_status()
                err = b""
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(CHUNK)
                text = err.decode(errors="replace").strip()
                if not ok(code, text):
                    raise TargetError(f"{what} failed on instance {host.id} (exit {code}): {text[-300:] or 'no message'}")
            finally:
                channel.close()
