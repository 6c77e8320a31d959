"""The aws provider against the lab's moto server, driven through the real CLI.

Deploys examples/shop, checks every AWS object a user would look at, redeploys unchanged,
replaces the web instances blue/green (watching the load balancer while it happens), fails
a rollout on purpose, and destroys, listing every resource type the provider creates.
"""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from aws_inventory import inventory, instances, service_records, tags, user_data
from aws_support import Shop

pytestmark = pytest.mark.lab("moto")
TOKEN = "tok-3f9a-not-for-logs"


def web_target_group(shop: Shop) -> str:
    found = [g for g in shop.client("elbv2").describe_target_groups()["TargetGroups"] if g["TargetGroupName"] == "shop-aws-web-8080"]
    assert len(found) == 1
    return str(found[0]["TargetGroupArn"])


def registered(shop: Shop, tg: str) -> dict[str, str]:
    found = shop.client("elbv2").describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in found}


def ingress(shop: Shop, name: str) -> set[tuple[int, str, str]]:
    groups = shop.client("ec2").describe_security_groups(Filters=[{"Name": "tag:portable:name", "Values": [name]}, {"Name": "tag:portable:app", "Values": ["shop"]}])["SecurityGroups"]
    assert len(groups) == 1, groups
    names = {g["GroupId"]: tags(g).get("portable:name") for g in shop.client("ec2").describe_security_groups()["SecurityGroups"]}
    out = set()
    for perm in groups[0]["IpPermissions"]:
        for r in perm.get("IpRanges", []):
            out.add((perm["FromPort"], perm["IpProtocol"], r["CidrIp"]))
        for p in perm.get("UserIdGroupPairs", []):
            out.add((perm["FromPort"], perm["IpProtocol"], f"sg:{names.get(p['GroupId'])}"))
    return out


