"""`portable import` (compose files to a portable manifest), `portable explain`, and the
pieces of `-f` that compose needs everywhere: several files, and `--profile`.

Warnings go to stderr, one `FILE:LINE:COL: path: fate (why)` line each; the manifest goes
to stdout or `-o FILE`. `--strict` turns any warning into exit 2 and writes nothing.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from portable.cli.output import fail, warn

F = TypeVar("F", bound=Callable[..., Any])


def one_or_many_files(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str | tuple[str, ...]:
    """`-f` once gives the path as before; several `-f` give them all (compose files, merged in order).

    `state` subcommands only locate the state store, beside the first file (the compose
    project's directory), so they get that one.
    """
    in_state_group = ctx.parent is not None and ctx.parent.command.name == "state"
    files = value[0] if len(value) == 1 or in_state_group else tuple(value)
    if ctx.command.name not in _SAY_THEMSELVES and not in_state_group and not ctx.resilient_parsing:
        _warn_what_compose_loses(files)
    return files


# commands that print the import's warnings themselves (validate, import) or fold them in (explain)
_SAY_THEMSELVES = {"validate", "explain", "init"}


def _warn_what_compose_loses(files: str | tuple[str, ...]) -> None:
    """Never silent: a compose file used directly gets the same warnings `portable import` prints.

    Errors are left for the command itself to report (with its exit code); the loaded result
    is kept, so the command does not load the files a second time.
    """
    from portable.compose import manifest_from_compose, merged_compose_manifest
    from portable.errors import PortableError

    try:
        env = _root_env()
        loaded = merged_compose_manifest(files, env) if isinstance(files, tuple) else manifest_from_compose(files, env)
    except PortableError:
        return
    for finding in getattr(getattr(loaded, "conversion", None), "findings", []):
        warn(finding.render())


def _use_profiles(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        os.environ["COMPOSE_PROFILES"] = ",".join(value)  # what compose itself reads


def profile_option(fn: F) -> F:
    return click.option("--profile", "profiles", multiple=True, expose_value=False, callback=_use_profiles, is_eager=True, help="Compose profile to enable (repeatable; default COMPOSE_PROFILES).")(fn)


def _remember_files(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    if value:
        os.environ["PORTABLE_FILE"] = os.pathsep.join(value)  # the default of every command's -f


def root_file_options(fn: F) -> F:
    """`-f` and `--profile` before the command name, as in `portable -f compose.yaml plan`."""
    fn = click.option("-f", "--file", "root_files", multiple=True, expose_value=False, callback=_remember_files, type=click.Path(), help="The manifest or compose file(s), for every command.")(fn)
    return profile_option(fn)


def _root_env() -> dict[str, str] | None:
    from portable.cli.main import _env

    return _env()


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", default=None, type=click.Path(dir_okay=False), help="Write the manifest here (default: standard output).")
@click.option("--profile", "profiles", multiple=True, help="Compose profile to enable (repeatable; default COMPOSE_PROFILES).")
@click.option("--strict", is_flag=True, help="Exit 2, writing nothing, when any compose key is not carried exactly.")
@click.option("--force", is_flag=True, help="Overwrite the output file.")
@click.option("--format", "format", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="json: one object on stdout (the manifest, the file written, the warnings); -o names the file here.")
def import_command(files: tuple[str, ...], output: str | None, profiles: tuple[str, ...], strict: bool, force: bool, format: str) -> None:
    """Convert compose file(s), merged as compose merges them, into a portable manifest."""
    from portable.cli.main import _handle_errors

    _handle_errors(_import)(files, output, profiles, strict, force, format == "json")


def _import(files: tuple[str, ...], output: str | None, profiles: tuple[str, ...], strict: bool, force: bool, as_json: bool = False) -> None:
    from pathlib import Path

    from portable.compose.emit import manifest_text
    from portable.compose.manifest import compose_conversion, relocate
    from portable.errors import ManifestError
    from portable.manifest.loader import parse_text

    out = Path(output) if output else None
    if out is not None and out.exists() and not force:
        fail(f"-o {out}: the file exists; pass --force to overwrite it", 2, as_json=as_json)
    conv = compose_conversion([Path(f) for f in files], _root_env(), list(profiles) or None, manifest_dir=(out.parent if out else Path.cwd()))
    for finding in [] if as_json else conv.findings:  # --format json: they are in the document
        warn(finding.render())
    failures = conv.strict_failures()
    if strict and failures:
        if as_json:  # located: the first key not carried exactly is file/line/path, every one is under problems
            from portable.errors import Problem

            raise ManifestError([Problem(f.path, f"{f.fate} ({f.text}); --strict: nothing written", f.loc.file, f.loc.line or None, f.loc.col or None) for f in failures])
        fail(f"--strict: {len(failures)} compose key{'s' if len(failures) != 1 else ''} not carried exactly; nothing written", 2, as_json=as_json)
    header = f"Imported by `portable import` from {', '.join(files)}.\nComments mark values compose says differently; `portable explain -t TARGET` shows what each target does."
    text = manifest_text(conv, header)
    virtual = (out.resolve() if out else Path.cwd() / "portable.yaml")
    try:
        parse_text(text, virtual, {})  # what we write must load
    except ManifestError as exc:
        raise relocate(exc, conv) from None
    if out is None and not as_json:
        click.echo(text, nl=False)
        return
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    services = len(conv.data.get("services", {}))
    if as_json:  # docs/schemas/import.schema.json
        import yaml

        from portable.cli.jsonout import finding_document
        from portable.cli.output import emit_json

        return emit_json({"file": str(out) if out else None, "manifest": yaml.safe_load(text), "services": services,
                          "warnings": [finding_document(f) for f in conv.findings]})
    click.echo(f"wrote {out} ({services} service{'s' if services != 1 else ''}; {len(conv.findings)} warning{'s' if len(conv.findings) != 1 else ''})", err=True)


def print_explain(file: Any, target: str, output: str = "text") -> None:
    """Prints how `target` carries every field of the manifest (or compose files)."""
    from portable.explain import explain_target

    lines = explain_target(file, target, _root_env())
    if output == "json":  # docs/schemas/explain.schema.json
        from portable.cli.output import emit_json

        return emit_json({"target": target, "fields": [{"path": x.path, "how": x.how, "detail": x.detail, "where": x.where} for x in lines]})
    for line in lines:
        click.echo(line.render())


@click.command("explain")
@click.option("-f", "--file", "file", multiple=True, callback=one_or_many_files, default=lambda: [os.environ.get("PORTABLE_FILE", "portable.yaml")], show_default="portable.yaml", type=click.Path(), help="The manifest, or compose file(s).")
@click.option("-t", "--target", default=lambda: os.environ.get("PORTABLE_TARGET", "local"), show_default="local", help="The target to explain for.")
@profile_option
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
def explain_command(file: Any, target: str, output: str) -> None:
    """For every manifest field: how the target carries it (as is, approximated, not at all)."""
    from portable.cli.main import _handle_errors

    _handle_errors(print_explain)(file, target, output)
