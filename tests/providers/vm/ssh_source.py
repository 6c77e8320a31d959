"""Shared by the aws and libcloud SSH-source tests: a stateful app, a key pair on moto, the
instance brought up in the lab (instance_host.py), the real CLI, and what the archives hold."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from instance_host import InstanceHost, LabInstances
from sealed_support import opened

REGISTRY = "127.0.0.1:5000"
MOTO_UBUNTU_AMI = "ami-1e749f67"
INDEX = ".portable-index.json"

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  web:
    image: {registry}/lab/web:1
    ports: [{{port: 8080}}]
    volumes: [{{volume: data, path: /data}}]
    health:
      http: {{path: /cgi-bin/health, port: 8080}}
      interval: 1s
volumes:
  data: {{size: 1Gi}}
targets:
{source}"""


def free_loopback_address() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from vm_lab import free_loopback

    return free_loopback(8080)


@dataclass
class SshApp:
    """A one-service app with a volume, deployed to a cloud target on moto, and its lab instances."""

    dir: Path
    app: str
    target: str
    region: str
    env: dict[str, str]
    ec2: Any
    key_name: str
    key_file: Path
    labs: LabInstances
    hosts: list[InstanceHost] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.dir / "portable.yaml"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        state = [] if args[0] in ("backup", "restore") else ["--state", str(self.dir / "state.db")]  # those take no state
        return subprocess.run([sys.executable, "-m", "portable.cli.main", *args, "-f", str(self.manifest), *state],
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def write(self, source_yaml: str) -> None:
        self.manifest.write_text(MANIFEST.format(app=self.app, registry=REGISTRY, source=source_yaml))

    def instances(self, states: tuple[str, ...] = ("pending", "running")) -> list[dict[str, Any]]:
        """The app's instances on moto, found by the provider's tag (aws) or its node-name prefix (libcloud)."""
        found = self.ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": list(states)}])
        out = []
        for r in found["Reservations"]:
            for i in r["Instances"]:
                tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
                if tags.get("portable:app") == self.app or tags.get("Name", "").startswith(f"{self.app}-"):
                    out.append(i)
        return out

    def instance_states(self, ids: list[str]) -> dict[str, str]:
        found = self.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        return {i["InstanceId"]: i["State"]["Name"] for r in found for i in r["Instances"]}

    def boot_all(self, **kwargs: Any) -> list[InstanceHost]:
        """Every running instance of the app as a lab host, its user data run."""
        running = self.instances(("running",))
        assert running, "the app has no running instance on moto"
        for inst in running:
            host = self.labs.start(inst["InstanceId"], bind=free_loopback_address(), **kwargs)
            if host.bootstrap is not None:
                assert host.bootstrap.returncode == 0, host.bootstrap.stdout + host.bootstrap.stderr
            self.hosts.append(host)
        return self.hosts


def new_app(tmp_path: Path, moto_url: str, docker_host: str, region: str, kind: str) -> SshApp:
    import boto3

    app = f"{kind}-ssh-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=region, DOCKER_HOST=docker_host)
    for name in ("AWS_PROFILE", "SSH_AUTH_SOCK", "LIBCLOUD_KEY", "LIBCLOUD_SECRET"):
        env.pop(name, None)
    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing")
    key_name = f"{app}-key"
    pair = ec2.create_key_pair(KeyName=key_name, KeyType="ed25519")
    key_file = tmp_path / "keys" / "id_ed25519"
    key_file.parent.mkdir()
    key_file.write_text(pair["KeyMaterial"])
    key_file.chmod(0o600)
    labs = LabInstances(docker_host, ec2, tmp_path / "instances")
    return SshApp(tmp_path, app, "", region, env, ec2, key_name, key_file, labs)


def ssh_yaml(key_file: Path, **extra: Any) -> dict[str, Any]:
    return {"address": "private", "user": "root", "key_file": str(key_file), **extra}


def target_yaml(name: str, settings: dict[str, Any]) -> str:
    body = yaml.safe_dump({name: settings}, sort_keys=False, default_flow_style=False)
    return "".join(f"  {line}\n" for line in body.splitlines())


def write_data(volume: Path) -> dict[str, str]:
    """Files of several kinds in a volume directory; their checksums."""
    (volume / "orders").mkdir(parents=True, exist_ok=True)
    (volume / "orders" / "1.json").write_text('{"id": 1, "total": 42}')
    (volume / "orders" / "2.json").write_text('{"id": 2, "total": 7}')
    (volume / "blob.bin").write_bytes(random.randbytes(400_000))
    (volume / "empty").write_bytes(b"")
    return checksums(volume)


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".portable")}


