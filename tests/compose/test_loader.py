"""The compose loader's rules, one by one, as compose itself applies them: YAML, anchors and
merge keys, interpolation, .env, include, extends, profiles and several files merged.

Where compose's answer is not obvious, the expected value is what `docker compose config`
(v2.40.3) prints for the same file; test_roundtrip.py checks the fixtures against it live.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from portable.compose.interpolation import InterpolationFailure, interpolate_text
from portable.compose.located import plain
from portable.compose.project import load_project
from portable.compose.values import memory_bytes, portable_duration, portable_size
from portable.errors import InputError, ManifestError


def _load(tmp: Path, files: dict[str, str], env: dict[str, str] | None = None, profiles: list[str] | None = None, order: list[str] | None = None) -> dict[str, Any]:
    for name, text in files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    project = load_project([tmp / f for f in (order or ["compose.yaml"])], env or {}, profiles)
    return dict(plain(project.model))


def test_yaml_1_2_scalars_as_compose_reads_them(tmp_path: Path) -> None:
    model = _load(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n    ports: [22:22]\n    environment: {A: no, B: on, C: 0644, D: 1_000, E: true}\n    restart: no\n"})
    svc = model["services"]["a"]
    assert svc["ports"] == ["22:22"]  # YAML 1.1 would read 1342 (sexagesimal)
    assert svc["environment"] == {"A": "no", "B": "on", "C": 644, "D": "1_000", "E": True}
    assert svc["restart"] == "no"


def test_anchors_and_merge_keys_explicit_keys_win(tmp_path: Path) -> None:
    model = _load(tmp_path, {"compose.yaml": "x-base: &base\n  image: app:1\n  restart: always\n  environment: &env {A: '1', B: '2'}\nservices:\n  a:\n    <<: *base\n    restart: on-failure\n    environment:\n      <<: *env\n      B: '3'\n"})
    assert model["services"]["a"] == {"image": "app:1", "restart": "on-failure", "environment": {"A": "1", "B": "3"}}


def test_alias_bombs_are_refused_quickly(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 8)]
    text = "x-bomb:\n" + "\n".join(f"  {line}" for line in levels) + "\nservices: {}\n"
    with pytest.raises(ManifestError, match="expands to more than"):
        _load(tmp_path, {"compose.yaml": text})


@pytest.mark.parametrize(("text", "env", "expected"), [
    ("$A-${A}", {"A": "x"}, "x-x"),
    ("${A:-d}|${A-d}", {"A": ""}, "d|"),
    ("${A:+on}|${B:+on}|${B+on}", {"A": "1", "B": ""}, "on||on"),
    ("${A:-${B:-deep}}", {}, "deep"),
    ("$$HOME costs $5", {}, "$HOME costs $5"),
])
def test_interpolation_forms(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate_text(text, env, []) == expected


def test_interpolation_error_names_the_variable_and_where(tmp_path: Path) -> None:
    with pytest.raises(InterpolationFailure, match="required variable DB_PASSWORD is missing a value: set it"):
        interpolate_text("${DB_PASSWORD:?set it}", {}, [])
    with pytest.raises(ManifestError) as caught:
        _load(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n    environment:\n      P: ${DB_PASSWORD?}\n"})
    assert str(caught.value).endswith("compose.yaml:5:10: services.a.environment.P: required variable DB_PASSWORD is missing a value")


def test_environment_wins_over_dotenv_and_dotenv_interpolates(tmp_path: Path) -> None:
    model = _load(tmp_path, {".env": "TAG=1.0\nIMAGE=app:${TAG}\nWHO='$literal'\n", "compose.yaml": "services:\n  a:\n    image: ${IMAGE}\n    environment: {W: '${WHO}', T: '${TAG}'}\n"}, env={"TAG": "2.0"})
    assert model["services"]["a"]["image"] == "app:2.0"
    assert model["services"]["a"]["environment"] == {"W": "$literal", "T": "2.0"}


def test_include_brings_resources_and_refuses_conflicts(tmp_path: Path) -> None:
    files = {"compose.yaml": "include: [sub/compose.yaml]\nservices:\n  web: {image: web}\n", "sub/compose.yaml": "services:\n  db: {image: '${DB:-pg}'}\nvolumes:\n  data: {}\n", "sub/.env": "DB=postgres:16\n"}
    model = _load(tmp_path, files)
    assert sorted(model["services"]) == ["db", "web"] and model["services"]["db"]["image"] == "postgres:16" and "data" in model["volumes"]
    (tmp_path / "compose.yaml").write_text("include: [sub/compose.yaml]\nservices:\n  db: {image: mine}\n")
    with pytest.raises(ManifestError, match=r"compose.yaml:3:3: services.db: conflicts with `db` imported by include\[0\]"):
        load_project([tmp_path / "compose.yaml"], {})


def test_extends_merges_by_compose_rules_and_finds_cycles(tmp_path: Path) -> None:
    files = {"base.yaml": "services:\n  common:\n    image: app\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    command: [serve]\n", "compose.yaml": "services:\n  web:\n    extends: {file: base.yaml, service: common}\n    environment: {B: '3'}\n    ports: ['81:80']\n    command: [serve, --fast]\n"}
    web = _load(tmp_path, files)["services"]["web"]
    assert web["environment"] == ["A=1", "B=3"]
    assert web["ports"] == ["80:80", "81:80"]
    assert web["command"] == ["serve", "--fast"]
    (tmp_path / "compose.yaml").write_text("services:\n  a: {extends: b, image: x}\n  b: {extends: a}\n")
    with pytest.raises(ManifestError, match="extends cycle"):
        load_project([tmp_path / "compose.yaml"], {})


def test_several_files_merge_like_compose(tmp_path: Path) -> None:
    files = {
        "compose.yaml": "services:\n  api:\n    image: api:1\n    command: [run]\n    environment: {A: '1'}\n    volumes: ['data:/data', 'logs:/logs']\n    healthcheck: {test: [CMD, check], interval: 5s}\n    secrets: [s1]\nvolumes: {data: {}, logs: {}}\nsecrets: {s1: {file: ./s1}}\n",
        "compose.override.yaml": "services:\n  api:\n    image: api:2\n    command: !reset null\n    environment: [B=2]\n    volumes: ['other:/data']\n    healthcheck: {timeout: 3s}\n    labels: !override {only: me}\nvolumes: {other: {}}\n",
    }
    api = _load(tmp_path, files, order=["compose.yaml", "compose.override.yaml"])["services"]["api"]
    assert api["image"] == "api:2"
    assert "command" not in api
    assert api["environment"] == ["A=1", "B=2"]
    assert api["volumes"] == ["other:/data", "logs:/logs"]  # one entry per target, the later one in the earlier place
    assert api["healthcheck"] == {"test": ["CMD", "check"], "interval": "5s", "timeout": "3s"}
    assert api["labels"] == {"only": "me"}


def test_profiles_select_services_and_guard_dependencies(tmp_path: Path) -> None:
    text = "services:\n  app: {image: a}\n  tool: {image: t, profiles: [dev]}\n  web: {image: w, depends_on: [tool], profiles: [web]}\n"
    assert sorted(_load(tmp_path, {"compose.yaml": text})["services"]) == ["app"]
    assert sorted(_load(tmp_path, {"compose.yaml": text}, env={"COMPOSE_PROFILES": "dev"})["services"]) == ["app", "tool"]
    with pytest.raises(ManifestError, match="depends on service `tool`, which is only in profile dev"):
        _load(tmp_path, {"compose.yaml": text}, profiles=["web"])
    assert sorted(_load(tmp_path, {"compose.yaml": text}, profiles=["web", "dev"])["services"]) == ["app", "tool", "web"]


def test_schema_errors_are_located_with_what_was_expected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as caught:
        _load(tmp_path, {"compose.yaml": "services:\n  web:\n    image: x\n    helthcheck: {test: [CMD, x]}\n    deploy: {replicas: [2]}\nvolumes: []\n"})
    assert [p.render() for p in caught.value.problems] == [
        "compose.yaml:4:5: services.web.helthcheck: unknown key `helthcheck` (not in the compose specification) (did you mean `healthcheck`?)",
        "compose.yaml:5:24: services.web.deploy.replicas: expected integer or string, got list [2]",
        "compose.yaml:6:10: volumes: expected object, got list []",
    ]


def test_missing_and_non_file_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such compose file"):
        load_project([tmp_path / "nope.yaml"], {})


@pytest.mark.parametrize(("compose", "manifest"), [("512m", "512Mi"), ("1g", "1Gi"), ("1.5G", "1536Mi"), ("1024k", "1Mi"), (536870912, "512Mi"), ("100b", 100)])
def test_memory_units_become_the_manifest_s(compose: Any, manifest: Any) -> None:
    assert portable_size(memory_bytes(compose)) == manifest


@pytest.mark.parametrize(("compose", "manifest"), [("1m30s", "1m30s"), ("500ms", "500ms"), ("1h", "1h"), ("250us", "0ms"), (90, "90s")])
def test_durations_become_the_manifest_s(compose: Any, manifest: str) -> None:
    assert portable_duration(compose) == manifest


@pytest.mark.parametrize(("text", "message"), [
    ("services:\n  a:\n    image: x\n    labels: " + "[" * 100 + "]" * 100 + "\n", "compose.yaml:4:75: nested more than 64 levels deep; not a compose file"),
    ("x-a: &a\n  b: *a\nservices: {}\n", "compose.yaml:1:6: an alias refers to the mapping or list it is in (a recursive alias)"),
])
def test_hostile_nesting_is_refused_at_its_line(text: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ManifestError) as caught:
        _load(tmp_path, {"compose.yaml": text})
    assert str(caught.value) == message
