"""Add many variables or linear rows to a MathOpt model in one call.

MathOpt's Python API normalises one expression object per row; at national scale that was most
of the model build (about 1 s of 1.2 s at 5,000 plots). These helpers set the same attributes in
bulk on the model's C++ storage (``Model._elemental``, OR-Tools 9.15), which yields the very same
model: ``tests/test_model_bulk.py`` exports both paths and compares the protos. Where that
storage is missing (another OR-Tools release) they fall back to the public API, row by row.
``Built.arrays()`` reads the built model back from the same storage (``readable_storage``),
falling back to the exported proto.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise, repeat
from operator import attrgetter

import numpy as np
from ortools.math_opt.python import mathopt

try:  # the storage behind mathopt.Model; private, hence the fallback below
    from ortools.math_opt.elemental.python import enums
except ImportError:  # pragma: no cover - depends on the OR-Tools release
    enums = None


def _storage(model: mathopt.Model) -> object | None:
    store = getattr(model, "_elemental", None)
    if enums is None or store is None or not hasattr(store, "set_attrs"):
        return None
    return store


_GETTERS = ("get_elements", "get_element_names", "get_attr_non_defaults", "get_attrs", "get_attr")


def readable_storage(model: mathopt.Model) -> object | None:
    """The model's storage if it has the bulk getters that ``Arrays.of_storage``
    (planner.model.certificate) reads; None (read the exported proto instead) otherwise."""
    store = _storage(model)
    if store is None or not all(hasattr(store, name) for name in _GETTERS):
        return None
    return store


def add_variable_ids(
    model: mathopt.Model,
    lb: np.ndarray,
    ub: np.ndarray,
    integer: np.ndarray,
    names: Sequence[str] | np.ndarray,
    *,
    fast: bool = True,
) -> np.ndarray:
    """Add ``len(names)`` variables with the given bounds and integrality, in order; their
    ids. Not Variables: a Python Variable per column (and the collections 55,000 of them set
    off) was half the build at 5,000 plots, and the rows take ids (``add_rows``);
    ``variables_of`` makes Variables where a caller needs them."""
    lb = np.asarray(lb, dtype=float)
    ub = np.asarray(ub, dtype=float)
    integer = np.asarray(integer, dtype=bool)
    store = _storage(model) if fast else None
    if store is None or not len(names):
        made = [
            model.add_variable(lb=float(lo), ub=float(hi), is_integer=bool(i), name=str(name))
            for lo, hi, i, name in zip(lb, ub, integer, names, strict=True)
        ]
        return np.fromiter((x.id for x in made), dtype=np.int64, count=len(made))
    ids = _add_named(store, enums.ElementType.VARIABLE, names)
    _set_new(store, enums.DoubleAttr1.VARIABLE_LOWER_BOUND, ids, lb, -np.inf)
    _set_new(store, enums.DoubleAttr1.VARIABLE_UPPER_BOUND, ids, ub, np.inf)
    _set_new(store, enums.BoolAttr1.VARIABLE_INTEGER, ids, integer, False)
    return ids


def _set_new(
    store: object, attr: object, ids: np.ndarray, values: np.ndarray, default: object
) -> None:
    """Set an attribute of new elements, leaving out those at the storage's default (which a
    new element has): the care assignments' upper bounds and integrality (40,387 each) need no
    call."""
    differ = values != default
    if differ.all():
        store.set_attrs(attr, ids.reshape(-1, 1), values)
    elif differ.any():
        store.set_attrs(attr, ids[differ].reshape(-1, 1), values[differ])


def variables_of(model: mathopt.Model, ids: np.ndarray) -> list[mathopt.Variable]:
    """The model's Variables of these ids: what ``model.get_variable(id, validate=False)``
    makes, without a method call per id where the storage is there (3x quicker)."""
    store = _storage(model)
    if store is None:
        return [model.get_variable(i) for i in np.asarray(ids).tolist()]
    return list(map(mathopt.Variable, repeat(store, len(ids)), np.asarray(ids).tolist()))


def ids_of(variables: Sequence[mathopt.Variable]) -> np.ndarray:
    """The ids of these Variables, in order."""
    return np.fromiter(map(attrgetter("id"), variables), dtype=np.int64, count=len(variables))


def add_rows(
    model: mathopt.Model,
    lb: np.ndarray,
    ub: np.ndarray,
    row: np.ndarray,
    var: Sequence[mathopt.Variable] | np.ndarray,
    coef: np.ndarray,
    names: Sequence[str] | np.ndarray | None = None,
    *,
    fast: bool = True,
) -> None:
    """Add ``len(lb)`` rows ``lb[i] <= sum coef[k] x var[k] over row[k] == i <= ub[i]``.

    Entries are given in COO form, one per (row, variable); a variable listed twice in a row has
    its coefficients summed, as an expression would.
    """
    lb = np.asarray(lb, dtype=float)
    ub = np.asarray(ub, dtype=float)
    n = len(lb)
    names = names if names is not None else [""] * n
    row = np.asarray(row, dtype=np.int64)
    var_ids = np.asarray(var, dtype=np.int64) if isinstance(var, np.ndarray) else ids_of(var)
    coef = np.asarray(coef, dtype=float)
    row, var_ids, coef = _summed(row, var_ids, coef)
    store = _storage(model) if fast else None
    if store is None:
        _add_rows_public(model, lb, ub, row, var_ids, coef, names)
        return
    ids = _add_named(store, enums.ElementType.LINEAR_CONSTRAINT, names)
    _set_new(store, enums.DoubleAttr1.LINEAR_CONSTRAINT_LOWER_BOUND, ids, lb, -np.inf)
    _set_new(store, enums.DoubleAttr1.LINEAR_CONSTRAINT_UPPER_BOUND, ids, ub, np.inf)
    if len(coef):
        store.set_attrs(
            enums.DoubleAttr2.LINEAR_CONSTRAINT_COEFFICIENT,
            np.column_stack([ids[row], var_ids]),
            coef,
        )


def set_linear_objective(
    model: mathopt.Model,
    var_ids: np.ndarray,
    coef: np.ndarray,
    *,
    maximize: bool,
    fast: bool = True,
) -> None:
    """The objective ``sum coef[k] x var[k]``, as ``model.maximize``/``minimize`` of that sum
    sets it (duplicates summed, zeros left out), in one call rather than one per variable."""
    var_ids, coef = np.asarray(var_ids, dtype=np.int64), np.asarray(coef, dtype=float)
    _, var_ids, coef = _summed(np.zeros(len(var_ids), dtype=np.int64), var_ids, coef)
    store = _storage(model) if fast else None
    if store is None:
        expr = mathopt.fast_sum(
            float(c) * model.get_variable(k)
            for k, c in zip(var_ids.tolist(), coef.tolist(), strict=True)
        )
        model.set_objective(expr, is_maximize=maximize)
        return
    model.objective.clear()
    model.objective.offset = 0.0
    if len(coef):
        store.set_attrs(
            enums.DoubleAttr1.OBJECTIVE_LINEAR_COEFFICIENT, var_ids.reshape(-1, 1), coef
        )
    model.objective.is_maximize = maximize


def bracketed(prefix: str, *keys: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The names ``f"{prefix}[{a},{b},...]"`` with a = table_a[at_a], ... for keys
    (table, at), as the NumPy unicode array the storage reads (``_add_named``).

    Each table's entries are made text once and then taken, where f-strings made a Python
    string per name and ``_add_named`` converted them again (40,387 assignment names: 1.6
    against 3.4 ms). The same strings: ``astype(str)`` is ``str()`` of each entry, as an
    f-string's ``{}``.
    """
    out: np.ndarray | None = None
    for k, (table, at) in enumerate(keys):
        text = np.char.add(f"{prefix}[" if k == 0 else ",", np.asarray(table).astype(str))
        if k == len(keys) - 1:
            text = np.char.add(text, "]")
        text = text[np.asarray(at, dtype=np.int64)]
        out = text if out is None else np.char.add(out, text)
    assert out is not None, "bracketed needs a key"
    return out


