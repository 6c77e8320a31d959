"""Named crash points: where a test may SIGKILL portable to prove a rerun converges.

FOR TESTS ONLY. With `PORTABLE_CRASHPOINT=<name>` in its environment, the process kills itself
with SIGKILL (no cleanup, no finally, no atexit: what a laptop losing power or an OOM kill
does) the first time it reaches crash point `<name>`; `<name>:N` kills at the N-th time
instead (the 3rd create of a deploy: `apply.after-create:3`). Unset, `crashpoint` is a dict
lookup and nothing else. tests/hardening/ kills portable at every name in `CRASHPOINTS` during
a deploy, an update and a migration, then reruns it and counts what the target holds.

Every step boundary of deploy, destroy, rollback and migrate has a name:
- `apply.after-<op>`: an action's create/update/replace/delete call returned (engine/apply.py);
- `vm.after-create-instances`, `vm.after-register`, `vm.after-deregister`: inside a VM
  group's blue/green rollout (new instances exist / serve beside the old / old ones out of the
  load balancer, not yet terminated; providers/vm/bluegreen.py);
- `state.before-begin` ... `state.after-finish`: around each revision write of every state
  store (sqlite, postgres, s3);
- `migrate.after-<step>`: a migration step finished and is in the journal (migrate/orchestrator.py).
"""
from __future__ import annotations

import os
import signal
import threading

ENV = "PORTABLE_CRASHPOINT"

#: The migration's steps in the order they run (migrate/orchestrator.py's Migration.run).
MIGRATION_STEPS: tuple[str, ...] = ("plan", "images", "precopy", "quiesce", "export", "deploy", "health", "cutover", "retire")

APPLY: tuple[str, ...] = ("apply.after-create", "apply.after-update", "apply.after-replace", "apply.after-delete")
#: Inside a VM group's blue/green rollout (providers/vm/bluegreen.py: aws, libcloud, vsphere).
VM: tuple[str, ...] = ("vm.after-create-instances", "vm.after-register", "vm.after-deregister")
STATE: tuple[str, ...] = ("state.before-begin", "state.after-begin", "state.before-finish", "state.after-finish")
MIGRATE: tuple[str, ...] = tuple(f"migrate.after-{step}" for step in MIGRATION_STEPS)

#: Every crash point the product has; `crashpoint` refuses any other name.
CRASHPOINTS: tuple[str, ...] = APPLY + VM + STATE + MIGRATE

_known = frozenset(CRASHPOINTS)
_hits: dict[str, int] = {}
_hits_lock = threading.Lock()


def parse(spec: str) -> tuple[str, int]:
    """`name` or `name:N` -> (name, N); N defaults to 1. Raises ValueError for an unknown name
    or a count that is not a positive integer (a typo would otherwise never kill anything)."""
    name, sep, count = spec.partition(":")
    if name not in _known:
        raise ValueError(f"{ENV}={spec!r}: unknown crash point {name!r}; known: {', '.join(CRASHPOINTS)}")
    n = int(count) if sep else 1
    if n < 1:
        raise ValueError(f"{ENV}={spec!r}: the hit count must be 1 or more")
    return name, n


def crashpoint(name: str) -> None:
    """SIGKILLs this process if PORTABLE_CRASHPOINT names `name` (at its N-th hit for `name:N`)."""
    if name not in _known:
        raise ValueError(f"crashpoint({name!r}) is not in CRASHPOINTS")  # a programming error
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, n = parse(spec)
    if wanted != name:
        return
    with _hits_lock:  # apply runs actions in threads: the N-th hit is counted once
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] != n:
            return
        os.kill(os.getpid(), signal.SIGKILL)
