"""`portable exec`, `portable scale` and `portable restart`: acting on a deployed app as `docker compose exec` /
`kubectl exec` and `kubectl scale` do, through portable's own paths (portable/verbs.py).

* `exec SERVICE [--replica N] -- CMD...` runs CMD in one replica and exits with CMD's exit
  code; `-i` copies stdin to it and `--tty` asks for a terminal (Docker, and the VM targets over SSH); `-o json`
  collects what it printed into one object instead of streaming it.
* `scale SERVICE=N...` records a revision of kind `scale`, applied as a deploy is (health
  gated, rolled back on failure); the override lasts while the service's definition in the
  manifest is unchanged (portable/scale.py).
* `restart [SERVICE...]` replaces the replicas the target's rolling, health-gated way (a
  restart time as their label), recorded as a revision of kind `restart`.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import click

from portable.cli.main_options import main_options
from portable.cli.output import emit_json


def revision_document(result: Any, target: str, seconds: float, kind: str) -> dict[str, Any]:
    """The JSON of a mutating command (docs/schemas/revision.schema.json): the plan applied,
    the revision recorded (null when nothing changed) and how long it took."""
    return {"app": result.app, "target": target, "kind": kind, "revision": result.revision, "changed": result.revision is not None,
            "plan": result.plan.to_dict(), "seconds": round(seconds, 3)}


def destroy_document(plan: Any, target: str, seconds: float, revision: int | None) -> dict[str, Any]:
    """`destroy -o json`: the removal plan applied and the `destroy` revision recorded."""
    return {"app": plan.app, "target": target, "kind": "destroy", "revision": revision, "changed": not plan.empty,
            "plan": plan.to_dict(), "seconds": round(seconds, 3)}


def _archive(entry: dict[str, Any]) -> dict[str, Any]:
    """An archive as shown: never its URL (a presigned s3 URL carries a signature)."""
    return {k: v for k, v in entry.items() if k in ("volume", "files", "data_bytes", "sha256", "key", "phase")}


def backup_document(result: Any, seconds: float) -> dict[str, Any]:
    """`backup -o json` (docs/schemas/backup.schema.json)."""
    return {"app": result.app, "target": result.target, "backup": result.id, "index": result.index,
            "archives": [_archive(a) for a in result.archives], "seconds": round(seconds, 3)}


def migrate_document(result: Any, seconds: float) -> dict[str, Any]:
    """`migrate -o json` (docs/schemas/migrate.schema.json): what moved, the cutover and the timings."""
    return {"app": result.app, "from": result.source, "to": result.destination, "revision": result.revision,
            "archives": [_archive(a) for a in result.archives], "cutover": result.cutover, "retired": result.retired,
            "write_unavailable_s": result.write_unavailable_s, "timings": dict(result.timings), "seconds": round(seconds, 3)}


@contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    """The local terminal in raw mode while a `-t` exec runs, so keys reach the command as typed."""
    if not (enabled and sys.stdin.isatty()):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(sys.stdin.fileno())
    tty.setraw(sys.stdin.fileno())
    try:
        yield
    finally:
        termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)


def verb_commands(main: ModuleType) -> list[click.Command]:
    """`exec`, `scale` and `restart`, built with the main module's shared options (passed in: it imports this)."""
    _env, _handle_errors, file_option, target_option, state_option, output_option, lock_timeout_option = main_options(main)

    @click.command("exec")
    @click.argument("service")
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
    @file_option
    @target_option
    @click.option("--replica", type=click.IntRange(min=1), default=1, show_default=True, help="Which replica of the service (1-based).")
    @click.option("-i", "--interactive", is_flag=True, help="Copy stdin to the command (not on Kubernetes; vSphere reads it to its end first).")
    @click.option("--tty", "tty", is_flag=True, help="Give the command a terminal (Docker, AWS and libcloud; -t is --target here).")
    @output_option
    @_handle_errors
    def exec_command(service: str, command: tuple[str, ...], file: str, target: str, replica: int, interactive: bool, tty: bool, output: str) -> None:
        """Run a command inside a running replica of SERVICE; exits with the command's exit code.

        \b
        portable exec web -- ls /srv
        portable exec web -t kubernetes --replica 2 -- env
        portable exec db -i -- psql -U app < dump.sql      (Docker)"""
        from portable.verbs import exec_command as run

        argv = list(command[1:] if command and command[0] == "--" else command)
        started = time.monotonic()
        if output == "json":
            out: list[bytes] = []
            err: list[bytes] = []
            code = run(file, target, service, argv, replica=replica, out=out.append, err=err.append,
                       stdin=sys.stdin.buffer if interactive else None, tty=False, env=_env())
            emit_json({"target": target, "service": service, "replica": replica, "command": argv, "exit": code,
                       "stdout": b"".join(out).decode("utf-8", "replace"), "stderr": b"".join(err).decode("utf-8", "replace"),
                       "seconds": round(time.monotonic() - started, 3)})
            sys.exit(code)

        def write(stream: Any) -> Callable[[bytes], None]:
            def put(data: bytes) -> None:
                stream.write(data)
                stream.flush()
            return put

        with _raw_terminal(tty and interactive):
            code = run(file, target, service, argv, replica=replica, out=write(sys.stdout.buffer), err=write(sys.stderr.buffer),
                       stdin=sys.stdin.buffer if interactive else None, tty=tty, env=_env())
        sys.exit(code)

    def revision_options(fn: Callable[..., Any]) -> Callable[..., Any]:
        """The options of a verb that records a revision and applies it like a deploy (scale,
        restart), in the order --help lists them."""
        for option in reversed((
            file_option, target_option, state_option,
            click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for each change to become healthy."),
            click.option("--parallelism", type=click.IntRange(min=1), default=None, help="Independent changes applied at once (default: the target's own)."),
            click.option("--quiet", is_flag=True, help="No progress lines."),
            lock_timeout_option, output_option, _handle_errors,
        )):
            fn = option(fn)
        return fn

    @click.command("scale")
    @click.argument("replicas", nargs=-1, required=True, metavar="SERVICE=N...")
    @revision_options
    def scale_command(replicas: tuple[str, ...], file: str, target: str, state: str | None, timeout: float, parallelism: int | None, quiet: bool, lock_timeout: float, output: str) -> None:
        """Set how many replicas services run (SERVICE=N...), recorded as a revision.

        The count overrides the manifest's `replicas:` until a deploy changes that service
        in the manifest; `plan` shows it as such. Applied like a deploy: health-gated, a
        failure rolled back."""
        from portable.cli.output import progress
        from portable.scale import requested_replicas
        from portable.verbs import scale

        wanted = requested_replicas(replicas)
        started = time.monotonic()
        with progress(not quiet and output != "json") as report:
            result = scale(file, target, wanted, state=state, env=_env(), progress=report, timeout=timeout, parallelism=parallelism, lock_wait=lock_timeout)
        if output == "json":
            emit_json(revision_document(result, target, time.monotonic() - started, "scale"))
        elif result.revision is None:
            click.echo(f"{result.app} on {target}: already {', '.join(f'{s}={n}' for s, n in wanted.items())}; nothing was touched.")
        else:
            click.echo(result.plan.render_text())
            click.echo(f"{result.app} on {target}: revision {result.revision} scaled {', '.join(f'{s}={n}' for s, n in wanted.items())}.")

    @click.command("restart")
    @click.argument("services", nargs=-1, metavar="[SERVICE...]")
    @revision_options
    def restart_command(services: tuple[str, ...], file: str, target: str, state: str | None, timeout: float, parallelism: int | None, quiet: bool, lock_timeout: float, output: str) -> None:
        """Replace the replicas of SERVICE (default: every service), rolling and health-gated.

        Recorded as a revision of kind `restart`; a replacement that does not become healthy
        is rolled back like a failed deploy."""
        from portable.cli.output import progress
        from portable.verbs import restart

        started = time.monotonic()
        with progress(not quiet and output != "json") as report:
            result = restart(file, target, list(services), state=state, env=_env(), progress=report, timeout=timeout, parallelism=parallelism, lock_wait=lock_timeout)
        if output == "json":
            emit_json(revision_document(result, target, time.monotonic() - started, "restart"))
        elif result.revision is None:
            click.echo(f"{result.app} on {target}: nothing runs to restart; nothing was touched.")
        else:
            click.echo(result.plan.render_text())
            click.echo(f"{result.app} on {target}: revision {result.revision} restarted {', '.join(services) or 'every service'}.")

    return [exec_command, scale_command, restart_command]
