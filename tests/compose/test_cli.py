"""The compose CLI as a user meets it: exact output and exit codes of `portable import`
(--strict, -o, --profile), several -f files, `render --explain` / `explain`, and bad input."""
from __future__ import annotations

from pathlib import Path

import yaml

from compose_support import FIXTURES, REPO, portable

STACK = """\
services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
    init: true
  cache:
    image: redis:7
    profiles: [cache]
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_strict_refuses_anything_not_carried_and_writes_nothing(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", STACK)
    run = portable("import", "compose.yaml", "--strict", "-o", "portable.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == [
        "warning: compose.yaml:5:5: services.web.init: not carried (no init process in the portable model)",
        "warning: compose.yaml:6:3: services.cache: note (left out: only in profile cache (enable with --profile cache))",
        "error: --strict: 1 compose key not carried exactly; nothing written",
    ]
    assert not (tmp_path / "portable.yaml").exists()


def test_strict_passes_a_file_carried_exactly(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", "services:\n  web:\n    image: nginx:1.27\n    restart: always\n")
    run = portable("import", "compose.yaml", "--strict", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    # a compose service keeps the engine's default capabilities, as compose runs it (written out, so visible)
    assert yaml.safe_load(run.stdout)["services"] == {"web": {"image": "nginx:1.27", "restart": "always", "security": {"capabilities": {"drop": []}}}}


def test_import_writes_a_manifest_that_validates(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", STACK)
    run = portable("import", "compose.yaml", "--profile", "cache", "-o", "out/portable.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines()[-1] == "wrote out/portable.yaml (2 services; 1 warning)"
    again = portable("import", "compose.yaml", "-o", "out/portable.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "error: -o out/portable.yaml: the file exists; pass --force to overwrite it" in again.stderr
    check = portable("validate", "-f", "out/portable.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert check.stdout == "out/portable.yaml: valid (" + tmp_path.name.lower().replace("_", "-") + ": 2 services; targets: local)\n"


def test_profiles_select_services_for_every_command(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", STACK)
    plain = portable("validate", "-f", "compose.yaml", cwd=tmp_path)
    assert plain.returncode == 0 and ": 1 services;" in plain.stdout
    with_profile = portable("validate", "-f", "compose.yaml", "--profile", "cache", cwd=tmp_path)
    assert with_profile.returncode == 0 and ": 2 services;" in with_profile.stdout
    root_form = portable("--profile", "cache", "-f", "compose.yaml", "validate", cwd=tmp_path)
    assert root_form.stdout == with_profile.stdout


def test_several_files_merge_as_compose_merges_them(tmp_path: Path) -> None:
    cwd = FIXTURES / "multi-file"
    out = tmp_path / "out"
    run = portable("render", "-f", "compose.yaml", "-f", "compose.prod.yaml", "-o", str(out), cwd=cwd)
    assert run.returncode == 0, run.stderr
    rendered = yaml.safe_load((out / "docker-compose.yaml").read_text())["services"]
    assert sorted(rendered) == ["api-1", "proxy-18082", "web-1", "web-2"]  # prod: two web replicas behind the front proxy
    assert rendered["web-1"]["environment"]["LOG_LEVEL"] == "warn"  # the last file wins, key by key
    assert rendered["web-1"]["environment"]["FEATURE_FLAGS"] == "checkout"  # the base's other keys stay
    assert "command" not in rendered["api-1"]  # prod's `command: !reset null` removed the override's
    assert rendered["api-1"]["deploy"]["resources"]["limits"]["memory"] == "256m"
    one = portable("validate", "-f", "compose.yaml", cwd=cwd)
    assert one.returncode == 0 and one.stdout == "compose.yaml: valid (multi-file: 2 services; targets: local)\n"


def test_render_explain_says_how_the_target_carries_each_field(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", STACK)
    run = portable("render", "-f", "compose.yaml", "--explain", "-t", "local", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "compose.yaml: metadata.name: as is (prefixes containers, volumes and the network)",
        "compose.yaml:3: services.web.image: as is (pulled when missing)",
        "compose.yaml:4: services.web.ports: as is (public http ports through the front proxy, other public ports bound on the host, internal ones on the app network)",
        "compose.yaml:2: services.web.restart: as is (the restart policy)",
        "compose.yaml:2: services.web.security: as is (--cap-drop/--cap-add, no-new-privileges, --read-only, the engine's seccomp profile (docs/security.md))",
        "compose.yaml:5: services.web.init: not at all (compose: no init process in the portable model)",
    ]
    assert not (tmp_path / "rendered").exists()


def test_explain_a_portable_manifest_for_kubernetes(tmp_path: Path) -> None:
    manifest = _write(tmp_path, "portable.yaml", "apiVersion: portable/v1\nkind: Application\nmetadata: {name: shop}\nservices:\n  web:\n    image: nginx:1.27\n    restart: on-failure\n    autoscale: {min: 2, max: 4}\n  worker:\n    build: ./worker\ntargets:\n  staging: {provider: kubernetes, context: lab, namespace: shop}\n")
    (tmp_path / "worker").mkdir()
    run = portable("explain", "-f", str(manifest), "-t", "staging", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert f"{manifest}:7: services.web.restart: approximated (pods always restart: only `always` is expressible for a Deployment/StatefulSet)" in lines
    assert f"{manifest}:8: services.web.autoscale: as is (a HorizontalPodAutoscaler on cpu)" in lines
    assert f"{manifest}:10: services.worker.build: not at all (Kubernetes builds no images: the pod runs APP-SERVICE:latest, push it where the cluster pulls from)" in lines


def test_invalid_compose_is_located_with_the_expected_form(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", "services:\n  web:\n    image: nginx\n    ports: [{target: 80, publshed: 8080}]\n    restart: 5\n")
    run = portable("render", "-f", "compose.yaml", "-o", "out", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "error: compose.yaml:4:26: services.web.ports[0].publshed: unknown key `publshed` (not in the compose specification) (did you mean `published`?)",
        "compose.yaml:5:14: services.web.restart: expected string, got number 5",
    ]
    assert not (tmp_path / "out").exists()


def test_interpolation_errors_name_the_variable(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", "services:\n  web:\n    image: ${IMG:?set IMG to the image}\n")
    run = portable("import", "compose.yaml", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == "error: compose.yaml:3:12: services.web.image: required variable IMG is missing a value: set IMG to the image\n"


def test_a_version_field_is_ignored_as_compose_ignores_it(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", "version: '2.9-whatever'\nservices:\n  web: {image: nginx, restart: always}\n")
    run = portable("import", "compose.yaml", "--strict", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr == "warning: compose.yaml:1:1: version: note (ignored: the attribute is obsolete, as compose says)\n"


def test_a_portable_manifest_with_one_file_behaves_as_before() -> None:
    run = portable("validate", "-f", "examples/hello/portable.yaml", cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "examples/hello/portable.yaml: valid (hello: 1 services; targets: local)\n"


def test_state_commands_take_several_files_as_the_project_they_locate(tmp_path: Path) -> None:
    run = portable("state", "list", "-f", "compose.yaml", "-f", "compose.prod.yaml", "--state", str(tmp_path / "state.db"), cwd=FIXTURES / "multi-file")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["APP", "TARGET", "REVISION", "KIND", "STATUS", "FINISHED"]
    both = portable("targets", "-f", "compose.yaml", "-f", "compose.prod.yaml", "--no-check", cwd=FIXTURES / "multi-file")
    assert both.returncode == 0 and both.stdout.splitlines()[1].split() == ["local", "docker", "-", "not", "checked"]


def test_a_compose_file_used_directly_prints_what_it_loses(tmp_path: Path) -> None:
    _write(tmp_path, "compose.yaml", STACK)
    run = portable("render", "-f", "compose.yaml", "-o", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "warning: compose.yaml:5:5: services.web.init: not carried (no init process in the portable model)",
        "warning: compose.yaml:6:3: services.cache: note (left out: only in profile cache (enable with --profile cache))",
    ]
    assert run.stdout == "out/docker-compose.yaml\n"
