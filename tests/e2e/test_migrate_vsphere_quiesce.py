"""`portable migrate --quiesce` from vSphere VMs (the lab's vcsim, container-backed guest).

The VM bootstrap runs the service as the docker container `vm-<app>-<service>` inside its VM.
Here the VM's guest (vcsim's container, see test_migrate_vsphere_to_docker.py) carries the
docker CLI and the lab engine's socket, as a VM whose docker daemon runs the service would;
the service container is started from inside the guest, as the bootstrap starts it, and
shares the guest's /var/lib/portable (`--volumes-from`), where the VM keeps its volumes. It
writes one numbered row every 20 ms.

`--quiesce` stops that container through VMware Tools' guest operations before the last
export: the container is seen stopped while the copy runs, and Docker receives exactly the
rows the stopped writer left, none lost or torn. A migration that fails after the quiesce
(the destination never becomes ready) starts the container again (`resume`): the source keeps
serving and writing. Without the guest account, `--quiesce` is refused at plan time with
exit 2 naming the variables, and nothing is stopped.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, ensure_images, force_remove_app
from test_migrate_vsphere_to_docker import MANIFEST as PLAIN_MANIFEST, checksums_in, guest_container, guest_image, vm_names

pytestmark = [pytest.mark.lab("docker", "vcsim"), pytest.mark.timeout(900)]

APP = "vsq-quiesce"
WRITER = f"vm-{APP}-kv"  # container_name() of the VM bootstrap
GUEST_ROOT = "/var/lib/portable"
GUEST_VOLUME = f"{GUEST_ROOT}/volumes/data"
DOCKER_GUEST_IMAGE = "portable-test/vsphere-quiesce-guest:1"
# the VM's guest with a docker CLI; its /var/lib/portable a volume the service container shares
DOCKERFILE = f"""FROM {{base}}
COPY docker /usr/bin/docker
VOLUME {GUEST_ROOT}
"""
WRITE_LOOP = f"trap 'exit 0' TERM; mkdir -p {GUEST_VOLUME}; i=0; while :; do i=$((i+1)); echo \"row $i\" >> {GUEST_VOLUME}/rows.log; sleep 0.02; done"


def with_docker_cli(base: str, tag: str) -> str:
    """`base` (a guest image) plus the docker CLI the lab installed, /var/lib/portable a volume."""
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True, timeout=30).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory() as ctx:
        docker_cli = shutil.which("docker")
        assert docker_cli is not None
        shutil.copy2(os.path.realpath(docker_cli), Path(ctx, "docker"))
        Path(ctx, "Dockerfile").write_text(DOCKERFILE.format(base=base))
        subprocess.run(["docker", "build", "-q", "-t", tag, ctx], check=True, capture_output=True, timeout=300, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return tag


def docker_guest_image(worker: str) -> str:
    return with_docker_cli(guest_image(worker), DOCKER_GUEST_IMAGE)


def run_container_with_socket(image: str) -> str:
    """RUN.container for a guest that reaches the lab engine (vcsim joins the words into one
    `docker create` command line)."""
    return json.dumps([f"-v /var/run/docker.sock:/var/run/docker.sock {image}"])


def guest_volumes(container: str) -> list[str]:
    """The anonymous volumes a container holds (the guest's /var/lib/portable, shared with the writer)."""
    return [m["Name"] for m in ((inspect(container) or {}).get("Mounts") or []) if m.get("Type") == "volume"]


def manifest(local_override: str = "") -> str:
    text = PLAIN_MANIFEST.replace("name: vm-to-docker", f"name: {APP}")
    # vcsim joins RUN.container's words into one `docker create` command line
    text = text.replace("RUN.container: '[\"${GUEST_IMAGE}\"]'",
                        "RUN.container: '[\"-v /var/run/docker.sock:/var/run/docker.sock ${GUEST_IMAGE}\"]'")
    assert "docker.sock" in text and APP in text
    return text + local_override


def inspect(name: str) -> dict[str, Any] | None:
    done = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, timeout=30)
    return json.loads(done.stdout)[0] if done.returncode == 0 else None  # type: ignore[no-any-return]


def rows_of(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines()]


def writer_rows() -> list[int]:
    """rows.log as the writer's container sees it (running or stopped: read with docker cp)."""
    done = subprocess.run(["docker", "cp", f"{WRITER}:{GUEST_VOLUME}/rows.log", "-"], capture_output=True, timeout=30)
    if done.returncode != 0 and b"Could not find the file" in done.stderr:
        return []  # just started: the writer has not written its first row yet
    if done.returncode != 0:
        raise AssertionError(f"docker cp of rows.log failed: {done.stderr.decode(errors='replace')}")
    raw = done.stdout
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.extractfile("rows.log")
        assert member is not None
        return rows_of(member.read().decode())


