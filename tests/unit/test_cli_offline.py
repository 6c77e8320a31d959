"""CLI behaviour that needs no target: init, render without an engine, state commands, help."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from portable.cli.main import cli
from portable.state import SqliteStateStore

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=cwd, timeout=120)


def test_init_writes_a_valid_manifest_and_refuses_to_overwrite(tmp_path: Path) -> None:
    app_dir = tmp_path / "My Shop"
    app_dir.mkdir()
    first = run("init", cwd=app_dir)
    assert first.returncode == 0, first.stderr
    data = yaml.safe_load((app_dir / "portable.yaml").read_text())
    assert data["metadata"]["name"] == "my-shop"
    assert run("validate", cwd=app_dir).returncode == 0
    again = run("init", cwd=app_dir)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_render_local_works_without_any_docker_engine(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("--env-file", str(REPO / "examples" / "lab.env"), "render", "-f", str(REPO / "examples" / "shop" / "portable.yaml"), "--target", "local", "-o", str(out),
                 env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert result.returncode == 0, result.stderr
    files = [Path(p) for p in result.stdout.split()]
    assert files and all(f.is_file() for f in files)
    text = "".join(f.read_text() for f in files)
    assert "lab/kv:1" in text
    assert "lab-token-not-a-secret" not in text  # the secret's value never reaches rendered files


def test_state_list_show_and_unlock(tmp_path: Path) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: shop}\nservices:\n  web: {image: x}\n")
    state = tmp_path / ".portable" / "state.db"
    store = SqliteStateStore(state)
    from portable.plan.resources import Resource

    store.finish(store.begin("shop", "local", "deploy", "d", [Resource("container", "web-1", {"image": "x"})]), "deployed")
    runner = CliRunner()
    listed = runner.invoke(cli, ["state", "list", "-f", str(manifest), "-o", "json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["deployments"][0]["revision"] == 1
    shown = runner.invoke(cli, ["state", "show", "-f", str(manifest)])
    assert json.loads(shown.output)["resources"][0]["name"] == "web-1"
    with store.lock("shop", "local", "deploy") as lock:
        unlocked = runner.invoke(cli, ["state", "unlock", lock.lock_id, "-f", str(manifest)])
        assert unlocked.exit_code == 0 and f"released lock {lock.lock_id}" in unlocked.output
        assert store.locks() == []
    missing = runner.invoke(cli, ["state", "unlock", "nope", "-f", str(manifest)])
    assert missing.exit_code == 2 and "no lock with id nope" in missing.output


def test_deploy_without_yes_off_a_terminal_refuses(tmp_path: Path) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: shop}\nservices:\n  web: {image: x}\n")
    result = run("destroy", "-f", str(manifest), "--state", str(tmp_path / "s.db"))
    assert result.returncode == 2 and "pass --yes" in result.stderr


def test_unknown_target_is_exit_2_with_suggestion(tmp_path: Path) -> None:
    manifest = tmp_path / "portable.yaml"
    manifest.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: shop}\nservices:\n  web: {image: x}\ntargets:\n  prod: {provider: docker}\n")
    result = run("plan", "-f", str(manifest), "--target", "prdo")
    assert result.returncode == 2
    assert "no target named `prdo`" in result.stderr and "did you mean `prod`" in result.stderr
