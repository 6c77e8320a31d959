"""`portable promote --from A --to B`: deploy to B exactly the image digests running on A
(portable.delivery.promote does the work; this only parses flags and prints)."""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import click

from portable.cli.output import emit_json, progress

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def promote_command(main: ModuleType) -> click.Command:
    """Built with the main module's shared options (passed in: main imports this module)."""
    file_option: Decorator = main.file_option
    state_option: Decorator = main.state_option
    lock_timeout_option: Decorator = main.lock_timeout_option
    handle_errors: Decorator = main._handle_errors

    @click.command("promote")
    @click.option("--from", "source", required=True, help="Target whose running digests are promoted (e.g. staging).")
    @click.option("--to", "dest", required=True, help="Target they are deployed to (e.g. prod).")
    @file_option
    @state_option
    @click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for each change to become healthy.")
    @click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
    @lock_timeout_option
    @handle_errors
    def promote(source: str, dest: str, file: str, state: str | None, yes: bool, timeout: float, output: str, lock_timeout: float) -> None:
        """Deploy to --to exactly the image digests running on --from (copied between registries
        when the targets use different ones); refused unless --from is healthy."""
        from portable.delivery.promote import promote as run_promote

        main._confirm(f"Deploy to {dest} the images running on {source}?", yes)
        with progress(output == "text") as report:
            what, result = run_promote(file, source, dest, state=state, env=main._env(), progress=report, timeout=timeout, lock_wait=lock_timeout)
        doc: dict[str, Any] = {"from": what.source, "revision_from": what.revision, "to": dest, "images": dict(what.images),
                               "revision": result.revision, "plan": result.plan.to_dict()}
        if output == "json":
            emit_json(doc)
            return
        for service, ref in sorted(what.images.items()):
            click.echo(f"  {service}: {ref}")
        done = f"revision {result.revision}" if result.revision is not None else "nothing to change"
        click.echo(f"{result.app} on {dest}: {done} ({what.message}).")

    return promote
