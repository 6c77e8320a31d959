"""Faults on the wire for the hardening suite: each lab target reached through a fault channel.

A `WireTarget` is one of the provider contract suite's targets (tests/providers/contract), with
settings that point portable at a fault channel in front of the real server instead of the
server itself:

* "http": a `RandomStatusProxy` (tests/lab/faults.py `HttpFaultProxy`) in this process, which
  answers a chosen share of the requests with 500/503 or 429 + Retry-After and forwards the rest;
* "tcp": a toxiproxy proxy of the test's own in front of that server, made like the lab's proxy
  for it (resets, latency, a blackout): the lab's proxies are shared with concurrent runs, whose
  toxics and blackouts must not reach this test, nor this test's theirs.

Counting is done through the target's own API (boto3, pyVmomi, the docker SDK, the kubernetes
client), never through portable, so a duplicate create is seen as a user would see it.
"""
from __future__ import annotations

import os
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CONTRACT = HERE.parent / "providers" / "contract"
if str(CONTRACT) not in sys.path:
    sys.path.insert(0, str(CONTRACT))

from contract_clouds import AwsTarget, LibcloudTarget, VsphereTarget  # noqa: E402
from contract_engines import DockerTarget, KubernetesTarget  # noqa: E402
from lab.faults import HttpFaultProxy, StatusFault  # noqa: E402

from contract_base import ContractTarget  # noqa: E402

#: lab target -> toxiproxy proxy in front of its server
TOXI_PROXY = {"aws": "moto", "libcloud": "moto", "kubernetes": "k8s_api", "vsphere": "vcsim", "docker": "docker_b"}
#: lab components each target needs besides `faults`
COMPONENTS = {"aws": ("moto",), "libcloud": ("moto",), "kubernetes": ("k8s",), "vsphere": ("vcsim",), "docker": ("docker_b", "images")}
#: what counts as "one instance of the service" on each target (duplicates are looked for there)
INSTANCE_KINDS = {"aws": "instances", "libcloud": "instances", "vsphere": "vms", "docker": "containers", "kubernetes": "deployments"}


class RandomStatusProxy(HttpFaultProxy):
    """An HttpFaultProxy answering a share `rate` of the requests itself with one of `statuses`
    (seeded, so a failing run can be replayed). `retry_after` goes with 429s."""

    def __init__(self, upstream: str, *, rate: float, statuses: tuple[int, ...], retry_after: int | None = None, seed: int = 17, **kw: Any) -> None:
        super().__init__(upstream, **kw)
        self.rate, self.statuses, self.retry_after = rate, statuses, retry_after
        self._random = random.Random(seed)
        self.enabled = True

    def _take_rule(self, method: str, path: str) -> StatusFault | None:
        with self._lock:
            if not self.enabled or self._random.random() >= self.rate:
                return None
            status = self._random.choice(self.statuses)
        return StatusFault(status, None, retry_after=self.retry_after if status == 429 else None, body=f"injected {status}\n")

    def injected(self) -> int:
        """How many requests this proxy answered with an injected status."""
        return sum(1 for _, _, status in self.seen if status in self.statuses)


class LostAnswerProxy(HttpFaultProxy):
    """An HttpFaultProxy that forwards every request, and for the first request of each of
    `actions` (EC2 query actions, e.g. "CreateVolume", found in the query or the form body)
    throws the server's answer away and answers 500 instead: the create was made, the client
    never hears of it, as when a connection drops after the cloud acted. A client that repeats
    such a create without looking first makes a second object."""

    def __init__(self, upstream: str, *, actions: tuple[str, ...], **kw: Any) -> None:
        super().__init__(upstream, **kw)
        self.pending = set(actions)
        self.lost: list[str] = []

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
        answer = super()._forward(method, path, headers, body)
        text = path + "&" + (body or b"").decode("latin-1")
        with self._lock:
            hit = next((a for a in sorted(self.pending) if f"Action={a}&" in text + "&"), None)
            if hit is not None and answer[0] < 300:
                self.pending.discard(hit)
                self.lost.append(hit)
        if hit is not None and answer[0] < 300:
            return 500, [("Content-Type", "text/plain")], f"answer to {hit} lost on the way\n".encode()
        return answer


