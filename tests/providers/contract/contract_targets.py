"""The five targets of the provider contract suite, each seen two ways.

A `ContractTarget` says how target `ct` of a manifest reaches one lab component (the settings
a user would write, and the environment the CLI runs with), and reads what exists there for
an app through the target's *own* API: the docker SDK, the kubernetes client, boto3 against
moto, pyVmomi against vcsim. portable's code is never used to look, so the suite checks what
a user of the target would see, not what portable believes.

A new provider adds one class here (and one line in `TARGETS`); the cases in
test_provider_contract.py then run against it unchanged.
"""
from __future__ import annotations

import base64
import gzip
import os
import re
import shlex
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

HERE = Path(__file__).resolve().parent
# helpers the per-provider suites already have (module names are unique across tests/)
sys.path.insert(0, str(HERE.parent / "libcloud"))
sys.path.insert(0, str(HERE.parent / "vsphere"))

TARGET = "ct"  # the target's name in every manifest of the suite
MOTO_UBUNTU_AMI = "ami-1e749f67"  # one of moto's built-in images


@dataclass(frozen=True)
class WrongCredentials:
    """A way to hand the target credentials it refuses (or cannot use), and what the one
    sentence about it must name: where the credentials came from."""

    settings: dict[str, Any]  # the target's settings with the bad credential source
    env: dict[str, str]  # the CLI's environment (replaces `ContractTarget.env()`)
    names: tuple[str, ...]  # words the error must contain (variables, files, settings)
    secret: str | None = None  # a wrong secret value that must never be printed


class ContractTarget:
    """One provider on the lab. Subclasses fill in every method."""

    provider: ClassVar[str]
    components: ClassVar[tuple[str, ...]]  # lab components it needs (conftest's lab.require)

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        self.lab_env = lab_env
        self.tmp = tmp

    def settings(self, app: str) -> dict[str, Any]:
        """Target `ct`'s settings in the manifest of `app`."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The environment `portable` runs with (credentials the way users pass them)."""
        return dict(os.environ)

    def objects(self, app: str) -> dict[str, list[str]]:
        """Everything on the target labelled, tagged or named for `app`, by kind."""
        raise NotImplementedError

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        """The environment of each live instance of `service` (containers, pods, VMs)."""
        raise NotImplementedError

    def wrong_credentials(self, app: str) -> WrongCredentials:
        raise NotImplementedError

    def close(self, apps: list[str]) -> None:
        """Removes what the suite left (after portable's own destroy was tried)."""


def _bootstrap_env(user_data: str) -> dict[str, str]:
    """`-e NAME=value` arguments of the `docker run` the VM bootstrap starts the service with."""
    out: dict[str, str] = {}
    for m in re.finditer(r"(?:^|\s)-e ('(?:[^']|'\"'\"')*'|\S+)", user_data):
        name, _, value = shlex.split(m.group(1))[0].partition("=")
        out[name] = value
    return out


