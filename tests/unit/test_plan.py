"""The plan: create/update/replace/delete with reasons, dependency order, stateful kept."""
from __future__ import annotations

from portable.plan import Observed, Resource, compute_plan

NET = Resource("network", "shop", {"driver": "bridge"})
DB = Resource("service", "db", {"image": "postgres:16"}, depends_on=("network/shop", "volume/data"), service="db")
VOL = Resource("volume", "data", {"size": "1Gi"}, stateful=True)
API = Resource("service", "api", {"image": "api:1", "env": {"A": "1"}}, depends_on=("service/db",), service="api")
WEB = Resource("service", "web", {"image": "web:1"}, depends_on=("service/api",), service="web")
ALL = [WEB, API, DB, VOL, NET]


def seen(r: Resource) -> Observed:
    return Observed(r.kind, r.name, r.digest, r.stateful, r.service)


def test_first_deploy_creates_in_dependency_order() -> None:
    plan = compute_plan("shop", "local", ALL, [])
    assert [[a.key for a in level] for level in plan.levels] == [
        ["network/shop", "volume/data"], ["service/db"], ["service/api"], ["service/web"],
    ]
    assert all(a.op == "create" and a.reason == "not present on the target" for a in plan.actions)
    assert plan.summary() == "Plan: 5 to create, 0 to update, 0 to replace, 0 to delete."


def test_unchanged_plans_nothing() -> None:
    plan = compute_plan("shop", "local", ALL, [seen(r) for r in ALL], ALL)
    assert plan.empty and "No changes" in plan.summary()


def test_changed_env_is_an_update_with_the_field() -> None:
    api2 = Resource("service", "api", {"image": "api:1", "env": {"A": "2"}}, depends_on=("service/db",), service="api")
    plan = compute_plan("shop", "local", [WEB, api2, DB, VOL, NET], [seen(r) for r in ALL], ALL)
    (action,) = plan.actions
    assert action.op == "update" and action.key == "service/api"
    assert [(c.path, c.old, c.new) for c in action.changes] == [("env.A", "1", "2")]
    assert "~ service/api  (spec changed)" in plan.render_text()
    assert "env.A: '1' -> '2'" in plan.render_text()


def test_replace_when_provider_says_so() -> None:
    db2 = Resource("service", "db", {"image": "postgres:17"}, depends_on=DB.depends_on, service="db")
    plan = compute_plan("shop", "local", [WEB, API, db2, VOL, NET], [seen(r) for r in ALL], ALL, needs_replace=lambda o, d: d.kind == "service")
    assert [a.op for a in plan.actions] == ["replace"]


def test_removed_service_deleted_after_creates_and_volumes_kept() -> None:
    web_alone = Resource("service", "web", WEB.spec, (), "web")
    plan = compute_plan("shop", "local", [NET, web_alone], [seen(r) for r in ALL], ALL)
    ops = [(a.op, a.key) for a in plan.actions]
    # web is updated (dependency dropped) before the removals; api is removed before db, which it used
    assert ops.index(("delete", "service/api")) < ops.index(("delete", "service/db"))
    assert [o.key for o in plan.kept] == ["volume/data"]
    assert "= volume/data  (kept" in plan.render_text()


def test_destroy_with_volumes_deletes_data() -> None:
    plan = compute_plan("shop", "local", [], [seen(r) for r in ALL], ALL, delete_stateful=True)
    keys = [a.key for a in plan.actions]
    assert set(keys) == {r.key for r in ALL}
    assert keys.index("service/web") < keys.index("service/api") < keys.index("service/db") < keys.index("network/shop")


def test_drift_on_target_is_repaired_without_field_list() -> None:
    drifted = Observed("service", "web", "someone-else", False, "web")
    plan = compute_plan("shop", "local", [WEB], [drifted], [WEB])
    (action,) = plan.actions
    assert action.op == "update" and action.reason == "differs from what is running" and not action.changes


def test_plan_json_has_no_secret_values() -> None:
    res = Resource("secret", "pw", {"keys": ["pw"], "digest": "abc123"})
    data = compute_plan("shop", "local", [res], []).to_dict()
    assert data["actions"][0] == {"op": "create", "resource": "secret/pw", "service": None, "reason": "not present on the target", "changes": []}


def test_destroy_without_history_orders_by_structure() -> None:
    """A first deploy failed (no revision to learn from): today's translation orders the deletes."""
    plan = compute_plan("shop", "local", [], [seen(r) for r in ALL], [], delete_stateful=True, structure=ALL)
    keys = [[a.key for a in level] for level in plan.levels]
    flat = [k for level in keys for k in level]
    assert flat.index("service/db") < flat.index("network/shop")
    assert not any("service/db" in level and "network/shop" in level for level in keys)
