"""Fixtures of the kubernetes provider tests: the lab apiserver and a fresh namespace per test."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from k8s_helpers import kubectl, lab_kubeconfig

LAB_IMAGES = {
    "WEB_IMAGE": "lab/web:1",
    "WEB_PORT": "8080",
    "WEB_HEALTH_PATH": "/cgi-bin/health",
    "SHOP_WEB_IMAGE": "lab/web:1",
    "SHOP_WEB_PORT": "8080",
    "SHOP_WEB_HEALTH_PATH": "/cgi-bin/health",
    "SHOP_API_IMAGE": "lab/web:1",
    "SHOP_API_HEALTH_PATH": "/cgi-bin/health",
    "SHOP_WORKER_IMAGE": "lab/worker:1",
    "SHOP_KV_IMAGE": "lab/kv:1",
    "SHOP_KV_PORT": "8080",
    "SHOP_KV_HEALTH": "wget -q -O- http://127.0.0.1:8080/cgi-bin/health",
    "SHOP_API_TOKEN": "lab-token-s3cr3t",
}


@pytest.fixture
def k8s_kubeconfig(request: pytest.FixtureRequest) -> str:
    """The lab's kubeconfig: the shared `kubeconfig` fixture when the lab conftest has it."""
    try:
        return str(request.getfixturevalue("kubeconfig"))
    except pytest.FixtureLookupError:
        pass
    path = os.environ.get("PORTABLE_LAB_KUBECONFIG") or lab_kubeconfig()
    if not path or not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail("the lab's Kubernetes is not up (bash tests/lab/lab up k8s)")
        pytest.skip("LAB COMPONENT MISSING: k8s (run: bash tests/lab/lab up k8s)")
    return path


@pytest.fixture
def namespace(k8s_kubeconfig: str) -> Iterator[str]:
    """A namespace name unique to the test; deleted afterwards (objects, PVCs and all)."""
    name = f"pt-{uuid.uuid4().hex[:8]}"
    yield name
    kubectl(k8s_kubeconfig, "delete", "namespace", name, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture
def k8s_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(LAB_IMAGES)
    return env
