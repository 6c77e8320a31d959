"""Updates, destroy and failures of the vsphere target on the lab's vcsim, through the CLI.

The test app has a public web service, a stateful kv service with a data disk and two
workers. A `Watcher` samples the app's VMs while a deploy runs, so the order of events
(new VM up before the old one goes) is observed on vCenter, not inferred from logs.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

pytest.importorskip("pyVmomi")

from vcenter import app_vms, connect, network_key  # noqa: E402

pytestmark = pytest.mark.lab("vcsim")


@dataclass
class Watcher:
    """Samples {vm name: (power state, ip)} of the app every 50 ms."""

    cli: object
    samples: list[dict[str, tuple[str, str | None]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "Watcher":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        with connect(self.cli.lab) as content:  # type: ignore[attr-defined]
            while not self._stop.is_set():
                try:
                    vms = app_vms(content, self.cli.env["APP_NAME"])  # type: ignore[attr-defined]
                    self.samples.append({v.name: (v.power_state, v.ip) for v in vms})
                except Exception:  # noqa: BLE001 - a VM vanished mid-read: sample again
                    pass
                self._stop.wait(0.05)


def _by_service(cli) -> dict[str, list]:
    out: dict[str, list] = {}
    for vm in cli.vms():
        out.setdefault(vm.marks["portable.service"], []).append(vm)
    return out


def test_changed_image_starts_new_vms_before_removing_old_and_keeps_the_data_disk(app_cli) -> None:
    with app_cli.reporter() as guest:
        first = app_cli.deploy()
        assert first.returncode == 0, first.stderr
        before = _by_service(app_cli)
        [old_web], [old_kv] = before["web"], before["kv"]
        [proxy_before] = app_cli.proxies()
        assert proxy_before.extra_config["guestinfo.portable.backends"] == f"{old_web.ip}:8080"
        with Watcher(app_cli) as watch:
            second = app_cli.deploy(WEB_IMAGE="lab/web:2", KV_IMAGE="lab/kv:2")
        assert second.returncode == 0, second.stdout + second.stderr
    after = _by_service(app_cli)
    [new_web], [new_kv] = after["web"], after["kv"]
    assert new_web.name != old_web.name and new_kv.name != old_kv.name
    assert new_web.power_state == "poweredOn" and new_web.ip
    # blue/green: at some moment the new web VM had its address while the old one still ran
    assert any(
        old_web.name in s and s[old_web.name][0] == "poweredOn" and s.get(new_web.name, ("", None))[1]
        for s in watch.samples
    ), "the old web VM was gone before the new one was up"
    assert old_web.name not in watch.samples[-1]
    # kv holds a data disk: the old VM goes first, the new one boots with the same disk file
    assert not any(old_kv.name in s and new_kv.name in s for s in watch.samples)
    disk = "[{}] portable-disks/{}/kv.data.vmdk".format(app_cli.lab.datastore, app_cli.env["APP_NAME"])
    assert disk in old_kv.disks and disk in new_kv.disks
    # the front proxy kept its VM (and address) and moved its upstream from old to new
    [proxy] = app_cli.proxies()
    assert proxy.extra_config["guestinfo.portable.backends"] == f"{new_web.ip}:8080"
    assert proxy.extra_config["guestinfo.portable.backends.applied"] == f"{new_web.ip}:8080"
    assert proxy.name == proxy_before.name and proxy.ip == proxy_before.ip
    both = ",".join(sorted([f"{old_web.ip}:8080", f"{new_web.ip}:8080"]))
    switches = [upstreams for name, upstreams in guest.switches if name == proxy.name]
    assert switches[-2:] == [both, f"{new_web.ip}:8080"], switches  # new joined before old left
    # untouched services keep their VMs
    assert sorted(v.name for v in after["worker"]) == sorted(v.name for v in before["worker"])
    assert new_web.decoded("guestinfo.userdata").count("lab/web:2") >= 1


def test_replica_change_adds_and_removes_vms_without_touching_the_others(app_cli) -> None:
    with app_cli.reporter():
        assert app_cli.deploy().returncode == 0
        two = sorted(v.name for v in _by_service(app_cli)["worker"])
        three = app_cli.deploy(WORKER_REPLICAS="3")
        assert three.returncode == 0, three.stderr
        names = sorted(v.name for v in _by_service(app_cli)["worker"])
        assert len(names) == 3 and set(two) <= set(names)
        assert "no changes" in app_cli.deploy(WORKER_REPLICAS="3").stdout
        one = app_cli.deploy(WORKER_REPLICAS="1")
        assert one.returncode == 0, one.stderr
    assert [v.name for v in _by_service(app_cli)["worker"]] == [two[0]]


def test_destroy_removes_every_vm_and_keeps_the_data_disk_until_volumes(app_cli) -> None:
    with app_cli.reporter():
        assert app_cli.deploy().returncode == 0
    assert app_cli.disk_files()
    gone = app_cli("destroy", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert app_cli.vms(None) == []  # service VMs and the front proxy
    assert any(f.endswith("kv.data.vmdk") for f in app_cli.disk_files()), "destroy without --volumes lost the data"
    wiped = app_cli("destroy", "--yes", "--volumes")
    assert wiped.returncode == 0, wiped.stderr
    assert app_cli.vms(None) == [] and app_cli.disk_files() == []


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_wrong_password_is_one_line_and_exit_code_1(app_cli) -> None:
    result = app_cli.deploy(VSPHERE_PASSWORD="not-the-password")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "refused the login" in line and app_cli.lab.user in line and "not-the-password" not in line
    assert app_cli.vms(None) == []


def test_missing_credentials_say_which_variables_to_set(app_cli) -> None:
    result = app_cli.deploy(VSPHERE_USER="", VSPHERE_PASSWORD="")
    assert result.returncode == 1
    assert "VSPHERE_USER" in result.stderr and "VSPHERE_PASSWORD" in result.stderr


def test_missing_template_names_it_and_the_setting_to_fix(app_cli) -> None:
    result = app_cli.deploy(VC_TEMPLATE="no-such-template")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "template `no-such-template` does not exist" in line and "portable-template" in line


def test_missing_network_names_it(app_cli) -> None:
    result = app_cli.deploy(VC_NETWORK="no-such-net")
    assert result.returncode == 1
    assert "network `no-such-net` does not exist" in _one_error_line(result.stderr)


def test_tls_is_verified_unless_insecure_is_set(app_cli) -> None:
    result = app_cli.deploy(VC_INSECURE="false")
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert "certificate is not trusted" in line and "insecure: true" in line


def test_vm_without_guest_ip_fails_in_bounded_time_and_is_removed(app_cli) -> None:
    started = time.monotonic()
    result = app_cli.deploy(VC_BOOT_TIMEOUT="3")  # no reporter: nothing plays VMware Tools
    assert result.returncode == 1
    assert time.monotonic() - started < 120
    assert "reported no IP address within 3s" in result.stderr
    assert "VMware Tools" in result.stderr
    assert app_cli.vms(None) == [], "VMs of the failed revision were left behind"


def test_distributed_port_group_network(app_cli) -> None:
    with app_cli.reporter():
        result = app_cli.deploy(VC_NETWORK="DC0_DVPG0", WORKER_REPLICAS="1")
    assert result.returncode == 0, result.stderr
    with connect(app_cli.lab) as content:
        key = network_key(content, "DC0_DVPG0")
    vms = app_cli.vms()
    assert vms and all(vm.ip and vm.nics[0] == f"dvpg:{key}" for vm in vms), [(v.name, v.nics) for v in vms]


def test_standard_port_group_network(app_cli) -> None:
    with app_cli.reporter():
        result = app_cli.deploy(VC_NETWORK="VM Network", WORKER_REPLICAS="1")
    assert result.returncode == 0, result.stderr
    assert all(vm.nics[0] == "VM Network" for vm in app_cli.vms())


def test_growing_a_volume_grows_the_same_disk_and_shrinking_is_refused(app_cli) -> None:
    disk = "[{}] portable-disks/{}/kv.data.vmdk".format(app_cli.lab.datastore, app_cli.env["APP_NAME"])
    with app_cli.reporter():
        assert app_cli.deploy().returncode == 0
        grown = app_cli.deploy(KV_SIZE="3Gi")
        assert grown.returncode == 0, grown.stdout + grown.stderr
        [kv] = _by_service(app_cli)["kv"]
        assert kv.disks[disk] == 3 * 1024 * 1024
        assert "no changes" in app_cli.deploy(KV_SIZE="3Gi").stdout
        shrink = app_cli.deploy(KV_SIZE="1Gi")
    assert shrink.returncode == 1
    assert "cannot shrink" in shrink.stderr and "volume `data`" in shrink.stderr
    [still] = _by_service(app_cli)["kv"]
    assert still.name == kv.name and still.disks[disk] == 3 * 1024 * 1024


def test_scaling_a_service_to_zero_removes_its_vms_and_then_plans_nothing(app_cli) -> None:
    with app_cli.reporter():
        assert app_cli.deploy().returncode == 0
        zero = app_cli.deploy(WORKER_REPLICAS="0")
        assert zero.returncode == 0, zero.stderr
        assert "worker" not in _by_service(app_cli)
        assert "no changes" in app_cli.deploy(WORKER_REPLICAS="0").stdout


def test_a_new_revision_that_never_comes_up_leaves_the_old_vms_serving(app_cli) -> None:
    with app_cli.reporter():
        assert app_cli.deploy().returncode == 0
    before = sorted(vm.name for vm in app_cli.vms())
    failed = app_cli.deploy(WEB_IMAGE="lab/web:2", VC_BOOT_TIMEOUT="3")  # nothing reports an IP now
    assert failed.returncode == 1
    assert "reported no IP address within 3s" in failed.stderr
    after = app_cli.vms()
    assert sorted(vm.name for vm in after) == before
    assert all(vm.power_state == "poweredOn" and vm.ip for vm in after)
    assert "no changes" in app_cli.deploy().stdout


def test_a_service_that_fails_in_the_guest_fails_the_deploy_with_its_reason(app_cli) -> None:
    with app_cli.reporter(failing_images=frozenset({"lab/web:9"})):
        assert app_cli.deploy().returncode == 0
        before = sorted(vm.name for vm in app_cli.vms())
        failed = app_cli.deploy(WEB_IMAGE="lab/web:9")
    assert failed.returncode == 1
    [line] = [x for x in failed.stderr.splitlines() if x.startswith("error: ")]
    assert "service `web` did not start on VM" in line and "could not pull lab/web:9" in line
    assert sorted(vm.name for vm in app_cli.vms()) == before  # the old web VM kept serving


def test_without_the_guest_relay_readiness_ip_is_the_way_out(app_cli) -> None:
    with app_cli.reporter(report_status=False):
        waiting = app_cli.deploy(VC_BOOT_TIMEOUT="3", WORKER_REPLICAS="1")
        assert waiting.returncode == 1
        assert "did not report ready within 3s" in waiting.stderr and "readiness: ip" in waiting.stderr
        by_ip = app_cli.deploy(VC_READINESS="ip", WORKER_REPLICAS="1")
    assert by_ip.returncode == 0, by_ip.stderr
    assert all(vm.ip for vm in app_cli.vms())


def test_a_front_proxy_whose_upstreams_drifted_is_repaired_in_place(app_cli) -> None:
    from pyVmomi import vim

    with app_cli.reporter():
        assert app_cli.deploy().returncode == 0
        [proxy] = app_cli.proxies()
        [web] = _by_service(app_cli)["web"]
        with connect(app_cli.lab) as content:  # someone edits the proxy's upstreams in vCenter
            view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
            vm = next(v for v in view.view if v.name == proxy.name)
            view.Destroy()
            task = vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key="guestinfo.portable.backends", value="none")]))
            while task.info.state in ("queued", "running"):
                time.sleep(0.05)
        repaired = app_cli.deploy()
        assert repaired.returncode == 0, repaired.stderr
        assert "load-balancer/web" in repaired.stdout
    [after] = app_cli.proxies()
    assert after.name == proxy.name and after.ip == proxy.ip
    assert after.extra_config["guestinfo.portable.backends"] == f"{web.ip}:8080"
    assert "no changes" in app_cli.deploy().stdout


def test_destroying_one_app_leaves_another_apps_vms_alone(app_cli, tmp_path) -> None:
    import dataclasses

    other = dataclasses.replace(app_cli, state=tmp_path / "other.db", env={**app_cli.env, "APP_NAME": app_cli.env["APP_NAME"] + "b"})
    try:
        with app_cli.reporter(), other.reporter():
            assert app_cli.deploy(WORKER_REPLICAS="1").returncode == 0
            assert other.deploy(WORKER_REPLICAS="1").returncode == 0
        theirs = sorted(vm.name for vm in other.vms(None))
        assert len(theirs) == 4  # web, kv, worker and web's front proxy
        assert app_cli("destroy", "--yes", "--volumes").returncode == 0
        assert app_cli.vms(None) == []
        assert sorted(vm.name for vm in other.vms(None)) == theirs
        assert other.disk_files()
        assert "no changes" in other.deploy(WORKER_REPLICAS="1").stdout
    finally:
        other("destroy", "--yes", "--volumes", "--quiet")


def test_logs_say_where_to_read_them(app_cli) -> None:
    result = app_cli("logs", "--target", "vcsim", targeted=False)
    assert result.returncode == 2  # refused up front: the target does not declare LOGS
    assert "cannot read container logs through vCenter" in result.stderr and "docker logs" in result.stderr
