"""`plan --detailed-exitcode`: the exit status scripts branch on, as terraform's.

0: the target matches the manifest; 1: an error (whatever its usual code, so that 2 keeps
one meaning); 2: the plan has actions or the target drifted (changed outside portable).
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from portable.plan.plan import Plan

NO_CHANGES, ERROR, CHANGES = 0, 1, 2


@contextmanager
def errors_exit_1(detailed: bool) -> Iterator[None]:
    """With `detailed`, every portable error (bad input too, normally 2) exits 1."""
    from portable.errors import PortableError

    try:
        yield
    except PortableError as exc:
        if detailed:
            exc.exit_code = ERROR
        raise
    except SystemExit as exc:  # a check that already printed its sentence and chose a code
        if detailed and exc.code not in (None, 0):
            raise SystemExit(ERROR) from None
        raise


def exit_for(plan: Plan, detailed: bool) -> None:
    """Exits 2 when `detailed` and the plan changes something or found drift; else returns."""
    if detailed and plan.has_changes:
        sys.exit(CHANGES)
