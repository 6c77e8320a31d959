"""libcloud DNS end to end (issue 14, item 4): a libcloud target declares its account's DNS
service (`dns:` PowerDNS, the lab's real pdns_server, driven through libcloud's PowerDNS driver),
and `portable migrate --dns-record ... --dns-provider <that target>` moves the app off the cloud
(libcloud's EC2 driver on moto) onto Docker and switches the record: the answer PowerDNS serves
on its DNS port (read with dig) is then the destination's public address.

libcloud's Route 53 driver speaks API 2012-02-29, which moto (2013-04-01) does not serve: that
is why the DNS server here is a real one of the lab (`dns` component), not moto.
"""
from __future__ import annotations

import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers" / "libcloud"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "providers" / "vm"))

from ns_proxy import NamespaceProxy  # noqa: E402
from ssh_source import MOTO_UBUNTU_AMI, REGISTRY, SshApp, docker_objects, new_app  # noqa: E402

from docker_support import ensure_images, free_port  # noqa: E402

pytestmark = [pytest.mark.lab("moto", "docker", "registry", "images", "dns"), pytest.mark.timeout(600)]

REGIONS = ("sa-east-1", "ap-southeast-2")  # regions libcloud knows (this test boots no instance host, so addresses cannot collide)
KEY_ENV = "LCDNS_PDNS_API_KEY"  # the variable the target's dns.key_env names


