"""`portable deploy` processes sharing one team store (PostgreSQL on the lab, S3 on moto),
deploying to the lab's Docker engine a one-container busybox app (cheap on 2 cores).

8 deploys of one app to one target serialise: each waits (saying for whom) and deploys its
own revision; the history is 1..8 with none lost and the engine runs the last. 8 deploys of
8 apps hold their locks at the same time and none waits. A store that goes away in the
middle of a deploy fails it with one sentence, and a rerun records the outcome (converges).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from store_support import Relay, StoreUnderTest, new_store, postgres_url, read_lines_until

MANIFEST = """apiVersion: portable/v1
kind: Application
metadata:
  name: {name}
services:
  box:
    image: lab/busybox:1
    command: ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM; while true; do /bin/busybox sleep 0.2; done"]
    env:
      ROUND: "${{ROUND:-0}}"
"""
N = 8
DEPLOY_LEASE = 15  # S3: a loaded machine must not starve the renewing thread past the lease


@pytest.fixture(params=["postgres", "s3"])
def team_store(request: pytest.FixtureRequest, lab: Any, tmp_path: Path) -> Iterator[StoreUnderTest]:
    lab.require("docker", "images")
    yield from new_store(request.param, lab, tmp_path, lease=DEPLOY_LEASE)


def _app(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "portable.yaml"
    manifest.write_text(MANIFEST.format(name=name))
    return manifest


def _deploy(manifest: Path, store: StoreUnderTest, round_: int, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "portable.cli.main", "deploy", "--yes", "-f", str(manifest), "--state", store.url, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **store.env, **(env or {}), "ROUND": str(round_)})


def _container_round(app: str) -> str:
    out = subprocess.run(["docker", "ps", "--filter", f"label=io.portable.app={app}", "--format", "{{.ID}}"], capture_output=True, text=True, check=True).stdout.split()
    assert len(out) == 1, out
    env = subprocess.run(["docker", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", out[0]], capture_output=True, text=True, check=True).stdout
    return next(line.split("=", 1)[1] for line in env.splitlines() if line.startswith("ROUND="))


def _cleanup(app: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    from docker_support import force_remove_app

    force_remove_app(app)


def test_eight_deploys_of_one_app_serialise_with_contiguous_history(team_store: StoreUnderTest, tmp_path: Path) -> None:
    app = "stt-" + uuid.uuid4().hex[:8]
    manifest = _app(tmp_path / "app", app)
    try:
        procs = [_deploy(manifest, team_store, i, "--lock-timeout", "300") for i in range(1, N + 1)]
        outs = [p.communicate(timeout=600) for p in procs]
        for p, (_, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err
        numbers = sorted(int(out.split("revision ")[-1].split()[0]) for out, _ in outs)
        assert numbers == list(range(1, N + 1))  # each process deployed its own revision
        waited = [err for _, err in outs if "waiting for the lock on " + app in err]
        assert waited and all("held by " in err and "(pid " in err and ", lock " in err for err in waited)
        history = team_store.open().history(app, "local")
        assert [r.number for r in history] == list(range(1, N + 1)) and {r.status for r in history} == {"deployed"}
        last = history[-1].resources
        want = next(r.spec["env"]["ROUND"] for r in last if r.kind == "container")
        assert _container_round(app) == want  # the engine runs what the newest revision says
    finally:
        _cleanup(app)


def test_eight_deploys_of_eight_apps_run_at_once(team_store: StoreUnderTest, tmp_path: Path) -> None:
    base = "stt-" + uuid.uuid4().hex[:6]
    apps = [f"{base}-{i}" for i in range(N)]
    manifests = [_app(tmp_path / a, a) for a in apps]
    seen_together: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        store = team_store.open()
        while not stop.is_set():
            held = {lock.app for lock in store.locks() if lock.app in apps}
            seen_together.append(len(held))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        procs = [_deploy(m, team_store, 1, "--lock-timeout", "0") for m in manifests]  # a wait would fail at once
        outs = [p.communicate(timeout=600) for p in procs]
        stop.set()
        watcher.join(30)
        for p, (_, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err
            assert "waiting for the lock" not in err
        assert max(seen_together) >= 2, seen_together  # several apps' locks were held at the same moment
        store = team_store.open()
        assert all([r.number for r in store.history(a, "local")] == [1] for a in apps)
    finally:
        stop.set()
        for a in apps:
            _cleanup(a)


def _relayed(store: StoreUnderTest, lab_env: dict[str, str]) -> tuple[StoreUnderTest, Relay]:
    if store.kind == "postgres":
        relay = Relay(lab_env["LAB_POSTGRES_HOST"], int(lab_env["LAB_POSTGRES_PORT"]))
        schema = store.url.split("schema=")[1]
        return StoreUnderTest(store.kind, postgres_url(lab_env, schema, host="127.0.0.1", port=relay.port), store.env), relay
    moto = urlsplit(lab_env["LAB_MOTO_URL"])
    relay = Relay(moto.hostname or "127.0.0.1", int(moto.port or 80))
    return StoreUnderTest(store.kind, store.url, {**store.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}"}), relay


def test_a_store_lost_mid_deploy_fails_it_in_one_sentence_and_a_rerun_converges(team_store: StoreUnderTest, tmp_path: Path, lab: Any) -> None:
    app = "stt-" + uuid.uuid4().hex[:8]
    manifest = _app(tmp_path / "app", app)
    through, relay = _relayed(team_store, lab.env)
    try:
        proc = _deploy(manifest, through, 1, "--lock-timeout", "60", env={"PGCONNECT_TIMEOUT": "3"})
        lines, reader = read_lines_until(proc, "revision 1:", 120)
        assert any("revision 1:" in line for line in lines), lines
        relay.cut()  # the deploy is applying: the store goes away before it can record the outcome
        proc.wait(180)
        reader.join(30)
        err = "".join(lines)
        assert proc.returncode == 1, err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and ("became unreachable" in errors[0] or "is unreachable" in errors[0]), err
        assert "internal error" not in err and "Traceback" not in err
        relay.restore()
        rerun = _deploy(manifest, through, 1, "--lock-timeout", "60")
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err
        assert "revision 2 deployed" in out, out
        history = team_store.open().history(app, "local")
        assert [(r.number, r.status) for r in history] == [(1, "failed"), (2, "deployed")]
        assert "interrupted" in history[0].message
        assert _container_round(app) == "1"
        again = _deploy(manifest, through, 1, "--lock-timeout", "60")
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0 and "no changes" in out, err  # converged: nothing left to do
    finally:
        relay.close()
        _cleanup(app)


@pytest.fixture(params=["sqlite", "postgres", "s3"])
def any_store(request: pytest.FixtureRequest, lab: Any, tmp_path: Path) -> Iterator[StoreUnderTest]:
    lab.require("docker", "images")
    yield from new_store(request.param, lab, tmp_path, lease=DEPLOY_LEASE)


def test_a_deploy_that_finds_the_lock_held_says_by_whom_and_touches_nothing(any_store: StoreUnderTest, tmp_path: Path) -> None:
    from store_support import Holder

    app = "stt-" + uuid.uuid4().hex[:8]
    manifest = _app(tmp_path / "app", app)
    holder = Holder(any_store, app, "local")
    try:
        proc = _deploy(manifest, any_store, 1, "--lock-timeout", "1")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        assert f"waiting for the lock on {app} on target local: held by " in err  # the progress line, while it waited
        assert f"error: {app} on target local is locked by " in err and f"(pid {holder.pid})" in err
        assert f"portable state unlock {holder.lock['lock_id']}" in err
        ps = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.portable.app={app}"], capture_output=True, text=True, check=True)
        assert ps.stdout.strip() == ""  # nothing was created on the engine
        assert any_store.open().history(app, "local") == []
        destroy = subprocess.run([sys.executable, "-m", "portable.cli.main", "destroy", "--yes", "-f", str(manifest), "--state", any_store.url, "--lock-timeout", "0"],
                                 capture_output=True, text=True, env={**os.environ, **any_store.env}, timeout=120)
        assert destroy.returncode == 1 and f"portable state unlock {holder.lock['lock_id']}" in destroy.stderr, destroy.stderr
        assert any_store.open().history(app, "local") == []
    finally:
        holder.close()
        _cleanup(app)
