"""portable gc's verdicts (portable/gc.py `judge`): which owned objects are garbage, whose
are someone else's, and the reason a user reads for each. Pure: no target involved (the lab
stories are tests/hardening/test_gc.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from portable.gc import Finding, judge
from portable.providers.base import OwnedObject
from portable.state import Revision

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _obj(app: str, resource: str | None, *, service: str | None = None, target: str | None = "prod", stateful: bool = False) -> OwnedObject:
    return OwnedObject(kind="thing", name=f"{app}-{resource}", app=app, resource=resource, service=service, target=target,
                       created=NOW - timedelta(hours=3), stateful=stateful)


def _rev(app: str, number: int, status: str = "deployed") -> Revision:
    return Revision(app, "prod", number, "deploy", status, "2026-12-01T09:00:00Z", None, "d", [])


def _verdicts(objects: list[OwnedObject], **kw: object) -> dict[str, tuple[str, str]]:
    args: dict = {"app": "shop", "target": "prod", "ours": {"shop": _rev("shop", 5), "shop-old": _rev("shop-old", 2)},
                  "described": {"container/web-1", "volume/data"}, "services": {"web"}, "current": _rev("shop", 5)}
    args.update(kw)
    return {f.obj.name: (f.verdict, f.why) for f in judge(objects, **args)}


def test_the_manifests_described_objects_are_not_listed() -> None:
    assert _verdicts([_obj("shop", "container/web-1"), _obj("shop", "volume/data", stateful=True), _obj("shop", None)]) == {}


def test_a_renamed_apps_objects_are_garbage_naming_both_names_and_the_revision() -> None:
    verdict, why = _verdicts([_obj("shop-old", "container/web-1")])["shop-old-container/web-1"]
    assert verdict == "garbage"
    assert "`shop-old` is not this manifest's app (`shop`)" in why and "revision 2 (deployed)" in why


def test_a_removed_services_data_is_garbage_and_the_service_is_named() -> None:
    verdict, why = _verdicts([_obj("shop", "volume/jobs", service="worker", stateful=True)])["shop-volume/jobs"]
    assert verdict == "garbage"
    assert why == "service `worker` is no longer in the manifest; volume/jobs is in neither the manifest nor revision 5"


def test_an_app_this_store_never_deployed_is_foreign_even_with_the_manifests_name() -> None:
    found = _verdicts([_obj("billing", "container/web-1"), _obj("shop", "container/api-1")], ours={"shop-old": _rev("shop-old", 2)})
    assert found["billing-container/web-1"][0] == "foreign"
    assert found["shop-container/api-1"] == ("foreign", "this state store never deployed app `shop` on `prod`")


def test_another_targets_objects_are_never_garbage() -> None:
    found = _verdicts([_obj("shop-old", "container/web-1", target="staging")])
    assert found["shop-old-container/web-1"] == ("other-target", "marked for target `staging`, not `prod`")


def test_a_destroyed_apps_leftovers_say_so() -> None:
    _, why = _verdicts([_obj("shop-old", "volume/data", stateful=True)], ours={"shop": _rev("shop", 5), "shop-old": _rev("shop-old", 3, "destroyed")})["shop-old-volume/data"]
    assert "destroyed it in revision 3" in why


def test_garbage_comes_first_and_ages_read_as_people_say_them() -> None:
    found = judge([_obj("billing", "container/web-1"), _obj("shop-old", "container/web-1")], app="shop", target="prod",
                  ours={"shop": _rev("shop", 5), "shop-old": _rev("shop-old", 2)}, described=set(), services={"web"}, current=None)
    assert [f.verdict for f in found] == ["garbage", "foreign"]
    assert found[0].age(NOW) == "3h"
    assert Finding(_obj("x", None), "foreign", "").age(NOW + timedelta(days=2)) == "2d"
    assert found[0].to_dict(NOW, "/tmp/state.db")["store"] == "/tmp/state.db"
    assert found[1].to_dict(NOW, "/tmp/state.db")["store"] is None
