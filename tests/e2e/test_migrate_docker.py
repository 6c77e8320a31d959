"""A stateful app moves between two real Docker engines with its data (issue 8).

Engine A is the lab's engine, engine B a second dockerd the lab starts. Data is written by a
client on A, the app is migrated with --quiesce, and the files' checksums on B must equal
A's. A failure injected before the cutover (B unhealthy) must leave A serving, data intact.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from portable.data.archive import file_sha256, verify_archive
from portable.data.archive_keys import ArchiveKeys
from portable.state import open_store

from docker_support import Cli, ensure_images, free_port, http_get, wait_for

pytestmark = [pytest.mark.lab("docker", "docker_b"), pytest.mark.timeout(900)]

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: NAME}
services:
  kv:
    image: ${WEB_IMAGE}
    env: {GREETING: moved}
    ports:
      - {port: 8080, expose: public, published: "${PORT_A}"}
    volumes:
      - {volume: data, path: /data}
    health:
      http: {path: /cgi-bin/health, port: 8080}
      interval: 1s
      timeout: 2s
      retries: 3
volumes:
  data: {size: 1Gi}
targets:
  a: {provider: docker, host: "${HOST_A}"}
  b: {provider: docker, host: "${HOST_B}"}
overrides:
  b:
    services:
      kv:
        ports:
          - {port: 8080, expose: public, published: "${PORT_B}"}
        health:
          http: {path: "${B_HEALTH_PATH:-/cgi-bin/health}", port: 8080}
          interval: 1s
          timeout: 2s
          retries: 3
"""


def docker_on(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, check=check, timeout=120)


def checksums(host: str, container: str) -> dict[str, str]:
    out = docker_on(host, "exec", container, "sh", "-c", "cd /data && find . -type f | sort | xargs sha256sum").stdout
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def cleanup(app: str, *hosts: str) -> None:
    for host in hosts:
        label = f"label=io.portable.app={app}"
        ids = docker_on(host, "ps", "-aq", "--filter", label, check=False).stdout.split()
        if ids:
            docker_on(host, "rm", "-f", *ids, check=False)
        for kind in ("network", "volume"):
            names = docker_on(host, kind, "ls", "-q", "--filter", label, check=False).stdout.split()
            if names:
                docker_on(host, kind, "rm", *names, check=False)


@pytest.fixture()
def setup(tmp_path: Path, request: pytest.FixtureRequest, docker_host: str, docker_b_host: str) -> Iterator[dict[str, str]]:
    images = ensure_images()
    host_a, host_b = docker_host, docker_b_host
    app = request.node.name.replace("_", "-")[5:40].strip("-")
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST.replace("NAME", app))
    ctx = {
        "app": app, "manifest": str(manifest), "host_a": host_a, "host_b": host_b,
        "port_a": str(free_port()), "port_b": str(free_port()),
    }
    cleanup(app, host_a, host_b)
    cli = Cli(tmp_path / "state.db", {
        "WEB_IMAGE": images.web, "PORTABLE_PROXY_IMAGE": images.proxy, "HOST_A": host_a, "HOST_B": host_b,
        "PORT_A": ctx["port_a"], "PORT_B": ctx["port_b"],
    })
    ctx["cli"] = cli  # type: ignore[assignment]
    yield ctx
    cleanup(app, host_a, host_b)


def _deploy_with_data(ctx: dict, count_hits: int = 5) -> dict[str, str]:
    cli: Cli = ctx["cli"]  # type: ignore[assignment]
    result = cli.run("deploy", "-f", ctx["manifest"], "-t", "a", "--yes")
    assert result.returncode == 0, result.stderr + result.stdout
    url_a = f"http://127.0.0.1:{ctx['port_a']}/cgi-bin/count"
    wait_for(url_a)
    for _ in range(count_hits - 1):
        http_get(url_a)
    container = f"{ctx['app']}-kv-1"
    docker_on(ctx["host_a"], "exec", container, "sh", "-c", "mkdir -p /data/files && head -c 3000000 /dev/urandom > /data/files/blob && echo note > /data/files/note.txt")
    sums = checksums(ctx["host_a"], container)
    assert set(sums) == {"./count", "./files/blob", "./files/note.txt"}
    return sums


