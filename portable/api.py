"""The Python API: the same verbs as the CLI, with typed results and documented errors.

Each verb is a walk down the pipeline (load -> translate -> plan -> apply -> state); the CLI
is a thin layer over these functions, and internal platforms call them directly.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portable.errors import CapabilityError, PortableError, Problem, TargetError
from portable.manifest import DEFAULT_FILE, LOCAL_TARGET, App, load_app, parse_file
from portable.plan.diff import compute_plan
from portable.plan.plan import Plan
from portable.plan.resources import LogLine, Resource, ServiceStatus
from portable.state import Revision, StateStore, open_store

Progress = Callable[[str], None]
PathLike = str | Path


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


def open_provider(app: App) -> Any:
    """The provider for the app's target, with validated settings (imports its SDK now)."""
    from portable.providers.registry import provider_class, settings_model

    cls = provider_class(app.target.provider)
    settings = settings_model(app.target.provider).model_validate(app.target.settings)
    return cls(app.target_name, settings)


def check_capabilities(app: App, provider: Any) -> list[Problem]:
    """What the app asks for that this target cannot do, each with its field path."""
    from portable.providers.base import required_capabilities

    missing = []
    for cap, path in required_capabilities(app).items():
        if cap not in provider.capabilities:
            missing.append(Problem(path, f"target `{app.target_name}` ({provider.name}) cannot provide {cap.value.replace('_', ' ')}", str(app.path)))
    return missing


def _store(state: PathLike | StateStore | None, app: App) -> StateStore:
    if state is not None and not isinstance(state, (str, Path)):
        return state
    return open_store(state, app.path)


def validate(path: PathLike = DEFAULT_FILE, *, env: Mapping[str, str] | None = None) -> ValidationResult:
    """Checks the manifest and every target's overrides; raises ManifestError when invalid."""
    loaded = parse_file(path, env)
    m = loaded.manifest
    return ValidationResult(m.metadata.name, str(path), list(m.services), [LOCAL_TARGET, *[t for t in m.targets if t != LOCAL_TARGET]], loaded.warnings)


def render(path: PathLike, target: str = LOCAL_TARGET, outdir: PathLike = "rendered", *, env: Mapping[str, str] | None = None) -> list[Path]:
    """Writes what `target` would get, as files its own tools accept. Touches no target."""
    app = load_app(path, target, env)
    provider = open_provider(app)
    return list(provider.render(app, provider.translate(app), Path(outdir)))


def _prepare(path: PathLike, target: str, env: Mapping[str, str] | None) -> tuple[App, Any, list[Resource]]:
    app = load_app(path, target, env)
    app.check_secrets()
    provider = open_provider(app)
    problems = check_capabilities(app, provider)
    if problems:
        raise CapabilityError("\n".join(p.render() for p in problems))
    return app, provider, provider.translate(app)


def _previous(store: StateStore, app: App) -> list[Resource]:
    rev = store.current(app.name, app.target_name)
    return rev.resources if rev is not None and rev.status == "deployed" else []


def _plan(app: App, provider: Any, desired: list[Resource], previous: list[Resource], *, delete_stateful: bool = False, structure: list[Resource] | None = None) -> Plan:
    the_plan = compute_plan(app.name, app.target_name, desired, provider.observe(app), previous, needs_replace=provider.needs_replace, delete_stateful=delete_stateful, structure=structure or ())
    if desired:
        the_plan.warnings.extend(plan_warnings(app, provider))
    return the_plan


def plan_warnings(app: App, provider: Any) -> list[str]:
    """What the manifest asks for that this target will not honour, each naming its field."""
    hook = getattr(provider, "plan_warnings", None)
    return list(hook(app)) if callable(hook) else []


def plan(path: PathLike = DEFAULT_FILE, target: str = LOCAL_TARGET, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> Plan:
    """What `deploy` would do, without doing it."""
    app, provider, desired = _prepare(path, target, env)
    return _plan(app, provider, desired, _previous(_store(state, app), app))


def _apply_revision(app: App, provider: Any, store: StateStore, desired: list[Resource], kind: str, progress: Progress, timeout: float, parallelism: int, message: str = "", lock_wait: float = 30.0) -> DeployResult:
    from portable.engine.apply import apply_plan
    from portable.providers.base import ApplyContext

    with store.lock(app.name, app.target_name, kind, wait=lock_wait):
        current = store.current(app.name, app.target_name)
        previous = current.resources if current is not None and current.status == "deployed" else []
        the_plan = _plan(app, provider, desired, previous)
        if the_plan.empty:
            return DeployResult(app.name, app.target_name, the_plan, None)
        rev = store.begin(app.name, app.target_name, kind, app.digest(), desired, message)  # type: ignore[arg-type]
        progress(f"revision {rev.number}: {the_plan.summary()}")
        ctx = ApplyContext(app=app, progress=progress, timeout=timeout, previous=previous)
        report = apply_plan(provider, the_plan, ctx, parallelism)
        if report.ok:
            store.finish(rev, "deployed")
            return DeployResult(app.name, app.target_name, the_plan, rev.number)
        failed_action, error = report.failed[0]
        note = _roll_back(app, provider, previous, current, ctx, parallelism)
        store.finish(rev, "failed", f"{failed_action.key}: {error.message}; {note}")
        raise _with_note(error, f"revision {rev.number} failed at {failed_action.key}; {note}")


def _roll_back(app: App, provider: Any, previous: list[Resource], current: Revision | None, ctx: Any, parallelism: int) -> str:
    from portable.engine.apply import apply_plan

    if current is None or current.status != "deployed":
        return "there is no previous revision to return to: fix the problem and deploy again, or destroy"
    ctx.progress(f"rolling back to revision {current.number}")
    try:
        back = _plan(app, provider, previous, previous)
        report = apply_plan(provider, back, ctx, parallelism)
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
    path: PathLike = DEFAULT_FILE,
    target: str = LOCAL_TARGET,
    *,
    state: PathLike | StateStore | None = None,
    env: Mapping[str, str] | None = None,
    progress: Progress = _quiet,
    timeout: float = 300.0,
    parallelism: int = 4,
    lock_wait: float = 30.0,
) -> DeployResult:
    """Makes `target` match the manifest; a failed revision is rolled back automatically."""
    app, provider, desired = _prepare(path, target, env)
    return _apply_revision(app, provider, _store(state, app), desired, "deploy", progress, timeout, parallelism, lock_wait=lock_wait)


