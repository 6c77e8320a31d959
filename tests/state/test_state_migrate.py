"""`portable state migrate --to URL`: every app's history goes SQLite -> PostgreSQL -> S3 ->
SQLite unchanged (numbers, statuses, times, resources), verified, the source left as it was."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from store_support import StoreUnderTest, new_store, portable

from portable.plan.resources import Resource
from portable.state.copy import history_digest


@pytest.fixture
def stores(lab: Any, tmp_path: Path) -> Iterator[dict[str, StoreUnderTest]]:
    gens = {kind: new_store(kind, lab, tmp_path / kind) for kind in ("sqlite", "postgres", "s3")}
    (tmp_path / "sqlite").mkdir()
    made = {kind: next(gen) for kind, gen in gens.items()}
    made["back"] = StoreUnderTest("sqlite", str(tmp_path / "back.db"), {})
    yield made
    for gen in gens.values():
        next(gen, None)


def _fill(store: StoreUnderTest) -> None:
    s = store.open()
    for app, target, statuses in (("shop", "local", ["deployed", "failed", "deployed"]), ("shop", "aws", ["deployed", "destroyed"]), ("blog", "k8s", ["failed"])):
        with s.lock(app, target, "deploy"):
            for i, status in enumerate(statuses):
                rev = s.begin(app, target, "destroy" if status == "destroyed" else "deploy", f"digest-{i}",
                              [] if status == "destroyed" else [Resource("service", "web", {"image": f"web:{i}", "env": {"K": "ü"}}, service="web")], f"note {i}")
                s.finish(rev, status, "web: unhealthy" if status == "failed" else "")  # type: ignore[arg-type]


def _snapshot(store: StoreUnderTest) -> dict[tuple[str, str], list[dict[str, Any]]]:
    s = store.open()
    return {(r.app, r.target): [x.record() for x in s.history(r.app, r.target)] for r in s.deployments()}


def test_history_round_trips_through_every_store(stores: dict[str, StoreUnderTest]) -> None:
    _fill(stores["sqlite"])
    original = _snapshot(stores["sqlite"])
    assert sum(len(v) for v in original.values()) == 6
    chain = ["sqlite", "postgres", "s3", "back"]
    for src, dst in zip(chain, chain[1:], strict=False):
        env = {**stores[src].env, **stores[dst].env}
        result = portable("state", "migrate", "--state", stores[src].url, "--to", stores[dst].url, "-o", "json", env=env)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["revisions"] == 6 and len(report["pairs"]) == 3 and not any(p["skipped"] for p in report["pairs"])
        assert _snapshot(stores[dst]) == original, f"{src} -> {dst}"
        assert _snapshot(stores[src]) == original  # the source keeps its history
        assert stores[src].open().locks() == [] and stores[dst].open().locks() == []
    digests = {(p["app"], p["target"]): p["digest"] for p in report["pairs"]}
    back = stores["back"].open()
    assert digests == {pair: history_digest(back.history(*pair)) for pair in original}

    again = portable("state", "migrate", "--state", stores["sqlite"].url, "--to", stores["postgres"].url, env=stores["postgres"].env)
    assert again.returncode == 0 and again.stdout.count("already there") == 3, again  # a rerun copies nothing twice


def test_a_destination_with_another_history_is_refused_before_copying(stores: dict[str, StoreUnderTest]) -> None:
    _fill(stores["sqlite"])
    s3 = stores["s3"].open()
    with s3.lock("shop", "aws", "deploy"):
        s3.finish(s3.begin("shop", "aws", "deploy", "other", []), "deployed")
    result = portable("state", "migrate", "--state", stores["sqlite"].url, "--to", stores["s3"].url, env=stores["s3"].env)
    assert result.returncode == 2, result
    assert "already holds a different history for shop on target aws" in result.stderr and "nothing was copied" in result.stderr
    assert [r.app for r in s3.deployments()] == ["shop"] and len(s3.history("shop", "local")) == 0


def test_migrate_waits_for_a_running_deploy_and_says_who(stores: dict[str, StoreUnderTest]) -> None:
    from store_support import Holder

    _fill(stores["sqlite"])
    holder = Holder(stores["sqlite"], "shop", "local")
    try:
        result = portable("state", "migrate", "--state", stores["sqlite"].url, "--to", stores["back"].url, "--lock-timeout", "1")
        assert result.returncode == 1 and f"pid {holder.pid}" in result.stderr and "waiting for the lock on shop on target local" in result.stderr, result
    finally:
        holder.close()
