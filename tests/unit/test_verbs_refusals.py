"""`portable exec` and `portable scale` refuse what cannot work before contacting anything:
exit 2, one sentence; with `-o json` the error is one JSON object on stderr that matches
docs/schemas/error.schema.json.

The targets point where nothing listens (port 1), so a command that tried to reach one would
fail differently, and slowly.
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
metadata: {name: verbs-refuse}
services:
  web:
    image: lab/web:1
  auto:
    image: lab/web:1
    autoscale: {min: 1, max: 3}
targets:
  vc: {provider: vsphere, host: 127.0.0.1, port: 1, datacenter: DC0, cluster: DC0_C0, datastore: LocalDS_0, template: portable-template}
  cloud: {provider: aws, region: us-east-1, endpoint_url: "http://127.0.0.1:1"}
  lc: {provider: libcloud, driver: ec2, region: us-east-1, image: ami-12345678}
  k8s: {provider: kubernetes, kubeconfig: /nonexistent/kubeconfig}
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "portable.yaml").write_text(MANIFEST)
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)


@pytest.mark.parametrize("target,provider,hosts", [("cloud", "aws", "instances"), ("lc", "libcloud", "nodes")])
def test_exec_on_a_vm_target_without_ssh_is_refused_in_one_sentence_naming_the_settings(tmp_path: Path, target: str, provider: str, hosts: str) -> None:
    out = _run(tmp_path, "exec", "web", "-t", target, "--", "true")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip() == (f"error: target `{target}` ({provider}) cannot run a command inside a service's replica without SSH to its {hosts}"
                                  " (set `key_name` and `ssh` on the target); portable exec needs it")
    as_json = _run(tmp_path, "exec", "web", "-t", target, "-o", "json", "--", "true")
    assert as_json.returncode == 2 and as_json.stdout == ""
    error = validate("error", json.loads(as_json.stderr))
    assert error["kind"] == "CapabilityError" and error["exit"] == 2 and f"target `{target}`" in error["error"]


def test_exec_on_vsphere_without_the_guest_account_is_refused_before_vcenter_is_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VSPHERE_GUEST_USER", raising=False)
    monkeypatch.delenv("VSPHERE_GUEST_PASSWORD", raising=False)
    out = _run(tmp_path, "exec", "web", "-t", "vc", "--", "true")  # vCenter "at" port 1: contacting it would fail otherwise
    assert out.returncode == 2, out.stdout + out.stderr
    assert "portable exec on vSphere runs the command through VMware Tools as a guest OS account: set VSPHERE_GUEST_USER and VSPHERE_GUEST_PASSWORD" in out.stderr
    tty = _run(tmp_path, "exec", "web", "-t", "vc", "--tty", "--", "true")
    assert tty.returncode == 2 and "--tty is not offered on vSphere targets" in tty.stderr, tty.stderr


def test_exec_of_an_unknown_service_or_without_a_command_is_exit_2(tmp_path: Path) -> None:
    unknown = _run(tmp_path, "exec", "nope", "-t", "k8s", "--", "true")
    assert unknown.returncode == 2 and "no service named nope" in unknown.stderr and "services: auto, web" in unknown.stderr
    assert "kubeconfig" not in unknown.stderr  # refused before the target was opened
    bare = _run(tmp_path, "exec", "web")
    assert bare.returncode == 2 and "COMMAND" in bare.stderr


def test_exec_tty_on_kubernetes_is_refused_before_the_cluster_is_asked(tmp_path: Path) -> None:
    out = _run(tmp_path, "exec", "web", "-t", "k8s", "-i", "--", "cat")
    assert out.returncode == 2, out.stderr
    assert "-i/-t is not offered on Kubernetes targets" in out.stderr


@pytest.mark.parametrize("pair,said", [("web=many", "`web=many`: expected SERVICE=N"), ("nope=2", "no service named nope"),
                                       ("web=1001", "replicas must be between 0 and 1000"), ("auto=2", "auto autoscales (services.auto.autoscale)")])
def test_scale_refuses_bad_requests_with_exit_2(tmp_path: Path, pair: str, said: str) -> None:
    out = _run(tmp_path, "scale", pair, "-t", "cloud", "-o", "json")
    assert out.returncode == 2, out.stdout + out.stderr
    error = validate("error", json.loads(out.stderr))
    assert said in error["error"], error
    assert not (tmp_path / ".portable").exists()  # no state store was even created


def test_a_manifest_error_as_json_carries_file_line_and_path(tmp_path: Path) -> None:
    (tmp_path / "portable.yaml").write_text(MANIFEST.replace("    image: lab/web:1\n", "    image: lab/web:1\n    replicas: many\n", 1))
    out = subprocess.run([sys.executable, "-m", "portable.cli.main", "plan", "-o", "json"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2, out.stderr
    error = validate("error", json.loads(out.stderr))
    assert (error["file"], error["line"], error["column"], error["path"], error["kind"]) == ("portable.yaml", 7, 15, "services.web.replicas", "ManifestError")
    text = subprocess.run([sys.executable, "-m", "portable.cli.main", "plan"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert text.returncode == 2 and text.stderr.startswith("error: portable.yaml:7:15: services.web.replicas:")
