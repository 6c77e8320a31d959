"""The sh both sides of a fed first-start restore speak: the new instance waits, portable
writes the archives it opened into the volume, then the marker that ends the wait.

Used where a migration's sealed archives (AES-256-GCM, sealed.py) reach a new instance
without a URL, a key or an unsealed copy on the target: a Kubernetes init container fed
through exec stdin (providers/kubernetes/feed.py), a libcloud node fed over SSH
(providers/vm/archive_push.py). Whatever the channel, the rules are those of the URL script
(restore_script.py): a marker named after the last archive's checksum makes a restart a no-op,
and a volume that holds data is never written over, unless portable itself left it half-fed
(FEEDING present), in which case the instance waits again and portable writes it again.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from portable.data.restore_script import MARKER

FEEDING = ".portable-feeding"  # present while portable writes archives: the data is not the user's
NOT_OVER_DATA = 4  # exit code of the first feed command when the volume already holds data
ALREADY_DONE = 10  # its exit code when the volume is restored already (a rerun, a restarted instance)
WAIT_LIMIT_S = 1800  # an instance nobody feeds gives up (a pod is restarted and waits again)


def final_marker(archives: Sequence[Mapping[str, Any]]) -> str:
    return f"{MARKER}-{str(archives[-1]['sha256'])[:16]}"


def holds_data(dest: str) -> str:
    """sh test: `dest` holds something other than lost+found and portable's own files."""
    return f'[ -n "$(ls -A {dest} 2>/dev/null | grep -v "^lost+found$" | grep -v "^\\.portable-")" ]'


def wait_lines(volume: str, archives: Sequence[Mapping[str, Any]], dest: str, *, channel: str, give_up: str,
               ready_flag: str | None = None) -> list[str]:
    """sh lines that return at once when the volume in `dest` (an sh word) is restored or holds
    data, else wait, bounded, for the last archive's marker. `ready_flag` (a path) is touched
    once waiting, for a feeder that must not write before the volume is in place; `give_up`
    (an sh function that exits) is called with the message after WAIT_LIMIT_S."""
    q = shlex.quote
    marker = f"{dest}/{final_marker(archives)}"
    lines = [f"# portable writes: {a.get('key', '?')} (sha256 {a['sha256']})" for a in archives]
    lines += [
        f"if [ -e {marker} ]; then",
        f"  echo {q(f'portable: volume {volume} already restored')}",
        f"elif [ ! -e {dest}/{FEEDING} ] && {holds_data(dest)}; then",
        f"  echo {q(f'portable: volume {volume} already holds data; not restoring over it')}",
        "else",
        f"  echo {q(f'portable: volume {volume} waits for its {len(archives)} archive(s), written {channel}')}",
    ]
    if ready_flag:
        lines.append(f"  touch {ready_flag}")
    lines += [
        "  waited=0",
        f"  until [ -e {marker} ]; do",
        "    waited=$((waited + 1))",
        f"    if [ \"$waited\" -gt {WAIT_LIMIT_S} ]; then {give_up} {q(f'no archive of volume {volume} arrived within {WAIT_LIMIT_S}s')}; fi",
        "    sleep 1",
        "  done",
    ]
    if ready_flag:
        lines.append(f"  rm -f {ready_flag}")
    lines += [f"  echo {q(f'portable: volume {volume} restored')}", "fi"]
    return lines


def begin_lines(marker: str) -> list[str]:
    """The first feed command's guard, run in the volume's directory: done already (exit
    ALREADY_DONE), the user's data (exit NOT_OVER_DATA), else FEEDING is set."""
    q = shlex.quote
    return [
        f"if [ -e {q(marker)} ]; then exit {ALREADY_DONE}; fi",
        f"if [ ! -e {FEEDING} ] && {holds_data('.')}; then exit {NOT_OVER_DATA}; fi",
        f"touch {FEEDING}",
    ]


def deleted_lines(deleted: Sequence[str]) -> list[str]:
    """A delta's deleted paths removed, in the volume's directory, after it is unpacked."""
    q = shlex.quote
    return ["rm -rf -- " + " ".join(q(str(p)) for p in deleted)] if deleted else []


def end_lines(marker: str) -> list[str]:
    """After the last archive, in the volume's directory: the index dropped, FEEDING cleared,
    then the marker that ends the wait."""
    return [f"rm -f {FEEDING} .portable-index.json", f"touch {shlex.quote(marker)}"]
