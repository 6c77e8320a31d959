"""The POSIX sh that fills a volume from archives it fetches by URL, on targets that restore
from inside at first boot (aws, libcloud with --plaintext-transit). Docker restores through
its API; Kubernetes and vSphere are handed the archives during the deploy (`is_fed`).

Idempotent: a marker named after the last archive's checksum makes reruns (pod restarts,
reboots) a no-op, and a volume that already holds data is never overwritten. Each archive's
SHA-256 is checked before it is unpacked; a delta's deleted paths are removed after.
"""
from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

MARKER = ".portable-restored"


def is_fed(archives: Sequence[Mapping[str, object]]) -> bool:
    """A migration hands these archives over itself during the deploy (each names a file on
    the machine running portable, not a URL): the target's first start waits for them
    instead of fetching them (Kubernetes' init containers, vSphere's guest uploads)."""
    return bool(archives) and all(a.get("local") for a in archives)


def render_restore_script(volume: str, mount: str, archives: Sequence[Mapping[str, object]]) -> str:
    """sh that restores `archives` (in order) into `mount`; needs wget, sha256sum, tar, gzip."""
    last = str(archives[-1]["sha256"]) if archives else "none"
    q = shlex.quote
    lines = [
        "set -eu",
        f"dest={q(mount)}",
        f'marker="$dest/{MARKER}-{last[:16]}"',
        'if [ -e "$marker" ]; then echo "portable: volume ' + volume + ' already restored"; exit 0; fi',
        'if [ -n "$(ls -A "$dest" 2>/dev/null | grep -v "^lost+found$" | grep -v "^' + MARKER + '")" ]; then',
        '  echo "portable: volume ' + volume + ' already holds data; not restoring over it"; exit 0',
        "fi",
        "tmp=$(mktemp)",
    ]
    for a in archives:
        url, sha = str(a["url"]), str(a["sha256"])
        lines += [
            f"echo {q('portable: restoring ' + volume + ' from ' + str(a.get('key', url)))}",
            f"wget -q -O \"$tmp\" {q(url)} || curl -fsSL -o \"$tmp\" {q(url)}",
            f"echo {q(sha + '  ')}\"$tmp\" | sha256sum -c -",
            'tar -xzf "$tmp" -C "$dest"',
        ]
        listed = a.get("deleted") or []
        deleted = [str(p) for p in listed] if isinstance(listed, (list, tuple)) else []
        if deleted:
            lines.append("cd \"$dest\" && rm -rf -- " + " ".join(q(p) for p in deleted) + " && cd /")
    lines += [
        'rm -f "$tmp" "$dest/.portable-index.json"',
        'touch "$marker"',
        f"echo {q('portable: volume ' + volume + ' restored')}",
    ]
    return "\n".join(lines) + "\n"
