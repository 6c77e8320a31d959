"""Storage helper of the lab's Kubernetes (no kubelet, no CSI driver exists there).

Runs beside the control plane (started by `lab up k8s`), standard library only:
- recycles: a PersistentVolume left `Released` by a deleted claim gets its claimRef removed,
  so it is `Available` again (every lab PV uses reclaimPolicy Retain: no deleter plugin exists);
- provisions: a claim of StorageClass `standard` still Pending after a few seconds (no free
  pre-created PV big enough) gets a new hostPath PV of its exact size, pre-bound to it;
- wipes: a recycled PV's directory is emptied, as the Recycle policy would, so the next claim
  starts empty;
- lets exec reach volumes: kwok runs `exec` requests as local commands on this host, for pods an
  Exec object names (kwok's Exec API). For each container whose working directory is a mounted
  claim, the janitor writes that Exec with the claim's hostPath directory as the working
  directory: what a kubelet's bind mount would show the process. Pods are watched, so the Exec
  exists before the pod is Running; it is owned by the pod and goes with it.

Usage: python3 pv_janitor.py API_URL TOKEN CA_FILE
"""
import json
import os
import shutil
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request

API, TOKEN, CA = sys.argv[1:4]
CTX = ssl.create_default_context(cafile=CA)
CLASS = "standard"
ROOT = "/tmp/portable-lab-pv"


def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(API + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, context=CTX, timeout=10) as r:
        return json.load(r)


def wipe(pv):
    path = ((pv.get("spec") or {}).get("hostPath") or {}).get("path", "")
    if path.startswith(ROOT + "/") and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


def tick(seen):
    for pv in call("GET", "/api/v1/persistentvolumes")["items"]:
        if pv.get("status", {}).get("phase") == "Released":
            wipe(pv)
            call("PATCH", "/api/v1/persistentvolumes/" + pv["metadata"]["name"],
                 [{"op": "remove", "path": "/spec/claimRef"}], "application/json-patch+json")
            print("recycled", pv["metadata"]["name"], flush=True)
    now = time.time()
    for pvc in call("GET", "/api/v1/persistentvolumeclaims")["items"]:
        md, spec = pvc["metadata"], pvc["spec"]
        if pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName"):
            continue
        if spec.get("storageClassName") != CLASS:
            continue
        key = md["uid"]
        first = seen.setdefault(key, now)
        if now - first < 3:  # give the PV controller a chance to bind a pre-created PV first
            continue
        name = "pvc-" + md["uid"]
        pv = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"portable-lab/provisioned": "true"}},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": CLASS,
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "hostPath": {"path": ROOT + "/" + name},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]},
            },
        }
        try:
            call("POST", "/api/v1/persistentvolumes", pv)
            print("provisioned", name, "for", md["namespace"] + "/" + md["name"], flush=True)
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise


def volume_dir(pod, container):
    """The host directory a kubelet would mount at the container's working directory, if a claim."""
    workdir = (container.get("workingDir") or "").rstrip("/")
    mount = next((m for m in container.get("volumeMounts") or [] if m["mountPath"].rstrip("/") == workdir), None)
    if not workdir or mount is None:
        return None
    volume = next((v for v in pod["spec"].get("volumes") or [] if v["name"] == mount["name"]), {})
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if not claim:
        return None
    pvc = call("GET", f"/api/v1/namespaces/{pod['metadata']['namespace']}/persistentvolumeclaims/{claim}")
    if not pvc["spec"].get("volumeName"):
        return None
    pv = call("GET", "/api/v1/persistentvolumes/" + pvc["spec"]["volumeName"])
    path = ((pv["spec"].get("hostPath") or {}).get("path"))
    if not path:
        return None
    path = os.path.join(path, mount["subPath"]) if mount.get("subPath") else path
    os.makedirs(path, exist_ok=True)  # DirectoryOrCreate, as the kubelet would
    return path


KWOK_NODES = {}


def on_kwok_node(pod):
    """Whether the pod's node is one of kwok's (annotated kwok.x-k8s.io/node=fake): pods of the
    lab's real node (k8s_node) are exec'd by its kubelet, no Exec object is written for them."""
    name = pod["spec"]["nodeName"]
    if name not in KWOK_NODES:
        node = call("GET", "/api/v1/nodes/" + name)
        KWOK_NODES[name] = (node["metadata"].get("annotations") or {}).get("kwok.x-k8s.io/node") == "fake"
    return KWOK_NODES[name]


def bind_exec(pod, bound):
    md = pod["metadata"]
    if md["uid"] in bound or md.get("deletionTimestamp") or not pod["spec"].get("nodeName"):
        return
    if not on_kwok_node(pod):
        bound.add(md["uid"])
        return
    execs = []
    for container in pod["spec"]["containers"]:
        path = volume_dir(pod, container)
        if path:
            execs.append({"containers": [container["name"]], "local": {"workDir": path}})
    bound.add(md["uid"])
    if not execs:
        return
    body = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Exec",
            "metadata": {"name": md["name"], "namespace": md["namespace"],
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": md["name"], "uid": md["uid"]}]},
            "spec": {"execs": execs}}
    try:
        call("POST", f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{md['namespace']}/execs", body)
        print("exec", md["namespace"] + "/" + md["name"], "->", ", ".join(e["local"]["workDir"] for e in execs), flush=True)
    except urllib.error.HTTPError as e:
        if e.code != 409:
            bound.discard(md["uid"])
            raise


def watch_pods():
    """Binds an Exec to each pod as soon as it is scheduled (list, then watch from there)."""
    bound = set()
    while True:
        try:
            pods = call("GET", "/api/v1/pods")
            for pod in pods["items"]:
                bind_exec(pod, bound)
            rv = pods["metadata"]["resourceVersion"]
            req = urllib.request.Request(f"{API}/api/v1/pods?watch=1&timeoutSeconds=240&resourceVersion={rv}")
            req.add_header("Authorization", "Bearer " + TOKEN)
            with urllib.request.urlopen(req, context=CTX, timeout=300) as stream:
                for line in stream:
                    event = json.loads(line)
                    if event["type"] in ("ADDED", "MODIFIED"):
                        bind_exec(event["object"], bound)
        except Exception as e:  # the apiserver may be restarting, or the watch expired
            print("exec watch:", e, flush=True)
            time.sleep(1)


def main():
    threading.Thread(target=watch_pods, daemon=True).start()
    seen = {}
    while True:
        try:
            tick(seen)
        except Exception as e:  # the apiserver may be restarting; keep going
            print("error:", e, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
