"""NumPy helpers for tables held as runs of rows (a plot's reach pairs of one type, a region's
plots): shared by the instance, reach-pair, greedy and model code."""

from __future__ import annotations

import numpy as np


def spans(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The ranges first[i], ..., first[i] + count[i] - 1, one after the other (int64)."""
    first, count = np.asarray(first, dtype=np.int64), np.asarray(count, dtype=np.int64)
    offset = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(count) - count, count
    )
    return np.repeat(first, count) + offset


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """Where a run of rows equal in every key starts (True for the first row of each run)."""
    starts = np.zeros(len(keys[0]), dtype=bool)
    starts[:1] = True
    for key in keys:
        starts[1:] |= key[1:] != key[:-1]
    return starts


def flagged_before(starts: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Per row, how many rows of its run (``run_starts``) before it are flagged."""
    flags = np.asarray(flags, dtype=np.int64)
    before = np.cumsum(flags) - flags  # flagged rows before it, in all runs
    return before - before[starts][np.cumsum(starts) - 1]
