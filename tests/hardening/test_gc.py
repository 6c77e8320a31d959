"""`portable gc` on every target of the lab (docker engine, kube-apiserver, moto for aws and
libcloud, vcsim), through the real CLI, checked through each target's own API.

One story per target, as a user meets it:
1. app `<x>a` (services `web` and `side`, `side` with a volume) is deployed, then the manifest
   renames it `<x>b` and it is deployed again: gc lists every object of `<x>a` (why: renamed),
   none of `<x>b`'s; `--yes` deletes them but the volume, `--yes --volumes` the volume too.
2. `side` and its volume are taken out of `<x>b`'s manifest and it is deployed: deploy keeps
   the data on purpose, gc lists it (why: the service is no longer in the manifest) and
   `--yes --volumes` deletes it, leaving `web`.
3. Throughout, app `<x>o`, deployed from another manifest with another state store on the
   same target, is never listed without --all-owners (then as `foreign`) and is untouched.
"""
from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "providers" / "contract"))

from contract_app import WEB, App  # noqa: E402
from contract_engines import KubernetesTarget  # noqa: E402
from contract_targets import TARGET, TARGETS, ContractTarget, wait_until  # noqa: E402
from figures import record  # noqa: E402

pytestmark = pytest.mark.timeout(1500)
SETTLE_S = 120.0  # kwok's pod deletion, EC2's shutting-down: what a user waits for


class PerAppNamespaces(KubernetesTarget):
    """Kubernetes without a target namespace: each app in a namespace of its own name (the
    default), so a renamed app's objects stay in the old name's namespace."""

    def settings(self, app: str) -> dict[str, Any]:
        return {k: v for k, v in super().settings(app).items() if k != "namespace"}

    def objects(self, app: str) -> dict[str, list[str]]:
        self.namespace = app
        return super().objects(app)

    def close(self, apps: list[str]) -> None:
        from kubernetes.client.exceptions import ApiException

        for app in apps:
            try:
                self.core.delete_namespace(app)
            except ApiException as exc:
                if exc.status != 404:
                    raise
        self.api.close()


GC_TARGETS: dict[str, type[ContractTarget]] = {**TARGETS, "kubernetes": PerAppNamespaces}


def manifest(name: str, settings: dict[str, Any], *, side: bool) -> str:
    """`web`, and with `side` a second service writing to volume `data`."""
    services = f"  web:\n{WEB}"
    if side:
        services += f"  side:\n{WEB}    volumes:\n      - data:/data\n"
    target = yaml.safe_dump({TARGET: settings}, sort_keys=False)
    return (
        "apiVersion: portable/v1\nkind: Application\n"
        f"metadata:\n  name: {name}\n"
        f"services:\n{services}"
        + ("volumes:\n  data: {size: 1Gi}\n" if side else "")
        + "targets:\n" + "".join(f"  {line}\n" for line in target.splitlines())
    )


def _flat(objects: dict[str, list[str]]) -> set[str]:
    return {o for names in objects.values() for o in names}


DATA = ("volumes", "persistentvolumeclaims", "disks")  # what holds data, as ContractTarget.objects names it


def _data_only(objects: dict[str, list[str]]) -> bool:
    """What is left holds data only (root disks go with their instances)."""
    return not any(names for kind, names in objects.items() if kind not in DATA)


def _no_data(objects: dict[str, list[str]]) -> bool:
    return not any(objects.get(kind) for kind in DATA)


