"""The no-change check: `plan` and `deploy` answer "no changes" without building the manifest
model or importing a provider's SDK, when a witness proves that nothing they read changed
since a run that found (or left) the target matching the manifest.

Why: a no-op redeploy is what CI runs most, and nearly all of its time was imports (the
docker SDK with requests, the pydantic models), not work. The check imports neither.

The witness is one small JSON file per manifest, target and state location, in the user's
cache directory, written by the full path (`api.plan`, `api.deploy`) after it planned nothing
or deployed a revision. It records the app, the state store's latest and deployed revisions
then and a digest of the deployed one's resources, how to reach the target without its SDK,
the plan's warnings, and an HMAC, under the app's own key in the state store, of every input the full
path reads to compute what it wants: portable's code (each source file's size and mtime), the
working directory, the whole environment, and the bytes of the files it reads (the manifest,
the `.env` beside it, the security policy, secret files). Apps whose plan depends on more
(images built or pinned from a registry, or a target that pushes to one, compose files,
restores) get no witness; a reader's `engine_for` refuses what it cannot reach as the SDK
does (Kubernetes: in-cluster, proxies, exec and auth-provider logins), and records no secret.

The check reads the witness, recomputes that HMAC, finds the state's revisions to be those
(nothing recorded since: no deploy, scale, restart or run still applying), with those resources, observes the target (one list call per kind;
on Kubernetes also the pull Secrets its preflight looks for) and
runs the very diff the full path runs (`compute_plan`, with the provider's managed fields for
drift) against those resources. It answers only a plan with no action and no drift; anything
else (a change, drift, an error, a lock held) answers None and the full path runs as before.
`PORTABLE_NOOP_CHECK=0` turns it off.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portable.plan.diff import compute_plan
from portable.plan.plan import Plan
from portable.plan.resources import Resource

if TYPE_CHECKING:
    from portable.session import Session

SWITCH = "PORTABLE_NOOP_CHECK"
FORMAT = 2
#: provider -> module that observes without the SDK: observe(engine, app), managed_of, HINTS, engine_for(provider)
READERS = {"docker": "portable.providers.docker.reader", "kubernetes": "portable.providers.kubernetes.reader"}
POLICY_FILE = "portable-policy.yaml"  # portable.check.policy.POLICY_FILE (not imported: it loads pydantic)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "portable" / "noop"


def witness_path(manifest: Path, target: str, state: str | None) -> Path:
    """Where the witness of `manifest` on `target` with `--state` `state` lives."""
    where = json.dumps([str(manifest), target, state or "", os.environ.get("PORTABLE_STATE", "")])
    return _cache_dir() / (hashlib.sha256(where.encode()).hexdigest()[:32] + ".json")


def _code_fingerprint() -> str:
    """Sizes and mtimes of portable's own source files: an upgrade or an edit invalidates every witness."""
    import portable

    roots = [Path(portable.__file__).parent]
    providers = importlib.util.find_spec("portable.providers")
    if providers is not None and providers.submodule_search_locations:
        roots += [Path(p) for p in providers.submodule_search_locations]
    h = hashlib.sha256(getattr(portable, "__version__", "").encode())
    for root in roots:
        stack = [str(root)]
        while stack:
            with os.scandir(stack.pop()) as entries:
                for e in sorted(entries, key=lambda e: e.name):
                    if e.is_dir(follow_symlinks=False):
                        if e.name != "__pycache__":
                            stack.append(e.path)
                    elif e.name.endswith(".py"):
                        st = e.stat()
                        h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _file_bytes(path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def _inputs_mac(key: bytes, files: Sequence[str], env: Mapping[str, str]) -> str:
    contents = [_file_bytes(f) for f in files]
    variables = dict(env)
    if not any(b"$_" in c or b"${_" in c for c in contents if c is not None):
        # the shell sets `_` to the path of each command it runs (`time portable ...` differs
        # from `portable ...`); only a manifest or .env that interpolates it depends on it
        variables.pop("_", None)
    inputs = {
        "code": _code_fingerprint(),
        "cwd": os.getcwd(),
        "env": sorted(variables.items()),
        "files": [[f, None if c is None else hashlib.sha256(c).hexdigest()] for f, c in zip(files, contents, strict=True)],
    }
    return hmac.new(key, json.dumps(inputs, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def _resources_digest(resources: Iterable[Resource]) -> str:
    rows = sorted([r.key, r.digest, list(r.depends_on), r.service, r.stateful] for r in resources)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


# ----------------------------------------------------------------------------- the check
def unchanged(manifest: str, target: str, state: str | None, *, lock: bool) -> Plan | None:
    """The empty plan of `manifest` on `target`, when the witness proves it; else None.

    With `lock`, the state's lock is held (not waited for) while observing, as deploy does."""
    if os.environ.get(SWITCH) == "0":
        return None
    try:
        return _unchanged(Path(manifest).resolve(), target, state, lock)
    except Exception:  # anything unexpected: the full path decides, and says what is wrong in its own words
        return None


def _unchanged(manifest: Path, target: str, state: str | None, lock: bool) -> Plan | None:
    try:
        witness = json.loads(witness_path(manifest, target, state).read_text())
    except (OSError, ValueError):
        return None
    if witness.get("format") != FORMAT or witness.get("target") != target or witness.get("provider") not in READERS:
        return None
    from portable.state import SqliteStateStore, open_store

    store = open_store(state, manifest)
    if not isinstance(store, SqliteStateStore) or str(store.path.resolve()) != witness["state"]:
        return None
    app = witness["app"]
    if not hmac.compare_digest(_inputs_mac(store.app_key(app), witness["files"], os.environ), witness["inputs"]):
        return None
    if not lock:
        return _observed_unchanged(store, witness)
    with store.lock(app, target, "deploy", wait=0):  # held by another run: the full path waits for it
        return _observed_unchanged(store, witness)


def _observed_unchanged(store: Any, witness: Mapping[str, Any]) -> Plan | None:
    app, target = witness["app"], witness["target"]
    latest, current = store.latest(app, target), store.current(app, target)
    if latest is None or current is None or [latest.number, latest.status, current.number] != witness["revision"] or current.status != "deployed":
        return None  # anything recorded since (a deploy, a scale, a restart, a run still applying)
    if _resources_digest(current.resources) != witness["resources"]:
        return None
    reader = importlib.import_module(READERS[witness["provider"]])
    observed = reader.observe(witness["engine"], app)
    the_plan = compute_plan(app, target, current.resources, observed, current.resources, managed=reader.managed_of, drift_hints=reader.HINTS)
    if the_plan.actions or the_plan.drift:
        return None
    the_plan.warnings.extend(witness["warnings"])
    return the_plan


# ----------------------------------------------------------------------------- the witness
def remember(session: Session, target: str, state: object, the_plan: Plan) -> None:
    """After a full plan that found nothing to do, or a deploy that succeeded: the witness of
    what the target now matches, for the next run's check. Never fails the command."""
    if os.environ.get(SWITCH) == "0":
        return
    try:
        _remember(session, target, state, the_plan)
    except Exception:  # a witness not written costs the next run its speed, nothing else
        return


def _remember(session: Session, target: str, state: object, the_plan: Plan) -> None:
    from portable.state import SqliteStateStore

    if state is not None and not isinstance(state, (str, Path)):
        return  # a store object from the Python API: no location to key the witness by
    if session.env is not None and dict(session.env) != dict(os.environ):
        return  # variables given to the API apart from the environment the check reads
    loaded, app, provider, store = session.loaded, session.app(target), session.provider(target), session.store()
    reader_name = READERS.get(provider.name)
    if reader_name is None or not isinstance(store, SqliteStateStore) or getattr(loaded, "conversion", None) is not None:
        return
    from portable.delivery.pin import pushing_registry

    if app.images or app.restores or any(svc.build is not None for svc in app.services.values()) or pushing_registry(app) is not None:
        return  # images pinned or built from a registry (logged into even when nothing is pinned), volumes restored: read at plan time elsewhere
    if the_plan.images:
        return
    engine = importlib.import_module(reader_name).engine_for(provider)
    current, latest = store.current(app.name, app.target_name), store.latest(app.name, app.target_name)
    if engine is None or current is None or latest is None or current.status != "deployed" or latest.status not in ("deployed", "failed"):
        return
    from portable.engine.interrupted import CTRL_C
    from portable.state.store import INTERRUPTED

    if latest.status == "failed" and latest.message in (INTERRUPTED, CTRL_C):
        return  # the next deploy finishes that run's work even when the plan is empty (api._interrupted)
    manifest = Path(loaded.path).resolve()
    files = [str(manifest), str(manifest.parent / ".env")]
    policy = os.environ.get("PORTABLE_POLICY")
    files.append(str(Path(policy).resolve()) if policy else str(manifest.parent / POLICY_FILE))
    for secret in app.manifest.secrets.values():
        if secret.source_kind == "file":
            ref = Path(secret.source_ref)
            files.append(str(ref if ref.is_absolute() else app.base_dir / ref))
    witness = {
        "format": FORMAT,
        "app": app.name,
        "target": target,
        "provider": provider.name,
        "state": str(store.path.resolve()),
        "engine": engine,
        "revision": [latest.number, latest.status, current.number],
        "resources": _resources_digest(current.resources),
        "warnings": list(the_plan.warnings),
        "files": files,
        "inputs": _inputs_mac(store.app_key(app.name), files, os.environ),
    }
    path = witness_path(manifest, target, None if state is None else str(state))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(witness, sort_keys=True))
    os.replace(tmp, path)


def forget(manifest: str, target: str, state: str | None) -> None:
    """Drops the witness (tests, and whoever wants the full path next time)."""
    try:
        witness_path(Path(manifest).resolve(), target, state).unlink()
    except OSError:
        pass
