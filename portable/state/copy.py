"""`portable state migrate`: every app's history copied from one store to another.

Each (app, target) pair is copied under its lock in both stores (so no deploy writes to
either meanwhile), verbatim (numbers, statuses, times, resources), then read back from the
destination and compared by count and sha256 digest. The source is only read. A pair the
destination already holds with the same digests is skipped (a rerun finishes a copy that
stopped); one it holds with a different history stops the copy before anything is written.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from portable.errors import InputError, StateError
from portable.state.store import Progress, Revision, StateStore


@dataclass(frozen=True)
class PairCopy:
    app: str
    target: str
    revisions: int
    digest: str  # sha256 over the revisions' digests, in order
    skipped: bool  # the destination already had exactly this history


@dataclass
class CopyReport:
    source: str
    destination: str
    pairs: list[PairCopy] = field(default_factory=list)

    @property
    def revisions(self) -> int:
        return sum(p.revisions for p in self.pairs)


def history_digest(revisions: list[Revision]) -> str:
    h = hashlib.sha256()
    for r in revisions:
        h.update(r.digest().encode())
    return h.hexdigest()


def copy_store(source: StateStore, destination: StateStore, *, wait: float = 30.0, progress: Progress | None = None) -> CopyReport:
    """Copies every pair's history; raises StateError when a check after copying fails."""
    if source.url == destination.url:
        raise InputError(f"the source and the destination are the same store ({source.url})")
    pairs = [(r.app, r.target) for r in source.deployments()]
    report = CopyReport(source.url, destination.url)
    for app, target in pairs:  # refuse before writing anything: a different history is never merged
        theirs = destination.history(app, target)
        if theirs and history_digest(theirs) != history_digest(source.history(app, target)):
            raise InputError(
                f"{destination.url} already holds a different history for {app} on target {target} ({len(theirs)} revisions): nothing was copied",
                hint="migrate into an empty store (for PostgreSQL another ?schema=, for S3 another prefix)",
            )
    for app, target in pairs:
        with source.lock(app, target, "state migrate", wait=wait, progress=progress, read_only=True), \
                destination.lock(app, target, "state migrate", wait=wait, progress=progress, read_only=True):
            revisions = source.history(app, target)
            digest = history_digest(revisions)
            theirs = destination.history(app, target)
            skipped = bool(theirs)
            if not skipped:
                destination.import_history(app, target, revisions)
                theirs = destination.history(app, target)
            if len(theirs) != len(revisions) or history_digest(theirs) != digest:
                raise StateError(
                    f"copying {app} on target {target} to {destination.url} did not verify: {len(revisions)} revisions in the source, "
                    f"{len(theirs)} read back, digests {'equal' if history_digest(theirs) == digest else 'differ'}",
                    hint="the source is untouched; check the destination, then run state migrate again",
                )
            destination.app_key(app, source.app_key(app))  # same digests, so nothing rolls after the move
        report.pairs.append(PairCopy(app, target, len(revisions), digest, skipped))
        if progress is not None:
            progress(f"{app} on {target}: {len(revisions)} revisions {'already there' if skipped else 'copied'}, sha256 {digest[:16]}")
    return report