def test_stateful_app_moves_to_engine_b_with_its_data(setup: dict) -> None:
    ctx = setup
    cli: Cli = ctx["cli"]
    before = _deploy_with_data(ctx)
    result = cli.run("migrate", "-f", ctx["manifest"], "--state", str(cli.state), "--from", "a", "--to", "b", "--yes", "--quiesce")
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"{ctx['app']} now runs on b." in result.stdout
    assert "no DNS configured: point your users" in result.stdout + result.stderr
    assert "writes were unavailable for" in result.stdout
    # the data on B is byte for byte what A had
    assert checksums(ctx["host_b"], f"{ctx['app']}-kv-1") == before
    # the app answers on B and carries on from A's data
    assert wait_for(f"http://127.0.0.1:{ctx['port_b']}/cgi-bin/count").strip() == "count=6 greeting=moved"
    # A is retired: none of the app's containers remain there; its data volume is kept
    label = f"label=io.portable.app={ctx['app']}"
    assert docker_on(ctx["host_a"], "ps", "-aq", "--filter", label).stdout.split() == []
    assert docker_on(ctx["host_a"], "volume", "ls", "-q", "--filter", label).stdout.split() == [f"{ctx['app']}_data"]
    # the state tells where the app lives now, on both targets
    status = cli.run("status", "-f", ctx["manifest"], "-t", "b")
    assert "lives on: b" in status.stdout and "migrated from a" in status.stdout
    history_a = cli.run("history", "-f", ctx["manifest"], "-t", "a", "-o", "json")
    assert json.loads(history_a.stdout)[-1]["message"] == "migrated to b"
    # the archive in the blob store verifies against its checksum
    # the archives (bulk pass while A served, then the delta inside the window) verify
    archives = {p.name: p for p in Path(ctx["manifest"]).parent.glob(".portable/archives/*/*/data.*.tar.gz")}
    assert set(archives) == {"data.base.tar.gz", "data.final.tar.gz"}
    # sealed at rest with the app's key from the state store (docs/security.md); opened, each verifies
    keys = ArchiveKeys(None, ctx["app"], lambda: open_store(str(cli.state)).app_key(ctx["app"]))
    indexes = {}
    for name, path in archives.items():
        assert path.read_bytes().startswith(b"PORTABLE-SEALED")
        assert Path(str(path) + ".sha256").read_text().split()[0] == file_sha256(path)
        with keys.plaintext(path, path.parent / "opened", expect_sealed=True) as plain:
            indexes[name] = verify_archive(plain)
    carried = lambda index: {e["path"] for e in index["files"] if e.get("carried", True) and "sha256" in e}  # noqa: E731
    assert carried(indexes["data.base.tar.gz"]) == {"count", "files/blob", "files/note.txt"}
    assert carried(indexes["data.final.tar.gz"]) <= {"count"}  # nothing but what changed meanwhile


def test_unhealthy_destination_leaves_source_serving(setup: dict) -> None:
    ctx = setup
    cli: Cli = ctx["cli"]
    before = _deploy_with_data(ctx)
    result = cli.run("migrate", "-f", ctx["manifest"], "--state", str(cli.state), "--from", "a", "--to", "b", "--yes", "--quiesce",
                     "--timeout", "60", extra_env={"B_HEALTH_PATH": "/cgi-bin/missing"})
    assert result.returncode == 1, result.stderr + result.stdout
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    # A serves again (its writers were resumed) with its data intact
    assert wait_for(f"http://127.0.0.1:{ctx['port_a']}/cgi-bin/count", timeout=60).strip() == "count=6 greeting=moved"
    after = checksums(ctx["host_a"], f"{ctx['app']}-kv-1")
    assert after["./files/blob"] == before["./files/blob"] and after["./files/note.txt"] == before["./files/note.txt"]
    # nothing of the app is left on B
    label = f"label=io.portable.app={ctx['app']}"
    for kind in (("ps", "-aq"), ("volume", "ls", "-q"), ("network", "ls", "-q")):
        assert docker_on(ctx["host_b"], *kind, "--filter", label).stdout.split() == [], kind


