"""EC2 instances created through moto, brought up as real hosts of the lab (issue 14, item 6).

moto records an instance (private address, key pair, user data) and runs nothing. Here such
an instance becomes a container on engine A, on the lab network `portable-lab-vpc` whose
subnet is moto's default VPC (172.31.0.0/16, the same in every region), at exactly the private
address moto assigned. The container is `lab/sshd:1` (Debian's openssh-server; it prints its
host keys between cloud-init's markers at start), with the key pair's public key authorized
for the login user, as cloud-init does on an AMI from the metadata service (read here with
DescribeKeyPairs IncludePublicKey, which moto answers). Then the instance's real user data
runs in it as cloud-init would: `write_files`, then `runcmd`, with the host setup skipped
(PORTABLE_SKIP_HOST_SETUP=1): the bootstrap drives engine A through its socket (the docker
CLI of this machine is mounted in), so the service's container runs beside it on engine A.

Volumes are directories. The bootstrap's root is a directory of the test, mounted at the same
path in the instance (the engine resolves `-v` paths on this host) and linked from
/var/lib/portable, the path a VM has, which is what SSH sessions see.

The network is `--internal`: the instances reach nothing outside it, and only addresses on it
(and loopback) are ever contacted. An instance that restores migrated volumes at first boot
fetches its archives by URL: `gateway_endpoint(moto_url)` forwards the lab bridge's own
address on this machine (172.31.0.1) to moto, so a blob store opened on that endpoint signs
URLs both this machine and the instances reach; busybox-static (the lab's) is the
instances' `wget`. Addresses outside 172.31.0.0/16 are refused here. moto's
console output is a fixed sample without host keys, so the providers trust the first key seen;
the container's own log (`console()`) has the block a real EC2 console shows.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LAB_VPC_NETWORK = "portable-lab-vpc"
LAB_VPC_CIDR = "172.31.0.0/16"  # moto's default VPC, in every region
LAB_VPC_GATEWAY = "172.31.0.1"  # moto reserves .1-.3 of each subnet: never an instance's
SSHD_IMAGE = "lab/sshd:1"
DOCKER_CLI = "/usr/local/bin/docker"
BUSYBOX = "/bin/busybox"  # busybox-static, installed by the lab (lab/busybox:1 is made of it)
LABEL = "portable-lab.instance"


def docker(docker_host: str, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["docker", "-H", docker_host, *args], input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed: {out.stderr.strip()}")
    return out


def ensure_lab_vpc(docker_host: str) -> None:
    """The lab network with moto's default VPC subnet (created once, then reused)."""
    found = docker(docker_host, "network", "inspect", LAB_VPC_NETWORK, check=False)
    if found.returncode == 0:
        subnets = [c["Subnet"] for c in json.loads(found.stdout)[0]["IPAM"]["Config"] or []]
        assert subnets == [LAB_VPC_CIDR], f"network {LAB_VPC_NETWORK} exists with subnets {subnets}, not {LAB_VPC_CIDR}"
        return
    made = docker(docker_host, "network", "create", "--internal", "--subnet", LAB_VPC_CIDR, "--gateway", LAB_VPC_GATEWAY,
                  "--label", "portable-lab=vpc", LAB_VPC_NETWORK, check=False)
    if made.returncode != 0 and "already exists" not in made.stderr:
        raise AssertionError(f"cannot create the lab network {LAB_VPC_NETWORK} ({LAB_VPC_CIDR}) on engine A: {made.stderr.strip()}")


def socket_path(docker_host: str) -> str:
    assert docker_host.startswith("unix://"), f"engine A must be a unix socket to mount into the instances, not {docker_host}"
    return docker_host[len("unix://"):]


@dataclass
class InstanceHost:
    """One moto instance running as a lab container."""

    instance_id: str
    address: str
    container: str
    root: Path  # the bootstrap's root on this host (/var/lib/portable in the instance)
    docker_host: str
    bootstrap: subprocess.CompletedProcess[str] | None = None
    started: list[str] = field(default_factory=list)  # containers its bootstrap started on engine A

    def volume(self, name: str) -> Path:
        """The volume's directory as the instance keeps it (/var/lib/portable/volumes/NAME there)."""
        return self.root / "volumes" / name

    def console(self) -> str:
        """What the instance printed: its host keys between cloud-init's markers, then sshd's log."""
        out = docker(self.docker_host, "logs", self.container, check=False)
        return out.stdout + out.stderr

    def sh(self, command: str) -> str:
        return docker(self.docker_host, "exec", self.container, "sh", "-c", command).stdout


