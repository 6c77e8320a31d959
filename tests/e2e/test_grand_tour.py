"""The grand tour (issue 14, item 7): one PostgreSQL database through all five kinds of target.

`lab/postgres:15` starts on Docker engine A and rows are written with psql; then
`portable migrate` takes it A -> Kubernetes (the lab's real kubelet node: PostgreSQL runs in a
pod there) -> AWS (moto; the instance brought up as a lab host at its private address, its
real user data restoring the archives from S3 and starting PostgreSQL) -> vSphere (vcsim; the
archives uploaded into the container-backed guest through VMware Tools, PostgreSQL started
in the guest) -> libcloud (its EC2 driver on moto, a lab host again) -> Docker engine B.
Every hop writes its own rows and checks all earlier ones; every hop checks the volume's
per-file SHA-256 against the archive index and the source as the quiesce left it (see
grand_tour_support); every source is retired with nothing of the app left on it, asked
through that target's API. The last hop is SIGKILLed while its data is being copied and run
again: it resumes and the data is the same. Every hop's duration and write-unavailable
window are printed, recorded and written to $LAB_RUN/grand-tour-timings.txt.

On vSphere, PostgreSQL runs as the VM bootstrap runs a service: the container `vm-<app>-db`,
started from inside the guest (its docker CLI reaches the lab engine's socket, the data
directory is the guest's /var/lib/portable, shared with `--volumes-from`). The vSphere ->
libcloud hop quiesces like the others: `--quiesce` stops that container through VMware
Tools' guest operations, and the source "as the quiesce left it" is read from it.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from docker_support import force_remove_app
from grand_tour_support import (
    GUEST_VOLUME, PG_IMAGE, PGDATA, TIMINGS, Hop, Migration, TimingsReport, Tour, build_guest_image, changed_beyond_startup, container_checksums,
    dir_files, docker_volume_files, final_index, out, psql_in, psql_in_pod, sums, tar_files, timings_table, wait_answering,
)
from instance_host import LabInstances  # noqa: E402  (tests/providers/vm, put on sys.path by grand_tour_support)
from migration_support import BUCKET
from ns_proxy import NamespaceProxy  # noqa: E402
from ssh_source import MOTO_UBUNTU_AMI, free_loopback_address, secrets_absent  # noqa: E402
from test_migrate_docker_to_k8s import restore_image
from test_migrate_k8s_to_aws import k8s_objects, volume_dir
from test_migrate_vsphere_quiesce import guest_volumes, run_container_with_socket, with_docker_cli
from test_migrate_vsphere_to_docker import guest_container

pytestmark = [pytest.mark.lab("docker", "docker_b", "registry", "images", "dbimages", "k8s", "k8s_node", "moto", "vcsim"), pytest.mark.timeout(1500)]

AWS_REGION = "eu-south-2"  # no other test's region
CLOUD_REGION = "eu-north-1"  # one libcloud's EC2 driver knows that no libcloud test takes
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
DOCKER_GUEST_IMAGE = "portable-test/tour-guest-docker:1"  # the tour's guest with the docker CLI (test_migrate_vsphere_quiesce)


def ec2(moto_url: str, region: str) -> Any:
    return boto3.client("ec2", endpoint_url=moto_url, region_name=region, **CREDS)


def key_pair(client: Any, name: str, path: Path) -> None:
    client.delete_key_pair(KeyName=name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(client.create_key_pair(KeyName=name, KeyType="ed25519")["KeyMaterial"])
    path.chmod(0o600)


def manifest(app: str, *, docker_host: str, docker_b_host: str, kubeconfig: str, restore: str, real_node: Any, moto_url: str,
             vcsim: Any, proxy_port: int, keys: Path) -> str:
    ssh = {"address": "private", "user": "root"}
    doc = {
        "apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app},
        "services": {"db": {
            "image": PG_IMAGE,
            "env": {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": "tour"},
            "ports": [{"port": 5432}],
            "volumes": [{"volume": "data", "path": PGDATA}],
            # the entrypoint, as root, gives the data directory to postgres, then drops to it
            "security": {"capabilities": {"add": ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID"]}},
            "health": {"exec": {"command": ["pg_isready", "-q", "-h", "127.0.0.1", "-U", "postgres"]}, "interval": "1s", "retries": 60},
        }},
        "volumes": {"data": {"size": "1Gi"}},
        "targets": {
            "a": {"provider": "docker", "host": docker_host},
            "k8s": {"provider": "kubernetes", "kubeconfig": kubeconfig, "namespace": app, "restore_image": restore, **real_node.target_settings},
            "aws": {"provider": "aws", "region": AWS_REGION, "endpoint_url": moto_url, "ami": MOTO_UBUNTU_AMI, "readiness": "instance",
                    "key_name": f"{app}-aws", "ssh": {**ssh, "key_file": str(keys / "aws")}},
            "vsphere": {"provider": "vsphere", "host": vcsim.host, "port": vcsim.port, "insecure": True, "template": vcsim.template,
                        "datacenter": vcsim.datacenter, "cluster": vcsim.cluster, "folder": vcsim.folder, "datastore": vcsim.datastore,
                        "network": vcsim.network, "readiness": "ip", "boot_timeout": 120,
                        "extra_config": {"RUN.container": run_container_with_socket(with_docker_cli(build_guest_image(), DOCKER_GUEST_IMAGE)),
                                         "RUN.mountdmi": "false"}},
            "cloud": {"provider": "libcloud", "driver": "ec2", "region": CLOUD_REGION, "image": MOTO_UBUNTU_AMI, "readiness": "state",
                      "driver_options": {"host": "127.0.0.1", "port": proxy_port, "secure": False, "signature_version": "4"},
                      "key_name": f"{app}-cloud", "ssh": {**ssh, "key_file": str(keys / "cloud")}},
            "b": {"provider": "docker", "host": docker_b_host},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def running_instances(client: Any, app: str) -> list[dict[str, Any]]:
    """The app's instances that are not terminated, by the aws provider's tag or libcloud's node name."""
    found = client.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
    return [i for r in found["Reservations"] for i in r["Instances"]
            if any(t["Key"] == "portable:app" and t["Value"] == app or t["Key"] == "Name" and t["Value"].startswith(f"{app}-") for t in i.get("Tags", []))]


