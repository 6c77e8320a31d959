"""Applies a Plan with bounded parallelism: each action starts as soon as the actions it
depends on are done (not when a whole level is), and waits for its own health. After the
first failure nothing new starts; actions already running finish, so nothing is half-made.
Ctrl-C is the exception: the context's `cancelled` event is set, nothing new starts, and the
pool is left without waiting for its workers (their wait loops stop on the event; the CLI does
not wait for the rest), so the command ends at once and the caller records the revision.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from portable.engine import outage
from portable.engine.cancel import cancel_on
from portable.engine.crashpoints import crashpoint
from portable.engine.interrupted import note_progress
from portable.engine.retry import call_with_retry
from portable.engine.service_tally import ServiceTally
from portable.errors import Cancelled, PortableError, TargetError
from portable.plan.plan import Action, Plan
from portable.plan.resources import Resource
from portable.providers.base import ApplyContext, Provider

DEFAULT_PARALLELISM = 4
#: the most workers started before the first action (more start on demand, as before)
WARM_WORKERS_MAX = 64
WARM_TIMEOUT_S = 2.0


@dataclass
class ApplyReport:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, PortableError]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _run(provider: Provider, action: Action, ctx: ApplyContext, tally: ServiceTally) -> None:
    verb = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}[action.op]
    if ctx.cancelled.is_set():
        raise Cancelled(f"{action.op} of {action.key} was not started: the run was interrupted")
    tally.begin(action, f"{verb} {action.key}")  # the same line as ever; a live table also gets the service's row
    try:
        with cancel_on(ctx.cancelled):  # the provider's wait loops (engine.cancel.pause) stop on Ctrl-C
            call_with_retry(provider.apply, action, ctx, attempts=3)
    except PortableError:
        raise
    except Exception as exc:  # a provider bug or an unmapped SDK error: still one sentence
        raise TargetError(f"{action.op} of {action.key} failed: {type(exc).__name__}: {exc}") from exc
    crashpoint(f"apply.after-{action.op}")  # tests only (PORTABLE_CRASHPOINT)
    tally.end(action, f"{action.key} {'deleted' if action.op == 'delete' else 'ready'}")


def _start_workers(pool: ThreadPoolExecutor, count: int) -> None:
    """Starts `count` of the pool's threads before the first action runs.

    ThreadPoolExecutor starts a thread on each submit while none is idle, and `Thread.start`
    waits until the new thread runs. Once earlier workers are busy with the target's API, that
    wait is for the GIL they hold (about 10 ms a thread on 2 cores): a teardown's 20th
    container got its stop 0.2 s after the first. Started while nothing else runs, the threads
    cost well under a millisecond each, and every submit then hands its action to an idle one.
    Each thread waits at a barrier so that none is reused before all have started; a thread
    that does not start in time breaks it, and the rest start on demand as before."""
    if count < 2:
        return
    gate = threading.Barrier(count + 1, timeout=WARM_TIMEOUT_S)
    try:
        for _ in range(count):
            pool.submit(_meet, gate)
        _meet(gate)
    except BaseException:  # Ctrl-C: release the threads already waiting
        gate.abort()
        raise


def _meet(gate: threading.Barrier) -> None:
    try:
        gate.wait()
    except threading.BrokenBarrierError:
        pass


def apply_plan(provider: Provider, plan: Plan, ctx: ApplyContext, parallelism: int = DEFAULT_PARALLELISM, *, desired: Iterable[Resource] | None = None) -> ApplyReport:
    """Runs `plan`'s actions in dependency order, up to `parallelism` at once.

    `desired` (every resource the run aims at, unchanged ones included; [] for a destroy)
    gives each service's desired replicas in the progress events (default: the plan's own)."""
    report = ApplyReport()
    tally = ServiceTally(plan, ctx.progress, desired)
    tally.start()
    needs = plan.prerequisites()
    pending = {a.key: a for a in plan.actions}
    finished: set[str] = set()
    running: dict[Future[None], Action] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="portable-apply")
    try:
        _start_workers(pool, min(max(1, parallelism), len(pending), WARM_WORKERS_MAX))
        while pending or running:
            if not report.failed:
                ready = [a for key, a in sorted(pending.items()) if needs.get(key, set()) <= finished]
                if not ready and not running and pending:  # a cycle slipped past validation
                    ready = [pending[min(pending)]]
                for action in ready[: max(1, parallelism) - len(running)]:
                    del pending[action.key]
                    running[pool.submit(outage.carried(_run), provider, action, ctx, tally)] = action  # the run's outage clock (retry budget)
            if not running:
                break  # a failure stopped the rest
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                action = running.pop(fut)
                try:
                    fut.result()
                except PortableError as exc:
                    report.failed.append((action, exc))
                else:
                    report.done.append(action)
                    finished.add(action.key)
    except BaseException as exc:  # Ctrl-C (KeyboardInterrupt) or SystemExit: stop everything, wait for nothing
        ctx.cancelled.set()
        pool.shutdown(wait=False, cancel_futures=True)
        note_progress(exc, len(report.done), len(plan.actions))  # for the line the user reads
        raise
    pool.shutdown(wait=True)
    return report