def _add_named(store: object, kind: object, names: Sequence[str] | np.ndarray) -> np.ndarray:
    """New elements with these names, ids in order.

    The storage reads a NumPy unicode array at its full width, so a name shorter than the longest
    would gain trailing NULs; each run of names of one length therefore goes in its own call.
    """
    text = np.asarray(names, dtype=str)
    if not text.size:
        return np.zeros(0, dtype=np.int64)
    length = np.char.str_len(text)
    cuts = [0, *(np.flatnonzero(np.diff(length)) + 1).tolist(), len(text)]
    parts = []
    for start, end in pairwise(cuts):
        width = int(length[start])
        if width == 0:
            parts.append(store.add_elements(kind, end - start))
        else:  # a slice, not copied where it has that width already (40,000 names: 2.5 ms)
            run = text[start:end].astype(f"U{width}", copy=False)
            parts.append(store.add_named_elements(kind, run))
    return np.concatenate(parts)


def _summed(
    row: np.ndarray, var_ids: np.ndarray, coef: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum duplicate (row, variable) entries and drop zeros, keeping first-seen order."""
    if not len(row):
        return row, var_ids, coef
    width = int(var_ids.max()) + 1 if len(var_ids) else 1
    keys = row * width + var_ids  # one integer per (row, variable): a 1-D unique is quicker
    ordered = np.sort(keys)  # a plain sort finds duplicates quicker than a stable unique
    if (ordered[1:] == ordered[:-1]).any():
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        total = np.zeros(len(unique))
        np.add.at(total, inverse.ravel(), coef)
        order = np.argsort(first, kind="stable")
        row, var_ids, coef = unique[order] // width, unique[order] % width, total[order]
    keep = coef != 0
    return row[keep], var_ids[keep], coef[keep]


def _add_rows_public(
    model: mathopt.Model,
    lb: np.ndarray,
    ub: np.ndarray,
    row: np.ndarray,
    var_ids: np.ndarray,
    coef: np.ndarray,
    names: Sequence[str] | np.ndarray,
) -> None:
    """The same rows through the public API (slow; the reference for the fast path)."""
    order = np.argsort(row, kind="stable")
    starts = np.searchsorted(row[order], np.arange(len(lb) + 1))
    for i in range(len(lb)):
        idx = order[starts[i] : starts[i + 1]]
        expr = mathopt.fast_sum(
            float(c) * model.get_variable(int(k))
            for k, c in zip(var_ids[idx], coef[idx], strict=True)
        )
        model.add_linear_constraint(lb=float(lb[i]), ub=float(ub[i]), expr=expr, name=str(names[i]))