def docker_objects(docker_host: str, app: str, kind: str) -> list[str]:
    listing = ["ps", "-a", "--format", "{{.Names}}"] if kind == "containers" else ["volume", "ls", "--format", "{{.Name}}"]
    return out(["docker", "-H", docker_host, *listing[:-2], "--filter", f"label=io.portable.app={app}", *listing[-2:]]).split()


def vm_names(tour: Tour) -> list[str]:
    status = tour.cli("status", "-t", "vsphere", "-o", "json")
    assert status.returncode == 0, status.stderr
    return [i["name"] for s in json.loads(status.stdout)["services"] for i in s["instances"]]


# the tour boots each VM's lab host after its hop (moto runs no guest), so the aws and libcloud
# first boots fetch an unsealed transit copy by URL (docs/security.md); the default, archives
# written over SSH while the first boot waits, is proven by ssh_source.fed_migration
FIRST_BOOT = {"PORTABLE_PLAINTEXT_TRANSIT": "1"}
migrations: list[Migration] = []  # every migrate this run, for the secrets check at the end


def passed(m: Migration, destination: str, app: str) -> None:
    migrations.append(m)
    assert m.returncode == 0, m.text[-3000:]
    assert f"{app} now runs on {destination}." in m.text, m.text[-2000:]
    for secret in ("X-Amz-Signature", "guest-s3cret", "PRIVATE KEY", "testing-secret"):
        assert secret not in m.text, f"{secret!r} in the migration's output"


