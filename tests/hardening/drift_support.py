"""What the drift tests share: an app on one lab target (the provider contract suite's
targets and its small `web` app, tests/providers/contract), and the cycle every case runs:

deploy; `plan --detailed-exitcode` exits 0; an edit made outside portable through the
target's own tool or SDK; `plan` then lists the drift naming the service and the field and
exits 2 (and `plan -o json` carries it); `deploy` repairs it; `plan` is clean again (exit 0).
Each case is recorded in the hardening figures (drift_cases / drift_detected).
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "providers" / "contract"))

from contract_app import App, Apps  # noqa: E402
from contract_base import TARGET  # noqa: E402
from contract_targets import TARGETS, ContractTarget  # noqa: E402
from figures import record  # noqa: E402

#: what the `portable` console script runs (pyproject's [project.scripts])
ENTRY = "import sys; from portable.cli.main import main; sys.argv[0] = 'portable'; main()"


@contextmanager
def drift_app(lab: Any, provider: str, tmp: Path, **extra: str) -> Iterator[tuple[ContractTarget, App]]:
    """A fresh `drift-<hex>` app on `provider`'s lab target; destroyed (volumes too) afterwards.

    `extra` are environment variables of the manifest (CT_REPLICAS, CT_GREETING)."""
    cls = TARGETS[provider]
    target = cls(lab.require(*cls.components), tmp)
    apps = Apps(target, tmp / "apps")
    try:
        app = apps.new(f"drift-{uuid.uuid4().hex[:6]}", env={**target.env(), **extra})
        yield target, app
    finally:
        apps.destroy_all()
        target.close([a.name for a in apps.made])


def portable(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    """`portable ARGS -f MANIFEST -t ct --state STATE` through the console script's entry point."""
    return subprocess.run([sys.executable, "-c", ENTRY, *args, "-f", str(app.manifest), "-t", TARGET, "--state", str(app.state)],
                          env=app.env, capture_output=True, text=True, timeout=600)


def ok(app: App, *args: str) -> str:
    done = portable(app, *args)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"portable {' '.join(args)} exited {done.returncode}:\n{out}"
    return out


def plan_exit(app: App) -> tuple[int, str]:
    done = portable(app, "plan", "--detailed-exitcode")
    return done.returncode, done.stdout + done.stderr


def drift_cycle(app: App, figure: str, edit: Callable[[], None], service: str, field: str, *, settle: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Runs the case (see the module's docstring); returns the drift entry of `plan -o json`.

    `field` is what the drift line must name ("replicas", "env.GREETING", "state", "removed")."""
    ok(app, "deploy", "--yes")
    code, out = plan_exit(app)
    assert code == 0, f"a fresh deploy plans changes (exit {code}):\n{out}"
    edit()
    if settle is not None:
        assert settle(), "the out-of-band edit did not show on the target in time"
    code, out = plan_exit(app)
    section = out.partition("changed outside portable")[2]
    lines = [line for line in section.splitlines() if line.strip().startswith("~")]
    named = [line for line in lines if f"{service} " in line and field in line]
    record(figure, drift_cases=1, drift_detected=int(code == 2 and bool(named)))
    assert code == 2, f"plan --detailed-exitcode after an out-of-band edit exited {code}, not 2:\n{out}"
    assert named, f"the plan's drift section does not name {service} {field}:\n{out}"
    done = portable(app, "plan", "-o", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    entries = [d for d in data["drift"] if d["service"] == service and field in d["field"]]
    assert entries, f"plan -o json has no drift entry for {service} {field}: {data['drift']}"
    assert data["actions"], f"plan -o json lists the drift but no action repairs it: {data}"
    repaired = ok(app, "deploy", "--yes")
    code, out = plan_exit(app)
    assert code == 0, f"after deploy repaired the drift, plan --detailed-exitcode exited {code}:\n{out}\n(deploy said:\n{repaired})"
    assert "changed outside portable" not in out
    return entries[0]
