"""`portable render --target <aws>`: the user data of every instance group (secrets as
placeholders) and a JSON description of every AWS object a deploy would create.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from portable import pretty_json
from portable.manifest.app import App
from portable.plan.resources import Resource
from portable.providers.aws import tags as T
from portable.providers.aws.settings import AwsSettings
from portable.providers.vm import GROUP_KIND, render_cloud_init

AWS_TYPES = {
    "security-group": "AWS::EC2::SecurityGroup",
    "target-group": "AWS::ElasticLoadBalancingV2::TargetGroup",
    "load-balancer": "AWS::ElasticLoadBalancingV2::LoadBalancer (+ one Listener per entry of `listeners`)",
    "volume": "AWS::EC2::Volume",
    "instance-group": "AWS::EC2::Instance (one per replica)",
    "dns-record": "AWS::Route53::RecordSet (A alias + TXT ownership record)",
    "dns-zone": "AWS::Route53::HostedZone (private, in the VPC; one A record per service)",
}


def _describe(app: App, res: Resource, settings: AwsSettings, user_data: str | None) -> dict[str, Any]:
    tags = T.base_tags(app.name, res.kind, res.name, res.digest, res.service, target=app.target_name)
    out: dict[str, Any] = {
        "kind": res.kind,
        "name": res.name,
        "aws_type": AWS_TYPES.get(res.kind, res.kind),
        "service": res.service,
        "stateful": res.stateful,
        "depends_on": list(res.depends_on),
        "tags": {k: v for k, v in tags.items() if v is not None},
        "spec": res.spec,
    }
    if res.kind == GROUP_KIND:
        out["instances"] = [
            {
                "replica": r,
                "name": f"{app.name}-{res.name}-{r}",
                "instance_type": res.spec["instance_size"],
                "subnet": f"subnet {r} of the target's subnets (one per availability zone, round robin)",
                "metadata_options": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
                "user_data": user_data,
                "tags": {T.REVISION: res.spec["revision"], T.REPLICA: str(r), T.REPLICAS: str(res.spec["replicas"])},
            }
            for r in range(int(res.spec["replicas"]))
        ]
    return out


def render_files(app: App, resources: list[Resource], outdir: Path, settings: AwsSettings) -> list[Path]:
    """Writes user-data/<service>.yaml per instance group and <app>.aws.json; returns the paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    user_data: dict[str, str] = {}
    for res in resources:
        if res.kind != GROUP_KIND:
            continue
        path = outdir / "user-data" / f"{res.name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        devices = {v["index"]: [f"/dev/sd{chr(ord('f') + v['index'])}", f"/dev/xvd{chr(ord('f') + v['index'])}"] for v in res.spec["volumes"]}
        path.write_text(render_cloud_init(app, res, secrets=None, registry=settings.registry, disk_devices=devices))
        user_data[res.name] = str(path.relative_to(outdir))
        written.append(path)
    doc = {
        "app": app.name,
        "target": app.target_name,
        "provider": "aws",
        "region": settings.region or "(from the AWS config)",
        "resources": [_describe(app, r, settings, user_data.get(r.name) if r.kind == GROUP_KIND else None) for r in resources],
    }
    out = outdir / f"{app.name}.aws.json"
    out.write_text(pretty_json.dumps(doc) + "\n")
    written.append(out)
    return written