def destroyed(tour: Tour, target: str) -> None:
    """The retired source's kept volumes removed too, as a user finishing the move would."""
    done = tour.cli("destroy", "-t", target, "--yes", "--volumes")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_database_tours_every_target_and_survives_a_killed_hop(tmp_path: Path, lab: Any, docker_host: str, docker_b_host: str, kubeconfig: str,
                                                                  real_node: Any, moto_url: str, vcsim: Any, registry: str,
                                                                  request: pytest.FixtureRequest, record_property: Any) -> None:
    if not request.config.pluginmanager.has_plugin("grand-tour-timings"):
        request.config.pluginmanager.register(TimingsReport(), "grand-tour-timings")
    tour_started = time.monotonic()
    app = f"tour-{uuid.uuid4().hex[:6]}"
    node_s3 = lab.require("k8s_node", "moto")["LAB_K8S_NODE_MOTO_URL"]  # this host and the node's pods both reach it
    aws_ec2, cloud_ec2 = ec2(moto_url, AWS_REGION), ec2(moto_url, CLOUD_REGION)
    keys = tmp_path / "keys"
    key_pair(aws_ec2, f"{app}-aws", keys / "aws")
    key_pair(cloud_ec2, f"{app}-cloud", keys / "cloud")
    aws_hosts = LabInstances(docker_host, aws_ec2, tmp_path / "instances-aws")
    cloud_hosts = LabInstances(docker_host, cloud_ec2, tmp_path / "instances-cloud")
    gateway_s3 = aws_hosts.gateway_endpoint(moto_url)  # S3 as the instances (and this host) reach it
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", **CREDS)
    blob_store = f"s3://{BUCKET}/{app}"
    proxy = NamespaceProxy(moto_url).__enter__()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "VSPHERE_USER": vcsim.user, "VSPHERE_PASSWORD": vcsim.password, "VSPHERE_GUEST_USER": "root", "VSPHERE_GUEST_PASSWORD": "guest-s3cret"}
    for name in ("AWS_PROFILE", "SSH_AUTH_SOCK", "LIBCLOUD_KEY", "LIBCLOUD_SECRET", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    tour = Tour(tmp_path, app, env)
    tour.manifest.write_text(manifest(app, docker_host=docker_host, docker_b_host=docker_b_host, kubeconfig=kubeconfig, restore=restore_image(registry),
                                      real_node=real_node, moto_url=moto_url, vcsim=vcsim, proxy_port=proxy.port, keys=keys))
    TIMINGS.clear()
    migrations.clear()
    try:
        # ---------------------------------------------------------------- Docker engine A
        deployed = tour.cli("deploy", "-t", "a", "--yes")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        on_a = psql_in(docker_host, f"{app}-db-1")
        wait_answering(on_a)
        tour.write_rows(on_a, "a")

        # ---------------------------------------------------------------- A -> Kubernetes (real node)
        m = tour.migration("a", "k8s", blob_store=blob_store, extra_env={"AWS_ENDPOINT_URL": node_s3}).start().wait()
        passed(m, "k8s", app)
        on_k8s = psql_in_pod(kubeconfig, app, "db-0", "db")
        serving = wait_answering(on_k8s)
        node = out(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "pod", "db-0", "-o", "jsonpath={.spec.nodeName}"])
        assert node == real_node.name
        exported = final_index(tour, "a", "k8s", s3, BUCKET, app)
        assert docker_objects(docker_host, app, "containers") == []  # A retired: no container left
        source = docker_volume_files(docker_host, f"{app}_data")
        assert sums(source) == exported  # the volume A kept is what was exported
        assert changed_beyond_startup(exported, source, dir_files(volume_dir(kubeconfig, app, "data-db-0"))) == []
        destroyed(tour, "a")
        assert docker_objects(docker_host, app, "volumes") == []
        tour.check_rows(on_k8s)
        TIMINGS.append(Hop("docker A", "kubernetes", m.ended - m.started, serving - (m.first("[quiesce] ...") or m.started), m.portable_window()))
        tour.write_rows(on_k8s, "k8s")

        # ---------------------------------------------------------------- Kubernetes -> AWS (moto + lab host)
        m = tour.migration("k8s", "aws", blob_store=blob_store, extra_env={"AWS_ENDPOINT_URL": gateway_s3, **FIRST_BOOT}).start().wait()
        passed(m, "aws", app)
        [instance] = running_instances(aws_ec2, app)
        host = aws_hosts.start(instance["InstanceId"], bind=free_loopback_address())  # its first boot: restore, then PostgreSQL
        assert host.bootstrap is not None and host.bootstrap.returncode == 0, host.bootstrap
        assert "portable: volume data restored" in host.bootstrap.stdout
        on_aws = psql_in(docker_host, f"vm-{app}-db")
        serving = wait_answering(on_aws)
        exported = final_index(tour, "k8s", "aws", s3, BUCKET, app)
        assert k8s_objects(kubeconfig, app) == []  # Kubernetes retired
        source = dir_files(volume_dir(kubeconfig, app, "data-db-0"))
        assert sums(source) == exported  # the claim it kept is what was exported
        assert changed_beyond_startup(exported, source, dir_files(host.volume("data"))) == []
        destroyed(tour, "k8s")
        pods = out(["kubectl", "--kubeconfig", kubeconfig, "-n", app, "get", "pods,pvc", "-o", "name"]).split()
        assert [p for p in pods if "export" not in p] == [], pods  # no pod (export helpers are being deleted) and no claim
        tour.check_rows(on_aws)
        TIMINGS.append(Hop("kubernetes", "aws", m.ended - m.started, serving - (m.first("[quiesce] ...") or m.started), m.portable_window(),
                           "incl. the lab host's first boot"))
        tour.write_rows(on_aws, "aws")

        # ---------------------------------------------------------------- AWS -> vSphere (vcsim guest)
        m = tour.migration("aws", "vsphere", blob_store=blob_store, extra_env={"AWS_ENDPOINT_URL": moto_url}).start().wait()
        passed(m, "vsphere", app)
        assert "volume data restored in VM" in m.text
        [vm] = vm_names(tour)
        guest = guest_container(vm)
        exported = final_index(tour, "aws", "vsphere", s3, BUCKET, app)
        assert container_checksums(docker_host, guest, GUEST_VOLUME) == exported  # before PostgreSQL starts there: exactly
        assert running_instances(aws_ec2, app) == []  # AWS retired: the instance is terminated
        assert sums(dir_files(host.volume("data"))) == exported  # its disk as the quiesce left it
        aws_hosts.remove(instance["InstanceId"], app)  # the terminated machine goes away with its container (and its name)
        # PostgreSQL as the VM bootstrap runs the service: the container vm-<app>-db, started inside the guest
        writer = f"vm-{app}-db"
        out(["docker", "exec", guest, "sh", "-c", f"chown -R postgres:postgres {GUEST_VOLUME} && chmod 700 {GUEST_VOLUME} && "
             f"docker run -d --name {writer} --volumes-from {guest} -e PGDATA={GUEST_VOLUME} -e POSTGRES_HOST_AUTH_METHOD=trust "
             "-e POSTGRES_DB=tour lab/postgres:15"])
        on_vm = psql_in(docker_host, writer)
        serving = wait_answering(on_vm)
        destroyed(tour, "aws")
        assert aws_ec2.describe_volumes(Filters=[{"Name": "tag:portable:app", "Values": [app]}])["Volumes"] == []
        tour.check_rows(on_vm)
        TIMINGS.append(Hop("aws", "vsphere", m.ended - m.started, serving - (m.first("[quiesce] ...") or m.started), m.portable_window(),
                           "incl. starting PostgreSQL in the guest"))
        tour.write_rows(on_vm, "vsphere")

        # ---------------------------------------------------------------- vSphere -> libcloud (moto + lab host)
        m = tour.migration("vsphere", "cloud", blob_store=blob_store, extra_env={"AWS_ENDPOINT_URL": gateway_s3, **FIRST_BOOT}).start().wait()
        passed(m, "cloud", app)
        assert tour.journal("vsphere", "cloud")["steps"]["quiesce"]["output"]["stopped"] == [f"{writer} in VM {vm}"]
        assert json.loads(out(["docker", "inspect", "-f", "{{json .State.Running}}", writer])) is False  # stopped by the quiesce
        at_stop = tar_files(subprocess.run(["docker", "run", "--rm", "--volumes-from", writer, "lab/busybox:1", "/bin/busybox", "tar", "-C", GUEST_VOLUME, "-cf", "-", "."],
                                           capture_output=True, check=True, timeout=120).stdout)  # the guest's volume as the quiesce left it
        held = guest_volumes(writer)
        out(["docker", "rm", "-f", writer])  # the VM is gone; its container's name goes to the libcloud node's
        for volume in held:
            out(["docker", "volume", "rm", "-f", volume])
        [node_instance] = running_instances(cloud_ec2, app)
        host = cloud_hosts.start(node_instance["InstanceId"], bind=free_loopback_address())
        assert host.bootstrap is not None and host.bootstrap.returncode == 0, host.bootstrap
        on_cloud = psql_in(docker_host, f"vm-{app}-db")
        serving = wait_answering(on_cloud)
        exported = final_index(tour, "vsphere", "cloud", s3, BUCKET, app)
        assert exported == sums(at_stop)
        assert changed_beyond_startup(exported, at_stop, dir_files(host.volume("data"))) == []
        assert vm_names(tour) == []  # vSphere retired: no VM, and vcsim's guest container went with it
        assert out(["docker", "ps", "-aq", "--filter", f"name=vcsim-{vm}-"]).split() == []
        destroyed(tour, "vsphere")
        tour.check_rows(on_cloud)
        TIMINGS.append(Hop("vsphere", "libcloud", m.ended - m.started, serving - (m.first("[quiesce] ...") or m.started), m.portable_window(),
                           "quiesced through VMware Tools; incl. the lab host's first boot"))
        tour.write_rows(on_cloud, "cloud")

        # ---------------------------------------------------------------- libcloud -> Docker engine B, SIGKILLed mid-copy
        killed = tour.migration("cloud", "b", blob_store=blob_store, extra_env={"AWS_ENDPOINT_URL": moto_url}).start()
        journal_file = tmp_path / ".portable" / "migrations" / f"{app}.cloud-to-b.json"
        interrupted = None
        deadline = time.monotonic() + 240
        while interrupted is None:
            assert killed.proc is not None and killed.proc.poll() is None, f"the migration ended before its copy was seen: {killed.text[-2000:]}"
            assert time.monotonic() < deadline, "no data copy within 240s"
            try:
                steps = json.loads(journal_file.read_text())["steps"]
            except (OSError, ValueError):
                steps = {}
            interrupted = next((s for s in ("export", "deploy") if steps.get(s, {}).get("status") == "running"), None)
            time.sleep(0.05)
        killed.kill()
        assert killed.returncode == -9
        migrations.append(killed)
        m = tour.migration("cloud", "b", blob_store=blob_store, extra_env={"AWS_ENDPOINT_URL": moto_url}).start().wait()
        passed(m, "b", app)
        assert "already done (resuming)" in m.text, m.text[-2000:]
        on_b = psql_in(docker_b_host, f"{app}-db-1")
        serving = wait_answering(on_b)
        exported = final_index(tour, "cloud", "b", s3, BUCKET, app)
        assert running_instances(cloud_ec2, app) == []  # libcloud retired: the node is destroyed
        source = dir_files(host.volume("data"))
        assert sums(source) == exported
        assert changed_beyond_startup(exported, source, docker_volume_files(docker_b_host, f"{app}_data")) == []
        cloud_hosts.remove(node_instance["InstanceId"], app)
        destroyed(tour, "cloud")
        tour.check_rows(on_b)  # the same data after the kill and the rerun
        TIMINGS.append(Hop("libcloud", "docker B", m.ended - killed.started, serving - (killed.first("[quiesce] ...") or killed.started),
                           m.portable_window(), f"SIGKILLed during {interrupted}, rerun resumed"))
        tour.write_rows(on_b, "b")
        count = on_b("SELECT count(*) || ' rows from ' || string_agg(DISTINCT hop, ',') FROM tour").strip()
        assert count.startswith(f"{len(tour.rows)} rows from "), count
        status = tour.cli("status", "-t", "b")
        assert "lives on: b" in status.stdout, status.stdout + status.stderr
        # no key line, guest password or presigned URL in any output, journal or the state
        said = "\n".join(m.text for m in migrations) + "".join(p.read_text() for p in (tmp_path / ".portable" / "migrations").glob("*.json"))
        said += tour.state.read_bytes().decode("latin-1")
        for key in ("aws", "cloud"):
            secrets_absent(keys / key, said)
        assert "guest-s3cret" not in said and "X-Amz-Signature" not in said
    finally:
        total = time.monotonic() - tour_started
        table = timings_table(TIMINGS) + f"\nwhole tour (setup, six targets, checks): {total:.1f}s\n"
        print("\n" + table)
        record_property("grand_tour_hops", json.dumps([h.__dict__ for h in TIMINGS]))
        record_property("grand_tour_seconds", round(total, 1))
        Path(os.environ.get("LAB_RUN", "/tmp/portable-lab"), "grand-tour-timings.txt").write_text(table)
        for target in ("b", "cloud", "vsphere", "aws", "k8s", "a"):
            tour.cli("destroy", "-t", target, "--yes", "--volumes")
        aws_hosts.close(app)
        cloud_hosts.close(app)
        proxy.__exit__(None, None, None)
        aws_ec2.delete_key_pair(KeyName=f"{app}-aws")
        cloud_ec2.delete_key_pair(KeyName=f"{app}-cloud")
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", app, "--ignore-not-found", "--wait=false"], capture_output=True, timeout=60)
        force_remove_app(app)
        for name in (f"vm-{app}-db",):
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
        ids = subprocess.run(["docker", "-H", docker_b_host, "ps", "-aq", "--filter", f"label=io.portable.app={app}"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "-H", docker_b_host, "rm", "-f", *ids], capture_output=True)