def _ec2_user_data(ec2: Any, instance_id: str) -> str:
    raw = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"].get("Value", "")
    data = base64.b64decode(raw)
    return (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode(errors="replace")


def _tags(obj: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}


# ---------------------------------------------------------------------------- docker
class DockerTarget(ContractTarget):
    provider = "docker"
    components = ("docker", "images")
    APP_LABEL = "io.portable.app"
    SERVICE_LABEL = "io.portable.service"

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        import docker

        self.host = lab_env.get("LAB_DOCKER_HOST", "unix:///var/run/docker.sock")
        self.client = docker.DockerClient(base_url=self.host)
        self._listener: socket.socket | None = None

    def settings(self, app: str) -> dict[str, Any]:
        return {"provider": "docker", "host": self.host}

    def objects(self, app: str) -> dict[str, list[str]]:
        label = {"label": f"{self.APP_LABEL}={app}"}
        return {
            "containers": sorted(c.name for c in self.client.containers.list(all=True, filters=label)),
            "networks": sorted(n.name for n in self.client.networks.list(filters=label)),
            "volumes": sorted(v.name for v in self.client.volumes.list(filters=label)),
        }

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        found = self.client.containers.list(filters={"label": [f"{self.APP_LABEL}={app}", f"{self.SERVICE_LABEL}={service}"], "status": "running"})
        return [dict(e.partition("=")[::2] for e in c.attrs["Config"]["Env"] or []) for c in found]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        """An engine behind tcp+TLS whose client certificate files are not certificates: the
        handshake cannot succeed, and the sentence says where the certificates were read."""
        certs = self.tmp / "bad-certs"
        certs.mkdir(exist_ok=True)
        for name in ("ca.pem", "cert.pem", "key.pem"):
            (certs / name).write_text("not a certificate\n")
        self._listener = socket.create_server(("127.0.0.1", 0))
        listener = self._listener

        def accept() -> None:  # a TCP peer to start the handshake with; it never answers TLS
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conn.close()

        threading.Thread(target=accept, daemon=True).start()
        port = listener.getsockname()[1]
        settings = {"provider": "docker", "host": f"tcp://127.0.0.1:{port}", "tls_verify": True, "cert_path": str(certs)}
        return WrongCredentials(settings, self.env(), ("cert_path", "DOCKER_CERT_PATH"))

    def close(self, apps: list[str]) -> None:
        if self._listener is not None:
            self._listener.close()
        for app in apps:  # what an interrupted case may have left
            label = {"label": f"{self.APP_LABEL}={app}"}
            for c in self.client.containers.list(all=True, filters=label):
                c.remove(force=True)
            for n in self.client.networks.list(filters=label):
                n.remove()
            for v in self.client.volumes.list(filters=label):
                v.remove(force=True)
        self.client.close()


# ---------------------------------------------------------------------------- kubernetes
class KubernetesTarget(ContractTarget):
    """The lab's kube-apiserver with kwok nodes: pods never run, their readiness is simulated,
    so status comes from what the apiserver reports. Both apps of a case share one namespace,
    so ownership is by label, not by namespace."""

    provider = "kubernetes"
    components = ("k8s",)
    INSTANCE = "app.kubernetes.io/instance"
    SERVICE = "portable.io/service"

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        from kubernetes import client, config

        self.kubeconfig = lab_env["KUBECONFIG"]
        self.namespace = f"ct-{uuid.uuid4().hex[:8]}"
        api = config.new_client_from_config(config_file=self.kubeconfig, context="lab")
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.policy = client.PolicyV1Api(api)
        self.networking = client.NetworkingV1Api(api)

    def settings(self, app: str) -> dict[str, Any]:
        return {"provider": "kubernetes", "kubeconfig": self.kubeconfig, "context": "lab", "namespace": self.namespace}

    def _listings(self) -> dict[str, Callable[..., Any]]:
        ns = self.namespace
        return {
            "deployments": lambda **kw: self.apps.list_namespaced_deployment(ns, **kw),
            "statefulsets": lambda **kw: self.apps.list_namespaced_stateful_set(ns, **kw),
            "pods": lambda **kw: self.core.list_namespaced_pod(ns, **kw),
            "services": lambda **kw: self.core.list_namespaced_service(ns, **kw),
            "configmaps": lambda **kw: self.core.list_namespaced_config_map(ns, **kw),
            "secrets": lambda **kw: self.core.list_namespaced_secret(ns, **kw),
            "persistentvolumeclaims": lambda **kw: self.core.list_namespaced_persistent_volume_claim(ns, **kw),
            "horizontalpodautoscalers": lambda **kw: self.autoscaling.list_namespaced_horizontal_pod_autoscaler(ns, **kw),
            "poddisruptionbudgets": lambda **kw: self.policy.list_namespaced_pod_disruption_budget(ns, **kw),
            "ingresses": lambda **kw: self.networking.list_namespaced_ingress(ns, **kw),
        }

    def objects(self, app: str) -> dict[str, list[str]]:
        selector = f"{self.INSTANCE}={app}"
        return {kind: sorted(o.metadata.name for o in list_(label_selector=selector).items) for kind, list_ in self._listings().items()}

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"{self.INSTANCE}={app},{self.SERVICE}={service}").items
        live = [p for p in pods if p.metadata.deletion_timestamp is None and p.status.phase == "Running"]
        return [{e.name: e.value for e in (p.spec.containers[0].env or [])} for p in live]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        """The lab's kubeconfig with a token the apiserver does not know."""
        token = f"contract-wrong-{uuid.uuid4().hex}"
        config = yaml.safe_load(Path(self.kubeconfig).read_text())
        for user in config["users"]:
            if "token" in user["user"]:
                user["user"]["token"] = token
        path = self.tmp / "wrong-kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return WrongCredentials(dict(self.settings(app), kubeconfig=str(path)), self.env(), ("kubeconfig",), secret=token)

    def close(self, apps: list[str]) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.api.close()


