"""The figures table itself: counts add up per target and unknown columns are refused."""
from __future__ import annotations

import pytest
from figures import COLUMNS, _counts, record, table


def test_counts_add_up_per_target_and_unknown_columns_are_refused() -> None:
    saved = {t: dict(r) for t, r in _counts.items()}
    _counts.clear()
    try:
        record("docker", crash_points_tried=2, orphans_found=0)
        record("docker", crash_points_tried=3)
        record("aws", fault_runs=1)
        lines = table()
        assert lines[0].startswith("| target | " + COLUMNS["crash_points_tried"])
        assert "| docker | 5 | 0 | 0 |" in lines
        assert "| aws | 0 | 0 | 1 |" in lines
        with pytest.raises(KeyError, match="unknown hardening figure 'crashes'"):
            record("docker", crashes=1)
    finally:
        _counts.clear()
        for t, r in saved.items():
            _counts[t].update(r)
