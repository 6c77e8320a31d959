"""Entry point of the `portable` command. Only click is imported at start-up; each command
imports the API (and, through it, one provider's SDK) when it runs.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from portable.cli.output import emit_json, fail, progress, table, warn

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_FILE = "portable.yaml"


def _handle_errors(fn: F) -> F:
    """Maps portable errors to messages and exit codes; tracebacks only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from portable.errors import PortableError

        debug = bool(click.get_current_context().find_root().params.get("debug"))
        params = click.get_current_context().params
        as_json = "json" in (params.get("output"), params.get("format"))  # -o json (--format json where -o names a file): the error as JSON on stderr
        try:
            return fn(*args, **kwargs)
        except PortableError as exc:
            if debug:  # --debug adds the traceback; the exit code stays the error's own
                import traceback

                traceback.print_exc()
            fail(str(exc), exc.exit_code, as_json=as_json, error=exc)
        except KeyboardInterrupt as exc:
            from portable.cli.interrupt import exit_interrupted

            exit_interrupted(exc)  # exit 130 now, not when the abandoned workers' calls return
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # pragma: no cover - reported, not hidden
            if debug:
                raise
            from portable.scrub import scrub

            fail(scrub(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)"), 1, as_json=as_json)

    return wrapper  # type: ignore[return-value]


def file_option(fn: F) -> F:
    from portable.cli.compose import one_or_many_files, profile_option  # several -f: compose files merged in order

    return profile_option(click.option("-f", "--file", "file", multiple=True, callback=one_or_many_files, default=lambda: os.environ.get("PORTABLE_FILE", DEFAULT_FILE).split(os.pathsep), show_default=DEFAULT_FILE, type=click.Path(), help="The manifest, or compose file(s) (repeat -f to merge them as compose does).")(fn))


def root_file_options(fn: F) -> F:
    from portable.cli.compose import root_file_options as options  # `portable -f compose.yaml render ...`

    return options(fn)


def target_option(fn: F) -> F:
    return click.option("-t", "--target", default=lambda: os.environ.get("PORTABLE_TARGET", "local"), show_default="local", help="Where to act (a name under `targets:`, or local).")(fn)


def state_option(fn: F) -> F:
    return click.option("--state", envvar="PORTABLE_STATE", default=None, help="State store: a file (default .portable/state.db beside the manifest), postgresql://USER@HOST/DB?schema=S or s3://BUCKET/PREFIX.")(fn)


def lock_timeout_option(fn: F) -> F:
    """--lock-timeout: how long to wait for a held lock (0: fail at once, naming the holder)."""
    return click.option("--lock-timeout", "lock_timeout", type=click.FloatRange(min=0), envvar="PORTABLE_LOCK_TIMEOUT", default=30.0, show_default=True, help="Seconds to wait when another operation holds the app's lock (a line names the holder).")(fn)


def output_option(fn: F) -> F:
    return click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")(fn)


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} needs confirmation: pass --yes when not running on a terminal", 2)
    if not click.confirm(question, default=False):
        fail("cancelled; nothing was changed", 1)


def _env() -> dict[str, str] | None:
    """Variables for interpolation: --env-file values, overridden by the process environment."""
    env_file = click.get_current_context().find_root().params.get("env_file")
    if not env_file:
        return None
    from pathlib import Path

    from portable.manifest.interpolate import read_dotenv

    if not os.path.isfile(env_file):
        fail(f"--env-file {env_file}: no such file", 2)
    for key, value in read_dotenv(Path(env_file)).items():
        os.environ.setdefault(key, value)  # as if exported: target settings read them too
    return dict(os.environ)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--env-file", type=click.Path(dir_okay=False), default=None, help="Variables to use as if exported (for ${VAR} interpolation and target settings); the environment wins.")
@click.option("--progress", "progress_mode", type=click.Choice(["auto", "plain", "table"]), envvar="PORTABLE_PROGRESS", default=None, help="Progress of deploy, destroy, migrate...: a live table of services on a terminal (auto), timestamped lines (plain), or the table anyway (table). Also PORTABLE_PROGRESS.")
@root_file_options
@click.version_option(package_name="portable")
def cli(debug: bool, env_file: str | None, progress_mode: str | None) -> None:
    """Deploy one app manifest to Docker, Kubernetes, AWS, any Libcloud cloud or vSphere,
    and move it between them with its data."""


