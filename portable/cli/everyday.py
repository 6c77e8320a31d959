"""Everyday verbs users of docker compose and kubectl reach for: `config`, `open`, `completion`.

* `portable config -t T` prints the manifest as it applies to target T: files merged, `${VAR}`
  interpolated, the target's overrides applied (what `docker compose config` shows). Secrets
  stay references (`from: env:X`): the manifest never holds a value, and this never reads one.
* `portable open SERVICE` prints the public URL of a deployed service (from the target, as
  `status` sees it) and, with `--browser`, opens it.
* `portable completion bash|zsh|fish` prints the shell's completion script (click's own).
"""
from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import click

from portable.cli.main_options import main_options
from portable.cli.output import emit_json, fail

SHELLS = ("bash", "zsh", "fish")


def _public_urls(endpoints: tuple[str, ...]) -> list[str]:
    """The endpoints a browser can open (http/https URLs), public ones as the target lists them."""
    return [e for e in endpoints if e.startswith(("http://", "https://"))]


def _without_empty(value: Any) -> Any:
    """`value` without empty mappings and lists at any depth (what `docker compose config` omits)."""
    if isinstance(value, dict):
        items = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def everyday_commands(main: ModuleType) -> list[click.Command]:
    """`config`, `open` and `completion`, built with the main module's shared options
    (portable/cli/main.py, passed in rather than imported: it imports this module)."""
    _env, _handle_errors, file_option, target_option, state_option, *_ = main_options(main)

    @click.command("config")
    @file_option
    @target_option
    @click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True, help="Output format.")
    @click.option("--services", "services_only", is_flag=True, help="Print only the service names, one per line.")
    @_handle_errors
    def config_command(file: str, target: str, output: str, services_only: bool) -> None:
        """Print the manifest as it applies to the target: merged, interpolated, overrides applied.

        Secrets are shown as their references (`from: env:X`), never as values."""
        from portable import api

        app = api._session(file, _env()).app(target)
        if services_only:
            for name in app.services:
                click.echo(name)
            return
        doc: dict[str, Any] = _without_empty(app.manifest.model_dump(mode="json", by_alias=True, exclude={"overrides"}, exclude_none=True))
        doc["targets"] = {app.target_name: doc.get("targets", {}).get(app.target_name, {"provider": app.target.provider})}
        if output == "json":
            emit_json(doc)
            return
        import yaml

        click.echo(f"# {app.name} as it applies to target {app.target_name} (from {app.path}); secrets are references", nl=True)
        click.echo(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True), nl=False)


    @click.command("open")
    @click.argument("service")
    @file_option
    @target_option
    @state_option
    @click.option("--browser", is_flag=True, help="Also open the URL in the default web browser.")
    @click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format.")
    @_handle_errors
    def open_command(service: str, file: str, target: str, state: str | None, browser: bool, output: str) -> None:
        """Print the public URL of SERVICE as deployed on the target (and open it with --browser)."""
        from portable import api

        result = api.status(file, target, state=state, env=_env())
        by_name = {s.service: s for s in result.services}
        if service not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            fail(f"{result.app} has no service `{service}` on {target} (services: {known})", 2)
        urls = _public_urls(by_name[service].endpoints)
        if not urls:
            fail(f"{service} on {target} has no public URL: give one of its ports `expose: public` and deploy", 1)
        if output == "json":
            emit_json({"app": result.app, "target": target, "service": service, "urls": urls})
        else:
            for url in urls:
                click.echo(url)
        if browser:
            import webbrowser

            if not webbrowser.open(urls[0]):
                fail(f"no web browser could be started here; open {urls[0]} by hand", 1)


    @click.command("completion")
    @click.argument("shell", type=click.Choice(SHELLS))
    def completion_command(shell: str) -> None:
        """Print the completion script for SHELL.

        \b
        bash: eval "$(portable completion bash)"      (in ~/.bashrc)
        zsh:  eval "$(portable completion zsh)"       (in ~/.zshrc)
        fish: portable completion fish > ~/.config/fish/completions/portable.fish
        """
        from click.shell_completion import get_completion_class

        cls = get_completion_class(shell)
        if cls is None:  # pragma: no cover - click ships all three
            fail(f"click has no completion for {shell}", 2)
        sys.stdout.write(cls(main.cli, {}, "portable", "_PORTABLE_COMPLETE").source())

    return [config_command, open_command, completion_command]
