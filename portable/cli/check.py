"""`portable check`: the security checks of a manifest on one target, as text, JSON or SARIF.

Registered on the main group by portable/cli/main.py (`cli.add_command(check_command(...))`).
Exit 0 when no unwaived finding is at or above --fail-on, 2 otherwise; nothing is contacted.
"""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def check_command(main: ModuleType) -> click.Command:
    """The `check` command, built with the main module's options and error handling
    (passed in rather than imported: main imports this module)."""
    _env: Callable[[], dict[str, str] | None] = main._env
    _handle_errors: Decorator = main._handle_errors
    file_option: Decorator = main.file_option
    target_option: Decorator = main.target_option

    @click.command("check")
    @file_option
    @target_option
    @click.option("-o", "--output", type=click.Choice(["text", "json", "sarif"]), default="text", show_default=True, help="Output format (sarif: SARIF 2.1.0 for code scanning).")
    @click.option("--policy", "policy_file", type=click.Path(dir_okay=False), default=None, help="Policy file: severities per check and waivers with reasons (default: $PORTABLE_POLICY, else portable-policy.yaml beside the manifest).")
    @click.option("--fail-on", "fail_on", type=click.Choice(["error", "warning", "note"]), default="error", show_default=True, help="Exit 2 when an unwaived finding is this severe or worse.")
    @_handle_errors
    def check(file: str, target: str, output: str, policy_file: str | None, fail_on: str) -> None:
        """Check the manifest against the security policy, for one target (reads no target)."""
        from portable.check import check_app, load_policy, policy_for
        from pathlib import Path

        from portable.check.report import json_report, sarif_report, text_report
        from portable.check.run import failing
        from portable.session import Session

        env = _env()
        session = Session.open(file, env=env)
        policy = load_policy(policy_file, env) if policy_file else policy_for(Path(session.loaded.path), env)
        app = session.app(target)
        findings = check_app(session.loaded, app, policy)
        if output == "sarif":
            click.echo(sarif_report(findings))
        elif output == "json":
            click.echo(json_report(findings, app.name, target, fail_on))
        else:
            click.echo(text_report(findings, app.name, target, fail_on))
        if failing(findings, fail_on):
            raise SystemExit(2)

    return check
