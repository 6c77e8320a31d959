"""The progress renderer and the engine's structured events, with synthetic events (the lab
test tests/e2e/test_progress_docker.py runs the real thing on a terminal and in a pipe).

What a user notices: which mode a terminal, a pipe, CI, TERM=dumb or -o json gets; that
plain mode prints exactly the lines it always printed (and nothing for byte counts); that the
table's rows reach N/N ready with the final state; that transfers show bytes and a rate.
"""
from __future__ import annotations

import io
import threading
import time
from typing import Any

import click
import pytest
from rich.console import Console

from portable.cli.live_table import LiveTableSink, PlainSink, ProgressBoard, choose_mode, human_bytes
from portable.engine.apply import apply_plan
from portable.engine.progress import BYTES, PLAN, ProgressEvent, PushMeter, emit, metered
from portable.engine.service_tally import desired_replicas, replica_units
from portable.plan import Resource, compute_plan
from portable.providers.base import ApplyContext


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Events:
    """A sink that takes events, as the CLI's do; keeps them in order."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self.lock = threading.Lock()

    def __call__(self, message: str) -> None:
        self.event(ProgressEvent(message))

    def event(self, event: ProgressEvent) -> None:
        with self.lock:
            self.events.append(event)


class Healthy:
    """A provider of our own protocol whose every action succeeds after a short sleep."""

    name = "healthy"

    def apply(self, action: Any, ctx: Any) -> None:
        time.sleep(0.01)


def _shop() -> list[Resource]:
    net = Resource("network", "shop", {"name": "shop"})
    web = [Resource("container", f"web-{i}", {"image": "web", "replica": i}, ("network/shop",), service="web") for i in (1, 2, 3)]
    db = Resource("Deployment", "db", {"kind": "Deployment", "spec": {"replicas": 2}}, ("network/shop",), service="db")
    svc = Resource("Service", "db", {"spec": {"ports": [5432]}}, service="db")
    return [net, *web, db, svc]


@pytest.mark.parametrize(("stdout", "stderr", "env", "json_output", "want"), [
    (Tty(), Tty(), {"TERM": "xterm"}, False, "table"),
    (io.StringIO(), Tty(), {"TERM": "xterm"}, False, "plain"),  # stdout redirected
    (Tty(), io.StringIO(), {"TERM": "xterm"}, False, "plain"),  # stderr redirected
    (Tty(), Tty(), {"TERM": "xterm", "CI": "true"}, False, "plain"),
    (Tty(), Tty(), {"TERM": "dumb"}, False, "plain"),
    (Tty(), Tty(), {"TERM": "xterm"}, True, "plain"),  # -o json
    (io.StringIO(), io.StringIO(), {"PORTABLE_PROGRESS": "table"}, False, "table"),  # forced
    (Tty(), Tty(), {"TERM": "xterm", "PORTABLE_PROGRESS": "plain"}, False, "plain"),
])
def test_the_mode_a_user_gets(stdout: Any, stderr: Any, env: dict[str, str], json_output: bool, want: str) -> None:
    assert choose_mode(None, json_output=json_output, stdout=stdout, stderr=stderr, environ=env) == want


def test_a_requested_mode_wins_and_a_bad_one_is_a_usage_error() -> None:
    assert choose_mode("plain", stdout=Tty(), stderr=Tty(), environ={"TERM": "xterm"}) == "plain"
    with pytest.raises(click.UsageError, match="expected one of auto, plain, table"):
        choose_mode(None, environ={"PORTABLE_PROGRESS": "fancy"})


def test_replica_units_read_every_providers_spec() -> None:
    assert [replica_units(r) for r in _shop()] == [0, 1, 1, 1, 2, 0]
    assert replica_units(Resource("instance-group", "web", {"replicas": 4}, service="web")) == 4
    assert desired_replicas(_shop()) == {"web": 3, "db": 2}


def test_plain_callbacks_get_exactly_the_old_lines_and_event_sinks_get_ready_counts() -> None:
    desired = _shop()
    plan = compute_plan("shop", "local", desired, [])
    lines: list[str] = []
    apply_plan(Healthy(), plan, ApplyContext(app=None, progress=lines.append), parallelism=4, desired=desired)  # type: ignore[arg-type]
    assert "" not in lines  # silent events never reach a plain callback
    assert sorted(lines) == sorted([f"creating {r.key}" for r in desired] + [f"{r.key} ready" for r in desired])

    sink = Events()
    apply_plan(Healthy(), plan, ApplyContext(app=None, progress=sink), parallelism=4, desired=desired)  # type: ignore[arg-type]
    web = [e for e in sink.events if e.service == "web"]
    assert (web[0].step, web[0].ready, web[0].desired) == ("waiting", 0, 3)  # the row exists before anything starts
    assert [e.ready for e in web if e.text.endswith(" ready")] == [1, 2, 3]
    assert web[-1].finished and not any(e.finished for e in web[:-1])
    db = [e for e in sink.events if e.service == "db"]
    assert (db[-1].ready, db[-1].desired, db[-1].finished) == (2, 2, True)


def test_a_plan_touching_one_replica_starts_from_the_others_ready() -> None:
    desired = _shop()
    plan = compute_plan("shop", "local", [r for r in desired if r.name == "web-3"], [])
    sink = Events()
    apply_plan(Healthy(), plan, ApplyContext(app=None, progress=sink), parallelism=4, desired=desired)  # type: ignore[arg-type]
    web = [e for e in sink.events if e.service == "web"]
    assert (web[0].ready, web[0].desired) == (2, 3) and (web[-1].ready, web[-1].finished) == (3, True)


def test_plain_sink_prints_timestamped_lines_the_plan_first_and_no_byte_counts(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    shown: list[str] = []

    def on_plan(plan: Any) -> None:
        click.echo(f"PLAN {plan}")
        shown.append(plan)

    sink = PlainSink(on_plan, clock=clock)
    clock.now += 1.25
    emit(sink, "revision 3: Plan: 1 to create", kind=PLAN, plan="the-plan")
    emit(sink, "", kind=BYTES, transfer="volume data", bytes_done=10)
    emit(sink, "creating container/web-1", service="web", step="creating container/web-1", ready=0, desired=1)
    sink("a plain line")
    out = capsys.readouterr()
    assert shown == ["the-plan"] and out.out == "PLAN the-plan\n"
    assert out.err.splitlines() == ["   1.2s revision 3: Plan: 1 to create", "   1.2s creating container/web-1", "   1.2s a plain line"]


def _screen(sink: LiveTableSink) -> str:
    console = Console(file=io.StringIO(), width=110, color_system=None)
    console.print(sink._render())
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


def test_the_table_follows_services_to_their_final_state_and_transfers_with_rates() -> None:
    clock = Clock()
    sink = LiveTableSink(clock=clock)  # not started: rendered by hand
    emit(sink, "revision 1: ...", kind=PLAN, plan=None)
    emit(sink, "", service="web", step="waiting", ready=0, desired=2)
    emit(sink, "creating container/web-1", service="web", step="creating container/web-1", ready=0, desired=2)
    emit(sink, "", kind=BYTES, transfer="volume data -> b", bytes_done=0, bytes_total=2_000_000)
    clock.now += 2
    emit(sink, "", kind=BYTES, transfer="volume data -> b", bytes_done=1_000_000, bytes_total=2_000_000)
    screen = _screen(sink)
    assert "web" in screen and "0/2" in screen and "in progress" in screen and "creating container/web-1" in screen
    assert "1.0 MB / 2.0 MB" in screen and "500.0 kB/s" in screen and "copying" in screen
    emit(sink, "container/web-1 ready", service="web", step="container/web-1 ready", ready=1, desired=2)
    clock.now += 1.5
    emit(sink, "container/web-2 ready", service="web", step="container/web-2 ready", ready=2, desired=2, finished=True)
    emit(sink, "", kind=BYTES, transfer="volume data -> b", bytes_done=2_000_000, bytes_total=2_000_000, finished=True)
    row = next(line for line in _screen(sink).splitlines() if line.startswith("web "))
    assert row.split()[:3] == ["web", "2/2", "ready"] and row.split()[-1] == "3.5s"
    assert "done" in _screen(sink)

    board = ProgressBoard(clock)
    board.apply(ProgressEvent("", service="web", step="deleting container/web-1", ready=0, desired=0))
    board.apply(ProgressEvent("", service="web", step="container/web-1 deleted", ready=0, desired=0, finished=True))
    assert board.rows()[0][:3] == ["web", "0/0", "deleted"]


def test_migrate_rows_name_the_target_when_there_are_two() -> None:
    class P:
        def __init__(self, target: str) -> None:
            self.target = target

    board = ProgressBoard(Clock())
    board.apply(ProgressEvent("", kind=PLAN, plan=P("b")))
    board.apply(ProgressEvent("", service="web", step="web ready", ready=1, desired=1, finished=True))
    board.apply(ProgressEvent("", kind=PLAN, plan=P("a")))
    board.apply(ProgressEvent("", service="web", step="web deleted", ready=0, desired=0, finished=True))
    assert [r[:3] for r in board.rows()] == [["web on a", "0/0", "deleted"], ["web on b", "1/1", "ready"]]


def test_metered_streams_pass_unchanged_and_count_only_for_event_sinks() -> None:
    data = [b"a" * 1000, b"b" * 500, b"c"]
    lines: list[str] = []
    assert list(metered(iter(data), lines.append, "x")) == data and lines == []
    sink = Events()
    assert list(metered(iter(data), sink, "volume v")) == data
    moved = [e for e in sink.events if e.kind == BYTES]
    assert moved[0].bytes_done == 0 and (moved[-1].bytes_done, moved[-1].bytes_total, moved[-1].finished) == (1501, 1501, True)


def test_push_meter_sums_the_layers_of_a_docker_push_stream() -> None:
    sink = Events()
    meter = PushMeter(sink, "push r/app:1", clock=Clock())
    for chunk in ({"status": "The push refers to repository [r/app]"},
                  {"id": "l1", "status": "Pushing", "progressDetail": {"current": 100, "total": 400}},
                  {"id": "l2", "status": "Pushing", "progressDetail": {"current": 50, "total": 100}},
                  {"id": "l1", "status": "Pushed", "progressDetail": {}},
                  {"id": "l2", "status": "Pushed", "progressDetail": {}}):
        meter.saw(chunk)
    meter.close()
    last = sink.events[-1]
    assert (last.transfer, last.bytes_done, last.bytes_total, last.finished) == ("push r/app:1", 500, 500, True)
    assert human_bytes(999) == "999 B" and human_bytes(1500) == "1.5 kB"
