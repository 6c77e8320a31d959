"""`plan` and `deploy` when nothing changed: answered from the no-change check
(portable/plan/noop.py) before the API, the manifest model or a provider SDK is imported,
with exactly the lines and exit status the full path gives; False sends the command on its
usual way."""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import click

Command = Literal["plan", "deploy", "deploy --yes"]


def answered(file: str | tuple[str, ...], target: str, state: str | None, env: Callable[[], object], command: Command) -> bool:
    """Prints what `command` prints for an unchanged target and returns True, or returns
    False having printed nothing. `deploy --yes` holds the state's lock while it looks, as
    the full path does; `deploy` (which asks first) shows the plan as `plan` computes it."""
    if not isinstance(file, str):  # several -f: compose files merged, never witnessed
        return False
    env()  # --env-file's variables, applied as the full path applies them, before the check reads the environment
    from portable.plan.noop import unchanged

    the_plan = unchanged(file, target, state, lock=command == "deploy --yes")
    if the_plan is None:
        return False
    if command == "deploy --yes":
        click.echo(f"{the_plan.app} on {target}: no changes; nothing was touched.")
    elif command == "deploy":
        click.echo(the_plan.render_text())
    else:
        click.echo(f"{the_plan.app} on {target}:")
        click.echo(the_plan.render_text())
    return True
