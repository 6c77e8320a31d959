"""Shared test machinery: the lab (tests/lab, see tests/lab/README.md).

`bash tests/lab/lab up [COMPONENT...]` starts real engines and simulators on loopback and writes
their endpoints to $LAB_RUN/env.json (LAB_RUN defaults to /tmp/portable-lab). Tests ask for
components in two ways, both of which probe that the component actually answers:

    pytestmark = pytest.mark.lab("k8s", "registry")   # marker, on a module/class/function

    def test_x(kubeconfig): ...                          # fixtures require their component
    def test_y(lab):
        env = lab.require("docker", "registry")         # at run time; returns env.json

Components: docker, docker_b, registry, images, k8s, k8s_node, vcsim, moto, postgres, compose, dbimages, dns, faults.
A component that does not answer makes the test FAIL when CI=true and SKIP (loudly, with the
command that starts it) otherwise; the session summary lists what was missing.

Fixtures: lab (Lab: .require(*components), .env), lab_env (dict of env.json, no requirement),
docker_host, docker_b_host, registry ("127.0.0.1:5000"), kubeconfig (path), vcsim
(VcsimEndpoint), moto_url, real_node (RealNode: name, .target_settings). The function behind them all is require_lab(*components) here.
Variables of env.json also become defaults of os.environ (explicit environment wins), so
plain `pytest` works after `lab up` without sourcing env.sh.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest

from leak_scan import leak_secrets  # noqa: F401  (the leak scanner fixture, tests/leak_scan.py)

LAB_RUN = Path(os.environ.get("LAB_RUN", "/tmp/portable-lab"))
COMPONENTS = ("docker", "docker_b", "registry", "images", "k8s", "k8s_node", "vcsim", "moto", "postgres", "compose", "dbimages", "dns", "faults")
CI = os.environ.get("CI") == "true"
LAB_IMAGES = ("lab/busybox:1", "lab/web:1", "lab/worker:1", "lab/kv:1", "lab/kamal-proxy:1")
LAB_DB_IMAGES = ("lab/postgres:15", "lab/redis:7", "lab/sshd:1")   # component dbimages (tests/lab/parts.sh)
_probed: dict[str, str | None] = {}   # component -> None (answers) or why not
_missing: dict[str, str] = {}         # for the summary


def load_lab_env() -> dict[str, str]:
    """$LAB_RUN/env.json, or {} when the lab never ran."""
    try:
        return json.loads((LAB_RUN / "env.json").read_text())
    except (OSError, ValueError):
        return {}


# ------------------------------------------------------------------ probes
def _docker_get(host: str, path: str) -> tuple[int, bytes]:
    """GET on a docker engine's unix socket (no SDK needed)."""
    if not host.startswith("unix://"):
        raise ValueError(f"lab engines listen on unix sockets, not {host}")
    conn = http.client.HTTPConnection("docker", timeout=5)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.settimeout(5)
    conn.sock.connect(host[len("unix://"):])
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _http_get(url: str, cafile: str | None = None, insecure: bool = False) -> int:
    ctx = None
    if url.startswith("https://"):
        ctx = ssl.create_default_context(cafile=cafile)
        if insecure:
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
        r.read(4096)
        return r.status