class StateWatch(threading.Thread):
    """Records the writer container's Running flag every 50 ms while a migration runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: list[bool | None] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            found = inspect(WRITER)
            self.seen.append(None if found is None else bool(found["State"]["Running"]))
            time.sleep(0.05)


def cleanup(cli: Cli, path: Path) -> None:
    held = guest_volumes(WRITER)
    subprocess.run(["docker", "rm", "-f", WRITER], capture_output=True, timeout=60)
    cli.run("destroy", "-f", str(path), "-t", "vcsim", "--yes", "--volumes")
    cli.run("destroy", "-f", str(path), "-t", "local", "--yes", "--volumes")
    force_remove_app(APP)
    for volume in held:  # the guest's /var/lib/portable, kept alive by the writer
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, timeout=60)


@pytest.fixture
def cli(tmp_path: Path, vcsim: Any) -> Cli:
    images = ensure_images()
    force_remove_app(APP)
    subprocess.run(["docker", "rm", "-f", WRITER], capture_output=True, timeout=60)
    env = {"WORKER_IMAGE": images.worker, "GUEST_IMAGE": docker_guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    return Cli(tmp_path / "state.db", env)


def deploy_with_writer(cli: Cli, path: Path, worker: str) -> tuple[str, str]:
    """Deploys on vcsim, then starts the service container inside the guest as the bootstrap would."""
    deployed = cli.run("deploy", "-f", str(path), "-t", "vcsim", "--yes")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    [vm] = vm_names(cli, path)
    guest = guest_container(vm)
    subprocess.run(["docker", "exec", guest, "docker", "run", "-d", "--name", WRITER, "--label", "portable-test=vsphere-quiesce",
                    "--volumes-from", guest, worker, "sh", "-c", WRITE_LOOP], check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 30
    while len(writer_rows()) < 20:
        assert time.monotonic() < deadline, "the writer wrote nothing in the guest's volume"
        time.sleep(0.2)
    return vm, guest


def migrate(cli: Cli, path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli.run("migrate", "-f", str(path), "--state", str(cli.state), "--from", "vcsim", "--to", "local", "--yes", *extra, extra_env=env)


def test_quiesce_stops_the_guests_container_and_docker_gets_every_row_it_wrote(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "portable.yaml"
    path.write_text(manifest())
    try:
        vm, _guest = deploy_with_writer(cli, path, cli.env["WORKER_IMAGE"])

        # no guest account: refused while planning, exit 2 naming the variables; nothing stopped
        refused = migrate(cli, path, "--quiesce", env={"VSPHERE_GUEST_PASSWORD": ""})
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in refused.stderr and "Traceback" not in refused.stderr
        assert (inspect(WRITER) or {})["State"]["Running"] is True
        assert vm_names(cli, path) == [vm]

        before = writer_rows()
        watch = StateWatch()
        watch.start()
        moved = migrate(cli, path, "--quiesce")
        watch.done.set()
        watch.join(timeout=10)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f"{APP} now runs on local." in moved.stdout
        assert "guest-s3cret" not in moved.stdout + moved.stderr
        assert "writes were unavailable for " in moved.stdout, moved.stdout

        # the quiesce stopped the container in the guest, through guest operations
        journal = json.loads((tmp_path / ".portable" / "migrations" / f"{APP}.vcsim-to-local.json").read_text())
        assert journal["steps"]["quiesce"]["output"]["stopped"] == [f"{WRITER} in VM {vm}"], journal["steps"]["quiesce"]
        assert True in watch.seen and False in watch.seen, watch.seen[:5]
        assert watch.seen.index(False) > watch.seen.index(True)  # it served, then was stopped for the copy
        stopped = inspect(WRITER)
        assert stopped is not None and stopped["State"]["Running"] is False  # retired stopped, not restarted

        # every row the writer wrote before it stopped is on Docker, and nothing torn
        left = writer_rows()
        assert left[: len(before)] == before and left == list(range(1, len(left) + 1))
        [container] = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.portable.app={APP}", "--filter", "label=io.portable.service=kv"],
                                     capture_output=True, text=True, check=True, timeout=30).stdout.split()
        on_docker = subprocess.run(["docker", "exec", container, "cat", "/data/rows.log"], capture_output=True, text=True, check=True, timeout=30).stdout
        assert rows_of(on_docker) == left, f"docker has {len(rows_of(on_docker))} rows, the stopped writer left {len(left)}"
        assert set(checksums_in(container, "/data")) == {"rows.log"}
        assert vm_names(cli, path) == []  # vSphere retired
    finally:
        cleanup(cli, path)


FAILING_HEALTH = """\
overrides:
  local:
    services:
      kv:
        health: {exec: {command: ["false"]}, interval: 1s, retries: 1}
"""


def test_a_migration_failing_after_the_quiesce_starts_the_guests_container_again(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "portable.yaml"
    path.write_text(manifest(FAILING_HEALTH))
    try:
        vm, _guest = deploy_with_writer(cli, path, cli.env["WORKER_IMAGE"])
        watch = StateWatch()
        watch.start()
        failed = migrate(cli, path, "--quiesce", "--timeout", "20")
        watch.done.set()
        watch.join(timeout=10)
        assert failed.returncode != 0, failed.stdout + failed.stderr
        said = failed.stdout + failed.stderr
        assert "resumed the writers on vcsim" in said and "vcsim keeps serving" in said, said[-2000:]
        assert False in watch.seen, "the writer was never stopped"

        # the source serves and writes again, in the same VM; nothing is left on Docker
        running = inspect(WRITER)
        assert running is not None and running["State"]["Running"] is True
        count = len(writer_rows())
        time.sleep(1.0)
        assert len(writer_rows()) > count
        assert vm_names(cli, path) == [vm]
        assert subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={APP}"], capture_output=True, text=True, timeout=30).stdout.split() == []
    finally:
        cleanup(cli, path)
