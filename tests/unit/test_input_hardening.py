"""Defects of invalid or surprising input, each as the user met it (issue 17).

Interpolated values keep their text, .env files follow compose's rules, --debug keeps exit
codes, render refuses to write over a file, messages say `got` once, and a target's
missing capabilities are found at their line:column before anything is touched.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from portable.cli.main import cli
from portable.errors import InputError, ManifestError
from portable.manifest import load_app, parse_file
from portable.manifest.interpolate import read_dotenv

HEAD = "apiVersion: portable/v1\nkind: Application\nmetadata:\n  name: shop\n"
CLI = "from portable.cli.main import main; main()"


def write(tmp_path: Path, body: str, name: str = "portable.yaml") -> Path:
    f = tmp_path / name
    f.write_text(HEAD + body, encoding="utf-8")
    return f


def test_interpolated_values_are_text_unless_the_field_is_numeric(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  web:\n    image: nginx:${APP_VERSION}\n    user: ${APP_UID}\n    replicas: ${N:-2}\n"
                        "    env:\n      ZIP: ${ZIP}\n      AT: ${T}\n      MASK: ${H}\n      VERSION: ${APP_VERSION}\n"
                        "    ports: [{port: '${PORT:-8080}'}]\n    health: {tcp: {port: '${PORT:-8080}'}, timeout: '${TO:-5}'}\n")
    env = {"APP_VERSION": "1.10", "APP_UID": "1000", "ZIP": "02134", "T": "12:30", "H": "0x1F"}
    web = parse_file(f, env=env).manifest.services["web"]
    assert web.image == "nginx:1.10"
    assert web.user == "1000"
    assert web.env == {"ZIP": "02134", "AT": "12:30", "MASK": "0x1F", "VERSION": "1.10"}
    assert web.replicas == 2 and web.ports[0].port == 8080 and web.health is not None and web.health.timeout_s == 5.0


def test_a_message_says_got_once(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  web:\n    image: x\n    stop_grace_period: 5d\n")
    with pytest.raises(ManifestError) as err:
        parse_file(f, env={})
    assert str(err.value).count("got '5d'") == 1, str(err.value)


def test_dotenv_follows_compose_rules(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(
        b"\xef\xbb\xbfFIRST=1\nSECOND=2 # a comment\nHASH=a#b\nQUOTED=\"x # y\"\nLITERAL='${FIRST} stays'\n"
        b"EXPANDED=${FIRST}-$${FIRST}\nexport SPACED = padded  \nMULTI=\"one\\ntwo\"\nNO_EQUALS_LINE\n"
    )
    assert read_dotenv(tmp_path / ".env", {}) == {
        "FIRST": "1", "SECOND": "2", "HASH": "a#b", "QUOTED": "x # y", "LITERAL": "${FIRST} stays",
        "EXPANDED": "1-${FIRST}", "SPACED": "padded", "MULTI": "one\ntwo",
    }


def test_dotenv_bom_does_not_hide_the_first_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbfIMAGE=from-dotenv\n")
    f = write(tmp_path, "services:\n  web:\n    image: ${IMAGE:-fallback}\n")
    assert parse_file(f, env={}).manifest.services["web"].image == "from-dotenv"


def test_secret_from_env_sees_the_dotenv_like_interpolation_does(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_PASSWORD=s3cret # from the .env\n")
    f = write(tmp_path, "services:\n  web:\n    image: x\n    secrets: [db]\nsecrets:\n  db: {from: 'env:DB_PASSWORD'}\n")
    app = load_app(f, env={})
    app.check_secrets()
    assert app.secret_value("db") == b"s3cret"
    assert load_app(f, env={"DB_PASSWORD": "exported"}).secret_value("db") == b"exported"  # the environment wins


def test_non_utf8_dotenv_is_one_sentence_with_its_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"A=1\nCITY=Z\xfcrich\n")
    f = write(tmp_path, "services:\n  web:\n    image: x\n")
    result = CliRunner().invoke(cli, ["validate", "-f", str(f)])
    assert result.exit_code == 2, result.output
    assert f"{tmp_path / '.env'}:2: the .env file is not UTF-8" in result.output


def test_non_utf8_manifest_is_exit_2_at_its_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "portable.yaml"
    f.write_bytes(HEAD.encode() + b"services:\n  web:\n    image: x\n    env: {CITY: Z\xfcrich}\n")
    result = CliRunner().invoke(cli, ["validate", "-f", str(f)])
    assert result.exit_code == 2, result.output
    assert f"{f}:8:18: the file is not UTF-8 text" in result.output


def test_debug_keeps_the_exit_code_and_adds_the_traceback(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  web:\n    image: x\n    replicas: !!int abc\n")
    run = subprocess.run([sys.executable, "-c", CLI, "--debug", "validate", "-f", str(f)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "Traceback" in run.stderr and f"{f}:8:15: services.web.replicas: 'abc' is not a valid int" in run.stderr


def test_render_onto_an_existing_file_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path, "services:\n  web:\n    image: x\n")
    taken = tmp_path / "out"
    taken.write_text("keep me")
    for out in (taken, taken / "sub"):
        result = CliRunner().invoke(cli, ["render", "-f", str(f), "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert "is a file; render writes a directory of files" in result.output
    assert taken.read_text() == "keep me"


def test_missing_capability_is_found_at_its_line_without_touching_the_target(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    from portable.manifest import bind_app
    from portable.manifest.target_check import check_target, target_problems
    from portable.session import open_provider

    f = write(tmp_path, "services:\n  web:\n    image: x\n    ports: [{port: 80}]\ntargets:\n  vm: {provider: aws, region: us-east-1}\n"
                        "overrides:\n  vm:\n    services:\n      web:\n        autoscale: {min: 1, max: 3}\n")
    loaded = parse_file(f, env={})
    app = bind_app(loaded, "vm", {})
    problems = target_problems(loaded, app, open_provider(app))
    assert [p.render() for p in problems] == [f"{f}:15:9: overrides.vm.services.web.autoscale: target `vm` (aws) cannot provide autoscale"]
    with pytest.raises(InputError) as err:
        check_target(loaded, app, open_provider(app))
    assert err.value.exit_code == 2
    local = bind_app(loaded, "local", {})
    assert target_problems(loaded, local, open_provider(local)) == []
