"""`portable exec` and `portable scale` on the lab's Docker engine, through the CLI as users type them.

exec: the command's output and exit code are portable's, stdin reaches it with -i, a replica
that does not run is exit 2 naming those that do, and `-o json` matches its schema.
scale: a revision of kind `scale` that really changes how many containers run, shown by
`plan` as an override, kept by a deploy that leaves the service alone and ended by one that
changes it; every JSON output validates against docs/schemas.
"""
from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import Cli, ensure_images, force_remove_app
from json_schemas import validate

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]

APP = "verbs-docker"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  web:
    image: lab/web:1
    env: {{GREETING: "${{GREETING:-one}}"}}
    ports: [{{port: 8080, protocol: http}}]
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s, timeout: 2s, retries: 10}}
  side:
    image: lab/web:1
    env: {{SIDE: "${{SIDE:-a}}"}}
    volumes: [{{volume: data, path: /data}}]
volumes:
  data: {{}}
"""


def _containers(service: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "--filter", f"label=io.portable.app={APP}", "--filter", f"label=io.portable.service={service}",
                          "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str]]:
    ensure_images()
    folder = Path(tmp_path_factory.mktemp("verbs"))
    manifest = folder / "portable.yaml"
    manifest.write_text(MANIFEST)
    cli = Cli(folder / "state.db")
    force_remove_app(APP)
    deployed = cli.run("deploy", "-f", str(manifest), "--yes", "--quiet", "-o", "json")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    doc = validate("revision", json.loads(deployed.stdout))
    assert (doc["kind"], doc["revision"], doc["plan"]["summary"]["create"]) == ("deploy", 1, 4)  # network, volume, 2 containers
    yield cli, str(manifest)
    cli.run("destroy", "-f", str(manifest), "--yes", "--quiet", "--volumes")
    force_remove_app(APP)


def test_exec_output_and_exit_code_are_the_commands(app: tuple[Cli, str]) -> None:
    cli, manifest = app
    out = cli.run("exec", "web", "-f", manifest, "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 7")
    assert out.returncode == 7, out.stderr
    assert out.stdout == "to-out\n" and out.stderr == "to-err\n"
    env = cli.run("exec", "web", "-f", manifest, "--", "sh", "-c", "echo $GREETING")
    assert env.returncode == 0 and env.stdout.strip() == "one"  # inside the service's own container
    piped = subprocess.run(["portable", "exec", "web", "-f", manifest, "-i", "--", "sh", "-c", "wc -c"], input="twelve bytes", capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and piped.stdout.strip() == "12", piped.stderr  # stdin copied and closed
    as_json = cli.run("exec", "web", "-f", manifest, "-o", "json", "--", "sh", "-c", "echo hi; exit 3")
    assert as_json.returncode == 3
    doc = validate("exec", json.loads(as_json.stdout))
    assert (doc["exit"], doc["stdout"], doc["command"]) == (3, "hi\n", ["sh", "-c", "echo hi; exit 3"])
    missing = cli.run("exec", "web", "-f", manifest, "--replica", "2", "--", "true")
    assert missing.returncode == 2 and f"running: {APP}-web-1" in missing.stderr


def test_scale_is_a_revision_that_overrides_the_manifest_until_the_service_changes(app: tuple[Cli, str]) -> None:
    cli, manifest = app
    scaled = cli.run("scale", "web=3", "-f", manifest, "--state", str(cli.state), "-o", "json")
    assert scaled.returncode == 0, scaled.stderr
    doc = validate("revision", json.loads(scaled.stdout))
    assert doc["kind"] == "scale" and doc["changed"] and doc["plan"]["summary"]["create"] == 2
    assert _containers("web") == [f"{APP}-web-1", f"{APP}-web-2", f"{APP}-web-3"]
    assert cli.run("exec", "web", "-f", manifest, "--replica", "3", "--", "true").returncode == 0

    plan = cli.run("plan", "-f", manifest, "-o", "json")
    assert plan.returncode == 0, plan.stderr
    planned = validate("plan", json.loads(plan.stdout))
    assert "web replicas 3 (scaled by `portable scale`, manifest says 1)" in planned["warnings"] and not planned["actions"]
    history = validate("history", json.loads(cli.run("history", "-f", manifest, "-o", "json").stdout))
    assert history[-1]["kind"] == "scale" and history[-1]["message"].startswith("scale web=3 (manifest says 1")

    # a deploy that changes only another service keeps the override
    other = cli.run("deploy", "-f", manifest, "--yes", "--quiet", extra_env={"SIDE": "b"})
    assert other.returncode == 0, other.stderr
    assert len(_containers("web")) == 3
    again = cli.run("scale", "web=3", "-f", manifest, "--state", str(cli.state), "-o", "json", extra_env={"SIDE": "b"})
    assert validate("revision", json.loads(again.stdout))["revision"] is None  # already so: nothing recorded

    # a deploy that changes the service ends it: the manifest's 1 replica again
    changed = cli.run("deploy", "-f", manifest, "--yes", "--quiet", extra_env={"SIDE": "b", "GREETING": "two"})
    assert changed.returncode == 0, changed.stderr
    assert _containers("web") == [f"{APP}-web-1"]
    status = validate("status", json.loads(cli.run("status", "-f", manifest, "-o", "json", extra_env={"SIDE": "b", "GREETING": "two"}).stdout))
    assert {s["service"]: s["running"] for s in status["services"]}["web"] == 1


def _ids(service: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "--filter", f"label=io.portable.app={APP}", "--filter", f"label=io.portable.service={service}",
                          "--format", "{{.ID}}"], capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def test_restart_replaces_the_replicas_of_one_service_as_a_revision(app: tuple[Cli, str]) -> None:
    cli, manifest = app
    env = {"SIDE": "b", "GREETING": "two"}  # as the previous test left the manifest
    web, side = _ids("web"), _ids("side")
    done = cli.run("restart", "web", "-f", manifest, "--state", str(cli.state), "-o", "json", extra_env=env)
    assert done.returncode == 0, done.stderr
    doc = validate("revision", json.loads(done.stdout))
    assert doc["kind"] == "restart" and doc["plan"]["summary"]["update"] == 1
    after = _ids("web")
    assert len(after) == 1 and after != web and _ids("side") == side  # web replaced, side untouched
    healthy = cli.run("status", "-f", manifest, "-o", "json", extra_env=env)
    assert {s["service"]: s["healthy"] for s in json.loads(healthy.stdout)["services"]}["web"] == 1
    assert json.loads(cli.run("history", "-f", manifest, "-o", "json", extra_env=env).stdout)[-1]["kind"] == "restart"
    quiet = cli.run("deploy", "-f", manifest, "--yes", "--quiet", extra_env=env)
    assert "no changes" in quiet.stdout and _ids("web") == after  # the next deploy does not restart again
    unknown = cli.run("restart", "nope", "-f", manifest, "--state", str(cli.state), extra_env=env)
    assert unknown.returncode == 2 and "no service named nope" in unknown.stderr


def test_rollback_backup_restore_and_destroy_speak_json(app: tuple[Cli, str], tmp_path: Path) -> None:
    cli, manifest = app
    env = {"SIDE": "b", "GREETING": "two"}  # as the previous test left the manifest
    wrote = cli.run("exec", "side", "-f", manifest, "--", "sh", "-c", "echo kept > /data/f", extra_env=env)
    assert wrote.returncode == 0, wrote.stderr
    store = str(tmp_path / "blobs")
    backup = cli.run("backup", "-f", manifest, "--blob-store", store, "-o", "json", extra_env=env)
    assert backup.returncode == 0, backup.stderr
    made = validate("backup", json.loads(backup.stdout))
    assert [a["volume"] for a in made["archives"]] == ["data"] and "url" not in backup.stdout
    assert cli.run("exec", "side", "-f", manifest, "--", "sh", "-c", "echo lost > /data/f", extra_env=env).returncode == 0
    restore = cli.run("restore", "-f", manifest, "--from", made["backup"], "--blob-store", store, "--yes", "-o", "json", extra_env=env)
    assert restore.returncode == 0, restore.stderr
    assert validate("restore", json.loads(restore.stdout))["restored"] == ["data"]
    read = cli.run("exec", "side", "-f", manifest, "--", "cat", "/data/f", extra_env=env)
    assert read.stdout == "kept\n", read.stdout + read.stderr

    back = cli.run("rollback", "-f", manifest, "--quiet", "-o", "json", extra_env=env)
    assert back.returncode == 0, back.stderr
    rolled = validate("revision", json.loads(back.stdout))
    assert rolled["kind"] == "rollback" and rolled["revision"] is not None and rolled["changed"]

    gone = cli.run("destroy", "-f", manifest, "--yes", "--quiet", "--volumes", "-o", "json", extra_env=env)
    assert gone.returncode == 0, gone.stderr
    destroyed = validate("revision", json.loads(gone.stdout))
    assert destroyed["kind"] == "destroy" and destroyed["plan"]["summary"]["delete"] >= 3 and destroyed["revision"] is not None
    assert _containers("web") == [] and _containers("side") == []
