"""planner.arrays against plain Python loops."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.arrays import flagged_before, run_starts, spans


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 4)), max_size=12))
def test_spans_are_the_ranges_one_after_the_other(ranges: list[tuple[int, int]]) -> None:
    first = np.array([f for f, _ in ranges], dtype=np.int64)
    count = np.array([c for _, c in ranges], dtype=np.int64)
    expected = [i for f, c in ranges for i in range(f, f + c)]
    got = spans(first, count)
    assert got.dtype == np.int64 and got.tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.booleans()), max_size=30))
def test_runs_and_the_flagged_rows_before_each_row(rows: list[tuple[int, int, bool]]) -> None:
    a = np.array([r[0] for r in rows], dtype=np.int64)
    b = np.array([r[1] for r in rows], dtype=np.int64)
    flags = np.array([r[2] for r in rows], dtype=bool)
    starts = run_starts(a, b)
    expected_starts, expected_before, seen = [], [], 0
    for i, (x, y, flag) in enumerate(rows):
        start = i == 0 or (x, y) != rows[i - 1][:2]
        seen = 0 if start else seen
        expected_starts.append(start)
        expected_before.append(seen)
        seen += flag
    assert starts.tolist() == expected_starts
    assert flagged_before(starts, flags).tolist() == expected_before
