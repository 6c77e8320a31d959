"""The rendered user data, executed for real: the bootstrap's container part runs against
the lab's Docker engine (host setup skipped), pulls from the lab registry, and every
service of examples/shop comes up answering and healthy, as it would on a VM.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from portable.providers.vm import instance_groups, peer_services, render_cloud_init, resolve_group_secrets
from vm_lab import docker, free_loopback, get, run_vm, vm_containers  # noqa: F401 - vm_containers is a fixture
from vm_shop import lab_env, load_shop

pytestmark = pytest.mark.lab("docker", "registry")
TOKEN = "tok-3f9a-not-for-logs"


def test_shop_user_data_brings_every_service_up_healthy(tmp_path: Path, docker_host: str, registry: str, vm_containers: list[str]) -> None:
    app = load_shop(tmp_path, lab_env(registry))
    groups = {g.name: g for g in instance_groups(app, size_for=lambda n, s: "t3.micro", behind_load_balancer=True)}
    assert set(groups) == {"web", "api", "worker", "kv"}
    binds: dict[str, str] = {}
    for name in ("kv", "api", "worker", "web"):  # dependency order, like the engine
        group = groups[name]
        vm_containers.append(f"vm-shop-{name}")
        binds[name] = free_loopback(8080)
        hosts = {peer: "10.9.9.9" for peer in peer_services(app, name)}
        user_data = render_cloud_init(app, group, secrets=resolve_group_secrets(app, group), hosts=hosts, dns_search="shop.portable.internal")
        done = run_vm(user_data, tmp_path / f"vm-{name}", docker_host, binds[name])
        assert done.returncode == 0, f"{name}: {done.stdout}\n{done.stderr}"
        assert f"portable: READY service={name} revision={group.spec['revision']}" in done.stdout
        assert (tmp_path / f"vm-{name}" / "status").read_text().startswith("ready service=")
        health = docker(docker_host, "inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", f"vm-shop-{name}")
        assert health == "running healthy"  # every shop service has a health check

    # every http service answers on its VM's address, through the published port
    for name in ("web", "api", "kv"):
        assert get(f"http://{binds[name]}:8080/cgi-bin/health").strip() == "ok"
    assert "greeting=hello from a vm" in get(f"http://{binds['web']}:8080/cgi-bin/count")
    assert docker(docker_host, "inspect", "-f", "{{json .HostConfig.ExtraHosts}}", "vm-shop-web") == '["api:10.9.9.9","kv:10.9.9.9"]'
    assert docker(docker_host, "inspect", "-f", "{{json .HostConfig.DnsSearch}}", "vm-shop-web") == '["shop.portable.internal"]'

    # secrets: a root-only file on the VM, read-only in the container; config files too
    secret = tmp_path / "vm-api" / "secrets" / "api-token"
    assert secret.read_text() == TOKEN and (secret.stat().st_mode & 0o777) == 0o400
    assert docker(docker_host, "exec", "vm-shop-api", "cat", "/run/secrets/api-token") == TOKEN
    assert docker(docker_host, "exec", "vm-shop-api", "cat", "/etc/shop/settings.json") == '{"currency": "EUR", "page_size": 20}'
    assert docker(docker_host, "exec", "vm-shop-worker", "cat", "/run/secrets/token") == TOKEN
    assert docker(docker_host, "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "vm-shop-worker") == "on-failure"
    deadline = time.monotonic() + 20
    while "processing orders for shop" not in docker(docker_host, "logs", "vm-shop-worker") and time.monotonic() < deadline:
        time.sleep(1)
    assert "worker: processing orders for shop" in docker(docker_host, "logs", "vm-shop-worker")

    # kv keeps its data on the VM's volume directory, across a second boot of the bootstrap
    assert get(f"http://{binds['kv']}:8080/cgi-bin/put?order=42").strip() == "ok"
    assert any((tmp_path / "vm-kv" / "volumes" / "data").rglob("order"))
    again = run_vm(render_cloud_init(app, groups["kv"]), tmp_path / "vm-kv", docker_host, binds["kv"])
    assert again.returncode == 0, again.stderr
    assert get(f"http://{binds['kv']}:8080/cgi-bin/get?order").strip() == "42"

    # nothing secret leaked into what the bootstrap printed
    assert TOKEN not in done.stdout + done.stderr


def test_a_failing_health_check_fails_the_bootstrap_with_its_output(tmp_path: Path, docker_host: str, registry: str, vm_containers: list[str]) -> None:
    app = load_shop(tmp_path, lab_env(registry, SHOP_WEB_HEALTH_PATH="/cgi-bin/missing"))
    web = next(g for g in instance_groups(app, size_for=lambda n, s: "t3.micro", behind_load_balancer=True) if g.name == "web")
    vm_containers.append("vm-shop-web")
    started = time.monotonic()
    done = run_vm(render_cloud_init(app, web), tmp_path / "vm-web", docker_host, free_loopback(8080))
    assert done.returncode == 1
    assert f"portable: FAILED service=web revision={web.spec['revision']}: health check failing" in done.stdout
    assert "404" in done.stdout
    assert (tmp_path / "vm-web" / "status").read_text().startswith("failed: health check failing")
    assert time.monotonic() - started < 90


def test_a_migrated_volume_is_restored_before_the_service_starts(tmp_path: Path, docker_host: str, registry: str, vm_containers: list[str]) -> None:
    """`portable migrate` to a VM target: the first boot fills the data disk from the archive."""
    import dataclasses
    import functools
    import io
    import tarfile
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from portable.data.archive import write_archive

    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w") as tar:
        for name, body in (("kv/order", b"42"), ("kv/customer", b"ada")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    served = tmp_path / "served"
    archive = write_archive("data", [stream.getvalue()], served / "data.full.tar.gz")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/data.full.tar.gz"
        app = load_shop(tmp_path, lab_env(registry))
        app = dataclasses.replace(app, restores={"data": [{"url": url, "sha256": archive.sha256, "key": "shop/data.full.tar.gz", "phase": "full"}]})
        kv = next(g for g in instance_groups(app, size_for=lambda n, s: "t3.micro", behind_load_balancer=True) if g.name == "kv")
        vm_containers.append("vm-shop-kv")
        bind = free_loopback(8080)
        done = run_vm(render_cloud_init(app, kv), tmp_path / "vm-kv", docker_host, bind)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "portable: volume data restored" in done.stdout
        assert get(f"http://{bind}:8080/cgi-bin/get?order").strip() == "42"
        assert get(f"http://{bind}:8080/cgi-bin/get?customer").strip() == "ada"
        # a second boot keeps what the service wrote since (the restore never runs twice)
        assert get(f"http://{bind}:8080/cgi-bin/put?order=43").strip() == "ok"
        again = run_vm(render_cloud_init(app, kv), tmp_path / "vm-kv", docker_host, bind)
        assert again.returncode == 0, again.stderr
        assert "already restored" in again.stdout
        assert get(f"http://{bind}:8080/cgi-bin/get?order").strip() == "43"
    finally:
        server.shutdown()


@pytest.fixture
def private_registry(docker_host: str, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A second Distribution registry on loopback that demands a password, holding web:1."""
    import crypt  # noqa: PLC0415 - deprecated, but the only bcrypt at hand; the registry wants bcrypt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "private-registry"
    (root / "data").mkdir(parents=True)
    password = "reg-pw-" + os.urandom(6).hex()
    (root / "htpasswd").write_text(f"portable:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    (root / "config.yml").write_text(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: " + str(root / "data") + "\n"
        f"http:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: lab\n    path: {root / 'htpasswd'}\n"
    )
    proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        server = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{server}/v2/", timeout=2)
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the private registry did not start"
            time.sleep(0.3)
        env = dict(os.environ, DOCKER_HOST=docker_host, DOCKER_CONFIG=str(root / "client"))
        subprocess.run(["docker", "login", "-u", "portable", "--password-stdin", server], input=password, text=True, env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["docker", "tag", "lab/web:1", f"{server}/private/web:1"], env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["docker", "push", f"{server}/private/web:1"], env=env, check=True, capture_output=True, timeout=300)
        subprocess.run(["docker", "rmi", f"{server}/private/web:1"], env=env, capture_output=True, timeout=60)
        yield server, "portable", password
    finally:
        subprocess.run(["docker", "-H", docker_host, "rmi", "-f", f"127.0.0.1:{port}/private/web:1"], capture_output=True, timeout=60)
        proc.terminate()
        proc.wait(timeout=30)


