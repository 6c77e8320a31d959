"""Ctrl-C on every long command (issue 17's last defect), beyond the deploy of test_ctrl_c.py:
destroy, rollback, migrate and `logs --follow`, on docker (the lab's engines A and B) and on
Kubernetes (the lab's apiserver with pods on its real node).

Each case waits for a progress line of the command that shows it is in its long phase (a
container stop that lasts the stop grace period, a Deployment waiting for its pods to go, a
destination that never gets healthy), sends SIGINT at once, and asserts what a user sees and
what is left: exit 130, one line "error: interrupted; ..." saying what was done and what to
run, the revision recorded failed ("interrupted by Ctrl-C"), and a plain rerun that converges
to exactly the expected objects on the target. The time from the signal to the exit is
measured and printed; the bound asserted (BOUND_S) is loose enough for a loaded 2-core machine,
the printed figures are what the engine does.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))
sys.path.insert(0, str(HERE.parent / "providers" / "contract"))

from docker_support import ensure_images, free_port  # noqa: E402

pytestmark = [pytest.mark.timeout(300)]

BOUND_S = 5.0  # the 1 s with room for a loaded CI machine; the measured figures are printed
CLI = [sys.executable, "-c", "from portable.cli.main import main; main()"]


# ---------------------------------------------------------------------------- driving the CLI
@dataclass
class Interrupted:
    code: int
    took: float  # seconds from the signal to the exit
    output: str

    @property
    def line(self) -> str:
        found = [line for line in self.output.splitlines() if line.startswith("error: interrupted")]
        assert len(found) == 1, f"want one 'error: interrupted' line:\n{self.output}"
        return found[0]


def interrupt_on(argv: list[str], env: dict[str, str], marker: str, what: str, *, on_marker: Callable[[], object] | None = None) -> Interrupted:
    """Runs `argv`, sends SIGINT as soon as a line holding `marker` is printed (stdout or stderr);
    `on_marker` runs just before the signal (a cloud that stops answering, so the command is
    still in its long phase however fast the simulator is)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    seen = threading.Event()

    def read(stream: Any) -> None:
        for line in stream:
            lines.append(line)
            if marker in line:
                seen.set()

    readers = [threading.Thread(target=read, args=(s,), daemon=True) for s in (proc.stdout, proc.stderr)]
    for reader in readers:
        reader.start()
    try:
        while not seen.wait(0.05):
            assert proc.poll() is None, f"{what}: ended (exit {proc.returncode}) before {marker!r}:\n{''.join(lines)}"
        if on_marker is not None:
            on_marker()
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{what}: still running 30 s after SIGINT:\n{''.join(lines)}")
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for reader in readers:
        reader.join(timeout=5)
    result = Interrupted(proc.returncode, took, "".join(lines))
    print(f"\n{what}: exited {took:.3f}s after SIGINT (exit {result.code}): {[line for line in result.output.splitlines() if line.startswith('error')]}")
    assert result.code == 130, f"{what}: exit {result.code} (want 130):\n{result.output}"
    assert "Traceback" not in result.output, result.output
    assert took < BOUND_S, f"{what}: exited {took:.2f}s after SIGINT (want < {BOUND_S}s)"
    return result


@dataclass
class App:
    manifest: Path
    state: Path
    env: dict[str, str]
    target: str | None = None

    def argv(self, *args: str) -> list[str]:
        return [*CLI, *args, "-f", str(self.manifest), *(["-t", self.target] if self.target else []), "--state", str(self.state)]

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"portable {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def newest_revision(self) -> str:
        return [line for line in self.ok("history").splitlines() if line.strip()][-1]


def assert_recorded_interrupted(app: App) -> None:
    """The newest revision in the app's state store is failed, "interrupted by Ctrl-C" (read through
    the library's `history`, what `portable history` prints, without starting a CLI: ~2 s each on a loaded node)."""
    from portable import api

    newest = api.history(str(app.manifest), app.target or "local", state=str(app.state), env=app.env)[-1]
    assert newest.status == "failed" and "Ctrl-C" in newest.message, newest


