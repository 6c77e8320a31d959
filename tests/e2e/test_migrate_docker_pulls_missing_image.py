"""A Docker destination that lacks the app's image gets it, under the app's name, before the data is copied in.

Found by the grand tour: libcloud -> Docker engine B failed in its first copy pass with
"creating a helper container for volume ...: No such image", because the restore's helper
containers are made of the service's image, and when the source could not hand the image
out (every source but Docker) the images step only said "the engine will pull it", leaving
the pull to the deploy, after the copy. Here the source is vSphere (vcsim's container-backed
guest), which hands out no images, and engine B has never seen the image: the migration
pulls it from the lab registry in the images step and the guest's files arrive on B.
"""
from __future__ import annotations

import random
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from docker_support import Cli, ensure_images
from test_migrate_docker import cleanup, docker_on
from test_migrate_vsphere_to_docker import GUEST_VOLUME, checksums_in, guest_container, guest_image, vm_names

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry", "vcsim"), pytest.mark.timeout(600)]

IMAGE = "127.0.0.1:5000/portable-test/pulled-by-b:1"
MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  kv:
    image: {image}
    volumes:
      - {{volume: data, path: /data}}
volumes:
  data: {{size: 1Gi}}
targets:
  vcsim:
    provider: vsphere
    host: ${{LAB_VC_HOST}}
    port: ${{LAB_VC_PORT}}
    insecure: true
    template: ${{LAB_VC_TEMPLATE}}
    datacenter: ${{LAB_VC_DATACENTER}}
    cluster: ${{LAB_VC_CLUSTER}}
    folder: ${{LAB_VC_FOLDER}}
    datastore: ${{LAB_VC_DATASTORE}}
    network: ${{LAB_VC_NETWORK}}
    readiness: ip
    boot_timeout: 120
    extra_config:
      RUN.container: '["${{GUEST_IMAGE}}"]'
      RUN.mountdmi: "false"
  b: {{provider: docker, host: "{b}"}}
"""


def test_the_destination_pulls_an_image_the_source_cannot_hand_out_before_the_copy(tmp_path: Path, vcsim: Any, docker_b_host: str) -> None:
    app = f"pull-to-b-{uuid.uuid4().hex[:6]}"
    images = ensure_images()
    docker_on("unix:///var/run/docker.sock", "tag", images.worker, IMAGE)
    docker_on("unix:///var/run/docker.sock", "push", "-q", IMAGE)
    docker_on(docker_b_host, "rmi", "-f", IMAGE, check=False)  # B has never seen it
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST.format(app=app, image=IMAGE, b=docker_b_host))
    env = {"GUEST_IMAGE": guest_image(images.worker), "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password,
           "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret",
           **{f"LAB_VC_{k.upper()}": str(getattr(vcsim, k)) for k in ("host", "port", "template", "datacenter", "cluster", "folder", "datastore", "network")}}
    cli = Cli(tmp_path / "state.db", env)
    try:
        deployed = cli.run("deploy", "-f", str(manifest), "-t", "vcsim", "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        [vm] = vm_names(cli, manifest)
        guest = guest_container(vm)
        subprocess.run(["docker", "exec", "-i", guest, "sh", "-c", f"mkdir -p {GUEST_VOLUME} && cat > {GUEST_VOLUME}/blob.bin"],
                       input=random.randbytes(100_000), check=True, timeout=30)
        written = checksums_in(guest, GUEST_VOLUME)
        assert docker_on(docker_b_host, "image", "inspect", IMAGE, check=False).returncode != 0

        moved = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "vcsim", "--to", "b", "--yes")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f"{app} now runs on b." in moved.stdout
        said = moved.stdout + moved.stderr
        assert f"pulling {IMAGE}" in said and said.index(f"pulling {IMAGE}") < said.index("[export]"), said  # before the copy
        seen = docker_on(docker_b_host, "exec", f"{app}-kv-1", "sh", "-c", "cd /data && sha256sum blob.bin").stdout.split()[0]
        assert seen == written["blob.bin"]
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "b", "--yes", "--volumes")
        cli.run("destroy", "-f", str(manifest), "-t", "vcsim", "--yes", "--volumes")
        cleanup(app, docker_b_host)
        subprocess.run(["docker", "-H", docker_b_host, "rmi", "-f", IMAGE], capture_output=True, timeout=60)


A_MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  kv:
    image: {image}
    volumes:
      - {{volume: data, path: /data}}
volumes:
  data: {{size: 1Gi}}
targets:
  a: {{provider: docker, host: "{a}"}}
  b: {{provider: docker, host: "{b}"}}
"""


def test_an_image_with_several_tags_reaches_the_destination_under_the_name_the_app_uses(tmp_path: Path, docker_host: str, docker_b_host: str) -> None:
    """Engine A hands the image to B (save | load). The archive used to be named after the
    image's first tag, so with several tags B got another name and the copy failed with
    "No such image" (found by this issue's tests: lab/postgres:15 and its registry name)."""
    app = f"tags-to-b-{uuid.uuid4().hex[:6]}"
    images = ensure_images()
    ref, alias = f"portable-test/copied-{app}:1", f"portable-test/aa-{app}:1"  # the alias sorts first
    for tag in (ref, alias):
        docker_on(docker_host, "tag", images.worker, tag)
    first_tag = docker_on(docker_host, "image", "inspect", "-f", "{{index .RepoTags 0}}", ref).stdout.strip()
    assert first_tag != ref, first_tag  # the case: the app's name is not the image's first tag
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(A_MANIFEST.format(app=app, image=ref, a=docker_host, b=docker_b_host))
    cli = Cli(tmp_path / "state.db")
    try:
        assert cli.run("deploy", "-f", str(manifest), "-t", "a", "--yes").returncode == 0
        docker_on(docker_host, "exec", f"{app}-kv-1", "sh", "-c", "echo kept > /data/kept.txt")
        moved = cli.run("migrate", "-f", str(manifest), "--state", str(cli.state), "--from", "a", "--to", "b", "--yes", "--quiesce")
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert f"copying image {ref} to b" in moved.stderr
        assert docker_on(docker_b_host, "exec", f"{app}-kv-1", "cat", "/data/kept.txt").stdout == "kept\n"
    finally:
        cli.run("destroy", "-f", str(manifest), "-t", "b", "--yes", "--volumes")
        cli.run("destroy", "-f", str(manifest), "-t", "a", "--yes", "--volumes")
        cleanup(app, docker_host, docker_b_host)
        for host in (docker_host, docker_b_host):
            subprocess.run(["docker", "-H", host, "rmi", ref, alias], capture_output=True, timeout=60)