def _gc(app: App, *args: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    done = app.cli("gc", "-o", "json", *args)
    assert done.returncode == 0, f"gc {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    reports = json.loads(done.stdout)
    assert len(reports) == 1 and reports[0]["target"] == TARGET, reports
    return list(reports[0]["objects"]), reports[0]


@pytest.fixture(params=[pytest.param(name, marks=pytest.mark.lab(*cls.components)) for name, cls in sorted(GC_TARGETS.items())],
                ids=sorted(GC_TARGETS))
def gct(request: pytest.FixtureRequest, lab: Any, tmp_path: Path) -> Iterator[ContractTarget]:
    cls = GC_TARGETS[request.param]
    target = cls(lab.require(*cls.components), tmp_path)
    names: list[str] = []
    request.node.gc_apps = names
    yield target
    for name in names:  # what the test may have left: destroy by label, then the helper's own sweep
        folder = tmp_path / f"cleanup-{name}"
        folder.mkdir(exist_ok=True)
        (folder / "portable.yaml").write_text(manifest(name, target.settings(name), side=True))
        App(name, folder / "portable.yaml", folder / "state.db", target, target.env()).cli("destroy", "--yes", "--volumes", "--quiet")
    target.close(names)


def test_gc_collects_a_renamed_app_and_a_removed_service_and_leaves_another_stores_app(gct: ContractTarget, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    base = f"gc{uuid.uuid4().hex[:6]}"
    a, b, o = f"{base}a", f"{base}b", f"{base}o"
    request.node.gc_apps.extend([a, b, o])
    env = gct.env()
    (tmp_path / "mine").mkdir()
    (tmp_path / "theirs").mkdir()
    mine = App(a, tmp_path / "mine" / "portable.yaml", tmp_path / "mine" / "state.db", gct, env)
    theirs = App(o, tmp_path / "theirs" / "portable.yaml", tmp_path / "theirs" / "state.db", gct, env)
    cases = correct = 0

    mine.rewrite(manifest(a, gct.settings(a), side=True))
    mine.ok("deploy", "--yes")
    theirs.rewrite(manifest(o, gct.settings(o), side=False))
    theirs.ok("deploy", "--yes")
    mine.rewrite(manifest(b, gct.settings(b), side=True))  # the rename: same manifest, same state store
    mine.ok("deploy", "--yes")
    old, new, other = gct.objects(a), gct.objects(b), gct.objects(o)
    assert _flat(old) and _flat(new) and _flat(other), (old, new, other)

    # 1. the renamed app: listed with why, age and owner; nothing deleted without --yes
    listed, report = _gc(mine)
    assert report["store"] == str(mine.state), report
    assert {x["app"] for x in listed} == {a}, listed
    assert all(x["verdict"] == "garbage" and "renamed or removed" in x["why"] and x["store"] == str(mine.state) for x in listed), listed
    assert any(x["stateful"] for x in listed), f"the data of {a}'s side service is not listed: {listed}"
    assert any(x["age"] != "?" for x in listed), f"no age for any object: {listed}"
    assert gct.objects(a) == old, "gc without --yes changed the target"
    cases += 1
    correct += 1

    # 3. the other store's app: only with --all-owners, as foreign
    everyone, _ = _gc(mine, "--all-owners")
    theirs_listed = [x for x in everyone if x["app"] == o]
    assert theirs_listed and all(x["verdict"] == "foreign" and x["store"] is None for x in theirs_listed), theirs_listed

    # --yes: everything of the old name but its data; the new name and the other app untouched
    _, done = _gc(mine, "--yes")
    assert done["data_kept"], done
    assert wait_until(lambda: _data_only(gct.objects(a)), SETTLE_S), gct.objects(a)
    assert _flat(gct.objects(a)), f"--yes without --volumes deleted {a}'s data"
    assert gct.objects(b) == new, "gc touched the current app"
    _, done = _gc(mine, "--yes", "--volumes")
    assert wait_until(lambda: not _flat(gct.objects(a)), SETTLE_S), gct.objects(a)
    assert gct.objects(b) == new and gct.objects(o) == other
    assert _gc(mine)[0] == [], "gc still lists what it deleted"
    cases += 1
    correct += 1

    # 2. a removed service: deploy keeps its data on purpose, gc finds it
    mine.rewrite(manifest(b, gct.settings(b), side=False))
    mine.ok("deploy", "--yes")
    listed, _ = _gc(mine)
    assert listed and {x["app"] for x in listed} == {b} and all(x["stateful"] for x in listed), listed
    assert all("neither the manifest nor revision" in x["why"] for x in listed), listed
    kept = gct.objects(b)
    _gc(mine, "--yes", "--volumes")
    assert wait_until(lambda: _no_data(gct.objects(b)), SETTLE_S), gct.objects(b)
    after = gct.objects(b)
    assert _flat(after) and _flat(after) < _flat(kept), (kept, after)
    listed, _ = _gc(mine)
    assert listed == [], listed
    cases += 1
    correct += 1

    # the other store's app was never touched, and its own gc sees nothing of ours to delete
    assert gct.objects(o) == other
    listed, _ = _gc(theirs)
    assert listed == [], listed
    record(gct.provider, gc_cases=cases, gc_correct=correct)


@pytest.mark.lab("docker", "images")
def test_with_a_store_several_manifests_share_app_chooses_what_gc_may_collect(lab: Any, tmp_path: Path) -> None:
    """A team store holds apps of other manifests: gc lists them (it reads only the store), and
    `--app` limits what it collects to the named apps, leaving the others running."""
    target = TARGETS["docker"](lab.require("docker", "images"), tmp_path)
    base = f"gc{uuid.uuid4().hex[:6]}"
    shop, old, billing = f"{base}s", f"{base}r", f"{base}i"
    store = tmp_path / "team.db"
    apps = {name: App(name, tmp_path / name / "portable.yaml", store, target, target.env()) for name in (shop, billing)}
    try:
        for name, app in apps.items():
            app.manifest.parent.mkdir()
            app.rewrite(manifest(old if name == shop else name, target.settings(name), side=False))
            app.ok("deploy", "--yes")
        apps[shop].rewrite(manifest(shop, target.settings(shop), side=False))  # the rename
        apps[shop].ok("deploy", "--yes")
        listed, _ = _gc(apps[shop])
        assert {x["app"] for x in listed} == {old, billing}, listed
        _gc(apps[shop], "--app", old, "--yes", "--volumes")
        assert not _flat(target.objects(old))
        assert _flat(target.objects(billing)) and _flat(target.objects(shop))
        listed, _ = _gc(apps[shop], "--app", old)
        assert listed == [], listed
        record("docker", gc_cases=1, gc_correct=1)
    finally:
        for name in (shop, old, billing):
            folder = tmp_path / f"cleanup-{name}"
            folder.mkdir(exist_ok=True)
            (folder / "portable.yaml").write_text(manifest(name, target.settings(name), side=True))
            App(name, folder / "portable.yaml", folder / "state.db", target, target.env()).cli("destroy", "--yes", "--volumes", "--quiet")
        target.close([shop, old, billing])


@pytest.mark.lab("docker", "images")
def test_a_replacement_a_killed_update_left_is_collected_and_the_replica_keeps_serving(lab: Any, tmp_path: Path) -> None:
    """SIGKILL during an update, while the `-next` container waits for health; the user then
    goes back to the previous manifest, so deploy has nothing to do and never looks at the
    `-next` container again. gc names it, and --yes removes it alone."""
    import os
    import signal
    import subprocess
    import time

    target = TARGETS["docker"](lab.require("docker", "images"), tmp_path)
    name = f"gc{uuid.uuid4().hex[:6]}k"
    app = App(name, tmp_path / "portable.yaml", tmp_path / "state.db", target, target.env())
    app.rewrite(manifest(name, target.settings(name), side=False))
    try:
        app.ok("deploy", "--yes")
        replica, spare = f"{name}-web-1", f"{name}-web-1-next"
        update = subprocess.Popen(
            [sys.executable, "-m", "portable.cli.main", "deploy", "--yes", "-f", str(app.manifest), "-t", TARGET, "--state", str(app.state)],
            env={**app.env, "CT_GREETING": "two"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        # the engine's list alone: the SDK's containers.list inspects each container it lists, and
        # a container removed in between (a try the update makes again) failed the poll with 404
        while not target.client.api.containers(all=True, filters={"name": spare}) and time.monotonic() < deadline and update.poll() is None:
            time.sleep(0.05)
        os.kill(update.pid, signal.SIGKILL)
        update.wait(10)
        assert target.objects(name)["containers"] == sorted([replica, spare]), target.objects(name)

        assert app.plan_actions() == [], "the previous manifest plans nothing: deploy would never remove the spare"
        listed, _ = _gc(app)
        assert [(x["name"], x["verdict"]) for x in listed] == [(spare, "garbage")], listed
        assert "killed update" in listed[0]["why"], listed
        _gc(app, "--yes")
        assert target.objects(name)["containers"] == [replica]
        assert [e.get("GREETING") for e in target.running_env(name, "web")] == ["one"]
        assert app.plan_actions() == [] and _gc(app)[0] == []
        record("docker", gc_cases=1, gc_correct=1)
    finally:
        app.cli("destroy", "--yes", "--volumes", "--quiet")
        target.close([name])