# ---------------------------------------------------------------------------- docker
# `sleep` as PID 1 ignores SIGTERM, so each stop lasts the whole grace period: a destroy or a
# rollback is then in the middle of a long call to the engine when the signal comes.
def _docker_manifest(name: str, image: str, worker: str, greeting: str) -> str:
    return f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  web:
    image: {image}
    replicas: 2
    env: {{GREETING: {greeting}}}
    ports:
      - {{port: 8080}}
    stop_grace_period: 3s
    health: {{http: {{path: /cgi-bin/health, port: 8080}}, interval: 1s}}
  hold:
    image: {worker}
    command: ["sh", "-c", "echo ready; exec sleep 100000"]
    stop_grace_period: 3s
"""


def _docker(host: str | None, *args: str) -> str:
    done = subprocess.run(["docker", *(["-H", host] if host else []), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _owned(app: str, host: str | None = None) -> dict[str, list[str]]:
    label = f"label=io.portable.app={app}"
    return {
        "containers": sorted(_docker(host, "ps", "-a", "--filter", label, "--format", "{{.Names}}").split()),
        "networks": sorted(_docker(host, "network", "ls", "--filter", label, "--format", "{{.Name}}").split()),
    }


def _greetings(app: str, service: str) -> list[str]:
    ids = _docker(None, "ps", "-q", "--filter", f"label=io.portable.app={app}", "--filter", f"label=io.portable.service={service}").split()
    return sorted(_docker(None, "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", i).split("GREETING=")[1].split()[0] for i in ids)


def _force_remove(app: str, *hosts: str | None) -> None:
    for host in hosts:
        label = f"label=io.portable.app={app}"
        base = ["docker", *(["-H", host] if host else [])]
        ids = subprocess.run([*base, "ps", "-aq", "--filter", label], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([*base, "rm", "-f", *ids], capture_output=True)
        for kind in ("network", "volume"):
            names = subprocess.run([*base, kind, "ls", "-q", "--filter", label], capture_output=True, text=True).stdout.split()
            if names:
                subprocess.run([*base, kind, "rm", *names], capture_output=True)


@pytest.fixture
def docker_app(lab: Any, tmp_path: Path) -> Iterator[tuple[App, str]]:
    lab.require("docker", "images")
    images = ensure_images()
    name = f"intr-d{uuid.uuid4().hex[:6]}"
    app = App(tmp_path / "portable.yaml", tmp_path / "state.db", dict(os.environ, PORTABLE_PROXY_IMAGE=images.proxy))
    app.manifest.write_text(_docker_manifest(name, images.web, images.worker, "one"))
    try:
        yield app, name
    finally:
        app.run("destroy", "--yes", "--volumes", timeout=120)
        _force_remove(name, None)


@pytest.mark.lab("docker", "images")
def test_ctrl_c_docker_rollback_logs_follow_and_destroy(docker_app: tuple[App, str]) -> None:
    app, name = docker_app
    text = app.manifest.read_text()
    app.ok("deploy", "--yes")
    app.manifest.write_text(text.replace("GREETING: one", "GREETING: two"))
    app.ok("deploy", "--yes")
    assert _greetings(name, "web") == ["two", "two"]

    # rollback, cut while it stops a replaced replica (each stop lasts the 3 s grace period)
    rolled = interrupt_on(app.argv("rollback"), app.env, "stopping previous", "docker rollback")
    line = rolled.line
    assert "(rollback: rollback to revision 1) stopped after" in line and "run the same command again to finish the rollback" in line, line
    assert_recorded_interrupted(app)
    app.ok("rollback", "--lock-timeout", "0")  # the lock is free; the deployed revision is still 2, so this goes to 1 again
    assert _greetings(name, "web") == ["one", "one"]
    expected = _owned(name)
    assert len(expected["containers"]) == 3 and len(expected["networks"]) == 1, expected  # web-1, web-2, hold-1: nothing left beside
    newest = app.newest_revision()
    assert "deployed" in newest and "rollback" in newest, newest

    follow = interrupt_on([*CLI, "logs", "--follow", "-f", str(app.manifest), "hold"], app.env, "| ready", "docker logs --follow")
    assert follow.line == "error: interrupted; stopped reading the logs; nothing was changed", follow.line
    assert _owned(name) == expected

    destroyed = interrupt_on(app.argv("destroy", "--yes"), app.env, "deleting", "docker destroy")
    assert "run destroy again to remove the rest" in destroyed.line and "(destroy) stopped after" in destroyed.line, destroyed.line
    assert_recorded_interrupted(app)
    app.ok("destroy", "--yes", "--lock-timeout", "0")
    assert _owned(name) == {"containers": [], "networks": []}
    assert "destroyed" in app.newest_revision()


MIGRATE_MANIFEST = """apiVersion: portable/v1
kind: Application
metadata: {name: NAME}
services:
  kv:
    image: lab/web:1
    ports:
      - {port: 8080, expose: public, published: "${PORT_A}"}
    volumes:
      - {volume: data, path: /data}
    health: {http: {path: /cgi-bin/health, port: 8080}, interval: 1s, timeout: 2s, retries: 3}