def member_path(name: str) -> str:
    """A tar member's path relative to the volume (`./a/b` and `a/b` alike)."""
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def archive_checksums(archive: Path) -> dict[str, str]:
    """The files a portable volume archive holds (index excluded), by path, with their SHA-256
    (the archive is sealed at rest: opened with the app's key, tests/sealed_support.py)."""
    out = {}
    with opened(archive) as plain, tarfile.open(plain, "r:gz") as tar:
        for m in tar.getmembers():
            name = member_path(m.name)
            if m.isfile() and name != INDEX:
                data = tar.extractfile(m)
                assert data is not None
                out[name] = hashlib.sha256(data.read()).hexdigest()
    return out


def backup_archives(app_dir: Path, app: str, backup_id: str) -> list[Path]:
    index = json.loads((app_dir / ".portable" / "archives" / app / backup_id / "backup.json").read_text())
    return [app_dir / ".portable" / "archives" / a["key"] for a in index["archives"]]


def deployed(app: SshApp) -> list[str]:
    """Deploys the app to its cloud target; the ids of its instances (one)."""
    done = app.cli("deploy", "-t", app.target, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [i["InstanceId"] for i in app.instances()]
    assert len(ids) == 1, ids
    return ids


def docker_objects(docker_host: str, app: str) -> list[str]:
    """The app's containers and volumes on a Docker engine (the destination)."""
    out = docker_out(docker_host, "ps", "-a", "--filter", f"label=io.portable.app={app}", "--format", "{{.Names}}")
    return out.split() + docker_out(docker_host, "volume", "ls", "--filter", f"label=io.portable.app={app}", "--format", "{{.Name}}").split()


def docker_out(docker_host: str, *args: str) -> str:
    out = subprocess.run(["docker", "-H", docker_host, *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def container_running(docker_host: str, name: str) -> bool | None:
    out = subprocess.run(["docker", "-H", docker_host, "inspect", "-f", "{{.State.Running}}", name], capture_output=True, text=True, timeout=60)
    return None if out.returncode != 0 else out.stdout.strip() == "true"


def service_sees(docker_host: str, app: str, path: str) -> dict[str, str]:
    """What the app's running container on Docker sees under `path`: files and their SHA-256."""
    listed = docker_out(docker_host, "ps", "--filter", f"label=io.portable.app={app}", "--format", "{{.Names}}").split()
    assert listed, f"nothing of {app} runs on Docker"
    seen = docker_out(docker_host, "exec", listed[0], "sh", "-c", f"cd {path} && find . -type f | sort | xargs sha256sum")
    found = {line.split()[1][2:]: line.split()[0] for line in seen.splitlines()}
    return {k: v for k, v in found.items() if not k.startswith(".portable")}


def refused_before_anything_changes(app: SshApp, docker_host: str, iid: str, host: InstanceHost | None) -> tuple[str, str]:
    """Runs the migration to Docker and a quiesced backup; both must stop at plan time (exit 2)
    with nothing changed: nothing on Docker, the instance running, its writer never stopped,
    no archive written. Returns their error output."""
    archives = set((app.dir / ".portable").rglob("*.tar.gz"))  # of earlier, successful backups
    moved = app.cli("migrate", "--from", app.target, "--to", "local", "--quiesce", "--yes")
    assert moved.returncode == 2, moved.stdout + moved.stderr
    assert "Traceback" not in moved.stderr
    assert docker_objects(docker_host, app.app) == []
    assert app.instance_states([iid])[iid] == "running"
    if host is not None and host.bootstrap is not None:
        assert container_running(docker_host, f"vm-{app.app}-web") is True
    journal = next((app.dir / ".portable" / "migrations").glob("*.json"), None)
    if journal is not None:
        steps = json.loads(journal.read_text())["steps"]
        assert set(steps) == {"plan"} and steps["plan"]["status"] == "failed", steps
    backup = app.cli("backup", "-t", app.target, "--quiesce")
    assert backup.returncode == 2, backup.stdout + backup.stderr
    assert set((app.dir / ".portable").rglob("*.tar.gz")) == archives  # no new archive
    if host is not None and host.bootstrap is not None:
        assert container_running(docker_host, f"vm-{app.app}-web") is True
    return moved.stderr, backup.stderr


def docker_volume_checksums(docker_host: str, volume: str) -> dict[str, str]:
    """Files of a Docker named volume, read through a helper container of the lab's busybox image."""
    out = subprocess.run(["docker", "-H", docker_host, "run", "--rm", "-v", f"{volume}:/v:ro", "lab/busybox:1", "/bin/busybox", "tar", "-C", "/v", "-cf", "-", "."],
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr
    sums = {}
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        for m in tar.getmembers():
            name = member_path(m.name)
            if m.isfile() and not name.startswith(".portable"):
                data = tar.extractfile(m)
                assert data is not None
                sums[name] = hashlib.sha256(data.read()).hexdigest()
    return sums


def secrets_absent(key_file: Path, *texts: str) -> None:
    """No line of the private key (beyond its armour) appears in any of `texts`."""
    lines = [line for line in key_file.read_text().splitlines() if line and not line.startswith("-----")]
    for text in texts:
        for line in lines:
            assert line not in text, "a line of the private key leaked"


class Booter(threading.Thread):
    """Brings every new running node of the app up as a lab host (its user data run), as the
    cloud would boot it, while the deploy waits to push the secrets."""

    def __init__(self, app: SshApp) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.seen: set[str] = set()
        self.hosts: dict[str, InstanceHost] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for inst in self.app.instances(("running",)):
                    iid = inst["InstanceId"]
                    if iid not in self.seen:
                        self.seen.add(iid)
                        self.hosts[iid] = self.app.labs.start(iid, bind=free_loopback_address())
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            time.sleep(0.3)

    def booted(self, iid: str, timeout: float = 120) -> InstanceHost:
        deadline = time.monotonic() + timeout
        while iid not in self.hosts and time.monotonic() < deadline and not self.errors:
            time.sleep(0.3)
        assert not self.errors, self.errors
        host = self.hosts.get(iid)
        assert host is not None and host.bootstrap is not None, f"node {iid} was not booted"
        assert host.bootstrap.returncode == 0, host.bootstrap.stdout[-2000:] + host.bootstrap.stderr[-2000:]
        return host


def fed_migration(app: SshApp, docker_host: str, moto_url: str) -> None:
    """Docker -> app.target without --plaintext-transit: each node is booted as a lab host while
    the migration runs (Booter), its bootstrap waits with the volume in place, and portable
    writes the archives it opened here into it over SSH (providers/vm/archive_push.py). The
    blob store is on loopback, which the lab host cannot reach: nothing on the node fetches."""
    import base64
    import gzip

    import boto3

    app.env["AWS_ENDPOINT_URL"] = moto_url
    done = app.cli("deploy", "-t", "local", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    written = write_data(app.dir / "seed")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w") as tar:
        tar.add(app.dir / "seed", arcname=".")
    filled = subprocess.run(["docker", "-H", docker_host, "run", "-i", "--rm", "-v", f"{app.app}_data:/v", "lab/busybox:1", "/bin/busybox", "tar", "-C", "/v", "-xf", "-"],
                            input=packed.getvalue(), capture_output=True, timeout=120)
    assert filled.returncode == 0, filled.stderr
    booter = Booter(app)
    booter.start()
    try:
        moved = app.cli("migrate", "--from", "local", "--to", app.target, "--quiesce", "--yes", "--blob-store", f"s3://portable-archives/{app.app}")
        assert moved.returncode == 0, moved.stdout + moved.stderr + "\n".join(booter.errors)
        assert f"{app.app} now runs on {app.target}." in moved.stdout
        assert "over SSH (2 archive(s), checked as they streamed)" in moved.stdout + moved.stderr, moved.stdout + moved.stderr
        [node] = [i["InstanceId"] for i in app.instances(("running",))]
        host = booter.booted(node)
        assert host.bootstrap is not None and "portable: volume data restored" in host.bootstrap.stdout, host.bootstrap.stdout[-2000:]
        assert checksums(host.volume("data")) == written
        assert container_running(docker_host, f"vm-{app.app}-web") is True
    finally:
        booter.stop.set()
    # the user data names the archives by checksum: no URL, no key; no unsealed copy was made
    raw = base64.b64decode(app.ec2.describe_instance_attribute(InstanceId=node, Attribute="userData")["UserData"]["Value"])
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
    assert "portable writes: " in text and "portable-archives" not in text and "X-Amz" not in text and "Signature=" not in text
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket="portable-archives", Prefix=app.app + "/").get("Contents", [])]
    assert stored and not [k for k in stored if "/transit/" in k], stored
    assert all(s3.get_object(Bucket="portable-archives", Key=k)["Body"].read(15) == b"PORTABLE-SEALED" for k in stored if k.endswith(".tar.gz"))
