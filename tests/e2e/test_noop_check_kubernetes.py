"""The no-change check (portable/plan/noop.py) on the lab's kube-apiserver, through the CLI.

An unchanged `plan` and `deploy --yes` are answered without importing the manifest model
(pydantic), the kubernetes SDK, urllib3, requests or tenacity, with the lines the full path
prints; and every change the full path sees still shows, answered by it: a Deployment scaled
by hand (drift), an object deleted by hand, an edited manifest, a variable the manifest
interpolates; and a pull Secret the plan's preflight looks for, deleted. One deploy serves
every step (CI's budget).
"""
from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from noop_support import in_process_argv, steady_environ

pytestmark = [pytest.mark.lab("k8s"), pytest.mark.timeout(300)]

APP = "noopcheck-k8s"
MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {{name: {app}}}
services:
  web:
    image: lab/web:1
    env: {{GREETING: "${{GREETING:-one}}"}}
    ports: [{{port: 8080}}]
  side:
    image: lab/web:1
    env: {{SIDE: "a"}}
targets:
  k8s:
    provider: kubernetes
    kubeconfig: {kubeconfig}
    namespace: {namespace}
    image_pull_secrets: [pull]
"""
HEAVY = ("pydantic", "kubernetes", "urllib3", "requests", "tenacity", "portable.api")



class Run:
    """`portable` in a new process of this interpreter, every run alike (the witness covers the
    whole environment), with a private state file and cache directory."""

    def __init__(self, folder: Path, manifest: Path) -> None:
        self.manifest = manifest
        self.state = folder / "state.db"
        self.env = {**steady_environ(), "XDG_CACHE_HOME": str(folder / "cache"), "GREETING": "one"}

    def __call__(self, verb: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = in_process_argv(HEAVY, verb, "-f", str(self.manifest), "-t", "k8s", "--state", str(self.state), *args)
        return subprocess.run(argv, capture_output=True, text=True, env={**self.env, **(extra_env or {})}, timeout=240)


def kubectl(kubeconfig: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, check=check, timeout=60)


@pytest.fixture
def deployed(tmp_path: Path, kubeconfig: str) -> Iterator[tuple[Run, str, str]]:
    namespace = f"noop-{uuid.uuid4().hex[:8]}"
    manifest = tmp_path / "portable.yaml"
    manifest.write_text(MANIFEST.format(app=APP, kubeconfig=kubeconfig, namespace=namespace))
    run = Run(tmp_path, manifest)
    try:
        kubectl(kubeconfig, "create", "namespace", namespace)
        kubectl(kubeconfig, "-n", namespace, "create", "secret", "docker-registry", "pull", "--docker-server=registry.invalid", "--docker-username=u", "--docker-password=p")
        first = run("deploy", "--yes", "--quiet")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "pydantic" in first.stdout  # no witness yet: the full path deployed
        yield run, kubeconfig, namespace
    finally:
        kubectl(kubeconfig, "delete", "namespace", namespace, "--ignore-not-found", "--wait=false", check=False)


def test_unchanged_answered_light_and_changes_still_show(deployed: tuple[Run, str, str]) -> None:
    run, kubeconfig, namespace = deployed
    plan = run("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert plan.stdout.splitlines() == [f"{APP} on k8s:", "No changes. The target matches the manifest.", "imported: "]
    again = run("deploy", "--yes", "--quiet")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines() == [f"{APP} on k8s: no changes; nothing was touched.", "imported: "]
    tokens = [u["user"]["token"] for u in yaml.safe_load(Path(kubeconfig).read_text())["users"] if "token" in u.get("user", {})]
    witnesses = [p.read_text() for p in (run.state.parent / "cache").rglob("*.json")]
    assert tokens and witnesses and not any(t in w for t in tokens for w in witnesses)  # the witness says how to reach the cluster, with no credential
    off = run("plan", extra_env={"PORTABLE_NOOP_CHECK": "0"})  # the full path says the same
    assert off.returncode == 0 and off.stdout.splitlines()[:2] == plan.stdout.splitlines()[:2] and "kubernetes" in off.stdout, off.stdout + off.stderr

    kubectl(kubeconfig, "-n", namespace, "scale", "deployment/web", "--replicas=3")
    scaled = run("plan", "--detailed-exitcode")
    assert scaled.returncode == 2, scaled.stdout + scaled.stderr
    assert "web replicas 1 -> 3 (kubectl scale?)" in scaled.stdout and "pydantic" in scaled.stdout, scaled.stdout  # the full path answered
    repaired = run("deploy", "--yes", "--quiet")
    assert repaired.returncode == 0 and "revision 2 deployed" in repaired.stdout, repaired.stdout + repaired.stderr
    assert run("plan").stdout.endswith("imported: \n")  # witnessed again by the repair

    variable = run("plan", "--detailed-exitcode", extra_env={"GREETING": "two"})
    assert variable.returncode == 2 and "~ Deployment/web  (spec changed)" in variable.stdout and "pydantic" in variable.stdout, variable.stdout + variable.stderr
    manifest = run.manifest.read_text()
    run.manifest.write_text(manifest.replace('SIDE: "a"', 'SIDE: "b"'))
    edited = run("plan", "--detailed-exitcode")
    assert edited.returncode == 2 and "~ Deployment/side  (spec changed)" in edited.stdout and "pydantic" in edited.stdout, edited.stdout + edited.stderr
    run.manifest.write_text(manifest)
    assert run("plan").stdout.endswith("imported: \n")  # back as witnessed

    kubectl(kubeconfig, "-n", namespace, "delete", "service", "web")
    removed = run("plan", "--detailed-exitcode")
    assert removed.returncode == 2 and "Service/web removed (kubectl delete?)" in removed.stdout and "pydantic" in removed.stdout, removed.stdout + removed.stderr
    assert run("deploy", "--yes", "--quiet").returncode == 0
    assert run("plan").stdout.endswith("imported: \n")  # repaired and witnessed

    kubectl(kubeconfig, "-n", namespace, "delete", "secret", "pull")  # read by the plan's preflight, not by observe
    unpullable = run("plan")
    assert unpullable.returncode == 2 and "Secret pull does not exist" in unpullable.stderr and "pydantic" in unpullable.stdout, unpullable.stdout + unpullable.stderr