# ---------------------------------------------------------------------------- aws (moto)
class AwsTarget(ContractTarget):
    """The aws provider on the lab's moto. moto accepts any access key, so the wrong
    credential source shown is a profile that no AWS config file has."""

    provider = "aws"
    components = ("moto",)
    region = "us-east-1"

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        import boto3

        self.moto_url = lab_env["LAB_MOTO_URL"]
        kw = {"endpoint_url": self.moto_url, "region_name": self.region, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self.ec2 = boto3.client("ec2", **kw)
        self.elbv2 = boto3.client("elbv2", **kw)

    def settings(self, app: str) -> dict[str, Any]:
        return {"provider": "aws", "region": self.region, "endpoint_url": self.moto_url, "ami": MOTO_UBUNTU_AMI, "readiness": "instance"}

    def env(self) -> dict[str, str]:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=self.region)
        env.pop("AWS_PROFILE", None)
        return env

    def _instances(self, app: str, service: str | None = None, states: tuple[str, ...] = ("pending", "running", "stopping", "stopped")) -> list[dict[str, Any]]:
        filters = [{"Name": "tag:portable:app", "Values": [app]}, {"Name": "instance-state-name", "Values": list(states)}]
        if service:
            filters.append({"Name": "tag:portable:service", "Values": [service]})
        return [i for r in self.ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]

    def _elbv2_tagged(self, app: str, arns: list[str]) -> list[str]:
        out = []
        for i in range(0, len(arns), 20):
            for d in self.elbv2.describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
                if _tags(d).get("portable:app") == app:
                    out.append(d["ResourceArn"])
        return out

    def objects(self, app: str) -> dict[str, list[str]]:
        by_tag = [{"Name": "tag:portable:app", "Values": [app]}]
        volumes = self.ec2.describe_volumes(Filters=by_tag)["Volumes"]
        return {
            "instances": sorted(i["InstanceId"] for i in self._instances(app)),
            "volumes": sorted(v["VolumeId"] for v in volumes if _tags(v).get("portable:kind") != "root-disk"),
            "root_disks": sorted(v["VolumeId"] for v in volumes if _tags(v).get("portable:kind") == "root-disk"),  # go with their instance
            "security_groups": sorted(g["GroupId"] for g in self.ec2.describe_security_groups(Filters=by_tag)["SecurityGroups"]),
            "load_balancers": self._elbv2_tagged(app, [b["LoadBalancerArn"] for b in self.elbv2.describe_load_balancers()["LoadBalancers"]]),
            "target_groups": self._elbv2_tagged(app, [g["TargetGroupArn"] for g in self.elbv2.describe_target_groups()["TargetGroups"]]),
        }

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        return [_bootstrap_env(_ec2_user_data(self.ec2, i["InstanceId"])) for i in self._instances(app, service, ("running",))]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        profile = "portable-contract-no-such-profile"
        env = {k: v for k, v in self.env().items() if not k.startswith(("AWS_ACCESS_KEY", "AWS_SECRET"))}
        return WrongCredentials(self.settings(app), dict(env, AWS_PROFILE=profile), ("AWS_PROFILE", profile))


# ---------------------------------------------------------------------------- libcloud (EC2 driver on moto)
class LibcloudTarget(ContractTarget):
    """libcloud's EC2 driver against moto through the libcloud tests' namespace proxy
    (tests/providers/libcloud/ns_proxy.py). Ownership is by name (`pt--<app>--<target>--...`)."""

    provider = "libcloud"
    components = ("moto",)
    region = "us-west-1"

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        import boto3
        from ns_proxy import NamespaceProxy

        self.moto_url = lab_env["LAB_MOTO_URL"]
        self.proxy = NamespaceProxy(self.moto_url)
        self.proxy.__enter__()
        self.ec2 = boto3.client("ec2", endpoint_url=self.moto_url, region_name=self.region, aws_access_key_id="testing", aws_secret_access_key="testing")

    def settings(self, app: str) -> dict[str, Any]:
        return {
            "provider": "libcloud", "driver": "ec2", "region": self.region, "image": MOTO_UBUNTU_AMI,
            "readiness": "state",  # moto runs no guest: the node state is all there is
            "driver_options": {"host": "127.0.0.1", "port": self.proxy.port, "secure": False, "signature_version": "4"},
        }

    def env(self) -> dict[str, str]:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        for name in ("LIBCLOUD_KEY", "LIBCLOUD_SECRET"):
            env.pop(name, None)
        return env

    def _prefix(self, app: str) -> str:
        return f"pt--{app}--{TARGET}"

    def _instances(self, app: str, service: str | None = None) -> list[dict[str, Any]]:
        pattern = f"{self._prefix(app)}--{service}--*" if service else f"{self._prefix(app)}--*"
        found = self.ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [pattern]}])["Reservations"]
        return [i for r in found for i in r["Instances"] if i["State"]["Name"] not in ("terminated", "shutting-down")]

    def objects(self, app: str) -> dict[str, list[str]]:
        named = [{"Name": "tag:Name", "Values": [f"{self._prefix(app)}--*"]}]
        tagged = [{"Name": "tag:portable:app", "Values": [app]}]
        live_tagged = [i for r in self.ec2.describe_instances(Filters=tagged)["Reservations"] for i in r["Instances"] if i["State"]["Name"] not in ("terminated", "shutting-down")]
        return {
            "instances": sorted({i["InstanceId"] for i in self._instances(app) + live_tagged}),
            "volumes": sorted(v["VolumeId"] for v in self.ec2.describe_volumes(Filters=named)["Volumes"]),
            "security_groups": sorted(g["GroupId"] for g in self.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [self._prefix(app)]}])["SecurityGroups"]),
        }

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        return [_bootstrap_env(_ec2_user_data(self.ec2, i["InstanceId"])) for i in self._instances(app, service) if i["State"]["Name"] == "running"]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        path = self.tmp / "libcloud-credentials.json"
        path.write_text("key = testing\nsecret = testing\n")  # an ini file where JSON belongs
        env = {k: v for k, v in self.env().items() if not k.startswith(("AWS_ACCESS_KEY", "AWS_SECRET"))}
        return WrongCredentials(dict(self.settings(app), credentials_file=str(path)), env, ("credentials_file", str(path)))

    def close(self, apps: list[str]) -> None:
        self.proxy.__exit__(None, None, None)


