"""Applies a Plan with bounded parallelism: each action starts as soon as the actions it
depends on are done (not when a whole level is), and waits for its own health. After the
first failure nothing new starts; actions already running finish, so nothing is half-made.
Ctrl-C is the exception: the context's `cancelled` event is set, nothing new starts, and the
pool is left without waiting for its workers (their wait loops stop on the event; the CLI does
not wait for the rest), so the command ends at once and the caller records the revision.
"""
from __future__ import annotations

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
