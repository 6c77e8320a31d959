"""Applies a Plan: level by level, the actions of a level in parallel (bounded), each
action waiting for its own health. The first failure stops further levels; actions already
running in that level are allowed to finish so nothing is left half-made.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from portable.engine.retry import call_with_retry
from portable.errors import PortableError, TargetError
from portable.plan.plan import Action, Plan
from portable.providers.base import ApplyContext, Provider

DEFAULT_PARALLELISM = 4


@dataclass
class ApplyReport:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, PortableError]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _run(provider: Provider, action: Action, ctx: ApplyContext) -> None:
    verb = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}[action.op]
    ctx.progress(f"{verb} {action.key}")
    try:
        call_with_retry(provider.apply, action, ctx, attempts=3)
    except PortableError:
        raise
    except Exception as exc:  # a provider bug or an unmapped SDK error: still one sentence
        raise TargetError(f"{action.op} of {action.key} failed: {type(exc).__name__}: {exc}") from exc
    ctx.progress(f"{action.key} {'deleted' if action.op == 'delete' else 'ready'}")


def apply_plan(provider: Provider, plan: Plan, ctx: ApplyContext, parallelism: int = DEFAULT_PARALLELISM) -> ApplyReport:
    """Runs every level of `plan`; stops after the first level with a failure."""
    report = ApplyReport()
    for level in plan.levels:
        if len(level) == 1 or parallelism <= 1:
            for action in level:
                try:
                    _run(provider, action, ctx)
                    report.done.append(action)
                except PortableError as exc:
                    report.failed.append((action, exc))
                    break
        else:
            with ThreadPoolExecutor(max_workers=min(parallelism, len(level)), thread_name_prefix="portable-apply") as pool:
                futures = [(a, pool.submit(_run, provider, a, ctx)) for a in level]
                for action, fut in futures:
                    try:
                        fut.result()
                        report.done.append(action)
                    except PortableError as exc:
                        report.failed.append((action, exc))
        if report.failed:
            break
    return report