# ---------------------------------------------------------------------------- vsphere (vcsim)
class VsphereTarget(ContractTarget):
    """The lab's vcsim. vcsim runs no guest OS, so a `GuestIpReporter` (tests/providers/vsphere)
    reports each powered-on VM's address and the bootstrap's `ready` line through vcsim's
    documented hooks, as VMware Tools and the guest relay would."""

    provider = "vsphere"
    components = ("vcsim",)

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        from vcenter import Lab

        e = lab_env
        self.vc = Lab(e["LAB_VC_HOST"], int(e["LAB_VC_PORT"]), e["LAB_VC_USER"], e["LAB_VC_PASSWORD"], e["LAB_VC_DATASTORE"])
        self._reporters: dict[str, Any] = {}

    def settings(self, app: str) -> dict[str, Any]:
        from vcenter import GuestIpReporter

        if app not in self._reporters:
            reporter = GuestIpReporter(self.vc, app, prefix=f"10.77.{len(self._reporters) + 1}.")
            reporter.__enter__()
            self._reporters[app] = reporter
        e = self.lab_env
        return {
            "provider": "vsphere", "host": e["LAB_VC_HOST"], "port": int(e["LAB_VC_PORT"]),
            "insecure": True,  # vcsim serves a self-signed certificate
            "datacenter": e["LAB_VC_DATACENTER"], "cluster": e["LAB_VC_CLUSTER"], "folder": e["LAB_VC_FOLDER"],
            "datastore": e["LAB_VC_DATASTORE"], "network": e["LAB_VC_NETWORK"], "template": e["LAB_VC_TEMPLATE"],
            "boot_timeout": 90,
        }

    def env(self) -> dict[str, str]:
        return dict(os.environ, VSPHERE_USER=self.vc.user, VSPHERE_PASSWORD=self.vc.password)

    @contextmanager
    def _content(self) -> Iterator[Any]:
        from vcenter import connect

        with connect(self.vc) as content:
            yield content

    def objects(self, app: str) -> dict[str, list[str]]:
        from vcenter import app_vms, datastore_files

        with self._content() as content:
            return {
                "vms": [v.name for v in app_vms(content, app, kind=None)],
                "disks": [f for f in datastore_files(content, self.vc.datastore, f"portable-disks/{app}") if f.endswith(".vmdk")],
            }

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        from vcenter import app_vms

        with self._content() as content:
            vms = [v for v in app_vms(content, app) if v.marks.get("portable.service") == service and v.power_state == "poweredOn"]
            return [_bootstrap_env(v.decoded("guestinfo.userdata")) for v in vms]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        password = f"contract-wrong-{uuid.uuid4().hex[:8]}"
        return WrongCredentials(self.settings(app), dict(self.env(), VSPHERE_PASSWORD=password), ("VSPHERE_USER", "VSPHERE_PASSWORD"), secret=password)

    def close(self, apps: list[str]) -> None:
        for reporter in self._reporters.values():
            reporter.__exit__(None, None, None)


TARGETS: dict[str, type[ContractTarget]] = {
    t.provider: t for t in (DockerTarget, KubernetesTarget, AwsTarget, LibcloudTarget, VsphereTarget)
}


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 1.0) -> bool:
    """Polls `check` until it holds or `timeout` seconds passed (targets settle asynchronously:
    kwok deletes pods after their workload, EC2 instances pass through shutting-down)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)

