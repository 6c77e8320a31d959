"""`-o json` of the commands that need no target (init, validate, config, check, explain, render,
import, targets --no-check, state list/lock/unlock/show), run as a user runs them, each output
validated against its schema in docs/schemas; and their errors: exit 2, one JSON object on
stderr carrying the manifest's file, line and field path, nothing on stdout.

The targets declared point where nothing listens: a command that contacted one would fail.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from json_schemas import validate

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: json-offline}
services:
  web:
    image: lab/web:1
    ports: [{port: 8080, protocol: http, expose: public, published: 18080}]
  worker:
    image: lab/web:1
    replicas: 2
targets:
  k8s: {provider: kubernetes, kubeconfig: /nonexistent/kubeconfig}
"""
COMPOSE = """\
services:
  web:
    image: nginx:1.27
    init: true
    ports: ["8080:80"]
"""


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def _json(cwd: Path, schema: str, *args: str) -> dict:  # type: ignore[type-arg]
    out = _run(cwd, *args)
    assert out.returncode == 0, out.stdout + out.stderr
    return validate(schema, json.loads(out.stdout))  # type: ignore[no-any-return]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    return tmp_path


def test_init_writes_the_starter_and_says_so_in_json(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    doc = _json(shop, "init", "init", "-o", "json")
    assert doc["file"] == "portable.yaml" and doc["app"] == "shop"
    assert _json(shop, "validate", "validate", "-o", "json")["app"] == "shop"  # what it wrote loads
    again = _run(shop, "init", "-o", "json")
    assert again.returncode == 2 and again.stdout == ""
    assert "already exists" in validate("error", json.loads(again.stderr))["error"]


def test_validate_config_check_explain_and_render_print_their_documented_json(app: Path) -> None:
    valid = _json(app, "validate", "validate", "-o", "json")
    assert (valid["valid"], valid["services"], valid["targets"]) == (True, ["web", "worker"], ["local", "k8s"])
    config = _json(app, "config", "config", "-t", "k8s", "-o", "json")
    assert list(config["targets"]) == ["k8s"] and config["services"]["worker"]["replicas"] == 2
    check = _json(app, "check", "check", "-o", "json", "--fail-on", "error")
    assert check["target"] == "local" and {f["service"] for f in check["findings"]} >= {"web"}
    explain = _json(app, "explain", "explain", "-t", "k8s", "-o", "json")
    assert {"metadata.name", "services.web.image"} <= {f["path"] for f in explain["fields"]}
    assert _json(app, "explain", "render", "--explain", "-t", "k8s", "--format", "json") == explain
    rendered = _json(app, "render", "render", "-t", "k8s", "-o", str(app / "out"), "--format", "json")
    assert rendered["files"] and all(Path(f).is_file() and Path(f).is_relative_to(app / "out") for f in rendered["files"])


def test_import_as_json_carries_the_manifest_and_located_warnings(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    doc = _json(tmp_path, "import", "import", "compose.yaml", "--format", "json")
    assert doc["file"] is None and doc["manifest"]["services"]["web"]["image"] == "nginx:1.27"
    init = [w for w in doc["warnings"] if w["path"] == "services.web.init"]
    assert init and (init[0]["file"], init[0]["line"], init[0]["fate"]) == ("compose.yaml", 4, "not carried"), doc["warnings"]
    wrote = _json(tmp_path, "import", "import", "compose.yaml", "-o", "portable.yaml", "--format", "json")
    assert wrote["file"] == "portable.yaml" and (tmp_path / "portable.yaml").is_file()
    strict = _run(tmp_path, "import", "compose.yaml", "--strict", "-o", "strict.yaml", "--format", "json")
    assert strict.returncode == 2 and strict.stdout == "" and not (tmp_path / "strict.yaml").exists()
    error = validate("error", json.loads(strict.stderr))
    assert (error["file"], error["line"], error["column"], error["path"], error["exit"]) == ("compose.yaml", 4, 5, "services.web.init", 2), error
    assert "--strict: nothing written" in error["error"]


def test_targets_and_the_state_commands_speak_json(app: Path) -> None:
    listed = _json(app, "targets", "targets", "--no-check", "-o", "json")
    assert [(t["name"], t["provider"], t["reachable"]) for t in listed] == [("local", "docker", None), ("k8s", "kubernetes", None)]
    locked = _json(app, "state-lock", "state", "lock", "-t", "k8s", "--reason", "json test", "-o", "json")
    assert (locked["action"], locked["app"], locked["target"], locked["operation"], locked["persistent"]) == ("locked", "json-offline", "k8s", "json test", True)
    store = _json(app, "state-list", "state", "list", "-o", "json")
    assert [lock["lock_id"] for lock in store["locks"]] == [locked["lock_id"]] and store["deployments"] == []
    held = _run(app, "state", "lock", "-t", "k8s", "--lock-timeout", "0", "-o", "json")
    assert held.returncode == 1 and held.stdout == "", held.stderr
    refused = validate("error", json.loads(held.stderr))
    assert refused["kind"] == "StateLockedError" and locked["lock_id"] in refused["error"] and f"portable state unlock {locked['lock_id']}" in refused["hint"]
    unknown = _run(app, "state", "unlock", "000000", "-o", "json")
    assert unknown.returncode == 2 and validate("error", json.loads(unknown.stderr))["error"] == "no lock with id 000000"
    released = _json(app, "state-lock", "state", "unlock", locked["lock_id"], "-o", "json")
    assert (released["action"], released["lock_id"]) == ("released", locked["lock_id"])
    assert _json(app, "state-list", "state", "list", "-o", "json")["locks"] == []
    never = _run(app, "state", "show", "-t", "k8s", "-o", "json")
    assert never.returncode == 1 and never.stdout == ""
    assert validate("error", json.loads(never.stderr))["error"] == "json-offline has no revision on target k8s"


BAD = MANIFEST.replace("    replicas: 2\n", "    replicas: lots\n")  # services.worker.replicas, line 10, column 15


@pytest.mark.parametrize("args", [("validate",), ("config", "-t", "k8s"), ("check",), ("explain",), ("render", "--format", "json"), ("targets", "--no-check")],
                         ids=lambda a: a[0])
def test_a_bad_manifest_is_exit_2_with_file_line_and_path_as_json(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "portable.yaml").write_text(BAD)
    as_json = () if "--format" in args else ("-o", "json")
    out = _run(tmp_path, *args, *as_json)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    error = validate("error", json.loads(out.stderr))
    assert (error["kind"], error["file"], error["line"], error["column"], error["path"], error["exit"]) == ("ManifestError", "portable.yaml", 10, 15, "services.worker.replicas", 2)
    assert not (tmp_path / ".portable").exists() and not (tmp_path / "rendered").exists()  # nothing written
