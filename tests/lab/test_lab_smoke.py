"""Smoke test of the lab itself: every component answers and does what the provider tests rely on.

Run after `bash tests/lab/lab up` (or through `bash tests/lab/lab test`). Under CI=true a
component that does not answer fails these tests (tests/conftest.py, marker `lab`).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest


def run(*argv: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} -> {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def wait_until(what: str, fn, timeout: float = 60, interval: float = 0.5):
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timeout ({timeout}s) waiting for {what}")
        time.sleep(interval)


def http(url: str, timeout: float = 3) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


# ------------------------------------------------------------------ kubernetes
@pytest.fixture
def kubectl(kubeconfig):
    return lambda *a, **kw: run("kubectl", "--kubeconfig", kubeconfig, *a, **kw)


@pytest.fixture
def namespace(kubectl):
    name = f"smoke-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


@pytest.mark.lab("k8s")
def test_two_kwok_nodes_are_ready(kubectl):
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    ready = [n["metadata"]["name"] for n in nodes
             if n["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"
             and any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
    assert len(ready) >= 2, f"Ready kwok nodes: {ready}"


@pytest.mark.lab("k8s")
def test_deployment_of_three_replicas_becomes_available(kubectl, namespace):
    kubectl("-n", namespace, "create", "deployment", "web", "--image=lab/web:1", "--replicas=3", "--port=8080")
    kubectl("-n", namespace, "rollout", "status", "deployment/web", "--timeout=120s")
    status = json.loads(kubectl("-n", namespace, "get", "deployment", "web", "-o", "json").stdout)["status"]
    assert status.get("availableReplicas") == 3 and status.get("readyReplicas") == 3, status
    pods = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    assert len(pods) == 3 and all(p["spec"].get("nodeName", "").startswith("kwok-node-") for p in pods)
    kubectl("-n", namespace, "delete", "deployment", "web", "--wait=true", "--timeout=60s")


@pytest.mark.lab("k8s")
def test_pvc_binds_through_the_default_storage_class(kubectl, namespace):
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    big = {**pvc, "metadata": {"name": "big"},
           "spec": {**pvc["spec"], "resources": {"requests": {"storage": "200Gi"}}}}  # no pre-created PV fits
    for doc in (pvc, big):
        _apply(kubectl, namespace, doc)

    def phases():
        items = json.loads(kubectl("-n", namespace, "get", "pvc", "-o", "json").stdout)["items"]
        got = {i["metadata"]["name"]: i["status"].get("phase") for i in items}
        return got if set(got.values()) == {"Bound"} else None
    assert wait_until("PVCs Bound", phases, timeout=60) == {"data": "Bound", "big": "Bound"}
    sc = json.loads(kubectl("-n", namespace, "get", "pvc", "data", "-o", "json").stdout)["spec"]["storageClassName"]
    assert sc == "standard"


@pytest.mark.lab("k8s")
def test_exec_into_a_pod_working_in_a_claim_reaches_the_claims_directory(kubectl, namespace):
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "workingDir": "/data",
                                    "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    for doc in (pvc, pod, plain):
        _apply(kubectl, namespace, doc)
    wait_until("pods Running", lambda: kubectl("-n", namespace, "get", "pods", "-o", "jsonpath={.items[*].status.phase}").stdout == "Running Running")
    volume = kubectl("get", "pv", kubectl("-n", namespace, "get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}").stdout,
                     "-o", "jsonpath={.spec.hostPath.path}").stdout
    token = uuid.uuid4().hex
    with open(f"{volume}/token", "w") as f:
        f.write(token)
    read = wait_until("exec into the reader", lambda: kubectl("-n", namespace, "exec", "reader", "--", "cat", "token", check=False).stdout, timeout=20)
    assert read == token
    refused = kubectl("-n", namespace, "exec", "plain", "--", "true", check=False)
    assert refused.returncode != 0 and "no exec found" in refused.stderr


def _apply(kubectl, namespace, doc):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(doc, f)
        f.flush()
        kubectl("-n", namespace, "apply", "-f", f.name)


@pytest.mark.lab("k8s")
def test_namespace_deletion_completes(kubectl):
    name = f"smoke-del-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    kubectl("-n", name, "create", "configmap", "c", "--from-literal=a=b")
    kubectl("delete", "namespace", name, "--wait=true", "--timeout=90s", timeout=120)
    assert kubectl("get", "namespace", name, check=False).returncode != 0


# ------------------------------------------------------------------ vsphere (vcsim)
@pytest.mark.lab("vcsim")
def test_vcsim_clones_and_powers_on_from_the_template(vcsim):
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    def wait(task):
        # not pyVim.task.WaitForTask: vcsim names running tasks e.g. "cloneVm" instead of
        # "vim.VirtualMachine.clone", and WaitForTask then fails on an UnknownManagedMethod
        state = wait_until("vcsim task", lambda: task.info.state in ("success", "error") and task.info.state, 60, 0.1)
        assert state == "success", task.info.error
        return task.info.result

    si = SmartConnect(host=vcsim.host, port=vcsim.port, user=vcsim.user, pwd=vcsim.password,
                      disableSslCertValidation=True)
    try:
        content = si.RetrieveContent()
        dcs = {e.name: e for e in content.rootFolder.childEntity if isinstance(e, vim.Datacenter)}
        assert vcsim.datacenter in dcs
        dc = dcs[vcsim.datacenter]
        view = content.viewManager.CreateContainerView(dc, [vim.VirtualMachine], True)
        template = next(v for v in view.view if v.name == vcsim.template)
        assert template.config.template
        cluster = next(c for c in dc.hostFolder.childEntity if c.name == vcsim.cluster)
        folder = next(f for f in dc.vmFolder.childEntity if f.name == vcsim.folder)
        assert vcsim.datastore in [d.name for d in dc.datastore]
        assert vcsim.network in [n.name for n in dc.network]
        name = f"smoke-{uuid.uuid4().hex[:6]}"
        spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=cluster.resourcePool), powerOn=True)
        wait(template.CloneVM_Task(folder=folder, name=name, spec=spec))
        vm = next(v for v in folder.childEntity if v.name == name)
        assert vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
        wait(vm.PowerOffVM_Task())
        wait(vm.Destroy_Task())
    finally:
        Disconnect(si)


# ------------------------------------------------------------------ aws (moto)
@pytest.mark.lab("moto")
def test_moto_runs_and_terminates_an_ec2_instance(moto_url):
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("pending", "running")
    ec2.terminate_instances(InstanceIds=[iid])
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state in ("shutting-down", "terminated")


# ------------------------------------------------------------------ docker engines, images, registry
@pytest.mark.lab("docker", "registry", "images")
def test_push_and_pull_through_the_lab_registry(docker_host, registry):
    ref = f"{registry}/lab/smoke-{uuid.uuid4().hex[:6]}:1"
    d = ("docker", "-H", docker_host)
    run(*d, "tag", "lab/web:1", ref)
    run(*d, "push", ref)
    run(*d, "rmi", ref)
    run(*d, "pull", ref)
    assert run(*d, "image", "inspect", "-f", "{{.Id}}", ref).stdout == run(*d, "image", "inspect", "-f", "{{.Id}}", "lab/web:1").stdout
    assert ref.split("/", 1)[1].split(":")[0] in json.loads(http(f"http://{registry}/v2/_catalog"))["repositories"]
    run(*d, "rmi", ref)


@pytest.mark.lab("docker", "docker_b", "images")
def test_both_engines_answer_and_publish_ports(docker_host, docker_b_host):
    ids = {h: run("docker", "-H", h, "info", "-f", "{{.ID}}").stdout.strip() for h in (docker_host, docker_b_host)}
    assert len(set(ids.values())) == 2, f"engine A and B are the same daemon: {ids}"
    for h in (docker_host, docker_b_host):
        name = f"smoke-{uuid.uuid4().hex[:6]}"
        run("docker", "-H", h, "run", "-d", "--name", name, "-p", "127.0.0.1::8080", "-e", "GREETING=smoke", "lab/web:1")
        try:
            port = run("docker", "-H", h, "port", name, "8080").stdout.split(":")[-1].strip()
            body = wait_until(f"lab/web on {h}", lambda port=port: _try(f"http://127.0.0.1:{port}/cgi-bin/count"), timeout=30)
            assert body.strip() == "count=1 greeting=smoke"
        finally:
            run("docker", "-H", h, "rm", "-f", name, check=False)


def _try(url):
    try:
        return http(url)
    except OSError:
        return None


@pytest.mark.lab("docker", "images")
def test_kamal_proxy_switches_upstream_without_dropping_requests(docker_host):
    d = ("docker", "-H", docker_host)
    tag = uuid.uuid4().hex[:6]
    net, proxy, blue, green = (f"smoke-{x}-{tag}" for x in ("net", "proxy", "blue", "green"))
    run(*d, "network", "create", net)
    try:
        run(*d, "run", "-d", "--name", proxy, "--network", net, "-p", "127.0.0.1::80", "lab/kamal-proxy:1")
        run(*d, "run", "-d", "--name", blue, "--network", net, "-e", "GREETING=blue", "lab/web:1")
        port = run(*d, "port", proxy, "80").stdout.split(":")[-1].strip()
        deploy = (*d, "exec", proxy, "kamal-proxy", "deploy", "app", "--health-check-path", "/cgi-bin/health",
                  "--deploy-timeout", "20s")
        run(*deploy, "--target", f"{blue}:8080")
        assert "greeting=blue" in http(f"http://127.0.0.1:{port}/cgi-bin/count")
        run(*d, "run", "-d", "--name", green, "--network", net, "-e", "GREETING=green", "lab/web:1")
        switch = subprocess.Popen([*deploy, "--target", f"{green}:8080"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        failures = 0
        while switch.poll() is None:
            failures += _try(f"http://127.0.0.1:{port}/cgi-bin/health") is None
        assert switch.returncode == 0, switch.stdout.read()
        assert failures == 0
        assert "greeting=green" in http(f"http://127.0.0.1:{port}/cgi-bin/count")
    finally:
        run(*d, "rm", "-f", proxy, blue, green, check=False)
        run(*d, "network", "rm", net, check=False)