@dataclass
class WireTarget:
    """One target on the lab with a fault channel in front of its API."""

    provider: str
    ct: ContractTarget
    lab_env: dict[str, str]
    tmp: Path
    _closers: list[Any] = field(default_factory=list)
    toxi_proxy: str = ""  # the test's own toxiproxy proxy, once tcp_endpoint made it

    @classmethod
    def open(cls, provider: str, lab_env: dict[str, str], tmp: Path) -> WireTarget:
        if provider == "docker":  # engine B: the one with a toxiproxy proxy in front of it
            ct: ContractTarget = DockerTarget(dict(lab_env, LAB_DOCKER_HOST=lab_env["LAB_DOCKER_B_HOST"]), tmp)
        else:
            ct = {"aws": AwsTarget, "libcloud": LibcloudTarget, "vsphere": VsphereTarget, "kubernetes": KubernetesTarget}[provider](lab_env, tmp)
        return cls(provider, ct, lab_env, tmp)

    # ------------------------------------------------------------------ fault channels
    def upstream(self, toxiproxy: Any) -> tuple[str, dict[str, Any]]:
        """The real server's URL (for an HttpFaultProxy) and the proxy's TLS arguments."""
        e = self.lab_env
        if self.provider == "aws":
            return e["LAB_MOTO_URL"], {}
        if self.provider == "libcloud":
            return f"http://127.0.0.1:{self.ct.proxy.port}", {}  # type: ignore[attr-defined]  # libcloud -> faults -> ns proxy -> moto
        pki = Path(e["LAB_RUN"]) / "k8s" / "pki"
        tls = {"certfile": str(pki / "apiserver.crt"), "keyfile": str(pki / "apiserver.key")}  # names 127.0.0.1, signed by the lab CA
        if self.provider == "kubernetes":
            return e["LAB_K8S_API"], dict(tls, upstream_ca=e["LAB_K8S_CA"])
        if self.provider == "vsphere":
            return f"https://{e['LAB_VC_HOST']}:{e['LAB_VC_PORT']}", dict(tls, upstream_insecure=True)
        bridge = toxiproxy.proxies()["docker_b"]["upstream"]  # the socat bridge to engine B's socket
        return f"http://{bridge}", {}

    def settings_via(self, app: str, endpoint: str | None) -> dict[str, Any]:
        """The target's settings with its API at `endpoint` ("scheme://127.0.0.1:PORT"), or direct with None."""
        settings = dict(self.ct.settings(app))
        if endpoint is None:
            return settings
        port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
        if self.provider == "aws":
            settings["endpoint_url"] = endpoint
        elif self.provider == "libcloud":
            settings["driver_options"] = dict(settings["driver_options"], port=port)
        elif self.provider == "vsphere":
            settings.update(host="127.0.0.1", port=port)
        elif self.provider == "docker":
            settings["host"] = "tcp://127.0.0.1:%d" % port
        else:
            settings["kubeconfig"] = self._kubeconfig_at(endpoint)
        return settings

    def tcp_endpoint(self, toxiproxy: Any) -> str:
        """The address of a toxiproxy proxy of this test's own in front of this target's server
        (named in `toxi_proxy` for the toxics; libcloud: a namespace proxy in front of it)."""
        if not self.toxi_proxy:
            self.toxi_proxy = toxiproxy.private_proxy(TOXI_PROXY[self.provider])
        listen = toxiproxy.listen(self.toxi_proxy)
        if self.provider == "aws":
            return f"http://{listen}"
        if self.provider == "libcloud":
            from ns_proxy import NamespaceProxy

            ns = NamespaceProxy(f"http://{listen}").__enter__()
            self._closers.append(ns)
            return f"http://127.0.0.1:{ns.port}"
        if self.provider == "vsphere":
            return f"https://{listen}/sdk"
        if self.provider == "docker":
            return f"tcp://{listen}"
        return f"https://{listen}"

    def _kubeconfig_at(self, server: str) -> str:
        config = yaml.safe_load(Path(self.ct.kubeconfig).read_text())  # type: ignore[attr-defined]
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = server
        fd, path = tempfile.mkstemp(prefix="kubeconfig-faults-", dir=self.tmp)
        os.close(fd)
        Path(path).write_text(yaml.safe_dump(config))
        return path

    # ------------------------------------------------------------------ what exists
    def instances(self, app: str) -> int:
        """Instances / VMs / containers / deployments of `app`, counted through the target's own API."""
        return len(self.ct.objects(app)[INSTANCE_KINDS[self.provider]])

    def load_balancers(self, app: str) -> int:
        return len(self.ct.objects(app).get("load_balancers", []))

    def close(self, apps: list[str]) -> None:
        for closer in self._closers:
            closer.__exit__(None, None, None)
        self.ct.close(apps)
