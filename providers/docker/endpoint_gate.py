"""Keeps container renames apart from endpoint changes on the same app network.

Why: Docker 20.10's libnetwork ends every container rename with a "dummy endpoint count
update" (`n.getEpCnt().updateStore()` in `endpoint.rename`) that writes back the network's
cached endpoint count. When containers join or leave that network at the same moment (a
start, or a stop that ends the process), the count written can be one taken before their
change: the network then keeps a count of endpoints that nothing holds, and refuses its
removal ("has active endpoints") until the daemon restarts. A start-first rollout renames each
new replica while its siblings start and stop, and it left the app's network behind in about
one teardown in three after an update (bench/docker_vs_compose.py, Debian's Docker 20.10).

So a rename waits until no start or stop is in flight on the app's network, and starts and
stops wait while a rename runs (renames are short: tens of milliseconds). Starts and stops
never wait for each other, and a pending rename does not hold new ones back (a rename waits
for a gap; the rollout's actions end as they finish, so one comes). A rename that finds no gap
within GAP_WAIT_S goes ahead rather than stall the deploy.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from portable.engine import cancel
from portable.errors import Cancelled

GAP_WAIT_S = 30.0
_POLL_S = 0.2  # how often a waiting rename looks whether its run was interrupted


class EndpointGate:
    """One app network's joins and leaves (shared) against its renames (exclusive)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._changing = 0
        self._renaming = False

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Around a container start or stop on the network."""
        with self._cond:
            while self._renaming:
                self._cond.wait(_POLL_S)
            self._changing += 1
        try:
            yield
        finally:
            with self._cond:
                self._changing -= 1
                self._cond.notify_all()

    @contextmanager
    def renaming(self) -> Iterator[None]:
        """Around a container rename on the network."""
        deadline = time.monotonic() + GAP_WAIT_S
        with self._cond:
            while (self._changing and time.monotonic() < deadline) or self._renaming:
                if cancel.cancelled():
                    raise Cancelled("the run was interrupted")
                self._cond.wait(_POLL_S)
            self._renaming = True
        try:
            yield
        finally:
            with self._cond:
                self._renaming = False
                self._cond.notify_all()