@cli.command()
@click.option("--name", default=None, help="App name (default: the folder's name).")
@click.option("-f", "--file", "file", default=DEFAULT_FILE, show_default=True, type=click.Path(dir_okay=False))
@output_option
@_handle_errors
def init(name: str | None, file: str, output: str) -> None:
    """Write a starter portable.yaml."""
    from pathlib import Path

    from portable.cli.starter import starter_name, write_starter

    path = write_starter(Path(file), name)
    if output == "json":  # docs/schemas/init.schema.json
        return emit_json({"file": str(path), "app": starter_name(path, name), "next": ["portable validate", "portable deploy --yes"]})
    click.echo(f"wrote {path}; next: portable validate && portable deploy --yes")


@cli.command()
@file_option
@click.option("-t", "--target", default=None, help="Also check what this target cannot do of what the manifest asks (without contacting it).")
@output_option
@_handle_errors
def validate(file: str, target: str | None, output: str) -> None:
    """Check the manifest (and every target's overrides; with -t, that target's capabilities)."""
    from portable import api

    result = api.validate(file, target=target, env=_env())
    for w in result.warnings:
        warn(w)
    if output == "json":
        emit_json({"valid": True, "app": result.app, "services": result.services, "targets": result.targets, "warnings": result.warnings})
    else:
        click.echo(f"{result.file}: valid ({result.app}: {len(result.services)} services; targets: {', '.join(result.targets)})")


@cli.command()
@file_option
@target_option
@click.option("-o", "--out", "outdir", default=None, help="Directory to write to (default rendered/<target>).")
@click.option("--explain", is_flag=True, help="Write nothing; say how the target carries every manifest field.")
@click.option("--format", "format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format (-o names the directory here).")
@_handle_errors
def render(file: str, target: str, outdir: str | None, explain: bool, format: str) -> None:
    """Write what the target would get, as files its own tools accept."""
    from portable import api

    if explain:
        from portable.cli.compose import print_explain

        return print_explain(file, target, format)
    from pathlib import Path

    out = Path(outdir or os.path.join("rendered", target))
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        fail(f"-o {out}: {existing} is a file; render writes a directory of files", 2)
    paths = api.render(file, target, str(out), env=_env())
    if format == "json":  # docs/schemas/render.schema.json
        return emit_json({"target": target, "directory": str(out), "files": [str(p) for p in paths]})
    for p in paths:
        click.echo(str(p))


@cli.command()
@file_option
@target_option
@state_option
@output_option
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help="Save the plan to this file; `portable deploy FILE` applies exactly it.")
@click.option("--detailed-exitcode", "detailed", is_flag=True, help="Exit 0 when nothing would change, 1 on error, 2 when there are changes or drift (as terraform).")
@_handle_errors
def plan(file: str, target: str, state: str | None, output: str, out: str | None, detailed: bool) -> None:
    """Show what deploy would change, and what was changed outside portable (and, with --out, save it to apply later)."""
    from portable.cli.no_change import answered

    if not out and output != "json" and answered(file, target, state, _env, "plan"):
        return  # nothing changed, proven without loading the manifest model or the SDK (plan/noop.py)
    from portable import api
    from portable.cli.plan_exit import errors_exit_1, exit_for

    with errors_exit_1(detailed):
        if out:
            the_plan, written = api.save_plan(file, target, out, state=state, env=_env())
        else:
            the_plan, written = api.plan(file, target, state=state, env=_env()), None
    if output == "json":
        emit_json({**the_plan.to_dict(), **({"saved": str(written)} if written else {})})
    else:
        click.echo(f"{the_plan.app} on {target}:")
        click.echo(the_plan.render_text())
        if written:
            click.echo(f"saved the plan to {written}; apply exactly it with: portable deploy {written}")
    exit_for(the_plan, detailed)