def _postgres_probe(env: dict[str, str]) -> str | None:
    """PostgreSQL's protocol answer on LAB_POSTGRES_HOST:PORT, then a real login with psql and the URL."""
    url = env.get("LAB_POSTGRES_URL")
    if not url:
        return f"LAB_POSTGRES_URL is not in {LAB_RUN}/env.json"
    host, port = env.get("LAB_POSTGRES_HOST", "127.0.0.1"), int(env.get("LAB_POSTGRES_PORT", "5432"))
    body = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in
                    (("user", env.get("LAB_POSTGRES_USER", "")), ("database", env.get("LAB_POSTGRES_DB", "")))) + b"\0"
    with socket.create_connection((host, port), timeout=5) as s:     # StartupMessage, protocol 3.0
        s.sendall((8 + len(body)).to_bytes(4, "big") + (196608).to_bytes(4, "big") + body)
        answer = s.recv(9)
    if answer[:1] != b"R":   # R = an authentication request (SASL for scram-sha-256); E = an error
        return f"{host}:{port} did not answer like PostgreSQL: {answer!r}"
    try:
        r = subprocess.run(["psql", "-X", "-q", "-t", "-A", "-c", "select 1", url], capture_output=True, text=True,
                           timeout=15, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
    except FileNotFoundError:
        return "psql is not installed (bash tests/lab/lab up postgres installs postgresql-client-15)"
    if r.returncode != 0 or r.stdout.strip() != "1":
        return f"psql with LAB_POSTGRES_URL failed: {r.stderr.strip()[:200]}"
    return None


def _real_node_probe(env: dict[str, str]) -> str | None:
    """The lab's real node (a kubelet with containerd) is registered and Ready in the apiserver."""
    node, api, ca, token = (env.get(k) for k in ("LAB_K8S_REAL_NODE", "LAB_K8S_API", "LAB_K8S_CA", "LAB_K8S_TOKEN"))
    if not (node and api and ca and token):
        return f"LAB_K8S_REAL_NODE/LAB_K8S_API/LAB_K8S_CA/LAB_K8S_TOKEN are not in {LAB_RUN}/env.json"
    req = urllib.request.Request(f"{api}/api/v1/nodes/{node}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5, context=ssl.create_default_context(cafile=ca)) as r:
        conditions = json.load(r).get("status", {}).get("conditions", [])
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    if ready.get("status") != "True":
        return f"node {node} is not Ready: {ready.get('reason')}: {ready.get('message')}"
    return None


def _probe(component: str, env: dict[str, str]) -> str | None:
    """None when `component` answers, else the reason it does not."""
    try:
        if component in ("docker", "docker_b", "images"):
            key = "LAB_DOCKER_B_HOST" if component == "docker_b" else "LAB_DOCKER_HOST"
            host = env.get(key) or ("unix:///var/run/docker.sock" if component != "docker_b" else "")
            if not host:
                return f"{key} is not in {LAB_RUN}/env.json"
            status, body = _docker_get(host, "/_ping")
            if status != 200:
                return f"{host} /_ping answered {status} {body[:80]!r}"
            if component == "images":
                absent = [i for i in LAB_IMAGES if _docker_get(host, f"/images/{i}/json")[0] != 200]
                if absent:
                    return "images missing on engine A: " + ", ".join(absent)
            return None
        if component == "registry":
            registry = env.get("LAB_REGISTRY", "127.0.0.1:5000")
            _http_get(f"http://{registry}/v2/")
            return None
        if component == "k8s":
            api, ca = env.get("LAB_K8S_API"), env.get("LAB_K8S_CA")
            if not (api and ca and env.get("KUBECONFIG")):
                return f"LAB_K8S_API/LAB_K8S_CA/KUBECONFIG are not in {LAB_RUN}/env.json"
            _http_get(f"{api}/readyz", cafile=ca)
            return None
        if component == "vcsim":
            if not env.get("LAB_VC_PORT"):
                return f"LAB_VC_PORT is not in {LAB_RUN}/env.json"
            _http_get(f"https://{env.get('LAB_VC_HOST', '127.0.0.1')}:{env['LAB_VC_PORT']}/about", insecure=True)
            return None
        if component == "moto":
            if not env.get("LAB_MOTO_URL"):
                return f"LAB_MOTO_URL is not in {LAB_RUN}/env.json"
            _http_get(env["LAB_MOTO_URL"] + "/moto-api/")
            return None
        if component == "k8s_node":
            return _real_node_probe(env)
        if component == "postgres":
            return _postgres_probe(env)
        if component == "compose":   # docker compose v2, the CLI plugin lab up compose installs
            want = env.get("LAB_COMPOSE_VERSION")
            if not want:
                return f"LAB_COMPOSE_VERSION is not in {LAB_RUN}/env.json"
            r = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=15)
            return None if r.stdout.strip() == want else f"docker compose version answers {(r.stdout + r.stderr).strip()[:120]!r}, not {want}"
        if component == "dbimages":
            host = env.get("LAB_DOCKER_HOST") or "unix:///var/run/docker.sock"
            absent = [i for i in LAB_DB_IMAGES if _docker_get(host, f"/images/{i}/json")[0] != 200]
            return "images missing on engine A: " + ", ".join(absent) if absent else None
        if component == "dns":       # PowerDNS: its API with the run's key, and dig (both from the lab)
            if not (env.get("LAB_DNS_API_URL") and env.get("LAB_DNS_API_KEY") and env.get("LAB_DNS_PORT")):
                return f"LAB_DNS_API_URL/LAB_DNS_API_KEY/LAB_DNS_PORT are not in {LAB_RUN}/env.json"
            req = urllib.request.Request(env["LAB_DNS_API_URL"] + "/api/v1/servers/localhost", headers={"X-API-Key": env["LAB_DNS_API_KEY"]})
            with urllib.request.urlopen(req, timeout=5) as r:
                r.read(4096)
            if shutil.which("dig") is None:
                return "dig is not installed (bash tests/lab/lab setup installs bind9-dnsutils)"
            return None
        if component == "faults":    # toxiproxy's API
            if not env.get("LAB_FAULTS_API"):
                return f"LAB_FAULTS_API is not in {LAB_RUN}/env.json"
            _http_get(env["LAB_FAULTS_API"] + "/version")
            return None
        return f"unknown lab component {component!r} (known: {', '.join(COMPONENTS)})"
    except Exception as e:  # noqa: BLE001 - any failure means "does not answer"
        return f"{type(e).__name__}: {e}"


def require_lab(*components: str) -> dict[str, str]:
    """Fails (CI=true) or skips the calling test unless every component answers; returns env.json."""
    env = load_lab_env()
    for c in components:
        if c not in _probed or _probed[c] is not None:   # answers are cached, failures re-probed
            _probed[c] = _probe(c, env)
        why = _probed[c]
        if why is not None:
            _missing[c] = why
            msg = (f"LAB COMPONENT MISSING: {c} ({why}). "
                   f"Start it with: bash tests/lab/lab up {c}")
            if CI:
                pytest.fail(msg + " [CI=true: missing lab components fail]", pytrace=False)
            pytest.skip(msg)
    return env


# ------------------------------------------------------------------ pytest hooks
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--full", action="store_true", default=False,
                     help="tests/hardening: try every crash point and fault profile on every target (CI runs a sample)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab(*components): needs lab components (docker, docker_b, registry, images, k8s, k8s_node, vcsim, moto, postgres, compose, dbimages, dns, faults); "
        "fails when CI=true and one does not answer, skips otherwise")
    for k, v in load_lab_env().items():
        os.environ.setdefault(k, v)
    # A suite started in the background by a shell without job control (`cmd &`, nohup in a
    # script) runs with SIGINT ignored, and every portable it starts inherits that: the tests
    # of what Ctrl-C does would then test nothing but the shell. Commands get the default again.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(name="lab"):
        if not mark.args:
            raise pytest.UsageError(f"{item.nodeid}: pytest.mark.lab needs component names, e.g. lab('docker')")
        require_lab(*mark.args)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _missing:
        tr = terminalreporter
        tr.section("LAB COMPONENTS MISSING", sep="!", red=True, bold=True)
        for c, why in sorted(_missing.items()):
            tr.line(f"  {c}: {why}", red=True)
        tr.line(f"  start them: bash tests/lab/lab up {' '.join(sorted(_missing))}   (or: bash tests/lab/lab test)")


