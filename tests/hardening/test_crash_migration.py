"""SIGKILL a migration (docker engine A -> docker engine B) after each of its steps, then run
the same `portable migrate` again (issue 17, item 1).

After the kill the app is never down on both engines: A still serves, or B already does. The
rerun resumes from the journal and succeeds; B's volume holds byte for byte what A's had; A is
retired (no container left, its data volume kept, as an uninterrupted migration leaves it); each
engine holds exactly what an uninterrupted migration leaves there (no duplicate container, no
orphan network or volume). CI runs a sample of the steps; `--full` runs every one.
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from crash_support import excess, sample
from figures import record

from portable.engine.crashpoints import MIGRATION_STEPS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from docker_support import Cli, ensure_images, free_port, http_get, wait_for  # noqa: E402

pytestmark = [pytest.mark.lab("docker", "docker_b", "images"), pytest.mark.timeout(3600)]

SIGKILLED = -9
# without --quiesce there is no precopy; every other step runs
STEPS = [s for s in MIGRATION_STEPS if s != "precopy"]

MANIFEST = """\
apiVersion: portable/v1
kind: Application
metadata: {name: NAME}
services:
  kv:
    image: ${WEB_IMAGE}
    env: {GREETING: moved}
    ports:
      - {port: 8080, expose: public, published: "${PORT_A}"}
    volumes:
      - {volume: data, path: /data}
    health:
      http: {path: /cgi-bin/health, port: 8080}
      interval: 1s
      timeout: 2s
      retries: 3
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
"""


def docker_on(host: str, *args: str) -> str:
    return subprocess.run(["docker", "-H", host, *args], capture_output=True, text=True, check=True, timeout=120).stdout


def engine_objects(host: str, app: str) -> dict[str, int]:
    """What engine `host` holds labelled for `app`, counted by kind (the docker CLI, not portable)."""
    label = f"label=io.portable.app={app}"
    found = {
        "containers": docker_on(host, "ps", "-aq", "--filter", label).split(),
        "networks": docker_on(host, "network", "ls", "-q", "--filter", label).split(),
        "volumes": docker_on(host, "volume", "ls", "-q", "--filter", label).split(),
    }
    return {kind: len(ids) for kind, ids in found.items() if ids}


def remove_all(host: str, app: str) -> None:
    """Test cleanup only (after the assertions): whatever is labelled for `app` on `host`."""
    label = f"label=io.portable.app={app}"
    for ids, rm in ((docker_on(host, "ps", "-aq", "--filter", label).split(), ("rm", "-f")),
                    (docker_on(host, "network", "ls", "-q", "--filter", label).split(), ("network", "rm")),
                    (docker_on(host, "volume", "ls", "-q", "--filter", label).split(), ("volume", "rm", "-f"))):
        if ids:
            subprocess.run(["docker", "-H", host, *rm, *ids], capture_output=True, timeout=120)


def checksums(host: str, container: str) -> dict[str, str]:
    out = docker_on(host, "exec", container, "sh", "-c", "cd /data && find . -type f | sort | xargs sha256sum")
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


def serving(port: str) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/cgi-bin/health", timeout=3).strip() == "ok"
    except OSError:
        return False


@dataclass
class Moving:
    """One app deployed on A with data, about to move to B."""

    app: str
    manifest: Path
    cli: Cli
    port_a: str
    port_b: str
    data: dict[str, str]

    def migrate(self, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.cli.run("migrate", "-f", str(self.manifest), "--state", str(self.cli.state), "--from", "a", "--to", "b", "--yes", extra_env=extra, timeout=600)


class Migrations:
    def __init__(self, root: Path, host_a: str, host_b: str) -> None:
        self.root, self.host_a, self.host_b = root, host_a, host_b
        self.images = ensure_images()
        self.made: list[str] = []

    def new(self) -> Moving:
        app = f"hard-m{uuid.uuid4().hex[:6]}"
        self.made.append(app)
        folder = self.root / app
        folder.mkdir(parents=True)
        manifest = folder / "portable.yaml"
        manifest.write_text(MANIFEST.replace("NAME", app))
        port_a, port_b = str(free_port()), str(free_port())
        cli = Cli(folder / "state.db", {"WEB_IMAGE": self.images.web, "PORTABLE_PROXY_IMAGE": self.images.proxy,
                                        "HOST_A": self.host_a, "HOST_B": self.host_b, "PORT_A": port_a, "PORT_B": port_b})
        done = cli.run("deploy", "-f", str(manifest), "-t", "a", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(f"http://127.0.0.1:{port_a}/cgi-bin/count")
        container = f"{app}-kv-1"
        docker_on(self.host_a, "exec", container, "sh", "-c", "mkdir -p /data/files && head -c 1000000 /dev/urandom > /data/files/blob && echo note > /data/files/note.txt")
        return Moving(app, manifest, cli, port_a, port_b, checksums(self.host_a, container))

    def held(self, app: str) -> dict[str, dict[str, int]]:
        return {"a": engine_objects(self.host_a, app), "b": engine_objects(self.host_b, app)}

    def close(self) -> None:
        for app in self.made:
            remove_all(self.host_a, app)
            remove_all(self.host_b, app)


@pytest.fixture
def migrations(tmp_path: Path, docker_host: str, docker_b_host: str) -> Iterator[Migrations]:
    made = Migrations(tmp_path, docker_host, docker_b_host)
    yield made
    made.close()


def _check_moved(m: Migrations, moving: Moving, label: str) -> list[str]:
    problems = []
    try:
        moved = checksums(m.host_b, f"{moving.app}-kv-1")
    except subprocess.CalledProcessError as exc:
        return [f"{label}: no container {moving.app}-kv-1 on B to read the data from: {exc.stderr}"]
    if moved != moving.data:
        problems.append(f"{label}: B's data differs from A's: {moved} != {moving.data}")
    if not serving(moving.port_b):
        problems.append(f"{label}: B does not serve after the resumed migration")
    return problems


def test_a_migration_killed_after_any_step_resumes_with_the_data_and_one_copy_serving(migrations: Migrations, full: bool) -> None:
    m = migrations
    reference = m.new()
    done = reference.migrate()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _check_moved(m, reference, "the uninterrupted migration")
    expected = m.held(reference.app)
    assert "containers" not in expected["a"] and expected["b"].get("containers"), expected  # kv and its front proxy on B

    problems: list[str] = []
    for step in sample(STEPS, 2, "docker-migrate", full):
        point = f"migrate.after-{step}"
        moving = m.new()
        label = f"migration killed at {point} ({moving.app})"
        print(f"crash case: {label}", flush=True)
        mine: list[str] = []
        killed = moving.migrate(PORTABLE_CRASHPOINT=point)
        if killed.returncode != SIGKILLED:
            mine.append(f"{label}: expected death by SIGKILL, exited {killed.returncode}: {(killed.stdout + killed.stderr)[-600:]}")
        a_up, b_up = serving(moving.port_a), serving(moving.port_b)
        if not (a_up or b_up):
            mine.append(f"{label}: after the kill neither A nor B serves")
        resumed = moving.migrate()
        converged = resumed.returncode == 0
        if not converged:
            mine.append(f"{label}: the rerun exited {resumed.returncode}: {(resumed.stdout + resumed.stderr)[-800:]}")
        else:
            mine += _check_moved(m, moving, label)
        held = m.held(moving.app)
        dup_a, orphan_a = excess(held["a"], expected["a"])
        dup_b, orphan_b = excess(held["b"], expected["b"])
        if held != expected:
            mine.append(f"{label}: the engines hold {held}, an uninterrupted migration leaves {expected}")
        problems += mine
        record("docker A -> docker B (migrate)", crash_points_tried=1, reruns_converged=int(converged and not mine),
               orphans_found=orphan_a + orphan_b, duplicate_creates=dup_a + dup_b)
    assert not problems, "\n".join(problems)

