"""The manifest model: defaults, short forms, units and interpolation as users write them."""
from __future__ import annotations

from pathlib import Path

import pytest

from portable.errors import InputError, ManifestError
from portable.manifest import load_app, parse_file
from portable.manifest.interpolate import InterpolationError, interpolate, read_dotenv
from portable.manifest.units import format_millicores, parse_cpu, parse_duration, parse_size

BASE = "apiVersion: portable/v1\nkind: Application\nmetadata:\n  name: shop\n"


def write(tmp_path: Path, body: str) -> Path:
    f = tmp_path / "portable.yaml"
    f.write_text(BASE + body)
    return f


def test_defaults_and_short_forms(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  db:\n    image: postgres:16\n    command: postgres -c 'max_connections=50'\n    volumes: ['data:/var/lib/postgresql/data:ro']\n    secrets: [pw]\n    restart: no\nvolumes:\n  data: {size: 5Gi}\nsecrets:\n  pw: {from: 'env:PW'}\n")
    svc = parse_file(f, env={}).manifest.services["db"]
    assert svc.replicas == 1
    assert svc.command == ["postgres", "-c", "max_connections=50"]
    assert svc.volumes[0].volume == "data" and svc.volumes[0].path == "/var/lib/postgresql/data" and svc.volumes[0].read_only
    assert svc.secrets[0].mount_path == "/run/secrets/pw"
    assert svc.restart == "no"


def test_units() -> None:
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_size("1Gi") == 1024**3
    assert parse_size("100M") == 100_000_000
    assert parse_cpu("500m") == 0.5
    assert format_millicores(0.25) == "250m" and format_millicores(2) == "2"
    with pytest.raises(ValueError):
        parse_duration("10 minutes")


def test_interpolation_rules() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("${SET}", env) == "v"
    assert interpolate("${UNSET:-d}", env) == "d"
    assert interpolate("${EMPTY:-d}", env) == "d"
    assert interpolate("${EMPTY-d}", env) == ""
    assert interpolate("a$$b", env) == "a$b"
    assert interpolate("${UNSET:-${SET}/web:1}x", env) == "v/web:1x"
    warnings: list[str] = []
    assert interpolate("${UNSET}", env, warnings) == "" and "UNSET" in warnings[0]
    with pytest.raises(InterpolationError, match="required variable NEED is not set: give it"):
        interpolate("${NEED:?give it}", env)


def test_dotenv_beside_manifest_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# comment\nexport IMAGE='from-dotenv'\nREPLICAS=3\n")
    f = write(tmp_path, "services:\n  web:\n    image: ${IMAGE}\n    replicas: ${REPLICAS}\n")
    m = parse_file(f, env={}).manifest
    assert m.services["web"].image == "from-dotenv" and m.services["web"].replicas == 3
    m = parse_file(f, env={"IMAGE": "from-env"}).manifest
    assert m.services["web"].image == "from-env"
    assert read_dotenv(tmp_path / "missing") == {}


def test_overrides_merge_for_their_target_only(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  web:\n    image: x\n    env: {A: '1', B: '2'}\n    ports: [{port: 80}]\ntargets:\n  prod: {provider: docker}\noverrides:\n  prod:\n    services:\n      web:\n        replicas: 3\n        env: {B: changed}\n        ports: [{port: 8080}]\n")
    local = load_app(f, "local", env={})
    prod = load_app(f, "prod", env={})
    assert local.services["web"].replicas == 1
    assert prod.services["web"].replicas == 3
    assert prod.services["web"].env == {"A": "1", "B": "changed"}  # mappings merge
    assert [p.port for p in prod.services["web"].ports] == [8080]  # lists replace


def test_unknown_target_suggests(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  web:\n    image: x\ntargets:\n  staging: {provider: docker}\n")
    with pytest.raises(InputError, match="no target named `stagin`") as info:
        load_app(f, "stagin", env={})
    assert "did you mean `staging`" in str(info.value)


def test_builtin_local_target_is_docker(tmp_path: Path) -> None:
    app = load_app(write(tmp_path, "services:\n  web:\n    image: x\n"), env={})
    assert app.target_name == "local" and app.target.provider == "docker"


def test_secret_values_are_resolved_on_demand_only(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("s3cret-file")
    f = write(tmp_path, "services:\n  web:\n    image: x\n    secrets: [pw, token]\nsecrets:\n  pw: {from: 'env:PW'}\n  token: {from: 'file:token.txt'}\n")
    app = load_app(f, env={"PW": "s3cret-env"})
    assert app.secret_value("pw") == b"s3cret-env"
    assert app.secret_value("token") == b"s3cret-file"
    assert "s3cret" not in repr(app) and "s3cret" not in app.manifest.model_dump_json()
    missing = load_app(f, env={})
    with pytest.raises(InputError, match="environment variable PW, which is not set"):
        missing.check_secrets()


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  a:\n    image: x\n    depends_on: [nope]\n  b:\n    image: y\n    volumes: [{volume: gone, path: /d}]\n")
    with pytest.raises(ManifestError) as info:
        parse_file(f, env={})
    paths = [p.path for p in info.value.problems]
    assert paths == ["services.a.depends_on[0]", "services.b.volumes[0].volume"]