# ------------------------------------------------------------------ fixtures
@dataclass(frozen=True)
class VcsimEndpoint:
    """The lab's vCenter simulator (self-signed TLS: connect without certificate checks)."""

    host: str
    port: int
    user: str
    password: str
    url: str
    datacenter: str
    cluster: str
    resource_pool: str
    datastore: str
    network: str
    folder: str
    template: str


class Lab:
    """What the `lab` fixture hands out: `lab.env` (env.json) and `lab.require(*components)`."""

    @property
    def env(self) -> dict[str, str]:
        return load_lab_env()

    def require(self, *components: str) -> dict[str, str]:
        return require_lab(*components)


@pytest.fixture(scope="session")
def lab() -> Lab:
    """The lab machinery, for tests that decide at run time what they need: lab.require("k8s")."""
    return Lab()


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    """Everything $LAB_RUN/env.json holds (possibly {}); requires nothing."""
    return load_lab_env()


@pytest.fixture(scope="session")
def docker_host() -> str:
    """Engine A, e.g. unix:///var/run/docker.sock."""
    return require_lab("docker").get("LAB_DOCKER_HOST", "unix:///var/run/docker.sock")


@pytest.fixture(scope="session")
def docker_b_host() -> str:
    """Engine B (a second real dockerd, for migrations), unix:///run/portable-lab/docker-b.sock."""
    return require_lab("docker_b")["LAB_DOCKER_B_HOST"]