volumes:
  data: {size: 1Gi}
targets:
  a: {provider: docker, host: "${HOST_A}"}
  b: {provider: docker, host: "${HOST_B}"}
overrides:
  b:
    services:
      kv:
        ports:
          - {port: 8080, expose: public, published: "${PORT_B}"}
        health: {http: {path: "${B_HEALTH_PATH:-/cgi-bin/health}", port: 8080}, interval: 1s, timeout: 2s, retries: 3, start_period: "${B_START_PERIOD:-1s}"}
"""


def _get(url: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return resp.read().decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.lab("docker", "docker_b", "images")
def test_ctrl_c_docker_migrate_mid_way_then_resume(lab: Any, tmp_path: Path, docker_host: str, docker_b_host: str) -> None:
    images = ensure_images()
    name = f"intr-m{uuid.uuid4().hex[:6]}"
    port_a, port_b = free_port(), free_port()
    env = dict(os.environ, PORTABLE_PROXY_IMAGE=images.proxy, HOST_A=docker_host, HOST_B=docker_b_host, PORT_A=str(port_a), PORT_B=str(port_b))
    manifest, state = tmp_path / "portable.yaml", tmp_path / "state.db"
    manifest.write_text(MIGRATE_MANIFEST.replace("NAME", name))
    a = App(manifest, state, env, "a")
    migrate = [*CLI, "migrate", "-f", str(manifest), "--state", str(state), "--from", "a", "--to", "b", "--yes", "--timeout", "60"]
    try:
        a.ok("deploy", "--yes")
        for _ in range(3):
            _get(f"http://127.0.0.1:{port_a}/cgi-bin/count")
        # B's health never answers (and its start period lasts): the migration sits in its deploy step when the signal comes
        cut = interrupt_on(migrate, dict(env, B_HEALTH_PATH="/never", B_START_PERIOD="300s"), f"proxy/proxy-{port_b} ready", "docker migrate")
        line = cut.line
        assert "migration from a to b stopped in step deploy" in line and "a keeps serving" in line and "run the same migrate again to resume" in line, line
        assert "done: plan, images, quiesce, export" in line, line
        _get(f"http://127.0.0.1:{port_a}/cgi-bin/health")  # a still serves (read-only: the export holds count=3)
        b = App(manifest, state, env, "b")
        assert_recorded_interrupted(b)
        # the same migrate, B healthy now, resumes and finishes: B serves A's data, A is retired
        resumed = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=240)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "[plan] already done (resuming)" in resumed.stderr + resumed.stdout
        assert f"{name} now runs on b." in resumed.stdout
        assert _get(f"http://127.0.0.1:{port_b}/cgi-bin/count").startswith("count=4"), "b did not get a's data"
        assert _owned(name, docker_host)["containers"] == []
        assert _owned(name, docker_b_host)["containers"] == [f"{name}-kv-1", f"{name}-proxy-{port_b}"]  # no leftover of the interrupted deploy
    finally:
        _force_remove(name, docker_host, docker_b_host)


# ---------------------------------------------------------------------------- kubernetes
def _kube_manifest(name: str, settings: dict[str, Any], greeting: str) -> str:
    import yaml

    target = yaml.safe_dump({"k": settings}, sort_keys=False)
    return f"""apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  hold:
    image: lab/worker:1
    replicas: 2
    env: {{GREETING: {greeting}}}
    command: ["sh", "-c", "echo ready; exec sleep 100000"]
    stop_grace_period: 8s
    health: {{exec: {{command: "true"}}, interval: 1s}}