class LoadBalancerWatch(threading.Thread):
    """Alternately reads the web target group and the live web instances until stopped, keeping
    each answer with the times its request started and ended."""

    def __init__(self, shop: Shop, tg: str) -> None:
        super().__init__(daemon=True)
        self.shop, self.tg = shop, tg
        self.targets: list[tuple[float, float, dict[str, str]]] = []
        self.live: list[tuple[float, float, dict[str, str]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.monotonic()
            targets = registered(self.shop, self.tg)
            self.targets.append((start, time.monotonic(), targets))
            start = time.monotonic()
            live = {i["InstanceId"]: i["State"]["Name"] for i in instances(self.shop, service="web", states=("pending", "running", "shutting-down", "stopping"))}
            self.live.append((start, time.monotonic(), live))


def test_shop_on_aws_deploy_redeploy_blue_green_failure_and_destroy(aws_shop: Shop) -> None:
    shop = aws_shop
    assert not any(inventory(shop).values()), "moto already holds objects of app shop in this region"

    # -- deploy ---------------------------------------------------------------------------
    done = shop.cli("deploy", "--target", "aws", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert TOKEN not in done.stdout + done.stderr

    by_service: dict[str, list[dict[str, Any]]] = {}
    for inst in instances(shop, states=("running",)):
        by_service.setdefault(tags(inst)["portable:service"], []).append(inst)
    assert {s: len(v) for s, v in by_service.items()} == {"web": 2, "api": 1, "worker": 1, "kv": 1}
    for insts in by_service.values():
        for inst in insts:
            t = tags(inst)
            assert t["portable:app"] == "shop" and len(t["portable:revision"]) == 12
            assert inst["MetadataOptions"]["HttpTokens"] == "required"
            data = user_data(shop, inst["InstanceId"])
            assert len(data) < 16384 and b"#cloud-config" in (data if data[:2] != b"\x1f\x8b" else data)
    zones = sorted({s["AvailabilityZone"] for s in shop.client("ec2").describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]})
    assert sorted(i["Placement"]["AvailabilityZone"] for i in by_service["web"]) == zones[:2]  # spread over zones
    assert len({tags(i)["portable:revision"] for i in by_service["web"]}) == 1

    # security groups follow the ports: the ALB is public on 8000, instances take 8080 from the
    # ALB (web) and from each other (api and kv are internal)
    assert ingress(shop, "shop-lb") == {(8000, "tcp", "0.0.0.0/0")}
    assert ingress(shop, "shop") == {(8080, "tcp", "sg:shop-lb"), (8080, "tcp", "sg:shop")}

    # the kv volume is an EBS volume attached to the kv instance
    kv = by_service["kv"][0]
    vols = shop.client("ec2").describe_volumes(Filters=[{"Name": "tag:portable:name", "Values": ["data"]}, {"Name": "tag:portable:app", "Values": ["shop"]}])["Volumes"]
    assert len(vols) == 1 and vols[0]["State"] == "in-use" and vols[0]["Size"] == 1
    assert vols[0]["Attachments"][0]["InstanceId"] == kv["InstanceId"]

    # an ALB with one listener (8000) forwarding to the web target group holding both web instances
    tg = web_target_group(shop)
    assert registered(shop, tg) == {i["InstanceId"]: "healthy" for i in by_service["web"]}
    inv = inventory(shop)
    assert len(inv["load_balancers"]) == 1 and len(inv["listeners"]) == 1
    listener = shop.client("elbv2").describe_listeners(LoadBalancerArn=inv["load_balancers"][0])["Listeners"][0]
    assert listener["Port"] == 8000 and listener["DefaultActions"][0]["TargetGroupArn"] == tg
    assert sorted(inv["dns_records"]) == [f"_portable.www.{shop.zone}.", f"www.{shop.zone}."]

    # services find each other by name: a private zone lists every service's instances, and
    # containers resolve `api` in it (--dns-search)
    assert service_records(shop) == {s: {i["PrivateIpAddress"] for i in insts} for s, insts in by_service.items()}
    assert b"--dns-search shop.aws.portable.internal" in user_data(shop, by_service["web"][0]["InstanceId"])

    status = shop.cli("status", "--target", "aws")
    assert status.returncode == 0, status.stderr
    assert re.search(rf"^web\s+2\s+2\s+2\s+http://shop-aws-1\.{re.escape(shop.region)}\.elb\.amazonaws\.com:8000$", status.stdout, re.M), status.stdout
    assert re.search(r"^kv\s+1\s+1\s+1", status.stdout, re.M), status.stdout

    # -- redeploy, nothing changed ----------------------------------------------------------
    before = {i["InstanceId"] for i in instances(shop)}
    again = shop.cli("deploy", "--target", "aws", "--yes")
    assert again.returncode == 0, again.stderr
    assert "no changes; nothing was touched" in again.stdout
    assert {i["InstanceId"] for i in instances(shop)} == before

    # -- a new web image: blue/green, watched from outside -----------------------------------
    old_web = {i["InstanceId"] for i in by_service["web"]}
    others = before - old_web
    watch = LoadBalancerWatch(shop, tg)
    watch.start()
    try:
        changed = shop.cli("deploy", "--target", "aws", "--yes", SHOP_WEB_IMAGE="127.0.0.1:5000/lab/web:2")
    finally:
        watch.stop.set()
        watch.join(10)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "1 to replace" in changed.stdout
    new_web = {i["InstanceId"] for i in instances(shop, service="web")}
    assert len(new_web) == 2 and not (new_web & old_web)
    assert {i["InstanceId"] for i in instances(shop)} - new_web == others  # nothing else was touched
    assert registered(shop, tg) == {i: "healthy" for i in new_web}
    assert service_records(shop)["web"] == {i["PrivateIpAddress"] for i in instances(shop, service="web")}
    # order, as seen from outside: the target group never ran empty, and no answer showing an old
    # instance gone or shutting down came back before a request that still found the new
    # instances not all registered and healthy had started
    assert len(watch.targets) > 3 and len(watch.live) > 3
    assert all(targets for _, _, targets in watch.targets), "the web target group was empty during the rollout"
    not_ready = [start for start, _, targets in watch.targets if not new_web <= {i for i, st in targets.items() if st == "healthy"}]
    old_down = [end for _, end, live in watch.live if any(live.get(i, "gone") in ("gone", "shutting-down") for i in old_web)]
    assert old_down, "the watch never saw the old instances go"
    assert not [(d, n) for d in old_down for n in not_ready if d < n], "an old instance went down before the new ones were registered"
    out = changed.stdout + changed.stderr
    assert out.index("registered and healthy behind the load balancer") < out.index("terminating " + sorted(old_web)[0][:2])

    # -- a rollout that fails leaves the old instances serving --------------------------------
    shop.retarget(readiness="console")
    failed = shop.cli("deploy", "--target", "aws", "--yes", "--timeout", "6", SHOP_WEB_IMAGE="127.0.0.1:5000/lab/web:3")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "did not report ready within" in failed.stdout + failed.stderr, failed.stderr
    assert {i["InstanceId"] for i in instances(shop, service="web")} == new_web
    assert registered(shop, tg) == {i: "healthy" for i in new_web}
    shop.retarget()

    # -- destroy: data kept unless asked, then nothing tagged with the app is left -------------
    gone = shop.cli("destroy", "--target", "aws", "--yes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    left = inventory(shop)
    assert [k for k, v in left.items() if v] == ["volumes"] and len(left["volumes"]) == 1
    wiped = shop.cli("destroy", "--target", "aws", "--yes", "--volumes")
    assert wiped.returncode == 0, wiped.stdout + wiped.stderr
    assert inventory(shop) == {k: [] for k in left}


def test_render_writes_user_data_and_a_resource_description_without_secrets(aws_shop: Shop, tmp_path: Any) -> None:
    import json

    out = tmp_path / "rendered"
    before = inventory(aws_shop)
    done = aws_shop.cli("render", "--target", "aws", "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["shop.aws.json", "user-data/api.yaml", "user-data/kv.yaml", "user-data/web.yaml", "user-data/worker.yaml"]
    for p in out.rglob("*"):
        if p.is_file():
            assert TOKEN not in p.read_text()
    assert "<secret api-token: written to the VM at apply time>" in (out / "user-data" / "api.yaml").read_text()
    doc = json.loads((out / "shop.aws.json").read_text())
    kinds = sorted({(r["kind"], r["name"]) for r in doc["resources"]})
    assert kinds == [
        ("dns-record", f"www.{aws_shop.zone}"), ("dns-zone", "shop.aws.portable.internal"), ("instance-group", "api"), ("instance-group", "kv"), ("instance-group", "web"),
        ("instance-group", "worker"), ("load-balancer", "shop"), ("security-group", "shop"), ("security-group", "shop-lb"),
        ("target-group", "web-8080"), ("volume", "data"),
    ]
    web = next(r for r in doc["resources"] if r["name"] == "web")
    assert [i["name"] for i in web["instances"]] == ["shop-web-0", "shop-web-1"]
    assert web["instances"][0]["metadata_options"]["HttpTokens"] == "required"
    assert inventory(aws_shop) == before  # render touches nothing on the target


def test_a_missing_image_fails_with_one_sentence_naming_it(aws_shop: Shop) -> None:
    """Refused while planning (the preflight, issue 17): exit 2 at the field, nothing created."""
    aws_shop.retarget(ami="ami-00000000")
    done = aws_shop.cli("deploy", "--target", "aws", "--yes")
    assert done.returncode == 2, done.stderr
    assert "targets.aws.ami: image ami-00000000 does not exist" in done.stderr and "portable.yaml:" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not any(inventory(aws_shop).values())
    aws_shop.retarget()


def test_scaling_keeps_instances_and_a_stateful_service_moves_its_volume(aws_shop: Shop) -> None:
    shop = aws_shop
    assert shop.cli("deploy", "--target", "aws", "--yes").returncode == 0
    targets = shop.cli("targets")
    assert targets.returncode == 0 and f"AWS account 123456789012 in {shop.region}" in targets.stdout, targets.stdout + targets.stderr
    web = {i["InstanceId"] for i in instances(shop, service="web")}

    # more replicas: the running instances stay, one more joins the load balancer
    up = shop.cli("deploy", "--target", "aws", "--yes", SHOP_WEB_REPLICAS="3")
    assert up.returncode == 0 and "1 to update" in up.stdout, up.stdout + up.stderr
    now = {i["InstanceId"]: tags(i)["portable:replica"] for i in instances(shop, service="web")}
    assert web < set(now) and sorted(now.values()) == ["0", "1", "2"]
    assert set(registered(shop, web_target_group(shop))) == set(now)
    assert "no changes" in shop.cli("deploy", "--target", "aws", "--yes", SHOP_WEB_REPLICAS="3").stdout

    # fewer: the highest replicas go
    down = shop.cli("deploy", "--target", "aws", "--yes", SHOP_WEB_REPLICAS="1")
    assert down.returncode == 0, down.stderr
    assert {i["InstanceId"]: tags(i)["portable:replica"] for i in instances(shop, service="web")} == {k: v for k, v in now.items() if v == "0"}

    # kv holds data on EBS: a new image recreates its instance and the same volume follows it
    volume = shop.client("ec2").describe_volumes(Filters=[{"Name": "tag:portable:app", "Values": ["shop"]}, {"Name": "tag:portable:name", "Values": ["data"]}])["Volumes"][0]["VolumeId"]
    old_kv = instances(shop, service="kv")[0]["InstanceId"]
    moved = shop.cli("deploy", "--target", "aws", "--yes", SHOP_WEB_REPLICAS="1", SHOP_KV_IMAGE="127.0.0.1:5000/lab/kv:2")
    assert moved.returncode == 0 and "stopping the old instances first" in moved.stderr, moved.stdout + moved.stderr
    new_kv = instances(shop, service="kv")[0]["InstanceId"]
    attached = shop.client("ec2").describe_volumes(VolumeIds=[volume])["Volumes"][0]["Attachments"]
    assert new_kv != old_kv and [a["InstanceId"] for a in attached] == [new_kv]

    logs = shop.cli("logs", "--target", "aws", "kv")
    assert logs.returncode == 0 and f"0:{new_kv} | " in logs.stdout  # the console output of the kv instance


def test_user_data_over_16_kb_is_gzipped_and_still_boots_the_service(aws_shop: Shop, tmp_path: Any) -> None:
    """A service with a large config file: the user data goes out gzipped (cloud-init unpacks it)."""
    import gzip
    import random as rnd
    import string

    big = "".join(rnd.Random(7).choice(string.ascii_letters) for _ in range(14000))
    manifest = tmp_path / "big" / "portable.yaml"
    manifest.parent.mkdir()
    manifest.write_text(
        "apiVersion: portable/v1\nkind: Application\nmetadata: {name: bigdata}\n"
        "services:\n  app:\n    image: 127.0.0.1:5000/lab/web:1\n"
        f"    files:\n      - path: /etc/big.txt\n        content: {big}\n"
        "targets:\n" + aws_shop.manifest.read_text().split("\ntargets:\n", 1)[1]
    )
    done = subprocess.run([sys.executable, "-m", "portable.cli.main", "deploy", "-f", str(manifest), "--target", "aws", "--yes", "--state", str(tmp_path / "big.db")],
                          env=aws_shop.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [inst] = instances(aws_shop, app="bigdata")
    raw = base64.b64decode(aws_shop.client("ec2").describe_instance_attribute(InstanceId=inst["InstanceId"], Attribute="userData")["UserData"]["Value"])
    assert raw[:2] == b"\x1f\x8b" and len(raw) < 16384
    text = gzip.decompress(raw).decode()
    assert len(text) > 16384 and text.startswith("#cloud-config")
    gone = subprocess.run([sys.executable, "-m", "portable.cli.main", "destroy", "-f", str(manifest), "--target", "aws", "--yes", "--state", str(tmp_path / "big.db")],
                          env=aws_shop.env, capture_output=True, text=True, timeout=300)
    assert gone.returncode == 0, gone.stderr
    assert not any(inventory(aws_shop, app="bigdata").values())


def test_a_stopped_instance_is_noticed_and_replaced_by_the_next_deploy(aws_shop: Shop) -> None:
    shop = aws_shop
    assert shop.cli("deploy", "--target", "aws", "--yes").returncode == 0
    [worker] = instances(shop, service="worker")
    shop.client("ec2").stop_instances(InstanceIds=[worker["InstanceId"]])
    plan = shop.cli("plan", "--target", "aws")
    assert "instance-group/worker" in plan.stdout, plan.stdout + plan.stderr
    fixed = shop.cli("deploy", "--target", "aws", "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    [now] = instances(shop, service="worker")
    assert now["InstanceId"] != worker["InstanceId"] and now["State"]["Name"] == "running"
    assert "no changes" in shop.cli("deploy", "--target", "aws", "--yes").stdout


def test_two_targets_in_one_region_keep_to_their_own_objects(aws_shop: Shop) -> None:
    """staging and prod in one account: each target sees, updates and destroys only its own."""
    shop = aws_shop
    second = shop.manifest.read_text().split("\ntargets:\n", 1)[1].replace("  aws:\n", "  aws-b:\n").replace(f"www.{shop.zone}", f"b.{shop.zone}")
    shop.manifest.write_text(shop.manifest.read_text() + second)
    for target in ("aws", "aws-b"):
        done = shop.cli("deploy", "--target", target, "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
    by_target: dict[str, set[str]] = {}
    for inst in instances(shop):
        by_target.setdefault(tags(inst)["portable:target"], set()).add(inst["InstanceId"])
    assert sorted(by_target) == ["aws", "aws-b"] and len(by_target["aws"]) == len(by_target["aws-b"]) == 5
    lbs = [b["LoadBalancerName"] for b in shop.client("elbv2").describe_load_balancers()["LoadBalancers"]]
    assert sorted(lbs) == ["shop-aws", "shop-aws-b"]
    gone = shop.cli("destroy", "--target", "aws-b", "--yes", "--volumes")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert {i["InstanceId"] for i in instances(shop)} == by_target["aws"]
    assert "no changes" in shop.cli("deploy", "--target", "aws", "--yes").stdout
