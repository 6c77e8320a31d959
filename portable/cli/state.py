"""`portable state ...`: look into the state store, lock it for repairs, release a stuck
lock by id, and copy every app's history to another store.

Registered on the main group by portable/cli/main.py (`cli.add_command(state_group(...))`);
imports the state package (and a team store's SDK) only when a command runs.
"""
from __future__ import annotations

from types import ModuleType

import click

from portable.cli.main_options import main_options
from portable.cli.output import emit_json, fail, progress, table


def state_group(main: ModuleType) -> click.Group:
    """The `state` group, built with the option helpers and error handling of `main`
    (portable/cli/main.py, passed in rather than imported: it imports this module)."""
    _env, _handle_errors, file_option, target_option, state_option, output_option, lock_timeout_option = main_options(main)

    @click.group()
    def state() -> None:
        """Inspect the state store; lock it for repairs; release a stuck lock; migrate it."""

    @state.command("list")
    @file_option
    @state_option
    @output_option
    @_handle_errors
    def state_list(file: str, state: str | None, output: str) -> None:
        """Every app and target in the store with its newest revision, and held locks."""
        from portable.state import open_store

        store = open_store(state, file)
        revs = list(store.deployments())
        locks = store.locks()
        if output == "json":
            emit_json({"store": store.url, "deployments": [r.to_dict() for r in revs], "locks": [lock.to_dict() for lock in locks]})
            return
        table(["APP", "TARGET", "REVISION", "KIND", "STATUS", "FINISHED"], [[r.app, r.target, r.number, r.kind, r.status, r.finished_at] for r in revs])
        if locks:
            click.echo("")
            table(["LOCK", "APP", "TARGET", "HOLDER", "SINCE", "OPERATION"], [[lock.lock_id, lock.app, lock.target, lock.holder, lock.since, lock.operation + (" (until unlocked)" if lock.persistent else "")] for lock in locks])

    @state.command("show")
    @file_option
    @target_option
    @state_option
    @click.option("--revision", type=int, default=None)
    @click.option("-o", "--output", type=click.Choice(["json"]), default="json", show_default=True, help="Output format (always JSON: docs/schemas/state-show.schema.json).")
    @_handle_errors
    def state_show(file: str, target: str, state: str | None, revision: int | None, output: str) -> None:
        """The resources recorded for a revision (the current one by default), as JSON."""
        from portable.manifest import load_app
        from portable.state import open_store

        app = load_app(file, target, _env())
        store = open_store(state, app.path)
        rev = store.get(app.name, target, revision) if revision else store.current(app.name, target)
        if rev is None:
            fail(f"{app.name} has no revision on target {target}", 1)
        emit_json({**rev.to_dict(), "resources": [r.to_dict() for r in rev.resources]})

    @state.command("unlock")
    @click.argument("lock_id")
    @file_option
    @state_option
    @output_option
    @_handle_errors
    def state_unlock(lock_id: str, file: str, state: str | None, output: str) -> None:
        """Release a lock by its id (its holder is gone, or the repair is done)."""
        from portable.state import open_store

        info = open_store(state, file).unlock(lock_id)
        if output == "json":
            from portable.cli.jsonout import lock_document

            return emit_json(lock_document(info, "released"))
        click.echo(f"released lock {info.lock_id} on {info.subject} (held by {info.holder} since {info.since})")

    @state.command("lock")
    @file_option
    @target_option
    @state_option
    @click.option("--exclusive", is_flag=True, help="Lock the whole store: no app on any target can be deployed, destroyed or rolled back.")
    @click.option("--app", "app_name", default=None, help="The app to lock (default: the manifest's).")
    @click.option("--reason", default="repair", show_default=True, help="Shown to whoever finds the lock.")
    @lock_timeout_option
    @output_option
    @_handle_errors
    def state_lock(file: str, target: str, state: str | None, exclusive: bool, app_name: str | None, reason: str, lock_timeout: float, output: str) -> None:
        """Take a lock that stays until `portable state unlock ID`, for repair work.

        Commands run with PORTABLE_LOCK_ID set to its id work under it; everyone else waits or
        fails naming it."""
        from portable.state import EXCLUSIVE, open_store

        store = open_store(state, file)
        if exclusive:
            app, on = EXCLUSIVE, EXCLUSIVE
        else:
            if app_name is None:
                from portable.manifest import load_app

                app_name = load_app(file, target, _env()).name
            app, on = app_name, target
        with progress() as report:
            info = store.hold(app, on, reason, wait=lock_timeout, progress=report)
        if output == "json":
            from portable.cli.jsonout import lock_document

            return emit_json(lock_document(info, "locked"))
        click.echo(f"locked {info.subject} as lock {info.lock_id}; work under it with: export PORTABLE_LOCK_ID={info.lock_id}")
        click.echo(f"release it with: portable state unlock {info.lock_id}")

    @state.command("migrate")
    @file_option
    @state_option
    @click.option("--to", "destination", required=True, help="The store to copy into: a file path, postgresql://... or s3://BUCKET/PREFIX.")
    @lock_timeout_option
    @output_option
    @_handle_errors
    def state_migrate(file: str, state: str | None, destination: str, lock_timeout: float, output: str) -> None:
        """Copy every app's history into another store, verified; the source is left as it is."""
        from portable.state import open_store, open_store_url
        from portable.state.copy import copy_store

        source = open_store(state, file)
        target_store = open_store_url(destination)
        with progress() as report:
            result = copy_store(source, target_store, wait=lock_timeout, progress=report)
        if output == "json":
            emit_json({"source": result.source, "destination": result.destination, "revisions": result.revisions,
                       "pairs": [p.__dict__ for p in result.pairs]})
            return
        table(["APP", "TARGET", "REVISIONS", "SHA256", "COPIED"], [[p.app, p.target, p.revisions, p.digest[:16], "already there" if p.skipped else "yes"] for p in result.pairs])
        click.echo(f"copied {len(result.pairs)} app/target histories ({result.revisions} revisions) from {result.source} to {result.destination}; counts and digests verified; the source is unchanged")

    return state