def dig(env: dict[str, str], name: str, rtype: str = "A") -> list[str]:
    """What the lab's PowerDNS answers for `name` on its DNS port (loopback), as dig prints it."""
    out = subprocess.run(["dig", "+short", "+time=3", "+tries=2", "-p", env["LAB_DNS_PORT"], f"@{env['LAB_DNS_HOST']}", name, rtype],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return sorted(out.stdout.split())


@pytest.fixture
def pdns(lab: Any) -> Any:
    """libcloud's PowerDNS driver on the lab's server (the test's own view, to make and read zones)."""
    from libcloud.dns.drivers.powerdns import PowerDNSDriver

    env = lab.require("dns")
    return PowerDNSDriver(env["LAB_DNS_API_KEY"], host=env["LAB_DNS_HOST"], port=int(env["LAB_DNS_API_PORT"]), secure=False, api_version="v1")


@pytest.fixture
def zone(pdns: Any) -> Iterator[Any]:
    domain = f"lcdns-{uuid.uuid4().hex[:8]}.example.test"
    pdns.create_zone(domain + ".", extra={"nameservers": [f"ns1.{domain}."]})  # PowerDNS 4 wants the canonical name
    made = pdns.get_zone(domain + ".")  # (create_zone's answer carries the id with a second dot)
    yield made
    pdns.delete_zone(made)


@pytest.fixture
def moving(tmp_path: Path, moto_url: str, docker_host: str, lab: Any) -> Iterator[tuple[SshApp, int]]:
    """A stateless web app on the cloud (libcloud EC2 on moto), whose target declares PowerDNS."""
    env = lab.require("dns")
    with NamespaceProxy(moto_url) as proxy:
        yield from _moving_app(tmp_path, moto_url, docker_host, env, proxy)


def _moving_app(tmp_path: Path, moto_url: str, docker_host: str, env: dict[str, str], proxy: NamespaceProxy) -> Iterator[tuple[SshApp, int]]:
    app = new_app(tmp_path, moto_url, docker_host, random.choice(REGIONS), "lcdns")
    app.target = "cloud"
    app.env[KEY_ENV] = env["LAB_DNS_API_KEY"]
    app.env["PORTABLE_PROXY_IMAGE"] = ensure_images().proxy  # Docker's front proxy, from the lab (no internet registry)
    port = free_port()
    cloud = {
        "provider": "libcloud", "driver": "ec2", "region": app.region, "image": MOTO_UBUNTU_AMI, "readiness": "state",
        "driver_options": {"host": "127.0.0.1", "port": proxy.port, "secure": False, "signature_version": "4"},
        "dns": {"driver": "powerdns", "options": {"host": env["LAB_DNS_HOST"], "port": int(env["LAB_DNS_API_PORT"]), "secure": False}, "key_env": KEY_ENV},
    }
    manifest = {
        "apiVersion": "portable/v1", "kind": "Application", "metadata": {"name": app.app},
        "services": {"web": {
            "image": f"{REGISTRY}/lab/web:1", "ports": [{"port": 8080, "expose": "public"}],
            "health": {"http": {"path": "/cgi-bin/health", "port": 8080}, "interval": "1s"},
        }},
        "targets": {"cloud": cloud, "local": {"provider": "docker", "host": docker_host}},
        "overrides": {"local": {"services": {"web": {"ports": [{"port": 8080, "expose": "public", "published": str(port)}]}}}},
    }
    app.manifest.write_text(yaml.safe_dump(manifest, sort_keys=False))
    try:
        yield app, port
    finally:
        app.cli("destroy", "-t", "local", "--yes", "--volumes")
        app.cli("destroy", "-t", "cloud", "--yes", "--volumes")
        app.ec2.delete_key_pair(KeyName=app.key_name)


def _on_the_cloud(app: SshApp, pdns: Any, zone: Any, record: str) -> str:
    """Deploys to the cloud and points the record at its node, as before a migration; the node's address."""
    from libcloud.dns.types import RecordType

    done = app.cli("deploy", "-t", "cloud", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    (node,) = app.instances()
    address = node.get("PublicIpAddress") or node["PrivateIpAddress"]
    pdns.create_record(record + ".", zone, RecordType.A, address, {"ttl": 60})
    return str(address)


def test_migrate_switches_the_record_powerdns_serves_to_the_destination(moving: tuple[SshApp, int], pdns: Any, zone: Any, lab: Any) -> None:
    app, port = moving
    env = lab.require("dns")
    record = f"web.{zone.domain.rstrip('.')}"
    before = _on_the_cloud(app, pdns, zone, record)
    assert dig(env, record) == [before]

    moved = app.cli("migrate", "--from", "cloud", "--to", "local", "--yes",
                    "--dns-record", record, "--dns-zone", zone.domain.rstrip("."), "--dns-provider", "cloud")
    out = moved.stdout + moved.stderr
    assert moved.returncode == 0, out
    assert f"DNS {record} A -> 127.0.0.1 (ttl 60s)" in out
    assert dig(env, record) == ["127.0.0.1"]  # what a resolver now gets from the real server
    records = [(r.name, r.type, r.data) for r in pdns.get_zone(zone.id).list_records() if r.name == record + "."]
    assert records == [(record + ".", "A", "127.0.0.1")]  # replaced, not added beside the old one
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/cgi-bin/health", timeout=10) as r:  # the address it names serves the app
        assert r.read().strip() == b"ok"
    assert app.instances() == []  # the source is retired
    journal = next((app.dir / ".portable" / "migrations").glob("*.json")).read_text()
    state = (app.dir / "state.db").read_bytes().decode("latin-1")
    assert env["LAB_DNS_API_KEY"] not in out + journal + state  # the key reaches no output, journal or state


def test_a_refused_api_key_stops_the_migration_at_plan_time_naming_the_setting(moving: tuple[SshApp, int], pdns: Any, zone: Any, lab: Any, docker_host: str) -> None:
    app, _ = moving
    env = lab.require("dns")
    record = f"web.{zone.domain.rstrip('.')}"
    before = _on_the_cloud(app, pdns, zone, record)
    wrong = f"wrong-{uuid.uuid4().hex}"
    app.env[KEY_ENV] = wrong
    flags = ("--dns-record", record, "--dns-zone", zone.domain.rstrip("."), "--dns-provider", "cloud")

    moved = app.cli("migrate", "--from", "cloud", "--to", "local", "--yes", *flags)
    out = moved.stdout + moved.stderr
    assert moved.returncode == 2, out
    assert "Traceback" not in out
    lines = [line for line in moved.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f"error: the powerdns DNS service refused the API key in targets.cloud.dns.key_env ({KEY_ENV}): set it to a key the service accepts"], moved.stderr
    assert wrong not in out and env["LAB_DNS_API_KEY"] not in out
    # nothing changed: the app still runs on the cloud only, the record still names it
    assert [i["State"]["Name"] for i in app.instances()] == ["running"]
    assert docker_objects(docker_host, app.app) == []
    assert dig(env, record) == [before]

    dry = app.cli("migrate", "--from", "cloud", "--to", "local", "--dry-run", *flags)  # --dry-run checks it too
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert [line for line in dry.stderr.splitlines() if line.startswith("error:")] == lines
    assert wrong not in dry.stdout + dry.stderr

    app.env.pop(KEY_ENV)  # unset: said as such, before anything changes
    unset = app.cli("migrate", "--from", "cloud", "--to", "local", "--yes", *flags)
    assert unset.returncode == 2, unset.stdout + unset.stderr
    assert f"targets.cloud.dns.key_env: {KEY_ENV} is not set" in unset.stderr
    assert docker_objects(docker_host, app.app) == []