@cli.command()
@click.argument("saved_plan", required=False, type=click.Path(dir_okay=False))
@file_option
@target_option
@state_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for each change to become healthy.")
@click.option("--parallelism", type=click.IntRange(min=1), default=None, help="Independent changes applied at once (default: the target's own: every change at once on Docker and Kubernetes, a few at a time on cloud APIs).")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@click.option("--force-conflicts", is_flag=True, help="Kubernetes: take over fields another field manager owns (server-side apply).")
@lock_timeout_option
@output_option
@_handle_errors
def deploy(saved_plan: str | None, file: str, target: str, state: str | None, yes: bool, timeout: float, parallelism: int | None, quiet: bool, force_conflicts: bool, lock_timeout: float, output: str) -> None:
    """Make the target match the manifest (a failed revision is rolled back).

    With SAVED_PLAN (from `portable plan --out FILE`), apply exactly that plan, or refuse
    with nothing touched if the target, the state or the manifest changed since."""
    import time

    from portable.cli.no_change import answered

    if not saved_plan and output != "json" and answered(file, target, state, _env, "deploy --yes" if yes else "deploy"):
        return  # nothing changed, proven without loading the manifest model or the SDK (plan/noop.py)
    from portable import api

    started = time.monotonic()  # -o json: the revision, its plan and the time taken (docs/schemas/revision.schema.json)
    options = {"state": state, "timeout": timeout, "parallelism": parallelism, "env": _env(), "force_conflicts": force_conflicts, "lock_wait": lock_timeout}
    shown: list[object] = []  # the plan, printed on stdout before the progress of its apply (in order through one pipe)

    def show_plan(the_plan: Any) -> None:
        if output != "json":
            shown.append(the_plan)
            click.echo(the_plan.render_text())

    if saved_plan:
        with progress(not quiet, on_plan=show_plan) as report:
            result = api.deploy_saved(saved_plan, progress=report, **options)  # type: ignore[arg-type]
        target = result.target
    else:
        approved = None
        if not yes:  # the plan shown is the plan applied: deploy refuses if planning again differs
            approved = api.plan(file, target, state=state, env=_env())
            click.echo(approved.render_text(), err=output == "json")
            if approved.empty and output != "json":
                return
            _confirm("Apply these changes?", yes)
        with progress(not quiet, on_plan=show_plan if yes else None) as report:
            result = api.deploy(file, target, progress=report, approved=approved, **options)  # type: ignore[arg-type]
    if output == "json":
        from portable.cli.verbs import revision_document

        return emit_json(revision_document(result, target, time.monotonic() - started, "deploy"))
    if result.revision is None:
        click.echo(f"{result.app} on {target}: no changes; nothing was touched.")
    else:
        if not shown:  # --quiet: no progress sink, so no plan yet
            click.echo(result.plan.render_text() if yes or saved_plan else result.plan.summary())
        click.echo(f"{result.app} on {target}: revision {result.revision} deployed.")


@cli.command()
@file_option
@target_option
@state_option
@output_option
@_handle_errors
def status(file: str, target: str, state: str | None, output: str) -> None:
    """Per service: desired, running and healthy replicas, and endpoints."""
    from portable import api

    result = api.status(file, target, state=state, env=_env())
    if output == "json":
        emit_json(result.to_dict())
        return
    rev = result.revision
    click.echo(f"{result.app} on {target}: " + (f"revision {rev.number} ({rev.status}, {rev.finished_at or rev.created_at})" if rev else "never deployed") + (f"; {rev.message}" if rev and rev.message else ""))
    click.echo(f"lives on: {', '.join(result.lives_on) or 'no target'}")
    table(["SERVICE", "DESIRED", "RUNNING", "HEALTHY", "ENDPOINTS"], [[s.service, s.desired, s.running, s.healthy, ", ".join(s.endpoints)] for s in result.services])


@cli.command()
@file_option
@target_option
@click.argument("services", nargs=-1)
@click.option("--follow", is_flag=True, help="Keep printing new lines.")
@click.option("--tail", default=100, show_default=True, help="Lines of history per instance.")
@output_option
@_handle_errors
def logs(file: str, target: str, services: tuple[str, ...], follow: bool, tail: int, output: str) -> None:
    """Print the services' output, prefixed by service and replica (-o json: one object per line)."""
    from portable import api
    from portable.cli.jsonout import emit_line, log_record

    for line in api.logs(file, target, list(services), follow=follow, tail=tail, env=_env()):
        if output == "json":  # docs/schemas/logs.schema.json, one object a line, flushed as it comes
            emit_line(log_record(line.service, line.instance, line.text))
        else:
            click.echo(f"{line.instance} | {line.text}")


