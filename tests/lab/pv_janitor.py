"""Storage helper of the lab's Kubernetes (no kubelet, no CSI driver exists there).

Runs beside the control plane (started by `lab up k8s`), standard library only:
- recycles: a PersistentVolume left `Released` by a deleted claim gets its claimRef removed,
  so it is `Available` again (every lab PV uses reclaimPolicy Retain: no deleter plugin exists);
- provisions: a claim of StorageClass `standard` still Pending after a few seconds (no free
  pre-created PV big enough) gets a new hostPath PV of its exact size, pre-bound to it.

Usage: python3 pv_janitor.py API_URL TOKEN CA_FILE
"""
import json
import ssl
import sys
import time
import urllib.request

API, TOKEN, CA = sys.argv[1:4]
CTX = ssl.create_default_context(cafile=CA)
CLASS = "standard"


def call(method, path, body=None, ctype="application/json"):
    req = urllib.request.Request(API + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Authorization", "Bearer " + TOKEN)
    req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, context=CTX, timeout=10) as r:
        return json.load(r)


def tick(seen):
    for pv in call("GET", "/api/v1/persistentvolumes")["items"]:
        if pv.get("status", {}).get("phase") == "Released":
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
                "hostPath": {"path": "/tmp/portable-lab-pv/" + name},
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


def main():
    seen = {}
    while True:
        try:
            tick(seen)
        except Exception as e:  # the apiserver may be restarting; keep going
            print("error:", e, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
