"""Docker renames wait for a gap in the network's joins and leaves, and hold them off while they run."""
from __future__ import annotations

import threading

import pytest

from portable.providers.docker import endpoint_gate
from portable.providers.docker.endpoint_gate import EndpointGate


def test_a_rename_waits_for_the_starts_and_stops_in_flight() -> None:
    gate, order = EndpointGate(), []
    inside, release = threading.Event(), threading.Event()

    def stop() -> None:
        with gate.changing():
            inside.set()
            release.wait(10)
            order.append("stop ended")

    def rename() -> None:
        with gate.renaming():
            order.append("renamed")

    stopper = threading.Thread(target=stop)
    stopper.start()
    inside.wait(10)
    renamer = threading.Thread(target=rename)
    renamer.start()
    renamer.join(0.5)
    assert renamer.is_alive() and order == []  # held back while the stop is in flight
    release.set()
    stopper.join(10)
    renamer.join(10)
    assert order == ["stop ended", "renamed"]


def test_starts_wait_while_a_rename_runs_and_never_wait_for_each_other() -> None:
    gate, order = EndpointGate(), []
    with gate.changing(), gate.changing():  # two at once: no waiting between them
        order.append("two starts")
    renaming, release = threading.Event(), threading.Event()

    def rename() -> None:
        with gate.renaming():
            renaming.set()
            release.wait(10)
            order.append("renamed")

    def start() -> None:
        with gate.changing():
            order.append("started")

    renamer = threading.Thread(target=rename)
    renamer.start()
    renaming.wait(10)
    starter = threading.Thread(target=start)
    starter.start()
    starter.join(0.5)
    assert starter.is_alive()
    release.set()
    renamer.join(10)
    starter.join(10)
    assert order == ["two starts", "renamed", "started"]


def test_a_rename_that_finds_no_gap_goes_ahead_after_its_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoint_gate, "GAP_WAIT_S", 0.3)
    gate = EndpointGate()
    with gate.changing():  # a stop that never ends while the rename waits
        done = threading.Event()

        def rename() -> None:
            with gate.renaming():
                done.set()

        threading.Thread(target=rename).start()
        assert done.wait(10)