@cli.command()
@file_option
@target_option
@state_option
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--volumes", is_flag=True, help="Also delete volumes and data disks (their data is lost).")
@click.option("--parallelism", type=click.IntRange(min=1), default=None, help="Independent removals at once (default: the target's own).")
@click.option("--quiet", is_flag=True)
@lock_timeout_option
@output_option
@_handle_errors
def destroy(file: str, target: str, state: str | None, yes: bool, volumes: bool, parallelism: int | None, quiet: bool, lock_timeout: float, output: str) -> None:
    """Remove everything of the app from the target (data only with --volumes)."""
    import time

    from portable import api

    started = time.monotonic()
    _confirm(f"Destroy the app on target {target}{' including its volumes' if volumes else ''}?", yes)
    shown: list[object] = []  # the plan, printed before the progress of its apply

    def show_plan(plan: Any) -> None:
        if output != "json":
            shown.append(plan)
            click.echo(plan.render_text())

    with progress(not quiet, on_plan=show_plan) as report:
        the_plan = api.destroy(file, target, volumes=volumes, state=state, progress=report, parallelism=parallelism, env=_env(), lock_wait=lock_timeout)
    if output == "json":
        from portable.cli.verbs import destroy_document

        latest = api.history(file, target, state=state, env=_env())
        return emit_json(destroy_document(the_plan, target, time.monotonic() - started, latest[-1].number if latest else None))
    if not shown:
        click.echo(the_plan.render_text())
    click.echo(f"{the_plan.app} on {target}: destroyed.")


@cli.command()
@file_option
@target_option
@state_option
@click.option("--to", "to", type=int, default=None, help="Revision number (default: the one before the current).")
@click.option("--quiet", is_flag=True)
@lock_timeout_option
@output_option
@_handle_errors
def rollback(file: str, target: str, state: str | None, to: int | None, quiet: bool, lock_timeout: float, output: str) -> None:
    """Return the target to an earlier revision."""
    import time

    from portable import api

    started = time.monotonic()
    with progress(not quiet) as report:
        result = api.rollback(file, target, to=to, state=state, progress=report, env=_env(), lock_wait=lock_timeout)
    if output == "json":
        from portable.cli.verbs import revision_document

        return emit_json(revision_document(result, target, time.monotonic() - started, "rollback"))
    if result.revision is None:
        click.echo(f"{result.app} on {target}: already at that revision; nothing was touched.")
    else:
        click.echo(f"{result.app} on {target}: rolled back as revision {result.revision}.")


@cli.command()
@file_option
@target_option
@state_option
@output_option
@_handle_errors
def history(file: str, target: str, state: str | None, output: str) -> None:
    """List the revisions of the app on the target."""
    from portable import api

    revs = api.history(file, target, state=state, env=_env())
    if output == "json":
        emit_json([r.to_dict() for r in revs])
        return
    table(["REVISION", "KIND", "STATUS", "CREATED", "RESOURCES", "MESSAGE"], [[r.number, r.kind, r.status, r.created_at, len(r.resources), r.message.splitlines()[0] if r.message else ""] for r in revs])


@cli.command()
@file_option
@output_option
@click.option("--no-check", is_flag=True, help="List only; do not contact the targets.")
@_handle_errors
def targets(file: str, output: str, no_check: bool) -> None:
    """List the declared targets and check that each is reachable with its credentials."""
    from portable import api

    infos = api.targets(file, check=not no_check, env=_env())
    if output == "json":
        emit_json([i.__dict__ for i in infos])
    else:
        table(["TARGET", "PROVIDER", "REACHABLE", "DETAIL"], [[i.name, i.provider, {True: "yes", False: "NO", None: "-"}[i.reachable], i.detail] for i in infos])
    if any(i.reachable is False for i in infos):
        sys.exit(1)