targets:
""" + "".join(f"  {line}\n" for line in target.splitlines())


@pytest.fixture
def kube_app(lab: Any, real_node: Any, tmp_path: Path) -> Iterator[tuple[App, Any, str]]:
    from kubernetes import client, config

    env_lab = lab.require("k8s", "k8s_node")
    name = f"intr-k{uuid.uuid4().hex[:6]}"
    namespace = f"intr-{uuid.uuid4().hex[:8]}"
    settings = {"provider": "kubernetes", "kubeconfig": env_lab["KUBECONFIG"], "context": "lab", "namespace": namespace,
                **real_node.target_settings, "rollout_timeout": "120s"}
    app = App(tmp_path / "portable.yaml", tmp_path / "state.db", dict(os.environ), "k")
    app.manifest.write_text(_kube_manifest(name, settings, "one"))
    core = client.CoreV1Api(config.new_client_from_config(config_file=env_lab["KUBECONFIG"], context="lab"))
    try:
        yield app, core, namespace
    finally:
        app.run("destroy", "--yes", "--volumes", timeout=120)
        subprocess.run(["kubectl", "--kubeconfig", env_lab["KUBECONFIG"], "--context", "lab", "delete", "namespace", namespace, "--wait=false"], capture_output=True, timeout=60)


def _pods(core: Any, namespace: str) -> list[Any]:
    return [p for p in core.list_namespaced_pod(namespace).items if p.metadata.deletion_timestamp is None]


def _kube_kinds(core: Any, namespace: str) -> dict[str, int]:
    from kubernetes import client

    apps = client.AppsV1Api(core.api_client)
    return {"deployments": len(apps.list_namespaced_deployment(namespace).items), "pods": len(_pods(core, namespace)),
            "services": len(core.list_namespaced_service(namespace).items)}


@pytest.mark.lab("k8s", "k8s_node")
def test_ctrl_c_kubernetes_rollback_logs_follow_and_destroy(kube_app: tuple[App, Any, str]) -> None:
    app, core, namespace = kube_app
    text = app.manifest.read_text()
    app.ok("deploy", "--yes")
    app.manifest.write_text(text.replace("GREETING: one", "GREETING: two"))
    app.ok("deploy", "--yes")

    # rollback, cut as soon as the Deployment is changed (its rollout is then being waited for)
    rolled = interrupt_on(app.argv("rollback"), app.env, "Deployment/hold: ", "kubernetes rollback")
    assert "(rollback: rollback to revision 1) stopped after" in rolled.line and "run the same command again" in rolled.line, rolled.line
    assert_recorded_interrupted(app)
    app.ok("rollback", "--lock-timeout", "0")
    def greetings() -> list[str]:
        return sorted({e.name: e.value for e in p.spec.containers[0].env or []}.get("GREETING", "") for p in _pods(core, namespace))

    deadline = time.monotonic() + 60  # the old ReplicaSet's pods are deleted just after the rollout completes
    while greetings() != ["one", "one"] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert greetings() == ["one", "one"], greetings()  # exactly the two replicas of revision 1, none of 2 left
    newest = app.newest_revision()
    assert "deployed" in newest and "rollback" in newest, newest

    follow = interrupt_on([*CLI, "logs", "--follow", "-f", str(app.manifest), "-t", "k"], app.env, "| ready", "kubernetes logs --follow")
    assert follow.line == "error: interrupted; stopped reading the logs; nothing was changed", follow.line

    # the Deployment's pods take their 8 s grace period to go: destroy waits for them when the signal comes
    destroyed = interrupt_on(app.argv("destroy", "--yes"), app.env, "waiting for deletion", "kubernetes destroy")
    assert "(destroy) stopped after" in destroyed.line and "run destroy again to remove the rest" in destroyed.line, destroyed.line
    assert_recorded_interrupted(app)
    app.ok("destroy", "--yes", "--lock-timeout", "0")
    assert _kube_kinds(core, namespace) == {"deployments": 0, "pods": 0, "services": 0}
    assert "destroyed" in app.newest_revision()


# ---------------------------------------------------------------------------- the library
# A library run that Ctrl-C does not stop ends at its own timeout, then fails: the timeouts
# are short (still several times BOUND_S, so a wait loop that ignores the cancel is caught), and
# a process where SIGINT is ignored fails at once instead of after them.
LIBRARY_TIMEOUT_S = 30


class SignalClock:
    """Sends Ctrl-C to the main thread (as the CLI routes it) once, and remembers when."""

    def __init__(self) -> None:
        assert signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, None), (
            "SIGINT is ignored in this process (started in the background by a shell without job control?): Ctrl-C cannot be tested")
        self.sent: float | None = None

    def send(self) -> None:
        if self.sent is None:
            self.sent = time.monotonic()
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    def since(self) -> float:
        assert self.sent is not None, "the signal was never sent"
        return time.monotonic() - self.sent

    def wait_threads_gone(self, prefixes: tuple[str, ...], what: str) -> float:
        """Seconds from now (the library call has raised) until no live thread's name starts with one of
        `prefixes` (< BOUND_S: a call in flight may end, no wait loop may go on)."""
        since = time.monotonic()
        while alive := [t for t in threading.enumerate() if t.is_alive() and t.name.startswith(prefixes)]:
            assert time.monotonic() - since < BOUND_S, f"{what} still running {BOUND_S}s after the call raised Interrupted:\n{_stacks(alive)}"
            time.sleep(0.05)
        return time.monotonic() - since


def _stacks(threads: list[threading.Thread]) -> str:
    """Where each of `threads` is, in portable's own code (what a stuck wait loop is)."""
    import traceback

    frames = sys._current_frames()
    out = []
    for thread in threads:
        frame = frames.get(thread.ident or 0)
        own = [f for f in traceback.extract_stack(frame) if "/portable/" in f.filename or "/providers/" in f.filename] if frame else []
        out.append(f"{thread.name}: " + " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(own[-6:])))
    return "\n".join(out)


SLOW = """apiVersion: portable/v1
kind: Application
metadata: {{name: {name}}}
services:
  slow:
    image: {image}
    replicas: 2
    command: ["sh", "-c", "exec sleep 100000"]
    stop_grace_period: 1s
    health: {{exec: {{command: "test -f /tmp/never"}}, interval: 1s, start_period: 300s}}
"""


@pytest.mark.lab("docker", "images")
@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_apply_workers_wait_loops(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a program that uses portable as a library no os._exit ends the workers: Ctrl-C must
    stop their health waits (which would poll for the 300 s start period) at once, so nothing
    of the abandoned run keeps acting on the target."""
    from portable import api
    from portable.engine.interrupted import Interrupted

    images = ensure_images()
    monkeypatch.setenv("PORTABLE_PROXY_IMAGE", images.proxy)
    name = f"intr-l{uuid.uuid4().hex[:6]}"
    manifest, state = tmp_path / "portable.yaml", tmp_path / "state.db"
    manifest.write_text(SLOW.format(name=name, image=images.worker))
    clock = SignalClock()

    def when_both_run() -> None:
        """Ctrl-C once both replicas run: their workers are then in the health wait (a signal on the
        "starting" line found them in the engine's start call, one call in flight that may last
        seconds on a loaded engine, which is no wait loop)."""
        deadline = time.monotonic() + LIBRARY_TIMEOUT_S
        while time.monotonic() < deadline:
            found = subprocess.run(["docker", "ps", "-q", "--filter", f"label=io.portable.app={name}", "--filter", "status=running"],
                                   capture_output=True, text=True, timeout=30).stdout.split()
            if len(found) == 2:
                clock.send()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=when_both_run, name="intr-watcher", daemon=True)
    try:
        watcher.start()
        with pytest.raises(Interrupted) as caught:
            api.deploy(str(manifest), state=str(state), timeout=LIBRARY_TIMEOUT_S)
        raised = clock.since()
        assert raised < BOUND_S, f"api.deploy raised {raised:.1f}s after Ctrl-C"
        assert "recorded as failed" in caught.value.summary, caught.value.summary
        gone = clock.wait_threads_gone(("portable-apply",), "apply workers")
        print(f"\nlibrary deploy: Interrupted {raised:.3f}s after Ctrl-C, workers gone {gone:.3f}s later")
        history = api.history(str(manifest), state=str(state))
        assert history[-1].status == "failed" and "Ctrl-C" in history[-1].message
    finally:
        api.destroy(str(manifest), state=str(state), volumes=True)
        _force_remove(name, None)


# ---------------------------------------------------------------------------- vsphere on vcsim
@pytest.mark.lab("vcsim")
def test_ctrl_c_vsphere_deploy_while_a_vm_boots(lab: Any, tmp_path: Path) -> None:
    """A VM target: SIGINT while the new VMs are cloned and boot (the VM state and address
    waits); the rerun converges to exactly the replicas' VMs (none cloned twice, none left)."""
    sys.path.insert(0, str(HERE))
    from crash_support import hardening_targets

    from contract_app import TARGET, manifest_text

    target = hardening_targets()["vsphere"](lab.require("vcsim"), tmp_path)
    name = f"intr-v{uuid.uuid4().hex[:6]}"
    app = App(tmp_path / "portable.yaml", tmp_path / "state.db", dict(target.env(), CT_REPLICAS="2"), TARGET)
    try:
        app.manifest.write_text(manifest_text(name, target.settings(name)))
        interrupt_on(app.argv("deploy", "--yes"), app.env, "cloning", "vsphere deploy")
        assert_recorded_interrupted(app)
        app.ok("deploy", "--yes", "--lock-timeout", "0")
        vms = target.objects(name)["vms"]
        assert len(vms) == 2 and len(set(vms)) == 2, vms  # the two replicas' VMs, no duplicate clone, no leftover
        assert "deployed" in app.newest_revision()
    finally:
        app.run("destroy", "--yes", "--volumes", timeout=240)
        target.close([name])


@pytest.mark.lab("vcsim")
@pytest.mark.timeout(180)
def test_ctrl_c_stops_the_vsphere_clone_threads_wait_loops(lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vSphere group clones its VMs and waits for their addresses in threads of its own:
    in a library program Ctrl-C must stop those waits too (no guest reports an address here,
    so without it they would wait for the whole boot timeout)."""
    from portable import api
    from portable.engine.interrupted import Interrupted

    from contract_app import TARGET, manifest_text

    e = lab.require("vcsim")
    settings = {"provider": "vsphere", "host": e["LAB_VC_HOST"], "port": int(e["LAB_VC_PORT"]), "insecure": True,
                "datacenter": e["LAB_VC_DATACENTER"], "cluster": e["LAB_VC_CLUSTER"], "folder": e["LAB_VC_FOLDER"],
                "datastore": e["LAB_VC_DATASTORE"], "network": e["LAB_VC_NETWORK"], "template": e["LAB_VC_TEMPLATE"], "boot_timeout": LIBRARY_TIMEOUT_S}
    name = f"intr-w{uuid.uuid4().hex[:6]}"
    manifest, state = tmp_path / "portable.yaml", tmp_path / "state.db"
    manifest.write_text(manifest_text(name, settings))
    for variable, value in (("VSPHERE_USER", e["LAB_VC_USER"]), ("VSPHERE_PASSWORD", e["LAB_VC_PASSWORD"]), ("CT_REPLICAS", "2")):
        monkeypatch.setenv(variable, value)
    env = dict(os.environ)
    clock = SignalClock()

    def progress(line: str) -> None:
        if "cloning" in line:
            clock.send()

    try:
        with pytest.raises(Interrupted):
            api.deploy(str(manifest), TARGET, state=str(state), env=env, progress=progress, timeout=LIBRARY_TIMEOUT_S + 30)
        raised = clock.since()
        assert raised < BOUND_S, f"api.deploy raised {raised:.1f}s after Ctrl-C"
        gone = clock.wait_threads_gone(("portable-apply", "ThreadPoolExecutor"), "clone threads")
        print(f"\nlibrary vsphere deploy: Interrupted {raised:.3f}s after Ctrl-C, clone threads gone {gone:.3f}s later")
    finally:
        subprocess.run([*CLI, "destroy", "--yes", "--volumes", "-f", str(manifest), "-t", TARGET, "--state", str(state)], env=env, capture_output=True, timeout=240)
    # a clone the signal cut finishes in vCenter before its custom attributes are written: destroy
    # finds it by the marks its clone spec carried (test_orphan_clones_vsphere.py), counted by name here
    assert vm_names(e, f"{name}-") == [], "destroy left VMs of the app"


def vm_names(e: dict[str, str], prefix: str) -> list[str]:
    """Every VM whose name starts with `prefix`, marked or not (through pyVmomi): a clone cut short is unmarked."""
    from pyVmomi import vim
    from vcenter import Lab, connect

    with connect(Lab(e["LAB_VC_HOST"], int(e["LAB_VC_PORT"]), e["LAB_VC_USER"], e["LAB_VC_PASSWORD"], e["LAB_VC_DATASTORE"])) as content:
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        try:
            return sorted(str(v.name) for v in view.view if str(v.name).startswith(prefix))
        finally:
            view.Destroy()
