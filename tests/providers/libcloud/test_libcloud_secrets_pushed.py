"""Secrets off the node's user data on libcloud (issue 18, item 3): with `key_name` and `ssh`
set, the user data carries the secrets' names only, and portable writes the values over SSH
once the node answers.

libcloud's EC2 driver against moto (through the namespace proxy); each node moto records is
brought up as a real lab host at its private address while the deploy runs
(tests/providers/vm/instance_host.py: sshd, then the node's real user data, whose bootstrap
waits for the secrets). The service container started by that bootstrap must read the value;
the user data and the instance attributes, read through the EC2 API, must not hold it (the
leak scanner, also over the CLI's output and the state). Rotation: a changed value and a
redeploy give a new node, and its service reads the new value. The target logs in to the lab
registry (`registry.password_from`): the password is pushed with the secrets, never in the
user data, and the node's bootstrap logs in with it. The lab registry has no auth, so it
accepts any password: the login proves the delivery, not the registry's check (that is proven
on aws and vSphere against an htpasswd registry).

Without `ssh` the app is refused while planning (validate -t, plan, deploy: exit 2 at the
service's `secrets:`, nothing on moto); `allow_secrets_in_metadata: true` on the target
deploys it with the values in the user data and the plan's warning.
"""
from __future__ import annotations

import base64
import gzip
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from ns_proxy import NamespaceProxy  # noqa: E402
from ssh_source import MOTO_UBUNTU_AMI, REGISTRY, Booter, SshApp, new_app, ssh_yaml  # noqa: E402

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images"), pytest.mark.timeout(600)]

REGION = "sa-east-1"  # libcloud knows it; the other test in it boots no lab host, so no address collides
SECRET_PATH = "/run/secrets/token"


def manifest(app: SshApp, proxy: NamespaceProxy) -> str:
    return f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app.app}}}
services:
  web:
    image: {REGISTRY}/lab/web:1
    ports: [{{port: 8080}}]
    secrets:
      - name: api-token
        path: {SECRET_PATH}
secrets:
  api-token:
    from: env:LEAK_API_TOKEN
targets:
  cloud:
    provider: libcloud
    driver: ec2
    region: {REGION}
    image: {MOTO_UBUNTU_AMI}
    readiness: state
    boot_timeout: 60
    driver_options: {{host: 127.0.0.1, port: {proxy.port}, secure: false, signature_version: '4'}}
    key_name: {app.key_name}
    ssh: {ssh_yaml(app.key_file)}