@cli.command()
@file_option
@state_option
@click.option("--from", "source", required=True, help="The target the app runs on now.")
@click.option("--to", "destination", required=True, help="The target to move it to.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--quiesce", is_flag=True, help="Stop the source's writers during the copy, so the data is consistent.")
@click.option("--keep-source", is_flag=True, help="Leave the source running after the cutover.")
@click.option("--keep-failed", is_flag=True, help="On failure, keep what was created on the destination for inspection.")
@click.option("--dry-run", is_flag=True, help="Only show the destination's plan and the volumes that would move.")
@click.option("--blob-store", envvar="PORTABLE_BLOB_STORE", default=None, help="Where archives go: a directory or s3://BUCKET/PREFIX (default .portable/archives).")
@click.option("--dns-record", default=None, help="DNS name to switch to the destination at cutover.")
@click.option("--dns-zone", default=None, help="Hosted zone id (Route 53) or zone id/domain (libcloud).")
@click.option("--dns-provider", default="route53", show_default=True, help="route53, libcloud:<driver>, or a target that declares its DNS service (targets.<t>.dns).")
@click.option("--dns-service", default=None, help="The public service the record points at (default: the only service with a public port).")
@click.option("--timeout", default=300.0, show_default=True)
@click.option("--plaintext-transit", is_flag=True, envvar="PORTABLE_PLAINTEXT_TRANSIT", help="Let the destination fetch an unsealed copy of the archives by URL (needed for a VM first boot on aws, and on libcloud without `ssh`; see docs/security.md).")
@click.option("--encryption-key", envvar="PORTABLE_ENCRYPTION_KEY", default=None, help="Seal the migration's archives with env:VAR, file:PATH (32 bytes: raw, hex or base64) or kms:KEY_ID_OR_ALIAS (default: the app's key in the state store); see docs/security.md.")
@output_option
@_handle_errors
def migrate(file: str, state: str | None, source: str, destination: str, yes: bool, quiesce: bool, keep_source: bool, keep_failed: bool, dry_run: bool, blob_store: str | None, dns_record: str | None, dns_zone: str | None, dns_provider: str, dns_service: str | None, timeout: float, plaintext_transit: bool, encryption_key: str | None, output: str) -> None:
    """Move the running app to another target with its data (resumable)."""
    from portable.migrate.api import cutover_from_flags, preview
    from portable.migrate.api import migrate as run_migration
    from portable.session import Session

    cut = cutover_from_flags(dns_record, dns_zone, dns_provider, dns_service)
    session = Session.open(file, env=_env(), state=state)
    if dry_run or not yes:
        shown = preview(session, source, destination, quiesce=quiesce, blob_store=blob_store, cutover=cut, plaintext_transit=plaintext_transit, encryption_key=encryption_key)
        if output == "json" and dry_run:  # the preview as the plan's JSON (docs/schemas/plan.schema.json) and the volumes
            return emit_json({"to": destination, "plan": shown.plan.to_dict(), "volumes": list(shown.volumes)})
        click.echo(f"on {destination}:", err=output == "json")
        click.echo(shown.plan.render_text(), err=output == "json")
        click.echo(f"volumes to move from {source}: {', '.join(shown.volumes) or 'none'}", err=output == "json")
        if dry_run:
            return
        _confirm(f"Migrate from {source} to {destination}{'' if keep_source else f' and retire {source}'}?", yes)
    import time

    started = time.monotonic()
    with progress() as report:
        result = run_migration(session, source, destination, blob_store=blob_store, quiesce=quiesce, keep_source=keep_source, keep_failed=keep_failed, cutover=cut, progress=report, timeout=timeout, plaintext_transit=plaintext_transit,
                               encryption_key=encryption_key)
    if output == "json":
        from portable.cli.verbs import migrate_document

        return emit_json(migrate_document(result, time.monotonic() - started))
    for a in result.archives:
        click.echo(f"volume {a['volume']}: {a['files']} files, {a['data_bytes']} bytes, sha256 {a['sha256'][:16]}...")
    click.echo(result.cutover)
    if result.write_unavailable_s is not None:
        click.echo(f"writes were unavailable for {result.write_unavailable_s:.1f}s")
    click.echo(f"{result.app} now runs on {destination}" + ("" if result.retired else f" (and still on {source})") + ".")