def deploy_app(app: App, provider: Any, *, state: PathLike | StateStore | None = None, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int = 4, kind: str = "deploy", message: str = "") -> DeployResult:
    """`deploy` for an App already loaded (and perhaps carrying volume restores)."""
    return _apply_revision(app, provider, _store(state, app), provider.translate(app), kind, progress, timeout, parallelism, message=message)


def rollback(path: PathLike = DEFAULT_FILE, target: str = LOCAL_TARGET, *, to: int | None = None, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int = 4) -> DeployResult:
    """Returns the target to revision `to` (default: the deployed revision before the current one)."""
    app = load_app(path, target, env)
    provider = open_provider(app)
    store = _store(state, app)
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
    return _apply_revision(app, provider, store, chosen.resources, "rollback", progress, timeout, parallelism, message=f"rollback to revision {chosen.number}")


def destroy(path: PathLike = DEFAULT_FILE, target: str = LOCAL_TARGET, *, volumes: bool = False, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None, progress: Progress = _quiet, timeout: float = 300.0, parallelism: int = 4, message: str = "") -> Plan:
    """Removes everything labelled for the app on `target`; data only with `volumes=True`."""
    from portable.engine.apply import apply_plan
    from portable.providers.base import ApplyContext

    app = load_app(path, target, env)
    provider = open_provider(app)
    store = _store(state, app)
    with store.lock(app.name, app.target_name, "destroy"):
        # today's translation supplies the dependency order even when no revision was recorded
        the_plan = _plan(app, provider, [], _previous(store, app), delete_stateful=volumes, structure=_structure(app, provider))
        rev = store.begin(app.name, app.target_name, "destroy", app.digest(), [], message or ("destroy" + (" --volumes" if volumes else "")))
        report = apply_plan(provider, the_plan, ApplyContext(app=app, progress=progress, timeout=timeout), parallelism)
        if not report.ok:
            action, error = report.failed[0]
            store.finish(rev, "failed", f"{action.key}: {error.message}")
            raise _with_note(error, "destroy stopped; run it again to remove the rest")
        store.finish(rev, "destroyed")
    return the_plan


def _structure(app: App, provider: Any) -> list[Resource]:
    try:
        return list(provider.translate(app))
    except PortableError:  # e.g. a secret no longer readable: order by what state knows
        return []


def status(path: PathLike = DEFAULT_FILE, target: str = LOCAL_TARGET, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> StatusResult:
    """Per service: desired, running and healthy replicas and endpoints, plus the revision."""
    app = load_app(path, target, env)
    provider = open_provider(app)
    store = _store(state, app)
    lives_on = [r.target for r in store.deployments() if r.app == app.name and r.status == "deployed"]
    current = store.current(app.name, app.target_name)
    return StatusResult(app.name, target, current, list(provider.status(app)), lives_on)


def logs(path: PathLike = DEFAULT_FILE, target: str = LOCAL_TARGET, services: list[str] | None = None, *, follow: bool = False, tail: int = 100, env: Mapping[str, str] | None = None) -> Iterator[LogLine]:
    """Lines from the services' instances, prefixed by service and replica."""
    app = load_app(path, target, env)
    names = list(services or app.services)
    unknown = [s for s in names if s not in app.services]
    if unknown:
        from portable.errors import InputError

        raise InputError(f"no service named {', '.join(unknown)}; services: {', '.join(app.services)}")
    return iter(open_provider(app).logs(app, names, follow=follow, tail=tail))


def history(path: PathLike = DEFAULT_FILE, target: str = LOCAL_TARGET, *, state: PathLike | StateStore | None = None, env: Mapping[str, str] | None = None) -> list[Revision]:
    """Every revision of the app on `target`, oldest first."""
    app = load_app(path, target, env)
    return _store(state, app).history(app.name, app.target_name)


def targets(path: PathLike = DEFAULT_FILE, *, check: bool = True, env: Mapping[str, str] | None = None) -> list[TargetInfo]:
    """The declared targets (and `local`), each checked for reachability and credentials."""
    loaded = parse_file(path, env)
    names = [LOCAL_TARGET] + [t for t in loaded.manifest.targets if t != LOCAL_TARGET]
    out = []
    for name in names:
        app = load_app(path, name, env)
        if not check:
            out.append(TargetInfo(name, app.target.provider, None, "not checked"))
            continue
        try:
            out.append(TargetInfo(name, app.target.provider, True, open_provider(app).check()))
        except PortableError as exc:
            out.append(TargetInfo(name, app.target.provider, False, exc.message))
    return out
