"""The VM clouds of the contract suite: aws and libcloud on moto, vsphere on vcsim."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contract_base import MOTO_UBUNTU_AMI, TARGET, ContractTarget, WrongCredentials, bootstrap_env, ec2_user_data, tags


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
                if tags(d).get("portable:app") == app:
                    out.append(d["ResourceArn"])
        return out

    def objects(self, app: str) -> dict[str, list[str]]:
        by_tag = [{"Name": "tag:portable:app", "Values": [app]}]
        volumes = self.ec2.describe_volumes(Filters=by_tag)["Volumes"]
        return {
            "instances": sorted(i["InstanceId"] for i in self._instances(app)),
            "volumes": sorted(v["VolumeId"] for v in volumes if tags(v).get("portable:kind") != "root-disk"),
            "root_disks": sorted(v["VolumeId"] for v in volumes if tags(v).get("portable:kind") == "root-disk"),  # go with their instance
            "security_groups": sorted(g["GroupId"] for g in self.ec2.describe_security_groups(Filters=by_tag)["SecurityGroups"]),
            "load_balancers": self._elbv2_tagged(app, [b["LoadBalancerArn"] for b in self.elbv2.describe_load_balancers()["LoadBalancers"]]),
            "target_groups": self._elbv2_tagged(app, [g["TargetGroupArn"] for g in self.elbv2.describe_target_groups()["TargetGroups"]]),
        }

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        return [bootstrap_env(ec2_user_data(self.ec2, i["InstanceId"])) for i in self._instances(app, service, ("running",))]

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
        return [bootstrap_env(ec2_user_data(self.ec2, i["InstanceId"])) for i in self._instances(app, service) if i["State"]["Name"] == "running"]

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
            return [bootstrap_env(v.decoded("guestinfo.userdata")) for v in vms]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        password = f"contract-wrong-{uuid.uuid4().hex[:8]}"
        return WrongCredentials(self.settings(app), dict(self.env(), VSPHERE_PASSWORD=password), ("VSPHERE_USER", "VSPHERE_PASSWORD"), secret=password)

    def close(self, apps: list[str]) -> None:
        for reporter in self._reporters.values():
            reporter.__exit__(None, None, None)
