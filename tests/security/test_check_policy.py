"""`portable check`'s policy file and SARIF output, and planning's refusal of error findings.

SARIF is validated against the OASIS SARIF 2.1.0 schema vendored beside this file (see
SARIF_SCHEMA_SOURCE.md). Nothing here needs a target: the refusal happens before one is
contacted, which the DOCKER_HOST pointing nowhere proves (a contacted engine would fail
with exit 1, not 2).
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from portable.check import enforce, policy_for
from portable.check.checks import CHECKS
from portable.check.run import PolicyRefusal
from portable.cli.main import cli
from portable.session import Session

SCHEMA = json.loads((Path(__file__).with_name("sarif-schema-2.1.0.json")).read_text())

APP = """\
apiVersion: portable/v1
kind: Application
metadata: {name: sec-policy}
services:
  web:
    image: registry.example.com/web:1.4.2
    ports: [{port: 8080, expose: internal}]
    health: {http: {path: /, port: 8080}}
    resources: {cpu: 0.5, memory: 128Mi}
  admin:
    image: registry.example.com/admin:2.0.1
    user: "10001"
    health: {tcp: {port: 9000}}
    resources: {cpu: 0.5, memory: 128Mi}
    security: {privileged: true}
"""


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, app: str = APP, policy: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    (tmp_path / "portable.yaml").write_text(app)
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORTABLE_POLICY", raising=False)
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def validate_sarif(text: str) -> dict[str, object]:
    log: dict[str, object] = json.loads(text)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)
    return log


def test_sarif_is_valid_sarif_2_1_0_with_rules_locations_and_suppressions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = "waive:\n  - {check: writable-root, service: '*', reason: the images write to their root filesystem}\n"
    code, text = run(tmp_path, monkeypatch, "check", "-o", "sarif", "--policy", "policy.yaml", policy=policy)
    assert code == 2  # the privileged admin is an error
    log = validate_sarif(text)
    run_ = log["runs"][0]  # type: ignore[index]
    assert [r["id"] for r in run_["tool"]["driver"]["rules"]] == list(CHECKS)
    results = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]): r for r in run_["results"]}
    privileged = results[("privileged", "services.admin.security.privileged")]
    assert privileged["level"] == "error"
    assert privileged["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": "portable.yaml"}, "region": {"startLine": 15, "startColumn": 16}}
    assert results[("runs-as-root", "services.web")]["level"] == "warning"
    waived = [r for r in run_["results"] if r["ruleId"] == "writable-root"]
    assert len(waived) == 2 and all(r["suppressions"] == [{"kind": "external", "status": "accepted", "justification": "the images write to their root filesystem"}] for r in waived)


def test_sarif_of_a_clean_manifest_is_valid_and_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = APP.split("  admin:")[0].replace("    ports:", '    user: "10001"\n    security: {read_only_root: true}\n    ports:')
    code, text = run(tmp_path, monkeypatch, "check", "-o", "sarif", app=clean)
    assert code == 0
    assert validate_sarif(text)["runs"][0]["results"] == []  # type: ignore[index]


def test_policy_raises_lowers_and_waives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = (
        "severities: {runs-as-root: error, writable-root: 'off'}\n"
        "waive:\n"
        "  - check: privileged\n"
        "    service: admin\n"
        "    reason: the admin tool loads a kernel module (reviewed by security, ticket SEC-12)\n"
    )
    code, text = run(tmp_path, monkeypatch, "check", "--policy", "policy.yaml", policy=policy)
    assert code == 2, text  # runs-as-root is now an error for web
    assert "portable.yaml:5:3: error[runs-as-root] services.web:" in text
    assert "writable-root" not in text
    assert "error[privileged] services.admin.security.privileged" in text
    assert "  waived: the admin tool loads a kernel module (reviewed by security, ticket SEC-12)" in text
    assert text.rstrip().endswith("sec-policy on local: 2 findings (1 error, 0 warning, 0 note, 1 waived); 1 at or above --fail-on error")


def test_a_waiver_without_reason_and_an_unknown_check_are_located_input_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = run(tmp_path, monkeypatch, "check", "--policy", "policy.yaml", policy="waive:\n  - {check: privileged, service: admin, reason: '  '}\n")
    assert code == 2 and "policy.yaml:2:49: waive[0].reason: a waiver needs a reason (why this finding is accepted), got '  '" in text
    code, text = run(tmp_path, monkeypatch, "check", "--policy", "policy.yaml", policy="waive:\n  - check: privileged\n    service: admin\n")
    assert code == 2 and "policy.yaml:2:5: waive[0].reason: required field is missing" in text
    code, text = run(tmp_path, monkeypatch, "check", "--policy", "policy.yaml", policy="severities:\n  privilegd: warning\n")
    assert code == 2 and "policy.yaml:2:3: severities: no check named 'privilegd'" in text
    code, text = run(tmp_path, monkeypatch, "check", "--policy", "policy.yaml", policy="waive:\n  - {check: root, reason: x}\n")
    assert code == 2 and "policy.yaml:2:13: waive[0].check: no check named 'root'" in text


def test_json_output_lists_every_finding_with_its_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = run(tmp_path, monkeypatch, "check", "-o", "json")
    doc = json.loads(text)
    assert code == 2 and doc["failed"] == 1 and doc["fail_on"] == "error"
    first = doc["findings"][0]
    assert first == {**first, "check": "privileged", "severity": "error", "service": "admin", "line": 15, "column": 16, "waived": None}


def test_deploy_and_plan_refuse_an_error_finding_before_contacting_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nowhere = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    for verb in (["deploy", "--yes"], ["plan"]):
        code, text = run(tmp_path, monkeypatch, *verb, env=nowhere)
        assert code == 2, text
        assert "refused by `portable check` (1 error finding):" in text
        assert "portable.yaml:15:16: error[privileged] services.admin.security.privileged:" in text
        assert "no-engine.sock" not in text  # the engine was never asked


def test_a_waiver_beside_the_manifest_or_in_portable_policy_lets_planning_go_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    waiver = "waive: [{check: privileged, service: admin, reason: reviewed}]\n"
    nowhere = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    (tmp_path / "portable-policy.yaml").write_text(waiver)
    code, text = run(tmp_path, monkeypatch, "plan", env=nowhere)
    assert "refused by `portable check`" not in text and code == 1  # past the policy: the missing engine is what stops it
    (tmp_path / "portable-policy.yaml").unlink()
    (tmp_path / "elsewhere.yaml").write_text(waiver)
    session = Session.open(tmp_path / "portable.yaml", env={})
    with pytest.raises(PolicyRefusal):
        enforce(session.loaded, session.app("local"), policy_for(session.path, {}))
    enforce(session.loaded, session.app("local"), policy_for(session.path, {"PORTABLE_POLICY": str(tmp_path / "elsewhere.yaml")}))


def test_a_finding_an_override_causes_is_located_in_the_override_and_only_for_its_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = APP.split("  admin:")[0] + (
        "targets:\n"
        "  k8s: {provider: kubernetes, context: lab, namespace: sec}\n"
        "overrides:\n"
        "  k8s:\n"
        "    services:\n"
        "      web: {security: {host_network: true}}\n"
    )
    code, text = run(tmp_path, monkeypatch, "check", "-t", "k8s", app=app)
    assert code == 2
    assert "portable.yaml:15:24: error[host-namespaces] overrides.k8s.services.web.security.host_network: the container shares the host's network" in text
    code, text = run(tmp_path, monkeypatch, "check", "-t", "local", app=app)
    assert code == 0 and "host-namespaces" not in text
