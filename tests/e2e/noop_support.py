"""What the no-change check's lab tests share: the CLI run in a new process of this interpreter,
every run of a test alike, printing which heavy modules it imported."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# runs the CLI in this interpreter and prints which of the modules named after it were imported
_IN_PROCESS = """
import sys
from portable.cli.main import main
heavy = sys.argv[1].split(",")
sys.argv = ["portable", *sys.argv[2:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("imported:", ",".join(m for m in heavy if m in sys.modules))
sys.exit(code)
"""


def in_process_argv(heavy: Sequence[str], *args: str) -> list[str]:
    """argv of `portable ARGS` that ends by printing `imported: ` and the `heavy` modules it loaded."""
    return [sys.executable, "-c", _IN_PROCESS, ",".join(heavy), *args]


def steady_environ() -> dict[str, str]:
    """This process's environment without what pytest changes between a test's phases (the
    witness covers the whole environment)."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
