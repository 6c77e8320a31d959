"""The README's table of common options says exactly which commands take each option."""
from __future__ import annotations

import re
from pathlib import Path

import click

from portable.cli.main import cli

README = Path(__file__).resolve().parents[2] / "README.md"
OPTION_NAMES = {"-t, --target NAME": "--target", "--state STORE": "--state", "-o json": "--output", "--detailed-exitcode": "--detailed-exitcode"}


def _commands() -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, cmd in cli.commands.items():
        if isinstance(cmd, click.Group):
            out.update({f"{name} {sub}": c for sub, c in cmd.commands.items()})
        else:
            out[name] = cmd
    return out


def _takes(cmd: click.Command, flag: str) -> bool:
    for p in cmd.params:
        if isinstance(p, click.Option) and flag in p.opts:
            # `-o json` is the output format; `import -o FILE` names a file
            return flag != "--output" or (isinstance(p.type, click.Choice) and "json" in p.type.choices)
    return False


def _table() -> dict[str, str]:
    rows = {}
    for line in README.read_text().splitlines():
        m = re.match(r"\| `([^`]+)` \| [^|]+ \| (.+) \|$", line)
        if m and m.group(1) in OPTION_NAMES:
            rows[m.group(1)] = m.group(2)
    return rows


def test_every_listed_command_takes_the_option_and_no_other_does() -> None:
    table = _table()
    assert set(table) == set(OPTION_NAMES)
    commands = _commands()
    for label, flag in OPTION_NAMES.items():
        listed = re.sub(r"\([^)]*\)", "", table[label])
        named = {c.strip() for c in listed.split(",")}
        group_all = {n for n in named if n.endswith(" ...")}
        expected = {n for n in named if not n.endswith(" ...")}
        for group in group_all:
            prefix = group[: -len(" ...")] + " "
            expected |= {c for c in commands if c.startswith(prefix) and _takes(commands[c], flag)}
        actual = {name for name, cmd in commands.items() if _takes(cmd, flag)}
        assert actual == expected, f"README says {label} for {sorted(expected)}; the CLI has it on {sorted(actual)}"


def test_every_command_but_import_and_completion_takes_file() -> None:
    commands = _commands()
    missing = sorted(n for n, c in commands.items() if not _takes(c, "--file") and n not in ("import", "completion"))
    assert missing == [], f"README says every command but import and completion takes -f; these do not: {missing}"
