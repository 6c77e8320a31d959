"""What the aws provider actually sent (read back from moto) boots the services for real:
each instance's user data, run like cloud-init would on the lab's Docker engine (host setup
skipped), brings its service up healthy, secrets included (read at boot from moto's SSM)."""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vm"))

from aws_inventory import instances, tags, user_data  # noqa: E402
from aws_support import Shop  # noqa: E402
from vm_lab import docker, free_loopback, get, run_vm, vm_containers  # noqa: E402,F401

pytestmark = pytest.mark.lab("moto", "docker", "registry")
TOKEN = "tok-3f9a-not-for-logs"


def test_the_user_data_sent_to_ec2_runs_every_shop_service(aws_shop: Shop, docker_host: str, tmp_path: Path, vm_containers: list[str]) -> None:  # noqa: F811
    done = aws_shop.cli("deploy", "--target", "aws", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    sent = {tags(i)["portable:service"]: user_data(aws_shop, i["InstanceId"]).decode() for i in instances(aws_shop) if tags(i)["portable:replica"] == "0"}
    assert set(sent) == {"web", "api", "worker", "kv"}
    assert TOKEN not in sent["api"] and base64.b64encode(TOKEN.encode()).decode() not in sent["api"]  # read at boot from SSM
    for service in ("kv", "api", "worker", "web"):
        vm_containers.append(f"vm-shop-{service}")
        bind = free_loopback(8080)
        booted = run_vm(sent[service], tmp_path / f"vm-{service}", docker_host, bind)
        assert booted.returncode == 0, f"{service}: {booted.stdout}\n{booted.stderr}"
        assert docker(docker_host, "inspect", "-f", "{{.State.Health.Status}}", f"vm-shop-{service}") == "healthy"
        if service != "worker":
            assert get(f"http://{bind}:8080/cgi-bin/health").strip() == "ok"
    assert docker(docker_host, "exec", "vm-shop-api", "cat", "/run/secrets/api-token") == TOKEN
    assert docker(docker_host, "inspect", "-f", "{{json .HostConfig.DnsSearch}}", "vm-shop-web") == '["shop.aws.portable.internal"]'
