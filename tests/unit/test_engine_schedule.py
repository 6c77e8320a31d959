"""The engine's schedule: an action starts when its own dependencies are done, never before,
at most `parallelism` at once; after a failure nothing new starts.

The provider here is a recorder of our own Provider protocol (no cloud API is imitated): it
sleeps per resource and notes when each action started and ended.
"""
from __future__ import annotations

import threading
import time

from portable.engine.apply import apply_plan
from portable.errors import TargetError
from portable.plan import Resource, compute_plan
from portable.providers.base import ApplyContext


class Recorder:
    name = "recorder"

    def __init__(self, durations: dict[str, float], fail: str | None = None) -> None:
        self.durations = durations
        self.fail = fail
        self.spans: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def apply(self, action, ctx) -> None:  # type: ignore[no-untyped-def]
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        start = time.monotonic()
        time.sleep(self.durations.get(action.name, 0.01))
        with self.lock:
            self.active -= 1
            self.spans[action.name] = (start, time.monotonic())
        if action.name == self.fail:
            raise TargetError(f"{action.name} is unhealthy")


def res(name: str, *deps: str) -> Resource:
    return Resource("service", name, {"image": name}, tuple(f"service/{d}" for d in deps), service=name)


def test_an_action_starts_when_its_own_dependencies_finish(tmp_path) -> None:
    # db is slow; cache is quick and api needs only cache: api must not wait for db
    desired = [res("db"), res("cache"), res("api", "cache"), res("web", "api", "db")]
    provider = Recorder({"db": 0.6, "cache": 0.05, "api": 0.05, "web": 0.05})
    plan = compute_plan("shop", "local", desired, [])
    report = apply_plan(provider, plan, ApplyContext(app=None), parallelism=4)  # type: ignore[arg-type]
    assert report.ok and len(report.done) == 4
    s = provider.spans
    assert s["api"][0] >= s["cache"][1]  # after its dependency
    assert s["api"][1] < s["db"][1]  # but without waiting for the slow, unrelated db
    assert s["web"][0] >= max(s["api"][1], s["db"][1])


def test_parallelism_bounds_concurrency() -> None:
    desired = [res(f"s{i}") for i in range(8)]
    provider = Recorder({f"s{i}": 0.1 for i in range(8)})
    report = apply_plan(provider, compute_plan("shop", "local", desired, []), ApplyContext(app=None), parallelism=3)  # type: ignore[arg-type]
    assert report.ok and provider.peak == 3


def test_after_a_failure_nothing_new_starts_but_running_work_finishes() -> None:
    desired = [res("a"), res("slow"), res("b", "a"), res("c", "b")]
    provider = Recorder({"a": 0.05, "slow": 0.4, "b": 0.01}, fail="a")
    report = apply_plan(provider, compute_plan("shop", "local", desired, []), ApplyContext(app=None), parallelism=4)  # type: ignore[arg-type]
    assert [a.name for a, _ in report.failed] == ["a"]
    assert "slow" in provider.spans  # it was running and was allowed to finish
    assert "b" not in provider.spans and "c" not in provider.spans
