"""The pieces of portable/cli/main.py that every command module builds its commands with:
the environment from `--env-file`, the error handling that turns exceptions into exit codes,
and the shared options (-f, -t, --state, -o, --lock-timeout).

A command module is handed the main module rather than importing it (main imports the
command modules to register them), and takes these pieces in one line, typed, instead of
copying seven attribute lookups.
"""
from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class MainOptions(NamedTuple):
    env: Callable[[], dict[str, str] | None]
    handle_errors: Decorator
    file_option: Decorator
    target_option: Decorator
    state_option: Decorator
    output_option: Decorator
    lock_timeout_option: Decorator


def main_options(main: ModuleType) -> MainOptions:
    """The pieces of `main` (portable/cli/main.py), in the order the fields above name them."""
    return MainOptions(main._env, main._handle_errors, main.file_option, main.target_option, main.state_option,
                       main.output_option, main.lock_timeout_option)
