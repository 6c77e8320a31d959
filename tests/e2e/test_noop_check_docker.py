"""The no-change check (portable/plan/noop.py) on the lab's Docker engine, through the CLI.

An unchanged `plan` and `deploy` are answered without importing the manifest model (pydantic),
the docker SDK or requests, with the lines the full path prints; and every change the full
path sees still shows: a container stopped or removed by hand (drift), an edited manifest,
a variable the manifest interpolates, a `.env` beside it.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import Cli, ensure_images, force_remove_app
from noop_support import in_process_argv, steady_environ

pytestmark = [pytest.mark.lab("docker"), pytest.mark.timeout(600)]

APP = "noopcheck-docker"
MANIFEST = f"""\
apiVersion: portable/v1
kind: Application
metadata: {{name: {APP}}}
services:
  web:
    image: lab/web:1
    env: {{GREETING: "${{GREETING:-one}}"}}
    ports: [{{port: 8080}}]
    stop_grace_period: 1s
  side:
    image: lab/web:1
    env: {{SIDE: "a"}}
    stop_grace_period: 1s
"""
HEAVY = ("pydantic", "docker", "requests", "yaml", "portable.api")



@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[Cli, Path]]:
    ensure_images()
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST)
    cli = Cli(tmp_path / "state.db", env={"XDG_CACHE_HOME": str(tmp_path / "cache"), "GREETING": "one"})
    force_remove_app(APP)
    first = in_process(cli, "deploy", "-f", str(manifest), "--yes", "--quiet")
    assert first.returncode == 0, first.stdout + first.stderr
    yield cli, manifest
    cli.run("destroy", "-f", str(manifest), "--yes", "--quiet", "--volumes")
    force_remove_app(APP)


def in_process(cli: Cli, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`portable ARGS` run by this interpreter, every run of a test alike (the witness covers the
    whole environment: a version manager's shim adds to PATH, pytest names the phase), printing
    what it imported."""
    return subprocess.run(in_process_argv(HEAVY, *args, "--state", str(cli.state)), capture_output=True, text=True,
                          env={**steady_environ(), **cli.env, **(extra_env or {})}, timeout=300)


def test_unchanged_answered_light_and_changes_still_show(deployed: tuple[Cli, Path]) -> None:
    cli, manifest = deployed
    plan = in_process(cli, "plan", "-f", str(manifest), "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.splitlines() == [f"{APP} on local:", "No changes. The target matches the manifest.", "imported: "]
    again = in_process(cli, "deploy", "-f", str(manifest), "--yes", "--quiet")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines() == [f"{APP} on local: no changes; nothing was touched.", "imported: "]
    asked = in_process(cli, "deploy", "-f", str(manifest))  # no --yes: the plan, then nothing to ask
    assert asked.stdout.splitlines() == ["No changes. The target matches the manifest.", "imported: "]
    off = in_process(cli, "plan", "-f", str(manifest), extra_env={"PORTABLE_NOOP_CHECK": "0"})  # the full path says the same
    assert off.returncode == 0 and off.stdout.splitlines()[:2] == plan.stdout.splitlines()[:2] and "pydantic" in off.stdout, off.stdout + off.stderr

    subprocess.run(["docker", "stop", "-t", "0", f"{APP}-side-1"], capture_output=True, check=True)
    stopped = in_process(cli, "plan", "-f", str(manifest), "--detailed-exitcode")
    assert stopped.returncode == 2, stopped.stdout + stopped.stderr
    assert "side state running -> exited (docker stop?)" in stopped.stdout and "pydantic" in stopped.stdout  # the full path answered
    repaired = in_process(cli, "deploy", "-f", str(manifest), "--yes", "--quiet")
    assert repaired.returncode == 0 and "revision 2 deployed" in repaired.stdout, repaired.stdout + repaired.stderr
    assert in_process(cli, "plan", "-f", str(manifest)).stdout.endswith("imported: \n")  # witnessed again by the repair

    variable = in_process(cli, "plan", "-f", str(manifest), "--detailed-exitcode", extra_env={"GREETING": "two"})
    assert variable.returncode == 2 and "env.GREETING: 'one' -> 'two'" in variable.stdout, variable.stdout + variable.stderr
    (manifest.parent / ".env").write_text("SIDE_UNUSED=1\n")  # a new .env the manifest does not use: no change, said by the full path
    unused = in_process(cli, "plan", "-f", str(manifest), "--detailed-exitcode")
    assert unused.returncode == 0 and "pydantic" in unused.stdout, unused.stdout + unused.stderr
    manifest.write_text(MANIFEST.replace('SIDE: "a"', 'SIDE: "b"'))
    edited = in_process(cli, "plan", "-f", str(manifest), "--detailed-exitcode")
    assert edited.returncode == 2 and "env.SIDE: 'a' -> 'b'" in edited.stdout, edited.stdout + edited.stderr
    manifest.write_text(MANIFEST)
    assert in_process(cli, "plan", "-f", str(manifest)).stdout.endswith("imported: \n")  # back as witnessed
    subprocess.run(["docker", "rm", "-f", f"{APP}-web-1"], capture_output=True, check=True)
    removed = in_process(cli, "plan", "-f", str(manifest), "--detailed-exitcode")
    assert removed.returncode == 2 and "web container/web-1 removed (docker rm?)" in removed.stdout, removed.stdout + removed.stderr