def test_the_bootstrap_logs_in_to_a_private_registry_before_pulling(tmp_path: Path, docker_host: str, registry: str, private_registry: tuple[str, str, str], vm_containers: list[str]) -> None:
    from portable.providers.vm.settings import RegistryLogin

    server, user, password = private_registry
    anonymous = subprocess.run(["docker", "-H", docker_host, "pull", f"{server}/private/web:1"], env=dict(os.environ, DOCKER_CONFIG=str(tmp_path / "anon")), capture_output=True, text=True, timeout=120)
    assert anonymous.returncode != 0  # the registry really refuses anonymous pulls
    app = load_shop(tmp_path, lab_env(registry, SHOP_WEB_IMAGE=f"{server}/private/web:1"))
    web = next(g for g in instance_groups(app, size_for=lambda n, s: "t3.micro", behind_load_balancer=True) if g.name == "web")
    login = RegistryLogin(server=server, username=user, password_from="env:REGISTRY_PASSWORD")
    assert password not in render_cloud_init(app, web, registry=login)  # what render shows
    vm_containers.append("vm-shop-web")
    bind = free_loopback(8080)
    root = tmp_path / "vm-web"
    done = run_vm(render_cloud_init(app, web, registry=login, registry_password=password.encode()), root, docker_host, bind)
    assert done.returncode == 0, done.stdout + done.stderr
    assert password not in done.stdout + done.stderr
    assert get(f"http://{bind}:8080/cgi-bin/health").strip() == "ok"
    assert server in (root / "docker-config" / "config.json").read_text()
    assert ((root / "docker-config").stat().st_mode & 0o777) == 0o700
