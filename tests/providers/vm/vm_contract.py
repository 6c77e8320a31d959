"""Contract tests every VM target passes (aws, libcloud, ...), like libcloud's TestCaseMixin.

A target's test module subclasses `VmTargetContract` and provides a `cloud` fixture: the real
CLI bound to examples/shop on that target, plus read-only views of what exists on the
target, taken with the target's own API (not through portable).
"""
from __future__ import annotations

import re
import subprocess
from typing import Any, Protocol

TOKEN = "tok-3f9a-not-for-logs"


class Cloud(Protocol):
    target: str
    replicas: dict[str, int]  # what examples/shop runs on this target

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]: ...

    def running(self, service: str | None = None) -> dict[str, str]:
        """Live instances of the app (or of one service): id -> revision."""
        ...

    def volume_attachment(self, volume: str) -> str | None:
        """Id of the instance the app's volume `volume` is attached to."""
        ...

    def inventory(self) -> dict[str, list[str]]:
        """Every object of the app on the target, by resource type."""
        ...


def ok(done: subprocess.CompletedProcess[str]) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert TOKEN not in out
    return out


class VmTargetContract:
    """examples/shop through the real CLI: deploy, redeploy, replace, destroy, render."""

    def test_deploy_runs_every_service_and_a_redeploy_changes_nothing(self, cloud: Any) -> None:
        assert not any(cloud.inventory().values()), "the target already holds objects of app shop"
        ok(cloud.cli("deploy", "--target", cloud.target, "--yes"))
        for service, count in cloud.replicas.items():
            instances = cloud.running(service)
            assert len(instances) == count, (service, instances)
            assert len(set(instances.values())) == 1
        kv = next(iter(cloud.running("kv")))
        assert cloud.volume_attachment("data") == kv
        before = cloud.running()
        again = ok(cloud.cli("deploy", "--target", cloud.target, "--yes"))
        assert "no changes; nothing was touched" in again
        assert cloud.running() == before

    def test_a_new_image_replaces_only_that_service_new_before_old(self, cloud: Any) -> None:
        ok(cloud.cli("deploy", "--target", cloud.target, "--yes"))
        before = cloud.running()
        old_web = cloud.running("web")
        out = ok(cloud.cli("deploy", "--target", cloud.target, "--yes", SHOP_WEB_IMAGE="127.0.0.1:5000/lab/web:2"))
        assert "1 to replace" in out
        new_web = cloud.running("web")
        assert len(new_web) == cloud.replicas["web"] and not set(new_web) & set(old_web)
        assert set(new_web.values()) != set(old_web.values())
        assert {k: v for k, v in cloud.running().items() if k not in new_web} == {k: v for k, v in before.items() if k not in old_web}
        serving = out.index(f"web: {cloud.replicas['web']} new instance(s) healthy and serving")
        terminating = re.search(r"web: terminating (.*)", out)
        assert terminating is not None and set(terminating.group(1).split(", ")) == set(old_web)
        assert serving < terminating.start()

    def test_destroy_keeps_data_unless_asked_and_then_leaves_nothing(self, cloud: Any) -> None:
        ok(cloud.cli("deploy", "--target", cloud.target, "--yes"))
        ok(cloud.cli("destroy", "--target", cloud.target, "--yes"))
        left = cloud.inventory()
        assert [k for k, v in left.items() if v] == ["volumes"], left
        ok(cloud.cli("destroy", "--target", cloud.target, "--yes", "--volumes"))
        assert cloud.inventory() == {k: [] for k in left}

    def test_render_writes_user_data_per_service_without_secret_values(self, cloud: Any, tmp_path: Any) -> None:
        out = tmp_path / "rendered"
        ok(cloud.cli("render", "--target", cloud.target, "-o", str(out)))
        names = sorted(p.name for p in (out / "user-data").iterdir())
        assert names == sorted(f"{s}.yaml" for s in cloud.replicas)
        for p in out.rglob("*"):
            if p.is_file():
                assert TOKEN not in p.read_text()
        assert "<secret api-token: written to the VM at apply time>" in (out / "user-data" / "api.yaml").read_text()
        assert cloud.running() == {}
