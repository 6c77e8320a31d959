"""The kubernetes target against the lab's real control plane (etcd, kube-apiserver,
controller-manager, scheduler; kwok plays the kubelet).

What a user notices: the examples come up available, a redeploy touches nothing, an env
change rolls only its Deployment, a removed service disappears, a bad revision is rolled
back by itself, destroy leaves nothing behind, and rendered YAML is accepted by kubectl.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import example_with_target, kubectl

from portable import api
from portable.errors import HealthCheckError, TargetError

pytestmark = pytest.mark.lab("k8s")

KINDS = "deployments,statefulsets,replicasets,pods,services,configmaps,secrets,persistentvolumeclaims,ingresses,horizontalpodautoscalers,poddisruptionbudgets"


def target(kubeconfig: str, namespace: str, **extra: Any) -> dict[str, Any]:
    return {"kubeconfig": kubeconfig, "namespace": namespace, "storage_class": "standard", "rollout_timeout": "120s", **extra}


def live(kubeconfig: str, namespace: str, app: str, kinds: str = KINDS) -> dict[str, dict[str, Any]]:
    out = kubectl(kubeconfig, "-n", namespace, "get", kinds, "-l", f"app.kubernetes.io/instance={app}", "-o", "json")
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in json.loads(out.stdout)["items"]}


def assert_available(kubeconfig: str, namespace: str, app: str) -> dict[str, dict[str, Any]]:
    objs = live(kubeconfig, namespace, app, "deployments,statefulsets")
    assert objs, "no workloads found"
    for key, o in objs.items():
        want = o["spec"]["replicas"]
        st = o.get("status", {})
        assert st.get("availableReplicas", 0) == want and st.get("readyReplicas", 0) == want, f"{key} is not available: {st}"
    return objs


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable.cli.main", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=400)


def test_hello_deploys_then_redeploy_changes_nothing_then_env_change_rolls(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    first = api.deploy(manifest, "k8s", state=state, env=k8s_env)
    assert first.changed
    assert_available(k8s_kubeconfig, namespace, "hello")
    before = {k: o["metadata"]["resourceVersion"] for k, o in live(k8s_kubeconfig, namespace, "hello").items()}

    again = api.deploy(manifest, "k8s", state=state, env=k8s_env)
    assert again.plan.empty, again.plan.render_text()
    after = {k: o["metadata"]["resourceVersion"] for k, o in live(k8s_kubeconfig, namespace, "hello").items()}
    assert after == before, "a redeploy with no change modified objects"

    old_rs = {k for k in before if k.startswith("ReplicaSet/")}
    changed = api.deploy(manifest, "k8s", state=state, env={**k8s_env, "GREETING": "hello again"})
    assert [a.key for a in changed.plan.actions] == ["Deployment/web"]
    objs = assert_available(k8s_kubeconfig, namespace, "hello")
    env = objs["Deployment/web"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "GREETING", "value": "hello again"} in env
    now = live(k8s_kubeconfig, namespace, "hello")
    new_rs = {k for k in now if k.startswith("ReplicaSet/")} - old_rs
    assert len(new_rs) == 1, "changing an env var did not roll out a new ReplicaSet"
    pods = [o for k, o in now.items() if k.startswith("Pod/") and not o["metadata"].get("deletionTimestamp")]
    assert pods and all(p["metadata"]["labels"]["pod-template-hash"] in next(iter(new_rs)) for p in pods)
    # unchanged objects were not touched by the roll
    for key in ("Service/web", "Service/web-public"):
        assert now[key]["metadata"]["resourceVersion"] == before[key]


def test_shop_deploys_available_and_status_reports_it(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    ingress = {"class": "nginx", "host": "shop.example.com", "tls_secret": "shop-tls"}
    manifest = example_with_target("shop", tmp_path, "k8s", target(k8s_kubeconfig, namespace, ingress=ingress))
    api.deploy(manifest, "k8s", state=tmp_path / "state.db", env=k8s_env, parallelism=8)
    objs = assert_available(k8s_kubeconfig, namespace, "shop")
    rule = live(k8s_kubeconfig, namespace, "shop", "ingresses")["Ingress/shop"]["spec"]["rules"][0]
    assert rule["host"] == "shop.example.com" and rule["http"]["paths"][0]["backend"]["service"]["name"] == "web"
    assert set(objs) == {"Deployment/web", "Deployment/api", "Deployment/worker", "StatefulSet/kv"}
    pvc = live(k8s_kubeconfig, namespace, "shop", "persistentvolumeclaims")["PersistentVolumeClaim/data-kv-0"]
    assert pvc["status"]["phase"] == "Bound"
    secret = live(k8s_kubeconfig, namespace, "shop", "secrets")["Secret/shop-api-token"]
    import base64

    assert base64.b64decode(secret["data"]["value"]).decode() == k8s_env["SHOP_API_TOKEN"]
    status = {s.service: s for s in api.status(manifest, "k8s", state=tmp_path / "state.db", env=k8s_env).services}
    assert status["web"].desired == 2 and status["web"].healthy == 2
    assert "https://shop.example.com/" in status["web"].endpoints
    assert status["kv"].healthy == 1
    assert status["kv"].endpoints == (f"kv.{namespace}.svc:8080",)
    assert api.plan(manifest, "k8s", state=tmp_path / "state.db", env=k8s_env).empty


def test_removed_service_is_pruned_and_volume_kept(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("shop", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env, parallelism=8)
    data = yaml.safe_load(manifest.read_text())
    # drop `worker` (and nothing else) from the copy, keeping interpolation text intact
    text = manifest.read_text()
    start = text.index("  worker:\n")
    end = text.index("  kv:\n")
    manifest.write_text(text[:start] + text[end:])
    assert "worker" in data["services"]
    result = api.deploy(manifest, "k8s", state=state, env=k8s_env)
    assert {a.key for a in result.plan.actions} == {"Deployment/worker"}
    assert all(a.op == "delete" for a in result.plan.actions)
    left = live(k8s_kubeconfig, namespace, "shop")
    assert not [k for k in left if "worker" in k], f"worker objects left: {[k for k in left if 'worker' in k]}"
    assert "Deployment/web" in left and "StatefulSet/kv" in left


def test_unready_revision_is_rolled_back(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env)
    good = live(k8s_kubeconfig, namespace, "hello", "deployments")["Deployment/web"]
    # a revision no node can run: it asks for more CPU than any node has
    text = manifest.read_text().replace("    env:\n", "    resources:\n      cpu: 1000\n    env:\n", 1)
    manifest.write_text(text)
    with pytest.raises(HealthCheckError) as failure:
        api.deploy(manifest, "k8s", state=state, env={**k8s_env, "GREETING": "broken"}, timeout=10)
    message = str(failure.value)
    assert "Deployment web" in message and "rolled back to revision 1" in message
    assert "FailedScheduling" in message or "Insufficient cpu" in message, message
    back = assert_available(k8s_kubeconfig, namespace, "hello")["Deployment/web"]
    assert back["spec"]["template"] == good["spec"]["template"]
    assert back["metadata"]["annotations"]["portable.io/digest"] == good["metadata"]["annotations"]["portable.io/digest"]
    pods = [o for k, o in live(k8s_kubeconfig, namespace, "hello", "pods").items() if not o["metadata"].get("deletionTimestamp")]
    assert len(pods) == 1 and pods[0]["status"]["phase"] == "Running"
    history = api.history(manifest, "k8s", state=state, env=k8s_env)
    assert [r.status for r in history][-1] == "failed"


def test_destroy_leaves_nothing_labelled_and_volumes_only_on_request(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("shop", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env, parallelism=8)
    api.destroy(manifest, "k8s", state=state, env=k8s_env, parallelism=8)
    left = live(k8s_kubeconfig, namespace, "shop")
    assert set(left) == {"PersistentVolumeClaim/data-kv-0"}, f"left after destroy: {sorted(left)}"
    api.destroy(manifest, "k8s", volumes=True, state=state, env=k8s_env)
    assert live(k8s_kubeconfig, namespace, "shop", KINDS + ",endpointslices,controllerrevisions") == {}


@pytest.mark.parametrize("example", ["hello", "shop"])
def test_rendered_yaml_passes_server_dry_run(example: str, k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    # the settings of the golden files (NodePort for hello, an Ingress with TLS for shop)
    from test_k8s_golden import TARGETS

    manifest = example_with_target(example, tmp_path, "k8s", target(k8s_kubeconfig, **{**TARGETS[example], "namespace": namespace}))
    [rendered] = api.render(manifest, "k8s", tmp_path / "out", env=k8s_env)
    # a server dry run cannot create the namespace the other objects go in: create it first
    kubectl(k8s_kubeconfig, "create", "namespace", namespace)
    out = kubectl(k8s_kubeconfig, "apply", "--dry-run=server", "-f", str(rendered), check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("(server dry run)") == len([d for d in yaml.safe_load_all(rendered.read_text()) if d])


def test_cli_deploy_reports_invalid_object_in_one_sentence(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    # a label value Kubernetes refuses (spaces are not allowed in label values)
    manifest.write_text(manifest.read_text().replace("team: platform", "team: platform team", 1))
    run = cli("deploy", "-f", str(manifest), "--target", "k8s", "--yes", "--state", str(tmp_path / "s.db"), env=k8s_env, cwd=tmp_path)
    # the loader knows Kubernetes' label rules now: refused at its line, before any object is sent
    assert run.returncode == 2, run.stdout + run.stderr
    assert "portable.yaml:7:11: metadata.labels.team: label value 'platform team'" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert kubectl(k8s_kubeconfig, "get", "deployments", "-n", namespace, "-o", "name", check=False).stdout.strip() == ""


def test_field_owned_by_another_manager_conflicts_unless_forced(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env)
    # someone else takes the image field with their own server-side apply
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
             "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "lab/web:other"}]}}}}
    other = tmp_path / "other.yaml"
    other.write_text(json.dumps(patch))
    kubectl(k8s_kubeconfig, "apply", "--server-side", "--field-manager=someone-else", "--force-conflicts", "-f", str(other))
    changed_env = {**k8s_env, "WEB_IMAGE": "lab/web:2"}
    with pytest.raises(TargetError) as conflict:
        api.deploy(manifest, "k8s", state=state, env=changed_env)
    assert "owned by another manager" in str(conflict.value) and "image" in str(conflict.value)
    assert "--force-conflicts" in str(conflict.value)
    refused = cli("deploy", "-f", str(manifest), "--target", "k8s", "--yes", "--state", str(state), env=changed_env, cwd=tmp_path)
    assert refused.returncode == 1 and "spec.template.spec.containers" in refused.stderr, refused.stderr
    forced = cli("deploy", "-f", str(manifest), "--target", "k8s", "--yes", "--force-conflicts", "--state", str(state), env=changed_env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    image = live(k8s_kubeconfig, namespace, "hello", "deployments")["Deployment/web"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "lab/web:2"


def limited_kubeconfig(k8s_kubeconfig: str, namespace: str, account: str, tmp_path: Path) -> Path:
    """A kubeconfig for ServiceAccount `account` of `namespace` (a real token from the apiserver)."""
    kubectl(k8s_kubeconfig, "-n", namespace, "create", "serviceaccount", account)
    token = kubectl(k8s_kubeconfig, "-n", namespace, "create", "token", account).stdout.strip()
    config = yaml.safe_load(Path(k8s_kubeconfig).read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path = tmp_path / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_namespace_admin_without_cluster_rights_can_deploy(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    kubectl(k8s_kubeconfig, "create", "namespace", namespace)
    config = limited_kubeconfig(k8s_kubeconfig, namespace, "deployer", tmp_path)
    kubectl(k8s_kubeconfig, "-n", namespace, "create", "rolebinding", "deployer-admin", "--clusterrole=admin", f"--serviceaccount={namespace}:deployer")
    manifest = example_with_target("shop", tmp_path, "k8s", target(str(config), namespace))
    api.deploy(manifest, "k8s", state=tmp_path / "s.db", env=k8s_env, parallelism=8)
    assert_available(k8s_kubeconfig, namespace, "shop")
    api.destroy(manifest, "k8s", volumes=True, state=tmp_path / "s.db", env=k8s_env, parallelism=8)
    assert live(k8s_kubeconfig, namespace, "shop") == {}


def test_user_without_rbac_gets_one_sentence_naming_what_was_refused(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    # a real identity the apiserver authenticates but RBAC grants nothing: a fresh ServiceAccount's token
    kubectl(k8s_kubeconfig, "create", "namespace", namespace)
    limited = limited_kubeconfig(k8s_kubeconfig, namespace, "nobody", tmp_path)
    manifest = example_with_target("hello", tmp_path, "k8s", target(str(limited), namespace))
    run = cli("deploy", "-f", str(manifest), "--target", "k8s", "--yes", "--state", str(tmp_path / "s.db"), env=k8s_env, cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not allowed to list" in run.stderr and f"in namespace {namespace}" in run.stderr, run.stderr
    assert "RBAC" in run.stderr and "Traceback" not in run.stderr
    targets = cli("targets", "-f", str(manifest), env=k8s_env, cwd=tmp_path)
    assert "refuses this user" in targets.stdout + targets.stderr


def test_status_and_logs(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("hello", tmp_path, "k8s", target(k8s_kubeconfig, namespace, public_service_type="NodePort"))
    state = tmp_path / "s.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env)
    run = cli("status", "-f", str(manifest), "--target", "k8s", "--state", str(state), "-o", "json", env=k8s_env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    [web] = json.loads(run.stdout)["services"]
    assert (web["desired"], web["running"], web["healthy"]) == (1, 1, 1)
    node_port = live(k8s_kubeconfig, namespace, "hello", "services")["Service/web-public"]["spec"]["ports"][0]["nodePort"]
    assert len(web["endpoints"]) == 1 and web["endpoints"][0].endswith(f":{node_port}"), web["endpoints"]
    assert web["instances"][0]["revision"]
    logs = cli("logs", "-f", str(manifest), "--target", "k8s", "web", env=k8s_env, cwd=tmp_path)
    # kwok plays the kubelet (the apiserver reaches it) and keeps no container logs: the user
    # gets the kubelet's answer in one sentence naming the pod, not a traceback
    assert logs.returncode == 1 and "Traceback" not in logs.stderr, logs.stderr
    assert f"logs of pod {web['instances'][0]['name']}" in logs.stderr and "no logs found for container" in logs.stderr, logs.stderr


def test_unready_statefulset_revision_is_rolled_back(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("shop", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env, parallelism=8)
    good = live(k8s_kubeconfig, namespace, "shop", "statefulsets")["StatefulSet/kv"]
    # kv asks for more memory than any node has: its new pod can never be scheduled
    with pytest.raises(HealthCheckError) as failure:
        api.deploy(manifest, "k8s", state=state, env={**k8s_env, "SHOP_KV_MEMORY": "4000Gi"}, timeout=10)
    assert "StatefulSet kv" in str(failure.value) and "rolled back to revision 1" in str(failure.value)
    back = assert_available(k8s_kubeconfig, namespace, "shop")["StatefulSet/kv"]
    assert back["spec"]["template"] == good["spec"]["template"]
    pods = live(k8s_kubeconfig, namespace, "shop", "pods")
    assert pods["Pod/kv-0"]["metadata"]["labels"]["controller-revision-hash"] == back["status"]["updateRevision"]


def test_volume_size_change_replaces_statefulset_without_restarting_its_pod(k8s_kubeconfig: str, namespace: str, k8s_env: dict[str, str], tmp_path: Path) -> None:
    manifest = example_with_target("shop", tmp_path, "k8s", target(k8s_kubeconfig, namespace))
    state = tmp_path / "state.db"
    api.deploy(manifest, "k8s", state=state, env=k8s_env, parallelism=8)
    pod_uid = live(k8s_kubeconfig, namespace, "shop", "pods")["Pod/kv-0"]["metadata"]["uid"]
    manifest.write_text(manifest.read_text().replace("    size: 1Gi", "    size: 2Gi"))
    result = api.deploy(manifest, "k8s", state=state, env=k8s_env)
    ops = {a.key: a.op for a in result.plan.actions}
    assert ops == {"StatefulSet/kv": "replace", "PersistentVolumeClaim/data-kv-0": "update"}
    objs = live(k8s_kubeconfig, namespace, "shop")
    claim = objs["StatefulSet/kv"]["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert claim == "2Gi"
    assert objs["PersistentVolumeClaim/data-kv-0"]["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert objs["Pod/kv-0"]["metadata"]["uid"] == pod_uid, "the kv pod was restarted by a change that did not need it"
    assert_available(k8s_kubeconfig, namespace, "shop")
