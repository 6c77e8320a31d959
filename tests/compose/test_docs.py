"""docs/compose.md is generated from the importer's own key table: it cannot drift."""
from __future__ import annotations

from portable.compose.docs import DOC_FILE, document
from portable.compose.keys import RULES


def test_docs_are_current() -> None:
    assert DOC_FILE.read_text() == document(), "stale: run `python -m portable.compose.docs`"


def test_docs_list_every_key_of_the_table() -> None:
    text = DOC_FILE.read_text()
    assert [r.key for r in RULES if f"| `{r.key}` |" not in text] == []
