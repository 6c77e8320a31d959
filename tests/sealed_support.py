"""Opening a sealed archive of the blob store in a test, as `portable restore` would.

Archives are sealed at rest with the app's key from the state store (portable/data/sealed.py,
archive_keys.py). `opened(archive)` finds both from where the archive lies when not given: a
directory blob store is `<manifest dir>/.portable/archives/<app>/<id>/<file>`, and `backup`
without --state keeps its key in `<manifest dir>/.portable/state.db`."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portable.data.archive_keys import ArchiveKeys
from portable.state import open_store


@contextmanager
def opened(archive: Path, *, app: str | None = None, state: Path | None = None) -> Iterator[Path]:
    """The plaintext (gzip'd tar) of `archive`, authenticated, in a scratch file removed after."""
    dot_portable = next(p for p in archive.resolve().parents if p.name == ".portable")
    name = app or archive.resolve().parent.parent.name
    store = state or dot_portable / "state.db"
    keys = ArchiveKeys(None, name, lambda: open_store(str(store)).app_key(name))
    with keys.plaintext(archive, dot_portable / "tmp", expect_sealed=True) as plain:
        yield plain
