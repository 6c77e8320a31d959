"""The app's secrets in SSM Parameter Store, and the instance role that reads them.

Secret values never travel in the user data on AWS (anyone allowed
ec2:DescribeInstanceAttribute would read them): at apply time each secret a group mounts is
written as a SecureString parameter under /portable/<app>/<target>/ and the instances get
the instance profile `portable-<app>-<target>-<region>`, whose role may only read parameters under
that path (ssm:GetParameter, and kms:Decrypt through SSM for the default key). The
bootstrap reads them at boot (providers/vm/secret_fetch.py). The registry password the
instances log in with (`registry.password_from`) is one more parameter there
(`_registry-password`), read the same way, never in the user data. Role, profile and parameters
carry the app's and target's tags; `destroy` removes them with the app's security group.
A rotated value changes the group's revision (the keyed digest in its spec), so the
instances are replaced and the new ones read the new value.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.aws import tags as T
from portable.providers.aws.clients import AwsClients
from portable.providers.aws.errors import call, error_code
from portable.providers.vm.secret_fetch import parameter_prefix
from portable.providers.vm.secret_push import delivered_values
from portable.providers.vm.settings import logs_in

PROFILE_PROPAGATION_S = 12.0  # IAM: a new instance profile is usable by RunInstances after a few seconds


def role_name(app: str, target: str, region: str) -> str:
    """IAM is global and parameters are regional: the region keeps two deployments apart."""
    return f"portable-{app}-{target}-{region}"[:64]


class AppSecrets:
    """Parameters and instance profile of one app on one AWS target."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def _call(self, fn: Callable[..., Any], action: str, what: str, *, ok: tuple[str, ...] = (), **kwargs: Any) -> Any:
        def once() -> Any:
            try:
                return fn(**kwargs)
            except ClientError as exc:
                if error_code(exc) in ok:
                    return None
                raise

        return call(once, action=action, what=what)

    def _tags(self, app: str, kind: str, name: str) -> dict[str, str]:
        return {T.APP: app, T.TARGET: self.clients.target, T.KIND: kind, T.NAME: name}

    def source(self, app: App) -> dict[str, str]:
        """What the bootstrap needs to read the secrets: region, endpoint, parameter prefix."""
        return {"region": str(self.clients.region), "endpoint": self.clients.settings.endpoint_url or "", "prefix": parameter_prefix(app.name, self.clients.target)}

    def ensure(self, app: App, group: Resource) -> str | None:
        """Writes the group's secret values (and the registry password) now and returns the
        instance profile its instances boot with (None when there is nothing to read)."""
        registry = self.clients.settings.registry
        if not group.spec["secrets"] and not logs_in(registry):
            return None
        ssm, prefix = self.clients.ssm, parameter_prefix(app.name, self.clients.target)
        for secret, value in sorted(delivered_values(app, group.spec, registry).items()):
            name = prefix + secret
            what = f"SSM parameter {name}"
            self._call(ssm.put_parameter, "write", what, Name=name, Type="SecureString", Overwrite=True,
                       Value=value.decode(), Description=f"portable secret {secret} of {app.name}")
            tags = self._tags(app.name, "secret", secret)
            self._call(ssm.add_tags_to_resource, "tag", what, ResourceType="Parameter", ResourceId=name, Tags=T.tag_list(tags))
        return self._ensure_profile(app)

    def _policy(self, app: str) -> str:
        region = self.clients.region
        prefix = parameter_prefix(app, self.clients.target)
        return json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
             "Resource": f"arn:aws:ssm:{region}:*:parameter{prefix}*"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}}},
        ]}, sort_keys=True)

    def _ensure_profile(self, app: App) -> str:
        iam = self.clients.client("iam")
        name = role_name(app.name, self.clients.target, str(self.clients.region))
        tags = T.tag_list(self._tags(app.name, "instance-profile", name))
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        self._call(iam.create_role, "create", f"IAM role {name}", ok=("EntityAlreadyExists",), RoleName=name, AssumeRolePolicyDocument=trust, Tags=tags,
                   Description=f"portable: instances of {app.name} on {self.clients.target} read their secrets")
        self._call(iam.put_role_policy, "set the policy of", f"IAM role {name}", RoleName=name, PolicyName="read-app-secrets", PolicyDocument=self._policy(app.name))
        created = self._call(iam.create_instance_profile, "create", f"instance profile {name}", ok=("EntityAlreadyExists",), InstanceProfileName=name, Tags=tags)
        profile = self._call(iam.get_instance_profile, "read", f"instance profile {name}", InstanceProfileName=name)["InstanceProfile"]
        if not any(r["RoleName"] == name for r in profile.get("Roles", [])):
            self._call(iam.add_role_to_instance_profile, "add the role to", f"instance profile {name}", ok=("LimitExceeded",), InstanceProfileName=name, RoleName=name)
        if created is not None and not self.clients.settings.endpoint_url:
            time.sleep(PROFILE_PROPAGATION_S)  # real IAM only: RunInstances refuses a profile this new
        return str(profile["Arn"])

    def delete(self, app: str) -> None:
        """Removes the app's parameters, instance profile and role (destroy)."""
        ssm, prefix = self.clients.ssm, parameter_prefix(app, self.clients.target)
        names: list[str] = []
        token: str | None = None
        while True:
            page = self._call(ssm.get_parameters_by_path, "list", f"SSM parameters under {prefix}", Path=prefix, Recursive=True, **({"NextToken": token} if token else {}))
            names += [p["Name"] for p in page.get("Parameters", [])]
            token = page.get("NextToken")
            if not token:
                break
        for i in range(0, len(names), 10):
            self._call(ssm.delete_parameters, "delete", f"SSM parameters under {prefix}", Names=names[i:i + 10])
        iam = self.clients.client("iam")
        name = role_name(app, self.clients.target, str(self.clients.region))
        gone = ("NoSuchEntity",)
        self._call(iam.remove_role_from_instance_profile, "remove the role from", f"instance profile {name}", ok=gone, InstanceProfileName=name, RoleName=name)
        self._call(iam.delete_instance_profile, "delete", f"instance profile {name}", ok=gone, InstanceProfileName=name)
        self._call(iam.delete_role_policy, "delete the policy of", f"IAM role {name}", ok=gone, RoleName=name, PolicyName="read-app-secrets")
        self._call(iam.delete_role, "delete", f"IAM role {name}", ok=gone, RoleName=name)
