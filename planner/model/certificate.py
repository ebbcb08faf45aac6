"""A proven bound without a solve: the Lagrangian bound of the model at given row prices.

For a model  max c'x  s.t.  lr <= Ax <= ur,  lx <= x <= ux  (integrality dropped: that only
relaxes it) and any row prices y, every feasible x has

    c'x = y'Ax + (c - A'y)'x  <=  sum_i (ur_i max(y_i, 0) + lr_i min(y_i, 0))
                                  + sum_j max over [lx_j, ux_j] of (c_j - a_j'y) x_j,

so the right-hand side, L(y), bounds the optimum from above (minimising: the same with the
signs turned). It holds for *any* y; the closer y is to the LP's optimal prices, the tighter.
A re-run after a small change has such prices at hand: every run keeps those of the LP
relaxation (the polish's guiding LP, or ``relaxation_prices``) and of its pricing LP
(planner.why_unused); 5,000 plots: L = 9,543.61 = the LP optimum, against an allocation of
9,521.03. Prices are matched to the new
model's rows by name; rows that are new get price 0, rows that are gone drop out. If the
earlier allocation (repaired where the change broke it) is within the scenario's gap of L, it
is proven good enough without calling the solver (AllocationModel._certified).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arrays:
    """A MathOpt model proto as NumPy arrays (rows and columns in the proto's order)."""

    var_ids: np.ndarray
    var_names: np.ndarray
    row_ids: np.ndarray
    row_names: np.ndarray
    matrix: sp.csr_matrix
    objective: np.ndarray
    offset: float
    maximize: bool
    lx: np.ndarray
    ux: np.ndarray
    lr: np.ndarray
    ur: np.ndarray

    @classmethod
    def of(cls, proto: Any) -> Arrays:
        var_ids = np.asarray(proto.variables.ids, dtype=np.int64)
        row_ids = np.asarray(proto.linear_constraints.ids, dtype=np.int64)
        matrix = _matrix(proto.linear_constraint_matrix, row_ids, var_ids)
        objective = np.zeros(len(var_ids))
        lin = proto.objective.linear_coefficients
        objective[np.searchsorted(var_ids, np.asarray(lin.ids, dtype=np.int64))] = np.asarray(
            lin.values, dtype=float
        )
        names = list(proto.linear_constraints.names) or [""] * len(row_ids)
        columns = list(proto.variables.names) or [""] * len(var_ids)
        return cls(
            var_ids=var_ids,
            var_names=np.asarray(columns, dtype=object),
            row_ids=row_ids,
            row_names=np.asarray(names, dtype=object),
            matrix=matrix,
            objective=objective,
            offset=float(proto.objective.offset),
            maximize=bool(proto.objective.maximize),
            lx=np.asarray(proto.variables.lower_bounds, dtype=float),
            ux=np.asarray(proto.variables.upper_bounds, dtype=float),
            lr=np.asarray(proto.linear_constraints.lower_bounds, dtype=float),
            ur=np.asarray(proto.linear_constraints.upper_bounds, dtype=float),
        )

    @classmethod
    def of_storage(cls, store: Any) -> Arrays:
        """``Arrays.of(model.export_model())`` read straight from the model's C++ storage
        (``Model._elemental``, OR-Tools 9.15; see planner.model.bulk), which hands out ids,
        names and values as NumPy arrays: no proto is exported and no Python string is made
        per name from it (5,000 plots: 0.02 s against 0.055 s). The same arrays, checked by
        tests/test_model_arrays.py; only a name ending in a NUL character would lose it (NumPy
        text drops trailing NULs; the bulk build cannot make such a name either)."""
        from ortools.math_opt.elemental.python import enums

        var, row = enums.ElementType.VARIABLE, enums.ElementType.LINEAR_CONSTRAINT
        bound, entry = enums.DoubleAttr1, enums.DoubleAttr2.LINEAR_CONSTRAINT_COEFFICIENT
        var_ids = np.sort(store.get_elements(var))  # the proto's order: by id
        row_ids = np.sort(store.get_elements(row))
        columns, rows = var_ids.reshape(-1, 1), row_ids.reshape(-1, 1)
        keys = store.get_attr_non_defaults(entry).reshape(-1, 2)  # (row id, variable id)
        matrix = sp.csr_matrix(
            (
                store.get_attrs(entry, keys),
                (_positions(row_ids, keys[:, 0]), _positions(var_ids, keys[:, 1])),
            ),
            shape=(len(row_ids), len(var_ids)),
        )
        matrix.sort_indices()  # stored in hash order; the proto's is by row, then column
        terms = store.get_attr_non_defaults(bound.OBJECTIVE_LINEAR_COEFFICIENT).reshape(-1, 1)
        objective = np.zeros(len(var_ids))
        objective[_positions(var_ids, terms[:, 0])] = store.get_attrs(
            bound.OBJECTIVE_LINEAR_COEFFICIENT, terms
        )
        return cls(
            var_ids=var_ids,
            var_names=store.get_element_names(var, var_ids).astype(object),
            row_ids=row_ids,
            row_names=store.get_element_names(row, row_ids).astype(object),
            matrix=matrix,
            objective=objective,
            offset=float(store.get_attr(enums.DoubleAttr0.OBJECTIVE_OFFSET, ())),
            maximize=bool(store.get_attr(enums.BoolAttr0.MAXIMIZE, ())),
            lx=np.asarray(store.get_attrs(bound.VARIABLE_LOWER_BOUND, columns), dtype=float),
            ux=np.asarray(store.get_attrs(bound.VARIABLE_UPPER_BOUND, columns), dtype=float),
            lr=np.asarray(store.get_attrs(bound.LINEAR_CONSTRAINT_LOWER_BOUND, rows), dtype=float),
            ur=np.asarray(store.get_attrs(bound.LINEAR_CONSTRAINT_UPPER_BOUND, rows), dtype=float),
        )


def _positions(ids: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Positions of ``of`` in the sorted ``ids`` (the ids themselves when they are 0..n-1)."""
    if len(ids) and ids[0] == 0 and ids[-1] == len(ids) - 1:
        return of
    return np.searchsorted(ids, of)


def _matrix(mat: Any, row_ids: np.ndarray, var_ids: np.ndarray) -> sp.csr_matrix:
    """The proto's sparse matrix as CSR. MathOpt exports it sorted by row, then column, so the
    row pointers are counts and no sort is needed."""
    rows = _positions(row_ids, np.asarray(mat.row_ids, dtype=np.int64))
    cols = _positions(var_ids, np.asarray(mat.column_ids, dtype=np.int64))
    coef = np.asarray(mat.coefficients, dtype=float)
    shape = (len(row_ids), len(var_ids))
    if len(rows) > 1 and not (np.diff(rows) >= 0).all():  # not row-sorted: let scipy sort it
        return sp.csr_matrix((coef, (rows, cols)), shape=shape)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    return sp.csr_matrix((coef, cols, indptr), shape=shape)


def by_name(names: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
    """``values`` at each of ``names`` (0 where it has none or it is NaN, and for the empty
    name): one hash lookup in Arrow rather than a dict lookup per row or column (55,000 columns
    at 5,000 plots; a third of pandas' reindex time)."""
    keys = [key for key in values if key != ""]
    out = np.zeros(len(names))
    if not keys or not len(names):
        return out
    at = pc.index_in(pa.array(names, pa.string()), value_set=pa.array(keys, pa.string()))
    found = at.is_valid().to_numpy(zero_copy_only=False)
    known = np.fromiter((values[key] for key in keys), float, len(keys))
    out[found] = known[at.drop_null().to_numpy()]
    return np.nan_to_num(out, nan=0.0, posinf=np.inf, neginf=-np.inf)


def prices_by_row(arrays: Arrays, prices: Mapping[str, float]) -> np.ndarray:
    """The price of each row of the model by its name (0 for rows without one)."""
    return by_name(arrays.row_names, prices)


def tightened(arrays: Arrays, y: np.ndarray) -> np.ndarray:
    """Prices with a tighter (never looser) L: each "link" row set to its smallest valid price.

    A link row here is an equality with right-hand side 0 whose positive entries are columns
    without an upper bound and whose negative entries are columns in [0, u]: the care rows,
    sum_j x_pj - s_p = 0. Lowering its price leaves the row term (0) alone, raises the reduced
    cost of the x columns (which must stay <= 0, else L is infinite) and lowers that of s_p, so
    L can only fall; the smallest price keeping every x column at <= 0 is the best. It matters
    where the pricing LP left a plot's care columns out (planner.why_unused prices support
    homes there by column generation): its care rows have no price, and s_p would look free.
    Works in the maximising form, as lagrangian_bound.
    """
    sense = 1.0 if arrays.maximize else -1.0
    y = sense * np.asarray(y, dtype=float)
    coo = arrays.matrix.tocoo()
    rows, cols, coef = coo.row, coo.col, coo.data
    unbounded = np.isinf(arrays.ux) & (arrays.lx == 0)
    bounded = np.isfinite(arrays.ux) & (arrays.lx == 0)
    ok_entry = np.where(coef > 0, unbounded[cols], bounded[cols])
    n = len(arrays.row_ids)
    bad = np.bincount(rows, weights=~ok_entry, minlength=n) > 0
    positives = np.bincount(rows, weights=coef > 0, minlength=n) > 0
    link = (arrays.lr == 0) & (arrays.ur == 0) & ~bad & positives
    if not link.any():
        return sense * y
    reduced = sense * arrays.objective - arrays.matrix.T @ y
    take = link[rows] & (coef > 0)
    # price at which column j's reduced cost is 0, all other rows' prices kept
    level = (reduced[cols[take]] + coef[take] * y[rows[take]]) / coef[take]
    best = np.full(n, -np.inf)
    np.maximum.at(best, rows[take], level)
    new = np.where(link & np.isfinite(best), np.minimum(best, y), y)
    check = sense * arrays.objective - arrays.matrix.T @ new
    if np.any(check[np.isinf(arrays.ux)] > 1e-9):  # a column shared by two link rows: keep y
        return sense * y
    return sense * new


def lagrangian_bound(arrays: Arrays, y: np.ndarray) -> float:
    """L(y) of the module docstring: a bound on the model's optimum (upper when maximising,
    lower when minimising); infinite when y leaves some column unbounded."""
    sense = 1.0 if arrays.maximize else -1.0
    # Work in the maximising form: max sense x c'x. MathOpt's prices are d(objective)/d(rhs) of
    # the model as stated, so they turn with the sense too.
    y = sense * np.asarray(y, dtype=float)
    up, down = np.maximum(y, 0.0), np.minimum(y, 0.0)
    if np.any((up > 0) & np.isinf(arrays.ur)) or np.any((down < 0) & np.isinf(arrays.lr)):
        # a price on a side the row does not have: drop those prices (any y is valid)
        up = np.where(np.isinf(arrays.ur), 0.0, up)
        down = np.where(np.isinf(arrays.lr), 0.0, down)
        y = up + down
    rows = float(np.dot(np.where(np.isinf(arrays.ur), 0.0, arrays.ur), up))
    rows += float(np.dot(np.where(np.isinf(arrays.lr), 0.0, arrays.lr), down))
    reduced = sense * arrays.objective - arrays.matrix.T @ y
    gain = np.where(reduced > 0, arrays.ux, arrays.lx)
    if np.any(np.isinf(gain[reduced != 0])):
        return math.inf * sense
    columns = float(np.dot(reduced[reduced != 0], gain[reduced != 0]))
    return sense * (rows + columns) + arrays.offset


def best_bound(
    arrays: Arrays, candidates: list[dict[str, float]]
) -> tuple[float, bool, dict[str, float] | None]:
    """The tightest L over the candidate price sets (each tightened), whether the model
    maximises, and the (tightened) prices that gave it."""
    sense = 1.0 if arrays.maximize else -1.0
    best, best_y = math.inf * sense, None
    for prices in candidates:
        y = tightened(arrays, prices_by_row(arrays, prices))
        bound = lagrangian_bound(arrays, y)
        if sense * bound < sense * best:
            best, best_y = bound, y
    if best_y is None:
        return best, arrays.maximize, None
    return best, arrays.maximize, _named(arrays.row_names, best_y)


def _solve_proto(proto: Any, params: Any, model_params: Any = None) -> Any:
    """HiGHS on a model proto through MathOpt's core; the result proto, not parsed."""
    from ortools.math_opt.core.python import solver
    from ortools.math_opt.python import callback, init_arguments, mathopt

    return solver.solve(
        proto,
        mathopt.SolverType.HIGHS.value,
        init_arguments.StreamableSolverInitArguments().to_proto(),
        params.to_proto(),
        (model_params or mathopt.ModelSolveParameters()).to_proto(),
        None,
        callback.CallbackRegistration().to_proto(),
        None,
        None,
    )


def _named(names: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Nonzero prices of named rows, by name."""
    keep = (y != 0.0) & (names != "")
    return dict(zip(names[keep].tolist(), y[keep].tolist(), strict=True))


def solve_with_prices(
    model: Any, proto: Any, params: Any, model_params: Any
) -> tuple[Any, dict[str, float]]:
    """``mathopt.solve`` of ``model`` (built from ``proto``, which has the row names) with HiGHS,
    and the row prices by name. The prices are read from the result proto as arrays and then
    left out of MathOpt's own parsing, which costs a Python object per row (38,000 rows at
    5,000 plots: a tenth of a second)."""
    from ortools.math_opt.python import result

    answer = _solve_proto(proto, params, model_params)
    rows = proto.linear_constraints
    y = _duals(answer, np.asarray(rows.ids, dtype=np.int64))
    for solution in answer.solutions:
        solution.dual_solution.dual_values.Clear()
    names = np.asarray(list(rows.names) or [""] * len(rows.ids), dtype=object)
    prices = {} if y is None else _named(names, y)
    return result.parse_solve_result(answer, model, validate=False), prices


def relaxation_prices(name: str, arrays: Arrays, seconds: float) -> dict[str, float] | None:
    """The LP relaxation's price per named row (nonzero ones), or None if it does not solve
    within ``seconds``: for runs where no guiding LP ran (planner.model.polish), so a re-run
    has tight prices. They only speed up a later re-run, so the caller caps their cost (the
    LP of OR-Library's capb takes 15 s, as long as its whole solve). ``arrays`` is the model's
    (``Built.arrays()``), ``name`` its name."""
    import datetime as dt

    from ortools.math_opt.python import mathopt

    params = mathopt.SolveParameters(
        lp_algorithm=mathopt.LPAlgorithm.DUAL_SIMPLEX, time_limit=dt.timedelta(seconds=seconds)
    )
    every = np.ones(len(arrays.var_ids), dtype=bool)
    solution = solve_lp(proto_of(name, arrays, every), arrays, params)
    if not solution.optimal or solution.y is None:
        log.info("no LP prices kept for a re-run: the LP relaxation did not solve in time")
        return None
    return _named(arrays.row_names, solution.y)


# --- LPs as arrays: the pricing LP derived from the built model, solved and checked ----------


def proto_of(name: str, arrays: Arrays, keep: np.ndarray) -> Any:
    """An LP model proto named ``name`` of ``arrays`` without row or column names, with only
    the columns ``keep`` marks (the others are fixed at 0: each has lower bound 0): made from
    the arrays alone, so a caller need not export the model's proto (``Built.proto()``).

    A row left without a column is left out too where 0 is within its bounds (it holds
    whatever the columns do; its price is 0, as ``solve_lp`` reads it): the LP over the columns
    a re-run's earlier prices leave in play has a quarter of its rows empty."""
    from ortools.math_opt import model_pb2

    out = model_pb2.ModelProto()
    out.name = name
    var_ids = arrays.var_ids[keep]
    out.variables.ids.extend(var_ids.tolist())
    out.variables.lower_bounds.extend(arrays.lx[keep].tolist())
    out.variables.upper_bounds.extend(arrays.ux[keep].tolist())
    out.variables.integers.extend([False] * len(var_ids))
    out.objective.maximize = arrays.maximize
    out.objective.offset = arrays.offset
    terms = np.flatnonzero(keep & (arrays.objective != 0))
    out.objective.linear_coefficients.ids.extend(arrays.var_ids[terms].tolist())
    out.objective.linear_coefficients.values.extend(arrays.objective[terms].tolist())
    coo = arrays.matrix[:, np.flatnonzero(keep)].tocoo()
    rows = (np.bincount(coo.row, minlength=len(arrays.row_ids)) > 0) | (arrays.lr > 0)
    rows |= arrays.ur < 0
    out.linear_constraints.ids.extend(arrays.row_ids[rows].tolist())
    out.linear_constraints.lower_bounds.extend(arrays.lr[rows].tolist())
    out.linear_constraints.upper_bounds.extend(arrays.ur[rows].tolist())
    order = np.lexsort((coo.col, coo.row))  # the proto wants row-major order
    out.linear_constraint_matrix.row_ids.extend(arrays.row_ids[coo.row[order]].tolist())
    out.linear_constraint_matrix.column_ids.extend(var_ids[coo.col[order]].tolist())
    out.linear_constraint_matrix.coefficients.extend(coo.data[order].tolist())
    return out


@dataclass(frozen=True)
class LpSolution:
    """An LP's outcome in the arrays' positions: termination, primal x (0 for columns left out)
    and row prices y (None without a dual feasible solution)."""

    optimal: bool
    infeasible: bool
    x: np.ndarray
    y: np.ndarray | None


def solve_lp(proto: Any, arrays: Arrays, params: Any) -> LpSolution:
    """Solve an LP proto with HiGHS through MathOpt's core, reading the values as arrays: no
    Python object per variable or row (54,676 columns and 38,269 rows at 5,000 plots)."""
    from ortools.math_opt import result_pb2

    answer = _solve_proto(proto, params)
    reason = answer.termination.reason
    x = np.zeros(len(arrays.var_ids))
    if len(answer.solutions) and answer.solutions[0].HasField("primal_solution"):
        values = answer.solutions[0].primal_solution.variable_values
        where = np.searchsorted(arrays.var_ids, np.asarray(values.ids, dtype=np.int64))
        x[where] = np.asarray(values.values, dtype=float)
    return LpSolution(
        optimal=reason == result_pb2.TERMINATION_REASON_OPTIMAL,
        infeasible=reason
        in (
            result_pb2.TERMINATION_REASON_INFEASIBLE,
            result_pb2.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED,
        ),
        x=x,
        y=_duals(answer, arrays.row_ids),
    )


def _duals(answer: Any, row_ids: np.ndarray) -> np.ndarray | None:
    """The row prices of a result proto in the order of ``row_ids``; None without a dual
    feasible solution."""
    from ortools.math_opt import solution_pb2

    if not len(answer.solutions) or not answer.solutions[0].HasField("dual_solution"):
        return None
    dual = answer.solutions[0].dual_solution
    if dual.feasibility_status != solution_pb2.SOLUTION_STATUS_FEASIBLE:
        return None
    y = np.zeros(len(row_ids))
    where = np.searchsorted(row_ids, np.asarray(dual.dual_values.ids, dtype=np.int64))
    y[where] = np.asarray(dual.dual_values.values, dtype=float)
    return y


def still_optimal(arrays: Arrays, keep: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether primal x and row prices y (an earlier LP's, matched by name) are optimal for
    this LP (columns outside ``keep`` left out): x within the bounds and rows, every reduced
    cost of the right sign for where its column sits, and a price only on a row at its bound
    (the KKT conditions, to HiGHS's tolerance scaled by the size of each term)."""
    with np.errstate(invalid="ignore"):  # inf - inf where a bound is infinite: never "at" it
        return _kkt(arrays, keep, x, y)


def _kkt(arrays: Arrays, keep: np.ndarray, x: np.ndarray, y: np.ndarray) -> bool:
    tol = 1e-6
    scale = 1.0 + np.abs(x)
    if np.any(x[~keep] != 0):
        return False
    if np.any(x < arrays.lx - tol * scale) or np.any(x > arrays.ux + tol * scale):
        return False
    activity = arrays.matrix @ x
    row_scale = 1.0 + abs(arrays.matrix) @ np.abs(x)
    if np.any(activity < arrays.lr - tol * row_scale) or np.any(
        activity > arrays.ur + tol * row_scale
    ):
        return False
    sense = 1.0 if arrays.maximize else -1.0
    yy = sense * y
    at_upper = np.isfinite(arrays.ur) & (activity >= arrays.ur - tol * row_scale)
    at_lower = np.isfinite(arrays.lr) & (activity <= arrays.lr + tol * row_scale)
    if np.any((yy > tol) & ~at_upper) or np.any((yy < -tol) & ~at_lower):
        return False
    reduced = (sense * arrays.objective - arrays.matrix.T @ yy)[keep]
    xs, lx, ux = x[keep], arrays.lx[keep], arrays.ux[keep]
    low = np.isfinite(lx) & (xs <= lx + tol * (1.0 + np.abs(lx)))
    high = np.isfinite(ux) & (xs >= ux - tol * (1.0 + np.abs(ux)))
    r_tol = tol * (1.0 + np.abs(arrays.objective[keep]))
    # maximising: at the lower bound the reduced cost is <= 0, at the upper >= 0, between = 0
    bad = (low & ~high & (reduced > r_tol)) | (high & ~low & (reduced < -r_tol))
    bad |= ~low & ~high & (np.abs(reduced) > r_tol)
    return not bool(np.any(bad))