@pytest.fixture(scope="session")
def registry() -> str:
    """The lab registry, "127.0.0.1:5000" (plain http; lab images are pushed as 127.0.0.1:5000/lab/web:1...)."""
    return require_lab("registry").get("LAB_REGISTRY", "127.0.0.1:5000")


@pytest.fixture(scope="session")
def kubeconfig() -> str:
    """Path of the lab apiserver's kubeconfig (context "lab", admin token)."""
    return require_lab("k8s")["KUBECONFIG"]


@pytest.fixture(scope="session")
def vcsim() -> VcsimEndpoint:
    e = require_lab("vcsim")
    return VcsimEndpoint(
        host=e["LAB_VC_HOST"], port=int(e["LAB_VC_PORT"]), user=e["LAB_VC_USER"], password=e["LAB_VC_PASSWORD"],
        url=e["LAB_VC_URL"], datacenter=e["LAB_VC_DATACENTER"], cluster=e["LAB_VC_CLUSTER"],
        resource_pool=e["LAB_VC_RESOURCE_POOL"], datastore=e["LAB_VC_DATASTORE"], network=e["LAB_VC_NETWORK"],
        folder=e["LAB_VC_FOLDER"], template=e["LAB_VC_TEMPLATE"])


@pytest.fixture(scope="session")
def moto_url() -> str:
    """The moto server, e.g. http://127.0.0.1:PORT (credentials: testing/testing, us-east-1)."""
    return require_lab("moto")["LAB_MOTO_URL"]


@pytest.fixture
def faults() -> Iterator[Any]:
    """The lab's toxiproxy (tests/lab/faults.py `Toxiproxy`): what runs that are gone left removed
    before the test, what the test added removed after it (not other concurrent runs' toxics).

    Proxied endpoints in env.json: LAB_FAULTS_K8S_API, LAB_FAULTS_MOTO_URL, LAB_FAULTS_VC_URL/PORT,
    LAB_FAULTS_DOCKER_B_HOST (proxy names k8s_api, moto, vcsim, docker_b)."""
    env = require_lab("faults")
    from lab.faults import Toxiproxy   # tests/lab/faults.py (tests/ is on sys.path: this file's directory)
    toxiproxy = Toxiproxy(env["LAB_FAULTS_API"])
    toxiproxy.clear_stale()
    yield toxiproxy
    toxiproxy.close()


@dataclass(frozen=True)
class RealNode:
    """The lab's real Kubernetes node (kubelet + containerd; kwok's nodes run nothing): its name,
    and the kubernetes target settings that put pods on it (its label and taint are
    portable.dev/lab-node=real and portable.dev/lab-node=real:NoSchedule)."""

    name: str
    label: str
    taint: str

    @property
    def target_settings(self) -> dict[str, Any]:
        key, value = self.label.split("=", 1)
        effect = self.taint.rsplit(":", 1)[1]
        return {"node_selector": {key: value},
                "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": effect}]}


@pytest.fixture(scope="session")
def real_node() -> RealNode:
    """Requires k8s and k8s_node; pods of a target with `real_node.target_settings` run for real."""
    e = require_lab("k8s", "k8s_node")
    return RealNode(name=e["LAB_K8S_REAL_NODE"], label=e["LAB_K8S_REAL_NODE_LABEL"], taint=e["LAB_K8S_REAL_NODE_TAINT"])
