"""The container engines of the contract suite: docker (engine A) and kubernetes (the lab
apiserver with kwok nodes)."""
from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from contract_base import ContractTarget, WrongCredentials


# ---------------------------------------------------------------------------- docker
class DockerTarget(ContractTarget):
    provider = "docker"
    components = ("docker", "images")
    APP_LABEL = "io.portable.app"
    SERVICE_LABEL = "io.portable.service"

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        import docker

        self.host = lab_env.get("LAB_DOCKER_HOST", "unix:///var/run/docker.sock")
        self.client = docker.DockerClient(base_url=self.host)
        self._listener: socket.socket | None = None

    def settings(self, app: str) -> dict[str, Any]:
        return {"provider": "docker", "host": self.host}

    def objects(self, app: str) -> dict[str, list[str]]:
        label = {"label": f"{self.APP_LABEL}={app}"}
        return {
            "containers": sorted(c.name for c in self.client.containers.list(all=True, filters=label)),
            "networks": sorted(n.name for n in self.client.networks.list(filters=label)),
            "volumes": sorted(v.name for v in self.client.volumes.list(filters=label)),
        }

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        found = self.client.containers.list(filters={"label": [f"{self.APP_LABEL}={app}", f"{self.SERVICE_LABEL}={service}"], "status": "running"})
        return [dict(e.partition("=")[::2] for e in c.attrs["Config"]["Env"] or []) for c in found]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        """An engine behind tcp+TLS whose client certificate files are not certificates: the
        handshake cannot succeed, and the sentence says where the certificates were read."""
        certs = self.tmp / "bad-certs"
        certs.mkdir(exist_ok=True)
        for name in ("ca.pem", "cert.pem", "key.pem"):
            (certs / name).write_text("not a certificate\n")
        self._listener = socket.create_server(("127.0.0.1", 0))
        listener = self._listener

        def accept() -> None:  # a TCP peer to start the handshake with; it never answers TLS
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                conn.close()

        threading.Thread(target=accept, daemon=True).start()
        port = listener.getsockname()[1]
        settings = {"provider": "docker", "host": f"tcp://127.0.0.1:{port}", "tls_verify": True, "cert_path": str(certs)}
        return WrongCredentials(settings, self.env(), ("cert_path", "DOCKER_CERT_PATH"))

    def close(self, apps: list[str]) -> None:
        if self._listener is not None:
            self._listener.close()
        for app in apps:  # what an interrupted case may have left
            label = {"label": f"{self.APP_LABEL}={app}"}
            for c in self.client.containers.list(all=True, filters=label):
                c.remove(force=True)
            for n in self.client.networks.list(filters=label):
                n.remove()
            for v in self.client.volumes.list(filters=label):
                v.remove(force=True)
        self.client.close()


# ---------------------------------------------------------------------------- kubernetes
class KubernetesTarget(ContractTarget):
    """The lab's kube-apiserver with kwok nodes: pods never run, their readiness is simulated,
    so status comes from what the apiserver reports. Both apps of a case share one namespace,
    so ownership is by label, not by namespace."""

    provider = "kubernetes"
    components = ("k8s",)
    INSTANCE = "app.kubernetes.io/instance"
    SERVICE = "portable.io/service"

    def __init__(self, lab_env: dict[str, str], tmp: Path) -> None:
        super().__init__(lab_env, tmp)
        from kubernetes import client, config

        self.kubeconfig = lab_env["KUBECONFIG"]
        self.namespace = f"ct-{uuid.uuid4().hex[:8]}"
        api = config.new_client_from_config(config_file=self.kubeconfig, context="lab")
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.policy = client.PolicyV1Api(api)
        self.networking = client.NetworkingV1Api(api)

    def settings(self, app: str) -> dict[str, Any]:
        return {"provider": "kubernetes", "kubeconfig": self.kubeconfig, "context": "lab", "namespace": self.namespace}

    def _listings(self) -> dict[str, Callable[..., Any]]:
        ns = self.namespace
        return {
            "deployments": lambda **kw: self.apps.list_namespaced_deployment(ns, **kw),
            "statefulsets": lambda **kw: self.apps.list_namespaced_stateful_set(ns, **kw),
            "pods": lambda **kw: self.core.list_namespaced_pod(ns, **kw),
            "services": lambda **kw: self.core.list_namespaced_service(ns, **kw),
            "configmaps": lambda **kw: self.core.list_namespaced_config_map(ns, **kw),
            "secrets": lambda **kw: self.core.list_namespaced_secret(ns, **kw),
            "persistentvolumeclaims": lambda **kw: self.core.list_namespaced_persistent_volume_claim(ns, **kw),
            "horizontalpodautoscalers": lambda **kw: self.autoscaling.list_namespaced_horizontal_pod_autoscaler(ns, **kw),
            "poddisruptionbudgets": lambda **kw: self.policy.list_namespaced_pod_disruption_budget(ns, **kw),
            "ingresses": lambda **kw: self.networking.list_namespaced_ingress(ns, **kw),
        }

    def objects(self, app: str) -> dict[str, list[str]]:
        selector = f"{self.INSTANCE}={app}"
        return {kind: sorted(o.metadata.name for o in list_(label_selector=selector).items) for kind, list_ in self._listings().items()}

    def running_env(self, app: str, service: str) -> list[dict[str, str]]:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"{self.INSTANCE}={app},{self.SERVICE}={service}").items
        live = [p for p in pods if p.metadata.deletion_timestamp is None and p.status.phase == "Running"]
        return [{e.name: e.value for e in (p.spec.containers[0].env or [])} for p in live]

    def wrong_credentials(self, app: str) -> WrongCredentials:
        """The lab's kubeconfig with a token the apiserver does not know."""
        token = f"contract-wrong-{uuid.uuid4().hex}"
        config = yaml.safe_load(Path(self.kubeconfig).read_text())
        for user in config["users"]:
            if "token" in user["user"]:
                user["user"]["token"] = token
        path = self.tmp / "wrong-kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return WrongCredentials(dict(self.settings(app), kubeconfig=str(path)), self.env(), (f"context lab of kubeconfig {path}",), secret=token)

    def close(self, apps: list[str]) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.delete_namespace(self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.api.close()
