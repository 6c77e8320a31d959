"""`portable gc`: list what portable's marks say belongs to apps this state store deployed
but nothing describes any more; delete it with --yes (data with --volumes).

Registered on the main group by portable/cli/main.py (`cli.add_command(gc_command(...))`);
the judging is portable/gc.py's, reached through portable.api.
"""
from __future__ import annotations

from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import click

from portable.cli.main_options import main_options
from portable.cli.output import emit_json, progress, table


def gc_command(main: ModuleType) -> click.Command:
    """The `gc` command, built with the option helpers and error handling of `main`
    (portable/cli/main.py, passed in rather than imported: it imports this module)."""
    _env, _handle_errors, file_option, target_option, state_option, output_option, lock_timeout_option = main_options(main)

    @click.command("gc")
    @file_option
    @target_option
    @click.option("--all-targets", is_flag=True, help="Every target the manifest declares (and local where this store deployed).")
    @state_option
    @click.option("-y", "--yes", is_flag=True, help="Delete what is listed as garbage (without it gc only lists).")
    @click.option("--volumes", is_flag=True, help="With --yes, also delete garbage that holds data (volumes, claims, disks).")
    @click.option("--all-owners", is_flag=True, help="Also show objects of apps this state store never deployed (never deleted).")
    @click.option("--app", "apps", multiple=True, metavar="NAME", help="Collect only these apps' objects (repeat; for a state store several manifests share).")
    @click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for each removal.")
    @click.option("--quiet", is_flag=True, help="No progress lines.")
    @output_option
    @lock_timeout_option
    @_handle_errors
    def gc(file: str, target: str, all_targets: bool, state: str | None, yes: bool, volumes: bool, all_owners: bool,
           apps: tuple[str, ...], timeout: float, quiet: bool, output: str, lock_timeout: float) -> None:
        """List objects portable left behind (a renamed app's, a removed service's, a crashed
        deploy's); delete them with --yes."""
        from portable import api

        with progress(not quiet and yes) as report:
            reports = api.gc(file, target, all_targets=all_targets, delete=yes, volumes=volumes, all_owners=all_owners, apps=apps,
                             state=state, env=_env(), progress=report, timeout=timeout, lock_wait=lock_timeout)
        now = datetime.now(timezone.utc)
        if output == "json":
            emit_json([r.to_dict(now) for r in reports])
            return
        for r in reports:
            _print(r, now, yes)

    return gc


def _print(report: Any, now: datetime, deleted: bool) -> None:
    """One target's listing, then what was done or what --yes would do."""
    click.echo(f"target {report.target} ({report.provider}), state store {report.store}:")
    if not report.findings:
        click.echo("  nothing to collect: every object of this store's apps is described by the manifest or its current revision")
        return
    rows = [[f.verdict, f.obj.kind, f.obj.name, f.obj.app, f.obj.target or report.target, f.age(now), f.why] for f in report.findings]
    table(["verdict", "kind", "name", "app", "target", "age", "why"], rows)
    garbage = report.garbage
    if deleted:
        for f in report.deleted:
            click.echo(f"deleted {f.obj.kind} {f.obj.name}")
        for f in report.data_kept:
            click.echo(f"kept {f.obj.kind} {f.obj.name}: it holds data (--volumes deletes it)")
    elif garbage:
        data = sum(1 for f in garbage if f.obj.stateful)
        extra = f" ({data} holding data: add --volumes for those)" if data else ""
        click.echo(f"{len(garbage)} object(s) of apps this store deployed; `portable gc --yes` deletes them{extra}.")
    others = len(report.findings) - len(garbage)
    if others:
        click.echo(f"{others} object(s) of other owners are shown only; gc never deletes them.")