@cli.command()
@file_option
@target_option
@click.option("--blob-store", envvar="PORTABLE_BLOB_STORE", default=None, help="A directory or s3://BUCKET/PREFIX (default .portable/archives).")
@click.option("--quiesce", is_flag=True, help="Stop writers while the volumes are read.")
@state_option
@click.option("--encryption-key", envvar="PORTABLE_ENCRYPTION_KEY", default=None, help="env:VAR, file:PATH (32 bytes: raw, hex or base64) or kms:KEY_ID_OR_ALIAS (default: the app's key in the state store); see docs/security.md.")
@output_option
@_handle_errors
def backup(file: str, target: str, blob_store: str | None, quiesce: bool, state: str | None, encryption_key: str | None, output: str) -> None:
    """Export the app's volumes as portable archives."""
    import time

    from portable.migrate.api import backup as run_backup
    from portable.session import Session

    started = time.monotonic()
    with progress() as report:
        result = run_backup(Session.open(file, env=_env(), state=state), target, env=_env(), blob_store=blob_store, quiesce=quiesce, progress=report, encryption_key=encryption_key)
    if output == "json":
        from portable.cli.verbs import backup_document

        return emit_json(backup_document(result, time.monotonic() - started))
    click.echo(f"backup {result.id} of {result.app} on {target}: {len(result.archives)} volumes; index {result.index}")


@cli.command()
@file_option
@target_option
@click.option("--from", "source", required=True, help="Backup id, its directory, or its backup.json.")
@click.option("--blob-store", envvar="PORTABLE_BLOB_STORE", default=None)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@state_option
@click.option("--encryption-key", envvar="PORTABLE_ENCRYPTION_KEY", default=None, help="env:VAR, file:PATH (32 bytes: raw, hex or base64) or kms:KEY_ID_OR_ALIAS (default: the app's key in the state store); see docs/security.md.")
@output_option
@_handle_errors
def restore(file: str, target: str, source: str, blob_store: str | None, yes: bool, state: str | None, encryption_key: str | None, output: str) -> None:
    """Replace the app's volume data on the target with a backup's."""
    import time

    from portable.migrate.api import restore as run_restore
    from portable.session import Session

    started = time.monotonic()
    _confirm(f"Replace the volume data of the app on {target} with backup {source}?", yes)
    with progress() as report:
        restored = run_restore(Session.open(file, env=_env(), state=state), target, source=source, env=_env(), blob_store=blob_store, progress=report, encryption_key=encryption_key)
    if output == "json":  # docs/schemas/restore.schema.json
        return emit_json({"target": target, "backup": source, "restored": list(restored), "seconds": round(time.monotonic() - started, 3)})
    click.echo(f"restored volumes: {', '.join(restored)}")


from portable.cli.state import state_group  # noqa: E402

cli.add_command(state_group(sys.modules[__name__]))
from portable.cli.everyday import everyday_commands  # noqa: E402

for _command in everyday_commands(sys.modules[__name__]):
    cli.add_command(_command)
from portable.cli.compose import explain_command, import_command  # noqa: E402

cli.add_command(import_command)
cli.add_command(explain_command)
from portable.cli.check import check_command  # noqa: E402

cli.add_command(check_command(sys.modules[__name__]))
from portable.cli.gc import gc_command  # noqa: E402

cli.add_command(gc_command(sys.modules[__name__]))
from portable.cli.verbs import verb_commands  # noqa: E402

for _command in verb_commands(sys.modules[__name__]):
    cli.add_command(_command)
from portable.cli.promote import promote_command  # noqa: E402

cli.add_command(promote_command(sys.modules[__name__]))


def main() -> None:
    from portable.cli.interrupt import route_sigint_to_main_thread

    route_sigint_to_main_thread()  # Ctrl-C stops any command at once, whatever its threads do
    try:
        cli(prog_name="portable")  # ends in SystemExit with the command's status
    finally:
        from portable.cli.quick_exit import skip_the_final_collection

        skip_the_final_collection()


if __name__ == "__main__":
    main()