def test_migrate_seals_with_the_given_encryption_key(setup: dict) -> None:
    """--encryption-key env:VAR: an unset variable stops the run while planning (exit 2, A
    untouched, nothing on B); set, the archives are sealed with that key, which opens them."""
    import base64
    import os

    from portable.data.sealed import header_of

    ctx = setup
    cli: Cli = ctx["cli"]
    before = _deploy_with_data(ctx)
    refused = cli.run("migrate", "-f", ctx["manifest"], "--state", str(cli.state), "--from", "a", "--to", "b", "--yes", "--quiesce",
                      "--encryption-key", "env:MIGRATE_KEY_UNSET")
    assert refused.returncode == 2, refused.stderr + refused.stdout
    assert "--encryption-key env:MIGRATE_KEY_UNSET names a variable that is not set" in refused.stderr
    label = f"label=io.portable.app={ctx['app']}"
    assert docker_on(ctx["host_b"], "ps", "-aq", "--filter", label).stdout.split() == []
    assert wait_for(f"http://127.0.0.1:{ctx['port_a']}/cgi-bin/count").startswith("count=")  # A never stopped serving
    key = base64.b64encode(os.urandom(32)).decode()
    moved = cli.run("migrate", "-f", ctx["manifest"], "--state", str(cli.state), "--from", "a", "--to", "b", "--yes", "--quiesce",
                    "--encryption-key", "env:MIGRATE_KEY", extra_env={"MIGRATE_KEY": key})
    assert moved.returncode == 0, moved.stderr + moved.stdout
    assert key not in moved.stdout + moved.stderr
    after = checksums(ctx["host_b"], f"{ctx['app']}-kv-1")
    assert after["./files/blob"] == before["./files/blob"] and after["./files/note.txt"] == before["./files/note.txt"]
    archives = list(Path(ctx["manifest"]).parent.glob(".portable/archives/*/*/data.*.tar.gz"))
    assert archives
    for path in archives:
        assert header_of(path)["key"] == {"kind": "env", "name": "MIGRATE_KEY"}  # the variable's name, never its value
        with ArchiveKeys("env:MIGRATE_KEY", ctx["app"], lambda: b"", {"MIGRATE_KEY": key}).plaintext(path, path.parent / "opened", expect_sealed=True) as plain:
            verify_archive(plain)


def test_a_migration_reads_the_manifest_once(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """One session per command: the plan, the deploy on B and the retirement of A all work
    on the manifest parsed at the start (it used to be read four or more times)."""
    import os

    import portable
    import portable.manifest.loader as loader

    ctx = setup
    cli: Cli = ctx["cli"]
    _deploy_with_data(ctx)
    parses: list[str] = []
    real = loader.parse_text
    monkeypatch.setattr(loader, "parse_text", lambda text, file, env=None: parses.append(str(file)) or real(text, file, env))
    for key, value in cli.env.items():  # as the CLI would see them (target settings read the environment too)
        monkeypatch.setenv(key, value)
    result = portable.migrate(ctx["manifest"], "a", "b", state=str(cli.state), env=dict(os.environ), quiesce=True)
    assert result.retired and result.revision == 1
    assert parses == [ctx["manifest"]]


def test_cutover_switches_the_dns_record_to_the_public_service_on_b(setup: dict, moto_url: str) -> None:
    """--dns-record in a real migration: Route 53 (moto) ends up pointing at B's public endpoint."""
    import uuid

    import boto3

    ctx = setup
    cli: Cli = ctx["cli"]
    _deploy_with_data(ctx, count_hits=1)
    aws = {"AWS_ENDPOINT_URL": moto_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    r53 = boto3.client("route53", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    domain = f"{uuid.uuid4().hex[:8]}.example.test"
    zone = r53.create_hosted_zone(Name=domain + ".", CallerReference=domain)["HostedZone"]["Id"]
    result = cli.run("migrate", "-f", ctx["manifest"], "--state", str(cli.state), "--from", "a", "--to", "b", "--yes",
                     "--dns-record", f"kv.{domain}", "--dns-zone", zone, extra_env=aws)
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"DNS kv.{domain} A -> 127.0.0.1 (ttl 60s)" in result.stdout + result.stderr
    records = {(r["Name"], r["Type"]): r for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]}
    assert [v["Value"] for v in records[(f"kv.{domain}.", "A")]["ResourceRecords"]] == ["127.0.0.1"]
