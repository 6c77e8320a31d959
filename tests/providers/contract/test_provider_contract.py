"""The provider contract, one suite for every provider (docker, kubernetes, aws, libcloud,
vsphere), in the spirit of libcloud's TestCaseMixin and terraform's shared backend tests.

Every case drives the real CLI (exit codes, messages, `-o json`) and checks the target
through its own API (contract_targets.py). The `ct` fixture is parametrized over
contract_targets.TARGETS, so a new provider runs all of this by adding one class there.
"""
from __future__ import annotations

import json
import uuid

import pytest

from contract_app import IMAGE, WEB, App, Apps
from contract_targets import TARGET, ContractTarget, wait_until

pytestmark = pytest.mark.timeout(1200)

# how long a target may take to let go of what a destroy removed (kwok's pod deletion,
# EC2's shutting-down): what the user would wait for after `portable destroy` returns
SETTLE_S = 90.0


def _nothing(objects: dict[str, list[str]]) -> bool:
    return not any(objects.values())


def _one_sentence(stderr: str) -> str:
    """The error as the CLI prints it: one `error:` line (and at most a hint), no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), stderr
    assert len(lines) <= 2 and all(line.startswith("  hint: ") for line in lines[1:]), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return stderr


def test_deploy_then_an_unchanged_redeploy_plans_zero_actions(ct: ContractTarget, apps: Apps) -> None:
    app = apps.new()
    assert _nothing(ct.objects(app.name)), f"the target already holds objects of {app.name}"
    out = app.ok("deploy", "--yes")
    assert f"{app.name} on {TARGET}: revision 1 deployed." in out
    created = ct.objects(app.name)
    assert not _nothing(created), f"deploy reported success but nothing on the target carries {app.name}"
    assert [e.get("GREETING") for e in ct.running_env(app.name, "web")] == ["one"]

    assert app.plan_actions() == []
    again = app.ok("deploy", "--yes")
    assert "no changes; nothing was touched" in again
    assert ct.objects(app.name) == created


def test_observe_finds_exactly_what_the_app_owns_and_nothing_of_another_app(ct: ContractTarget, apps: Apps) -> None:
    first = apps.new()
    # a name that starts with the first app's name; another service name, so that on targets
    # naming objects by service within a shared space (a Kubernetes namespace) both can exist
    second = apps.new(f"{first.name}-two", service="front")
    first.ok("deploy", "--yes")
    second.ok("deploy", "--yes")
    mine, theirs = ct.objects(first.name), ct.objects(second.name)
    assert not _nothing(mine) and not _nothing(theirs)
    assert not {o for objs in mine.values() for o in objs} & {o for objs in theirs.values() for o in objs}

    # observe of either app sees only its own objects: nothing to create, nothing to delete
    assert first.plan_actions() == []
    assert second.plan_actions() == []
    web = first.status()["web"]
    assert (web["desired"], web["running"]) == (1, 1), web

    first.ok("destroy", "--yes", "--volumes")
    assert wait_until(lambda: _nothing(ct.objects(first.name)), SETTLE_S), ct.objects(first.name)
    assert ct.objects(second.name) == theirs, "destroying one app touched the other"
    assert second.plan_actions() == []


def test_an_env_change_updates_the_running_service(ct: ContractTarget, apps: Apps) -> None:
    app = apps.new()
    app.ok("deploy", "--yes")
    actions = app.plan_actions(CT_GREETING="two")
    assert actions and {a["op"] for a in actions} <= {"update", "replace"}, actions
    assert {a["service"] for a in actions} == {"web"}, actions
    out = app.ok("deploy", "--yes", CT_GREETING="two")
    assert "revision 2 deployed" in out
    assert [e.get("GREETING") for e in ct.running_env(app.name, "web")] == ["two"]
    assert app.plan_actions(CT_GREETING="two") == []


def test_status_reports_healthy_replicas(ct: ContractTarget, apps: Apps) -> None:
    app = apps.new()
    app.ok("deploy", "--yes", CT_REPLICAS="2")
    assert len(ct.running_env(app.name, "web")) == 2
    assert wait_until(lambda: app.status(CT_REPLICAS="2")["web"]["healthy"] == 2, 60, interval=2), app.status(CT_REPLICAS="2")
    web = app.status(CT_REPLICAS="2")["web"]
    assert (web["desired"], web["running"], web["healthy"]) == (2, 2, 2), web


# Manifest fields that ask a target for a capability (web's body, the field path named)
PUBLIC_HTTP_PORT = "      - {port: 8080, expose: public, published: 18080}\n"
CAPABILITY_VARIANTS = {
    "autoscale": (WEB + "    autoscale: {min: 1, max: 3, cpu_percent: 80}\n", "services.web.autoscale"),
    "build": (WEB.replace(f"    image: {IMAGE}\n", "    build: ./web\n"), "services.web.build"),
    "load_balancer": (WEB.replace("${CT_REPLICAS:-1}", "2").replace("      - port: 8080\n", PUBLIC_HTTP_PORT), "services.web."),
    "public_tcp": (
        WEB.replace("      - port: 8080\n", "      - port: 8080\n      - {port: 9000, protocol: tcp, expose: public, published: 19000}\n"),
        "services.web.ports[1]",
    ),
}


def test_a_capability_the_target_lacks_is_refused_with_exit_2_before_anything_changes(ct: ContractTarget, apps: Apps) -> None:
    refused: list[tuple[str, App]] = []
    for label, (web, field_path) in CAPABILITY_VARIANTS.items():
        app = apps.new(web=web)
        (app.manifest.parent / "web").mkdir()
        (app.manifest.parent / "web" / "Dockerfile").write_text(f"FROM {IMAGE}\n")
        done = app.cli("plan")
        if done.returncode == 0:
            continue  # the target can do it
        assert done.returncode == 2, f"{label}: plan exited {done.returncode}:\n{done.stdout}{done.stderr}"
        message = _one_sentence(done.stderr)
        assert f"target `{TARGET}` ({ct.provider})" in message and field_path in message, (label, message)
        refused.append((label, app))
    assert refused, f"{ct.provider} declares every capability these variants ask for: add a variant it lacks"

    label, app = refused[0]
    done = app.cli("deploy", "--yes")
    assert done.returncode == 2, f"{label}: deploy exited {done.returncode}:\n{done.stdout}{done.stderr}"
    _one_sentence(done.stderr)
    assert _nothing(ct.objects(app.name)), f"{label}: a refused deploy changed the target: {ct.objects(app.name)}"
    history = app.cli("history", "-o", "json")
    assert history.returncode == 0 and json.loads(history.stdout) == [], history.stdout + history.stderr


def test_wrong_credentials_give_one_sentence_naming_the_credential_source(ct: ContractTarget, apps: Apps) -> None:
    name = f"ct{uuid.uuid4().hex[:6]}"
    wrong = ct.wrong_credentials(name)
    app = apps.new(name, settings=wrong.settings, env=wrong.env)
    for command in (("plan",), ("deploy", "--yes")):
        done = app.cli(*command)
        assert done.returncode in (1, 2), f"{command}: exited {done.returncode}:\n{done.stdout}{done.stderr}"
        message = _one_sentence(done.stderr)
        missing = [n for n in wrong.names if n not in message]
        assert not missing, f"{command}: the error does not name {missing}: {message}"
        if wrong.secret:
            assert wrong.secret not in done.stdout + done.stderr
    assert _nothing(ct.objects(app.name))


def test_destroy_leaves_nothing_labelled_or_tagged_for_the_app(ct: ContractTarget, apps: Apps) -> None:
    app = apps.new(volume=True)
    app.ok("deploy", "--yes")
    deployed = ct.objects(app.name)
    kinds = {k for k, v in deployed.items() if v}
    assert len(kinds) >= 2, f"expected the service and its volume on the target: {deployed}"

    app.ok("destroy", "--yes")  # data stays unless asked
    assert wait_until(lambda: len({k for k, v in ct.objects(app.name).items() if v}) == 1, SETTLE_S), ct.objects(app.name)
    [(kind, kept)] = [(k, v) for k, v in ct.objects(app.name).items() if v]
    assert kept == deployed[kind], f"destroy without --volumes changed the data ({kind})"

    app.ok("destroy", "--yes", "--volumes")
    assert wait_until(lambda: _nothing(ct.objects(app.name)), SETTLE_S), ct.objects(app.name)