"""


def user_data(app: SshApp, iid: str) -> str:
    raw = base64.b64decode(app.ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"])
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def service_reads(docker_host: str, app: SshApp) -> str:
    out = subprocess.run(["docker", "-H", docker_host, "exec", f"vm-{app.app}-web", "cat", SECRET_PATH], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def cloud_app(tmp_path: Path, moto_url: str, docker_host: str, ns_proxy: NamespaceProxy) -> Any:
    app = new_app(tmp_path, moto_url, docker_host, REGION, "lcsec")
    app.target = "cloud"
    app.manifest.write_text(manifest(app, ns_proxy))
    yield app
    app.labs.close(app.app)
    app.cli("destroy", "-t", "cloud", "--yes")
    app.ec2.delete_key_pair(KeyName=app.key_name)


def test_secrets_reach_the_node_over_ssh_never_its_user_data_and_a_rotation_replaces_them(cloud_app: SshApp, docker_host: str, leak_secrets: Any) -> None:
    app = cloud_app
    app.env["LEAK_API_TOKEN"] = leak_secrets.value("LEAK_API_TOKEN")
    app.env["LEAK_REGISTRY_PASSWORD"] = leak_secrets.values["LEAK_REGISTRY_PASSWORD"] = f"leak-registry-pw-{uuid.uuid4().hex}"
    text = app.manifest.read_text()
    app.manifest.write_text(text.replace("    key_name:", f"    registry: {{server: '{REGISTRY}', username: ci, password_from: 'env:LEAK_REGISTRY_PASSWORD'}}\n    key_name:", 1))
    leak_secrets.watch(app.dir / "state.db")

    def every_instance() -> list[Any]:
        found = app.ec2.describe_instances()["Reservations"]
        mine = [i for r in found for i in r["Instances"] if {"Key": "portable:app", "Value": app.app} in i.get("Tags", [])]
        return [(i, user_data(app, i["InstanceId"])) for i in mine]

    leak_secrets.probe("the nodes' attributes and user data through the EC2 API", every_instance)
    booter = Booter(app)
    booter.start()
    try:
        done = leak_secrets.run([sys.executable, "-m", "portable.cli.main", "deploy", "-f", str(app.manifest), "--state", str(app.dir / "state.db"),
                                 "-t", "cloud", "--yes"], env=app.env, timeout=400)
        assert done.returncode == 0, done.stdout + done.stderr + "\n".join(booter.errors)
        assert "secrets written to" in done.stdout + done.stderr
        [first] = [i["InstanceId"] for i in app.instances(("running",))]
        booter.booted(first)
        assert service_reads(docker_host, app) == leak_secrets.value("LEAK_API_TOKEN")
        text = user_data(app, first)
        assert "wait_secrets" in text and "api-token" in text and "_registry-password" in text  # the names, not the values
        assert "login --username ci --password-stdin" in text  # from the pushed file
        assert leak_secrets.scan() == []

        # rotation: the new value plans a replace; the new node gets it, the old one goes
        app.env["LEAK_API_TOKEN"] = leak_secrets.rotate("LEAK_API_TOKEN")
        again = leak_secrets.run([sys.executable, "-m", "portable.cli.main", "deploy", "-f", str(app.manifest), "--state", str(app.dir / "state.db"),
                                  "-t", "cloud", "--yes"], env=app.env, timeout=400)
        assert again.returncode == 0, again.stdout + again.stderr
        [second] = [i["InstanceId"] for i in app.instances(("running",))]
        assert second != first
        assert app.instance_states([first])[first] in ("shutting-down", "terminated")
        booter.booted(second)
        assert service_reads(docker_host, app) == leak_secrets.value("LEAK_API_TOKEN")
    finally:
        booter.stop.set()


def test_a_key_that_cannot_push_the_secrets_is_refused_while_planning(cloud_app: SshApp) -> None:
    app = cloud_app
    app.env["LEAK_API_TOKEN"] = "refused-before-any-node"
    app.manifest.write_text(app.manifest.read_text().replace(str(app.key_file), str(app.dir / "keys" / "missing")))
    for verb in (("plan",), ("deploy", "--yes")):
        done = app.cli(*verb, "-t", "cloud")
        assert done.returncode == 2, done.stdout + done.stderr
        assert "targets.cloud.ssh.key_file" in done.stderr and "the secrets are written to the nodes over SSH" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and "refused-before-any-node" not in done.stdout + done.stderr
    assert app.instances(("pending", "running", "stopped")) == []  # nothing started


REFUSAL = ("services.web.secrets: target `cloud` has no `ssh`, so these secret values would ride in the nodes' user data, readable through the cloud API: "
           "set `key_name` and `ssh` on the target so portable writes them over SSH after boot, or set `allow_secrets_in_metadata: true` on it to accept that")
WARNING = ("! services.web.secrets: on target cloud their values ride in the node's user data, readable through the cloud API: "
           "set `key_name` and `ssh` on the target so portable writes them over SSH after boot")


def without_ssh(app: SshApp, extra: str = "") -> None:
    """The target without `key_name` and `ssh` (they end the manifest), plus `extra` lines."""
    text = app.manifest.read_text()
    app.manifest.write_text(text[: text.index("    key_name:")] + extra)


def security_groups(app: SshApp) -> list[str]:
    found = app.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"pt--{app.app}--cloud*"]}])["SecurityGroups"]
    return [g["GroupId"] for g in found]


def test_without_ssh_an_app_with_secrets_is_refused_while_planning(cloud_app: SshApp) -> None:
    app = cloud_app
    app.env["LEAK_API_TOKEN"] = "refused-not-shown"
    with_ssh = app.cli("plan", "-t", "cloud")
    assert with_ssh.returncode == 0, with_ssh.stderr
    assert "ride in the node's user data" not in with_ssh.stdout and "allow_secrets_in_metadata" not in with_ssh.stdout + with_ssh.stderr
    without_ssh(app)
    validated = subprocess.run([sys.executable, "-m", "portable.cli.main", "validate", "-f", str(app.manifest), "-t", "cloud"],
                               env=app.env, capture_output=True, text=True, timeout=120)
    for done in (validated, app.cli("plan", "-t", "cloud"), app.cli("deploy", "-t", "cloud", "--yes")):
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"portable.yaml:8:5: {REFUSAL}" in done.stderr, done.stderr  # at the service's `secrets:`
        assert "Traceback" not in done.stderr and "refused-not-shown" not in done.stdout + done.stderr
    assert app.instances(("pending", "running", "stopped")) == []  # nothing created on moto
    assert security_groups(app) == []


def test_without_ssh_a_registry_password_alone_is_refused_while_planning(cloud_app: SshApp) -> None:
    """No secret in the app, only the registry password the nodes log in with: refused the same
    way, at targets.cloud.registry.password_from, its value never shown, nothing on moto."""
    app = cloud_app
    app.env["LEAK_REGISTRY_PASSWORD"] = "registry-pw-not-shown"
    text = app.manifest.read_text()
    no_secrets = text.replace("    secrets:\n      - name: api-token\n        path: " + SECRET_PATH + "\n", "")
    no_secrets = no_secrets.replace("secrets:\n  api-token:\n    from: env:LEAK_API_TOKEN\n", "")
    assert "api-token" not in no_secrets
    no_secrets = no_secrets.replace("    key_name:", "    registry: {server: '" + REGISTRY + "', username: ci, password_from: 'env:LEAK_REGISTRY_PASSWORD'}\n    key_name:", 1)
    app.manifest.write_text(no_secrets)
    without_ssh(app)
    for done in (app.cli("plan", "-t", "cloud"), app.cli("deploy", "-t", "cloud", "--yes")):
        assert done.returncode == 2, done.stdout + done.stderr
        assert "targets.cloud.registry.password_from: target `cloud` has no `ssh`, so the registry password would ride in the nodes' user data" in done.stderr, done.stderr
        assert "services.web.secrets" not in done.stderr
        assert "Traceback" not in done.stderr and "registry-pw-not-shown" not in done.stdout + done.stderr
    assert app.instances(("pending", "running", "stopped")) == []  # nothing created on moto


def test_allow_secrets_in_metadata_deploys_them_in_the_user_data_with_the_warning(cloud_app: SshApp) -> None:
    app = cloud_app
    app.env["LEAK_API_TOKEN"] = "accepted-in-user-data"
    without_ssh(app, "    allow_secrets_in_metadata: true\n")
    planned = app.cli("plan", "-t", "cloud")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert WARNING in planned.stdout and "accepted-in-user-data" not in planned.stdout + planned.stderr
    done = app.cli("deploy", "-t", "cloud", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert WARNING in done.stdout and "accepted-in-user-data" not in done.stdout + done.stderr
    [node] = app.instances(("running",))
    encoded = base64.b64encode(b"accepted-in-user-data").decode()
    assert f"write_secret api-token {encoded}" in user_data(app, node["InstanceId"])  # what the target accepted: the value in the user data