class LabInstances:
    """Brings moto instances up as lab containers; `close()` removes them and what they started."""

    def __init__(self, docker_host: str, ec2: Any, workdir: Path, *, user: str = "root") -> None:
        self.docker_host = docker_host
        self.ec2 = ec2
        self.workdir = workdir
        self.user = user
        self.hosts: dict[str, InstanceHost] = {}
        self.forwards: list[GatewayForward] = []
        ensure_lab_vpc(docker_host)

    def _instance(self, instance_id: str) -> dict[str, Any]:
        found = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return found[0]["Instances"][0]  # type: ignore[no-any-return]

    def _user_data(self, instance_id: str) -> dict[str, Any]:
        import base64
        import gzip

        raw = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
        data = base64.b64decode(raw)
        data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        doc = yaml.safe_load(data)
        assert isinstance(doc, dict), "the instance's user data is not #cloud-config"
        return doc

    def _public_key(self, key_name: str) -> str:
        pairs = self.ec2.describe_key_pairs(KeyNames=[key_name], IncludePublicKey=True)["KeyPairs"]
        return str(pairs[0]["PublicKey"]).strip()

    def start(self, instance_id: str, *, run_user_data: bool = True, bind: str = "127.0.0.1") -> InstanceHost:
        """The instance as a container at its private address; with `run_user_data`, booted."""
        inst = self._instance(instance_id)
        address = inst["PrivateIpAddress"]
        if ipaddress.ip_address(address) not in ipaddress.ip_network(LAB_VPC_CIDR):
            raise AssertionError(f"instance {instance_id} has address {address}, outside the lab network {LAB_VPC_CIDR}: not starting it")
        root = self.workdir / instance_id
        root.mkdir(parents=True, exist_ok=True)
        name = f"lab-ec2-{instance_id}"
        self._free(address, name)
        args = ["run", "-d", "--name", name, "--hostname", instance_id, "--network", LAB_VPC_NETWORK, "--ip", address,
                "--label", f"{LABEL}={instance_id}",
                "-v", f"{socket_path(self.docker_host)}:/var/run/docker.sock", "-v", f"{DOCKER_CLI}:/usr/local/bin/docker:ro",
                "-v", f"{BUSYBOX}:/usr/local/bin/wget:ro",  # busybox runs as the applet it is called by
                "-v", f"{root}:{root}", "-e", f"SSH_USER={self.user}"]
        if inst.get("KeyName"):
            args += ["-e", f"SSH_AUTHORIZED_KEYS={self._public_key(inst['KeyName'])}"]
        docker(self.docker_host, *args, SSHD_IMAGE)
        host = InstanceHost(instance_id, address, name, root, self.docker_host)
        self.hosts[instance_id] = host
        self._wait_sshd(host)
        host.sh(f"rm -rf /var/lib/portable && ln -s {root} /var/lib/portable")
        if run_user_data:
            self.run_user_data(host, bind)
        return host

    def _free(self, address: str, name: str) -> None:
        """Removes a container left at `address` by an earlier run of this instance; refuses another's."""
        docker(self.docker_host, "rm", "-f", name, check=False)
        net = json.loads(docker(self.docker_host, "network", "inspect", LAB_VPC_NETWORK).stdout)[0]
        for c in (net.get("Containers") or {}).values():
            if c["IPv4Address"].split("/")[0] == address:
                raise AssertionError(f"{address} on {LAB_VPC_NETWORK} is held by container {c['Name']} (another test's instance in another region?)")

    def _wait_sshd(self, host: InstanceHost, timeout: float = 30) -> None:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "-----END SSH HOST KEY KEYS-----" in host.console():
                probe = docker(self.docker_host, "exec", host.container, "sh", "-c", "test -s /run/sshd.pid && kill -0 $(cat /run/sshd.pid)", check=False)
                if probe.returncode == 0:
                    return
            time.sleep(0.3)
        raise AssertionError(f"sshd did not start in {host.container}: {host.console()[-500:]}")

    def run_user_data(self, host: InstanceHost, bind: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
        """`write_files` then `runcmd` of the instance's #cloud-config, as cloud-init runs them."""
        doc = self._user_data(host.instance_id)
        for f in doc.get("write_files", []):
            path = f["path"]
            docker(self.docker_host, "exec", "-i", host.container, "sh", "-c",
                   f"mkdir -p \"$(dirname '{path}')\" && cat >'{path}' && chmod {f.get('permissions', '0644')} '{path}'", stdin=f["content"])
        env = ["-e", f"PORTABLE_ROOT={host.root}", "-e", "PORTABLE_SKIP_HOST_SETUP=1", "-e", f"PORTABLE_BIND_ADDRESS={bind}"]
        last: subprocess.CompletedProcess[str] | None = None
        for cmd in doc.get("runcmd", []):
            argv = [str(a) for a in cmd] if isinstance(cmd, list) else ["sh", "-c", str(cmd)]
            last = docker(self.docker_host, "exec", *env, host.container, *argv, timeout=300, check=False)
            if last.returncode != 0:
                break
        assert last is not None, "the user data has no runcmd"
        host.bootstrap = last
        host.started += [line.split("service=")[1].split()[0] for line in last.stdout.splitlines() if line.startswith("portable: READY service=")]
        return last

    def remove(self, instance_id: str, app: str | None = None) -> None:
        host = self.hosts.pop(instance_id, None)
        if host is None:
            return
        docker(self.docker_host, "rm", "-f", host.container, check=False)
        if app is not None:
            for service in host.started:
                docker(self.docker_host, "rm", "-f", f"vm-{app}-{service}", check=False)

    def close(self, app: str | None = None) -> None:
        for iid in list(self.hosts):
            self.remove(iid, app)
        for forward in self.forwards:
            forward.close()
        self.forwards = []

    def gateway_endpoint(self, url: str) -> str:
        """`url` (a loopback service: moto) as an address on the lab bridge, reachable from the
        instances and from this machine alike."""
        parts = urllib.parse.urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port, f"only a loopback service is forwarded, not {url}"
        forward = GatewayForward(parts.port)
        self.forwards.append(forward)
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{LAB_VPC_GATEWAY}:{forward.port}"))


class GatewayForward:
    """A TCP forwarder from the lab bridge's address (172.31.0.1:<any port>) to 127.0.0.1:<port>."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server = socket.create_server((LAB_VPC_GATEWAY, 0))
        self.port = self.server.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed = True
        self.server.close()
