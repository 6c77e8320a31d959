"""The Python API: the same verbs as the CLI, with typed results and documented errors.

Each verb is a walk down the pipeline (load -> translate -> plan -> apply -> state); the CLI
is a thin layer over these functions, and internal platforms call them directly.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portable.errors import InputError, PortableError, TargetError
from portable.manifest import DEFAULT_FILE, LOCAL_TARGET, App
from portable.plan.diff import compute_plan
from portable.plan.noop import remember as remember_no_change
from portable.plan.plan import Plan
from portable.plan.resources import LogLine, Observed, Resource, ServiceStatus
from portable.plan.saved import Basis, SavedPlan, StalePlanError, check_still_valid, fingerprint
from portable.session import Session
from portable.session import open_provider as open_provider  # re-exported: part of the API
from portable.state import Revision, StateStore

if TYPE_CHECKING:
    from portable.gc import GcReport
    from portable.providers.base import Provider

Progress = Callable[[str], None]
PathLike = str | Path
Source = str | Path | Session  # a manifest path, or the session of a command already running


def _quiet(message: str) -> None:
    return None


@dataclass(frozen=True)
class ValidationResult:
    app: str
    file: str
    services: list[str]
    targets: list[str]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeployResult:
    app: str
    target: str
    plan: Plan
    revision: int | None  # None when nothing changed

    @property
    def changed(self) -> bool:
        return not self.plan.empty


@dataclass(frozen=True)
class StatusResult:
    app: str
    target: str
    revision: Revision | None
    services: list[ServiceStatus]
    lives_on: list[str] = field(default_factory=list)  # every target where the app is deployed now

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "target": self.target,
            "lives_on": list(self.lives_on),
            "revision": self.revision.number if self.revision else None,
            "revision_status": self.revision.status if self.revision else None,
            "services": [s.to_dict() for s in self.services],
        }


@dataclass(frozen=True)
class TargetInfo:
    name: str
    provider: str
    reachable: bool | None
    detail: str


def _session(path: Source, env: Mapping[str, str] | None, state: PathLike | StateStore | None = None) -> Session:
    return Session.open(path, env=env, state=state)


def validate(path: Source = DEFAULT_FILE, *, target: str | None = None, env: Mapping[str, str] | None = None) -> ValidationResult:
    """Checks the manifest and every target's overrides; raises ManifestError when invalid.

    With `target`, also what that target cannot do of what the manifest asks (CapabilityError,
    located), without contacting it."""
    from portable.manifest.target_check import check_target

    session = _session(path, env)
    if target is not None:
        check_target(session.loaded, session.app(target), session.provider(target))
    m = session.loaded.manifest
    return ValidationResult(m.metadata.name, str(session.loaded.path), list(m.services), [LOCAL_TARGET, *[t for t in m.targets if t != LOCAL_TARGET]], session.loaded.warnings)


def render(path: Source, target: str = LOCAL_TARGET, outdir: PathLike = "rendered", *, env: Mapping[str, str] | None = None) -> list[Path]:
    """Writes what `target` would get, as files its own tools accept. Touches no target."""
    from portable.paused_gc import paused_gc

    with paused_gc():  # specs and documents of every service, no cycles: see paused_gc.py
        session = _session(path, env)
        app, provider = session.unkeyed_app(target), session.provider(target)  # digests keyed by no state
        return list(provider.render(app, provider.translate(app), Path(outdir)))


def _previous(store: StateStore, app: App) -> list[Resource]:
    rev = store.current(app.name, app.target_name)
    return rev.resources if rev is not None and rev.status == "deployed" else []


def _plan(app: App, provider: Provider, desired: list[Resource], previous: list[Resource], *, delete_stateful: bool = False, structure: list[Resource] | None = None, observed: list[Observed] | None = None) -> Plan:
    seen = list(provider.observe(app)) if observed is None else observed
    the_plan = compute_plan(app.name, app.target_name, desired, seen, previous, needs_replace=provider.needs_replace, delete_stateful=delete_stateful, structure=structure or (),
                            managed=provider.managed_fields, drift_hints=provider.drift_hints)
    the_plan.images = {svc: dict(pin) for svc, pin in app.images.items()}
    if desired:
        the_plan.warnings.extend(provider.plan_warnings(app))
    from portable.scale import notes

    the_plan.warnings.extend(notes(app))  # replicas set by `portable scale`, said as such
    return the_plan


def plan_warnings(app: App, provider: Provider) -> list[str]:
    """What the manifest asks for that this target will not honour, each naming its field."""
    return list(provider.plan_warnings(app))


def plan(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> Plan:
    """What `deploy` would do, without doing it."""
    session = _session(path, env, state)
    app, provider, desired = session.prepared(target)
    the_plan = _plan(app, provider, desired, _previous(session.store(), app))
    if the_plan.empty:
        remember_no_change(session, target, state, the_plan)  # the next plan or deploy may answer without the SDK (plan/noop.py)
    return the_plan


def save_plan(path: Source, target: str, out: PathLike, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> tuple[Plan, Path]:
    """`plan --out`: computes the plan and writes it with what it was computed against."""
    session = _session(path, env, state)
    app, provider, desired = session.prepared(target)
    store = session.store()
    current = store.current(app.name, app.target_name)
    observed = list(provider.observe(app))
    the_plan = _plan(app, provider, desired, _previous(store, app), observed=observed)
    basis = Basis.of(app.digest(), current.number if current else None, observed)
    saved = SavedPlan(app.name, app.target_name, str(app.path), basis, fingerprint(the_plan), the_plan.to_dict())
    return the_plan, saved.write(Path(out))


def _apply_revision(app: App, provider: Provider, store: StateStore, desired: list[Resource], kind: str, progress: Progress, timeout: float, parallelism: int | None, message: str = "", lock_wait: float = 30.0, *, approved: Plan | SavedPlan | None = None, force_conflicts: bool = False) -> DeployResult:
    """Plans again under the lock and applies; with `approved`, only if that is what was approved."""
    from portable.engine.apply import apply_plan
    from portable.engine.interrupted import recorded_when_interrupted
    from portable.engine.outage import scope as outage_scope
    from portable.engine.progress import PLAN, emit
    from portable.providers.base import ApplyContext

    parallelism = parallelism or provider.default_parallelism
    # one outage clock for the plan, the apply and the rollback: the retry budget is the run's, not each retry loop's
    with store.lock(app.name, app.target_name, kind, wait=lock_wait, progress=progress), outage_scope():
        current = store.current(app.name, app.target_name)
        previous = current.resources if current is not None and current.status == "deployed" else []
        observed = list(provider.observe(app))
        the_plan = _plan(app, provider, desired, previous, observed=observed)
        if isinstance(approved, SavedPlan):
            check_still_valid(approved, Basis.of(app.digest(), current.number if current else None, observed), the_plan)
        elif approved is not None and fingerprint(approved) != fingerprint(the_plan):
            raise StalePlanError("the target changed since the plan was shown; nothing was applied: run deploy again to see the new plan")
        if the_plan.empty and not _interrupted(store, app):
            return DeployResult(app.name, app.target_name, the_plan, None)
        rev = store.begin(app.name, app.target_name, kind, app.digest(), desired, message)  # type: ignore[arg-type]
        emit(progress, f"revision {rev.number}: {the_plan.summary()}", kind=PLAN, plan=the_plan)  # the CLI shows the plan before its progress
        ctx = ApplyContext(app=app, progress=progress, timeout=timeout, previous=previous, parallelism=parallelism, force_conflicts=force_conflicts)
        with recorded_when_interrupted(store, rev, f"run the same command again to {'finish the ' + kind if kind != 'deploy' else 'converge'}"):  # Ctrl-C: the revision is failed, the lock released
            report = apply_plan(provider, the_plan, ctx, parallelism, desired=desired)
        if report.ok:
            store.finish(rev, "deployed")
            return DeployResult(app.name, app.target_name, the_plan, rev.number)
        failed_action, error = report.failed[0]
        with recorded_when_interrupted(store, rev, f"{failed_action.key} had failed and the rollback to the previous revision was cut short: run the same command again"):
            note = _roll_back(app, provider, previous, current, ctx, parallelism)
        store.finish(rev, "failed", f"{failed_action.key}: {error.message}; {note}")
        raise _with_note(error, f"revision {rev.number} failed at {failed_action.key}; {note}")


def _interrupted(store: StateStore, app: App) -> bool:
    """The newest revision never finished (its process lost the store): record the outcome now."""
    from portable.engine.interrupted import CTRL_C
    from portable.state.store import INTERRUPTED

    latest = store.latest(app.name, app.target_name)
    return latest is not None and latest.status == "failed" and latest.message in (INTERRUPTED, CTRL_C)


def _roll_back(app: App, provider: Provider, previous: list[Resource], current: Revision | None, ctx: Any, parallelism: int) -> str:
    from portable.engine.apply import apply_plan

    if current is None or current.status != "deployed":
        return "there is no previous revision to return to: fix the problem and deploy again, or destroy"
    ctx.progress(f"rolling back to revision {current.number}")
    try:
        back = _plan(app, provider, previous, previous)
        report = apply_plan(provider, back, ctx, parallelism, desired=previous)
    except PortableError as exc:
        return f"rolling back to revision {current.number} also failed: {exc.message}"
    if not report.ok:
        return f"rolling back to revision {current.number} also failed: {report.failed[0][1].message}"
    return f"rolled back to revision {current.number}, which is serving"


def _with_note(error: PortableError, note: str) -> PortableError:
    error.message = f"{error.message}\n{note}"
    error.args = (error.message,)
    return error


def deploy(
    path: Source = DEFAULT_FILE,
    target: str = LOCAL_TARGET,
    *,
    state: PathLike | StateStore | None = None,
    env: Mapping[str, str] | None = None,
    progress: Progress = _quiet,
    timeout: float = 300.0,
    parallelism: int | None = None,
    lock_wait: float = 30.0,
    approved: Plan | SavedPlan | None = None,
    force_conflicts: bool = False,
) -> DeployResult:
    """Makes `target` match the manifest; a failed revision is rolled back automatically.

    `approved` is the plan the user saw (or a saved plan file's content): it is applied only
    if planning again under the lock gives exactly it, else StalePlanError and nothing changes.
    """
    session = _session(path, env, state)
    app, provider, desired = session.prepared(target, progress=progress)
    result = _apply_revision(app, provider, session.store(), desired, "deploy", progress, timeout, parallelism, lock_wait=lock_wait, approved=approved, force_conflicts=force_conflicts)
    remember_no_change(session, target, state, result.plan)  # the target matches now (plan/noop.py)
    return result


def deploy_saved(plan_file: PathLike, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int | None = None, lock_wait: float = 30.0, force_conflicts: bool = False) -> DeployResult:
    """`deploy plan.json`: applies a saved plan exactly, or refuses if anything changed since."""
    saved = SavedPlan.read(plan_file)
    return deploy(saved.manifest, saved.target, state=state, env=env, progress=progress, timeout=timeout, parallelism=parallelism, lock_wait=lock_wait, approved=saved, force_conflicts=force_conflicts)


def deploy_app(session: Session, app: App, *, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int | None = None, kind: str = "deploy", message: str = "") -> DeployResult:
    """`deploy` for an App of `session` already bound (and perhaps carrying volume restores)."""
    provider = session.provider(app.target_name)
    return _apply_revision(app, provider, session.store(), provider.translate(app), kind, progress, timeout, parallelism, message=message)


def rollback(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, *, to: int | None = None, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int | None = None, lock_wait: float = 30.0) -> DeployResult:
    """Returns the target to revision `to` (default: the deployed revision before the current one)."""
    session = _session(path, env, state)
    app, provider, store = session.app(target), session.provider(target), session.store()
    if to is None:
        deployed = [r for r in store.history(app.name, app.target_name) if r.status == "deployed"]
        current = store.current(app.name, app.target_name)
        older = [r for r in deployed if current is None or r.number < current.number]
        if not older:
            raise TargetError(f"{app.name} has no earlier deployed revision on target {target} to roll back to", hint=f"portable history --target {target}")
        chosen = older[-1]
    else:
        chosen = store.get(app.name, app.target_name, to)
        if chosen.status != "deployed" or not chosen.resources:
            raise TargetError(f"revision {to} of {app.name} on {target} is {chosen.status} and cannot be restored", hint=f"portable history --target {target}")
    return _apply_revision(app, provider, store, chosen.resources, "rollback", progress, timeout, parallelism, message=f"rollback to revision {chosen.number}", lock_wait=lock_wait)


def destroy(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, *, volumes: bool = False, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int | None = None, message: str = "", lock_wait: float = 30.0) -> Plan:
    """Removes everything labelled for the app on `target`; data only with `volumes=True`."""
    from portable.engine.apply import apply_plan
    from portable.engine.interrupted import recorded_when_interrupted
    from portable.engine.progress import PLAN, emit
    from portable.providers.base import ApplyContext

    session = _session(path, env, state)
    app, provider, store = session.app(target), session.provider(target), session.store()
    parallelism = parallelism or provider.default_parallelism
    with store.lock(app.name, app.target_name, "destroy", wait=lock_wait, progress=progress):
        # today's translation supplies the dependency order even when no revision was recorded
        the_plan = _plan(app, provider, [], _previous(store, app), delete_stateful=volumes, structure=_structure(app, provider))
        rev = store.begin(app.name, app.target_name, "destroy", app.digest(), [], message or ("destroy" + (" --volumes" if volumes else "")))
        emit(progress, "", kind=PLAN, plan=the_plan)  # silent in plain mode: the CLI shows the plan before its progress
        with recorded_when_interrupted(store, rev, "run destroy again to remove the rest"):
            report = apply_plan(provider, the_plan, ApplyContext(app=app, progress=progress, timeout=timeout, parallelism=parallelism), parallelism, desired=[])
        if not report.ok:
            action, error = report.failed[0]
            store.finish(rev, "failed", f"{action.key}: {error.message}")
            raise _with_note(error, "destroy stopped; run it again to remove the rest")
        store.finish(rev, "destroyed")
    return the_plan


def _structure(app: App, provider: Provider) -> list[Resource]:
    try:
        return list(provider.translate(app))
    except PortableError:  # e.g. a secret no longer readable: order by what state knows
        return []


def status(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> StatusResult:
    """Per service: desired, running and healthy replicas and endpoints, plus the revision."""
    session = _session(path, env, state)
    app, provider, store = session.app(target), session.provider(target), session.store()
    lives_on = [r.target for r in store.deployments() if r.app == app.name and r.status == "deployed"]
    current = store.current(app.name, app.target_name)
    return StatusResult(app.name, target, current, list(provider.status(app)), lives_on)


def logs(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, services: list[str] | None = None, *, follow: bool = False, tail: int = 100, env: Mapping[str, str] | None = None) -> Iterator[LogLine]:
    """Lines from the services' instances, prefixed by service and replica."""
    from portable.providers.base import Capability, require

    session = _session(path, env)
    app = session.app(target)
    names = list(services or app.services)
    unknown = [s for s in names if s not in app.services]
    if unknown:
        raise InputError(f"no service named {', '.join(unknown)}; services: {', '.join(app.services)}")
    provider = session.provider(target)
    require(provider, target, Capability.LOGS, "portable logs")
    return iter(provider.logs(app, names, follow=follow, tail=tail))


def history(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> list[Revision]:
    """Every revision of the app on `target`, oldest first."""
    session = _session(path, env, state)
    app = session.app(target)
    return session.store().history(app.name, app.target_name)


def gc(path: Source = DEFAULT_FILE, target: str = LOCAL_TARGET, **options: Any) -> list[GcReport]:
    """What portable left on the target(s) that nothing describes; deleted with `delete=True`
    (data with `volumes=True`). Options and rules: portable/gc.py (`gc`), docs/gc.md."""
    from portable.gc import gc as run_gc

    return run_gc(path, target, **options)


def targets(path: Source = DEFAULT_FILE, *, check: bool = True, env: Mapping[str, str] | None = None) -> list[TargetInfo]:
    """The declared targets (and `local`), each checked for reachability and credentials."""
    session = _session(path, env)
    names = [LOCAL_TARGET] + [t for t in session.loaded.manifest.targets if t != LOCAL_TARGET]
    out = []
    for name in names:
        app = session.app(name)
        if not check:
            out.append(TargetInfo(name, app.target.provider, None, "not checked"))
            continue
        try:
            out.append(TargetInfo(name, app.target.provider, True, session.provider(name).check()))
        except PortableError as exc:
            out.append(TargetInfo(name, app.target.provider, False, exc.message))
    return out
