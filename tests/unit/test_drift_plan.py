"""Drift in the plan: live values of managed fields compared with the spec each object was
deployed from, said in their own section, repaired by an action, and in the JSON."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from portable.plan import Observed, Resource, compute_plan
from portable.plan.drift import REMOVED

WEB = Resource("Deployment", "web", {"replicas": 3, "env": {"LEVEL": "info"}}, service="web")
HINTS = {"replicas": "kubectl scale?", "env": "kubectl set env?", REMOVED: "kubectl delete?"}


def managed(r: Resource) -> dict[str, object]:
    return dict(r.spec)


def live(r: Resource, **values: object) -> Observed:
    return Observed(r.kind, r.name, r.digest, service=r.service, live={**r.spec, **values})


def plan_of(observed: list[Observed], desired: list[Resource] | None = None, previous: list[Resource] | None = None):  # type: ignore[no-untyped-def]
    return compute_plan("shop", "k", desired or [WEB], observed, previous if previous is not None else [WEB], managed=managed, drift_hints=HINTS)


def test_no_drift_when_live_matches() -> None:
    plan = plan_of([live(WEB)])
    assert plan.empty and not plan.drift and not plan.has_changes


def test_scaled_by_hand_is_drift_with_a_repair() -> None:
    plan = plan_of([live(WEB, replicas=1)])
    (d,) = plan.drift
    assert (d.service, d.field, d.desired, d.live, d.hint) == ("web", "replicas", 3, 1, "kubectl scale?")
    (action,) = plan.actions
    assert action.op == "update" and action.reason == "changed outside portable: replicas" and action.repairs == (d,)
    text = plan.render_text()
    assert "changed outside portable (deploy repairs it):" in text
    assert "web replicas 3 -> 1 (kubectl scale?)" in text
    assert plan.to_dict()["drift"] == [{"resource": "Deployment/web", "service": "web", "field": "replicas", "desired": 3, "live": 1, "hint": "kubectl scale?"}]
    assert plan.has_changes and "(1 changed outside portable)" in plan.summary()


def test_env_drift_names_the_variable_never_its_values() -> None:
    plan = plan_of([live(WEB, env={"LEVEL": "s3cr3t-by-hand", "EXTRA": "x"})])
    assert [(d.field, d.desired, d.live) for d in plan.drift] == [("env.EXTRA", "(unset)", "(set)"), ("env.LEVEL", "(deployed value)", "(another value)")]
    assert "s3cr3t-by-hand" not in plan.render_text() and "s3cr3t-by-hand" not in str(plan.to_dict())


def test_removed_object_of_the_deployed_revision_is_drift() -> None:
    plan = plan_of([])
    (d,) = plan.drift
    assert d.field == REMOVED and "web Deployment/web removed (kubectl delete?)" in plan.render_text()
    assert [(a.op, a.reason) for a in plan.actions] == [("create", "removed outside portable")]


def test_never_deployed_is_a_create_not_drift() -> None:
    plan = plan_of([], previous=[])
    assert not plan.drift and plan.actions[0].reason == "not present on the target"


def test_a_manifest_change_is_not_drift() -> None:
    """Live matches what was deployed; the manifest now asks for 5: a spec change only."""
    five = Resource("Deployment", "web", {"replicas": 5, "env": {"LEVEL": "info"}}, service="web")
    plan = plan_of([live(WEB)], desired=[five])
    assert not plan.drift
    assert plan.actions[0].reason == "spec changed"


def test_drift_against_the_deployed_spec_while_the_manifest_changes() -> None:
    five = Resource("Deployment", "web", {"replicas": 5, "env": {"LEVEL": "info"}}, service="web")
    plan = plan_of([live(WEB, replicas=1)], desired=[five])
    assert [(d.field, d.desired, d.live) for d in plan.drift] == [("replicas", 3, 1)]
    assert plan.actions[0].reason == "spec changed; changed outside portable: replicas"


def test_without_managed_fields_the_plan_is_as_before() -> None:
    plan = compute_plan("shop", "k", [WEB], [live(WEB, replicas=1)], [WEB])
    assert plan.empty and not plan.drift


def test_detailed_exitcode_makes_bad_input_exit_1(tmp_path: Path) -> None:
    """terraform's convention: with --detailed-exitcode, 2 means changes, so errors exit 1."""
    manifest = tmp_path / "portable.yaml"
    manifest.write_text("apiVersion: portable/v1\nkind: Application\nmetadata: {name: x}\nservices: {web: {image: 5, replicas: many}}\n")
    run = lambda *extra: subprocess.run([sys.executable, "-c", "from portable.cli.main import main; main()", "plan", "-f", str(manifest), *extra],
                                        capture_output=True, text=True, timeout=60)
    plain, detailed = run(), run("--detailed-exitcode")
    assert plain.returncode == 2, plain.stderr
    assert detailed.returncode == 1, detailed.stderr
    assert "replicas" in detailed.stderr


def test_kubernetes_fields_ignore_what_the_apiserver_defaults() -> None:
    """The live object comes back with defaults (protocol, scheme, thresholds) and quantities
    in canonical form: none of that is drift; a changed value is."""
    from portable.providers.kubernetes.drift import managed_of

    def deployment(cpu: str, memory: str, probe: dict[str, object], port: dict[str, object], replicas: int = 2) -> dict[str, object]:
        container = {"name": "web", "image": "web:1", "ports": [port], "readinessProbe": probe, "env": [{"name": "A", "value": "1"}, {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                     "resources": {"limits": {"cpu": cpu, "memory": memory}}}
        return {"spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}}}

    desired = managed_of("Deployment", deployment("0.5", "1Gi", {"httpGet": {"path": "/h", "port": 8080}}, {"containerPort": 8080}))
    live = managed_of("Deployment", deployment("500m", "1024Mi", {"httpGet": {"path": "/h", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10}, {"containerPort": 8080, "protocol": "TCP"}))
    assert desired == live
    assert desired["env"] == {"A": "1"} and desired["health"] == "http :8080/h" and desired["resources"] == {"limits.cpu": "0.5", "limits.memory": "1073741824"}
    scaled = managed_of("Deployment", deployment("1", "1Gi", {"tcpSocket": {"port": 8080}}, {"containerPort": 8080}, replicas=1))
    assert {k for k in desired if desired[k] != scaled[k]} == {"replicas", "health", "resources"}
    assert managed_of("Service", {"spec": {"ports": []}}) == {}


def test_only_server_side_appliers_are_declared_co_owners() -> None:
    """kubectl scale / set env are updates (a repair takes their fields back); another tool's
    server-side apply is a co-owner whose fields stay a conflict."""
    from portable.providers.kubernetes.drift import other_appliers

    fields = [{"manager": "portable", "operation": "Apply"}, {"manager": "kubectl", "operation": "Update", "subresource": "scale"},
              {"manager": "kubectl-set", "operation": "Update"}]
    assert other_appliers({"metadata": {"managedFields": fields}}) == []
    assert other_appliers({"metadata": {"managedFields": [*fields, {"manager": "argocd", "operation": "Apply"}]}}) == ["argocd"]
