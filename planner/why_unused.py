"""Why each unused plot is unused, read from the model's LP prices rather than from rule checks.

After the allocation is solved, the same model is turned into a linear programme (LP), to ask
"why would the optimum not put even one home here?" (derived from the solved model's arrays,
``_derived_lp``, or, after a shortfall, built again with planner.model.build):

* every plot the allocation uses stays open (used_p = 1); its homes may move between one module
  and its capacity, so the LP can still shift homes between open plots;
* every unused plot may open fractionally (used_p in [0, 1]): its homes may take anything in
  [0, capacity]; minimum project sizes are dropped everywhere (the LP cannot price them);
* support homes, care assignments and region flows are continuous;
* the homes target is lowered by a hair (TARGET_EPS), so that the value of a home at the margin
  is the worst home placed (what a new project would have to beat) and not, when every used
  plot is full, anything between that and the best unused home.

The allocation is feasible for this LP. HiGHS solves it and returns a price (dual value) per
row: what one more unit of room in the row is worth to the objective. The price of a project
of the minimum size on an unused plot p, done the cheapest way (homes = min_homes_p, used_p = 1,
support homes up to the per-plot share where they pay, assigned to the cheapest services in
reach of each required type, region demand served where it pays), is

    loss_p = sum over rows i of price_i x (row i's use by that project) - objective gain,

and every row belongs to one rule family: buurt caps, service capacity (with the support share:
the care rules), regional bounds, region demand, exclusive groups, the budget; the homes target
goes with the objective, as the plot's own suitability (or cost) against the value of a home at
the margin. LP optimality makes loss_p >= 0 for every plot the LP leaves empty; the family with
the largest part is the main reason. Special cases, in order:

* no project of the minimum size fits at all under fixed rules (more homes than placed, than
  the buurt cap or region maximum leave next to agreed projects, or above the budget): that rule;
* the LP does place homes here: only the project size (minimum, whole modules) keeps it out, or
  the solver's optimality gap;
* a used group partner: the group row's price is not unique once the partner is open, so the
  group counts only for what the plot would gain without it (named when nothing else keeps it
  out, else mentioned after the main reason);
* nothing has a positive part: a tie with the plots at the margin.

Support homes on unused plots are priced, not solved for: the first LP leaves their care
assignment columns out (much faster at national scale) and, if at its prices support homes
would make some unused plot pay, solves again with those plots' columns in (column generation).
On a re-run (``--hint-from``) the earlier run's final LP solution is matched by name and kept
when it is still optimal for this LP (the KKT conditions: certificate.still_optimal); no LP is
solved then. Otherwise it is solved over the columns the earlier prices leave in play, adding
those that come to pay (_from_earlier_prices), which is about half the whole LP's time.
planner.explain.plot_reasons calls this and falls back to rule checks if the LP fails.

Everything per plot is computed with arrays over all plots at once (the LP's columns found once
by id, each plot's prices a row, summed in the order the per-plot vectors were, so the figures
are the same to the bit); only the sentences are written plot by plot. At 5,000 plots the stage
is then mostly the LP: its solve (0.1 s of 0.19 s) and its arrays (Built.arrays, 0.035 s).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from ortools.math_opt.python import mathopt

from planner.errors import SolverError
from planner.instance import Instance
from planner.model import Built, build
from planner.model.certificate import (
    Arrays,
    LpSolution,
    by_name,
    prices_by_row,
    proto_of,
    solve_lp,
    still_optimal,
)
from planner.result import Result

log = logging.getLogger(__name__)

LP_TIME_LIMIT_S = 60.0
TARGET_EPS = 1e-3  # homes
# Column generation for support homes on unused plots: at most this many extra LP solves, and
# beyond this many plots with support homes the LP simply keeps them all. Adding only the plots
# where support pays is far cheaper than the full LP (20,000 plots: 2,574 plots added, LP 2.2 s
# against 18 s for all), so the cap is high.
MAX_ROUNDS = 3
# A re-run's pricing LP over the columns the earlier prices leave in play: at most this many
# solves before the whole LP is solved instead (_from_earlier_prices).
RESTRICTED_ROUNDS = 4
MAX_SUPPORT_COLUMNS = 10_000

# Families whose rows price a project (named rows of the model); "objective" holds the homes
# target, whose price is the value of a home at the margin, together with the plot's own term.
PRICED = (
    "objective",
    "support_share",
    "service_capacity",
    "neighbourhood",
    "region_bounds",
    "demand",
    "groups",
    "budget",
)
_PREFIXES = (
    ("target", "objective"),
    ("support_share", "support_share"),
    ("service[", "service_capacity"),
    ("buurt[", "neighbourhood"),
    ("region_min[", "region_bounds"),
    ("region_max[", "region_bounds"),
    ("demand[", "demand"),
    ("group[", "groups"),
    ("budget", "budget"),
)


@dataclass
class Why:
    """The main reason one plot is unused: its rule family, a sentence, and the LP figures.

    family is one of PRICED (with "care_reach" for plots that cannot host support homes),
    "min_homes" (the LP would place homes: only the minimum project size, whole modules or the
    solver's gap keep it out), "tie" (as good as the plots at the margin) or "not_eligible".
    loss is the LP price of a minimum project here (objective units); parts splits it by family.
    """

    family: str
    text: str
    loss: float = 0.0
    lp_homes: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    hard: bool = False  # no project fits here at all under the fixed rules, whatever else is used


@dataclass
class _Prices:
    """LP prices spread over columns: unit[f, col] is what one unit of the column costs through
    the rows of family f (objective units, positive = worse); obj[col] the objective's part."""

    unit: np.ndarray
    obj: np.ndarray
    values: np.ndarray
    margin: float | None
    sense: float
    off: np.ndarray  # per plot: its support homes were left out of this LP
    rows: dict[str, float] = field(default_factory=dict)  # price per named row, for a re-run


@dataclass
class Pricing:
    """The final pricing LP, kept for a re-run (planner.rerun): nonzero row prices and column
    values by name, and the unused plots (plot_id) whose support homes it had (None: all)."""

    rows: dict[str, float]
    values: dict[str, float]
    support_on: list[str] | None


# A row's family by its name up to and with the first "[" (exactly "target", "budget" and
# "support_share"; "buurt[...]" and the like for the rows of one family).
_KEYS = {prefix: PRICED.index(family) for prefix, family in _PREFIXES}


def _pricing_model(inst: Instance, result: Result, main: Built | None) -> Built:
    """The model the pricing LP is derived from: the one the allocation was solved with where
    there is one (no second build: a third of the explain stage at 5,000 plots), else built;
    after a shortfall, the model with the total the allocation reached."""
    if result.status in ("OPTIMAL", "FEASIBLE"):
        return main if main is not None and main.mode == "target" else build(inst)
    if result.status == "SHORTFALL":
        return build(inst, mode="fixed_total", total=result.total_homes)
    raise SolverError(f"no allocation to explain (status {result.status})")


@dataclass(frozen=True)
class _Columns:
    """Where the plot variables sit among the LP's columns, as arrays: found once per
    explanation with one search over the sorted ids, so pricing needs no dict of 55,000
    columns and no loop over plots (5,000 plots)."""

    plots: np.ndarray  # plots with a used column (eligible), in the model's order
    used: np.ndarray  # their used column
    modules: np.ndarray  # their modules column
    support: np.ndarray  # per plot, its support column (-1: none)
    support_ub: np.ndarray  # per plot, the upper bound of its support homes (NaN: none)
    assign: np.ndarray  # care assignment columns
    assign_plot: np.ndarray  # the plot of each
    assign_type: np.ndarray  # the service type of each, numbered in sorted order
    flow: np.ndarray  # region flow columns
    flow_plot: np.ndarray  # the plot of each
    flow_region: list[str]  # the region of each

    @classmethod
    def of(cls, inst: Instance, v: Any, arrays: Arrays) -> _Columns:
        var_ids = arrays.var_ids
        support = np.full(len(inst.plots), -1, dtype=np.int64)
        owners = v.support_plots
        support[owners] = np.searchsorted(var_ids, v.support_ids)
        support_ub = np.full(len(inst.plots), np.nan)
        support_ub[owners] = arrays.ux[support[owners]]
        keys = v.assign_rows
        pairs = inst.model_pairs().loc[keys] if len(keys) else inst.model_pairs().iloc[:0]
        return cls(
            plots=np.asarray(v.plots, dtype=np.int64),
            used=np.searchsorted(var_ids, v.used_ids),
            modules=np.searchsorted(var_ids, v.module_ids),
            support=support,
            support_ub=support_ub,
            assign=np.searchsorted(var_ids, v.assign_ids),
            assign_plot=pairs["plot"].to_numpy(dtype=np.int64),
            assign_type=pd.factorize(pairs["type"].to_numpy(), sort=True)[0],
            flow=_positions(var_ids, v.flow.values()),
            flow_plot=np.fromiter((key[1] for key in v.flow), dtype=np.int64, count=len(v.flow)),
            flow_region=[key[0] for key in v.flow],
        )


def _positions(var_ids: np.ndarray, variables: Any, count: int | None = None) -> np.ndarray:
    """The columns of MathOpt variables (ids sorted, as Arrays keeps them)."""
    if count is None:
        count = len(variables)
    ids = np.fromiter((var.id for var in variables), dtype=np.int64, count=count)
    return np.searchsorted(var_ids, ids)


@dataclass(frozen=True)
class _Derived:
    """The pricing LP over all columns, before a round leaves support columns out."""

    arrays: Arrays
    target: int | None  # the homes-total row
    margin: int | None  # the row whose price is the value of a home at the margin
    name: str  # the model's name, which its LP protos take (proto_of)
    cols: _Columns
    codes: np.ndarray  # per row, its family (index in PRICED), -1 for rows that price nothing


def _derived_lp(inst: Instance, result: Result, main: Built) -> _Derived:
    """The pricing LP (module docstring) as arrays, derived from a built model: continuous,
    every used plot open, each minimum-homes row at one module (the LP cannot price project
    sizes)."""
    arrays = main.arrays()
    cols = _Columns.of(inst, main.vars, arrays)
    names = arrays.row_names
    codes = _row_codes(names)
    targets = np.flatnonzero(codes == PRICED.index("objective"))  # only "target" is in it
    minimum = np.flatnonzero(codes == _MIN_HOMES)
    codes[minimum] = -1
    plot_of = {pid: p for p, pid in enumerate(inst.plots["plot_id"].astype(str).tolist())}
    used_col = np.full(len(inst.plots), -1, dtype=np.int64)
    used_col[cols.plots] = cols.used
    plots = [plot_of[names[i][len("min_homes[") : -1]] for i in minimum.tolist()]
    matrix = _one_module(arrays.matrix, minimum, used_col[plots], -float(inst.module))
    lx = arrays.lx.copy()
    lx[cols.used[result.homes[cols.plots] > 0]] = 1.0
    arrays = dataclasses.replace(arrays, matrix=matrix, lx=lx)
    return _Derived(
        arrays,
        int(targets[-1]) if len(targets) else None,
        int(targets[0]) if len(targets) else None,
        main.model.name,
        cols,
        codes,
    )


_MIN_HOMES = -2  # code of the minimum-homes rows (they price nothing: the LP drops sizes)


def _row_codes(names: np.ndarray) -> np.ndarray:
    """Per row, its family's index in PRICED by the row's name (_KEYS), _MIN_HOMES for the
    minimum-homes rows, -1 for the others: one pass over the 38,000 names at 5,000 plots."""
    lookup = {**_KEYS, "min_homes[": _MIN_HOMES}
    return np.array(
        [lookup.get(h + b, -1) for h, b, _ in map(str.partition, names, repeat("["))],
        dtype=np.int64,
    )


def _one_module(
    matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, value: float
) -> sp.csr_matrix:
    """``matrix`` with entry (rows[i], cols[i]) set to ``value``. Where every such entry is
    stored (each minimum-homes row has its used column) a copy with those values changed,
    else built again from triples; either way in canonical form (sorted, no duplicates), as
    building from triples gives it, so products sum in the same order."""
    out = matrix.copy()
    out.sum_duplicates()
    width = np.int64(matrix.shape[1])
    stored = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(out.indptr))
    stored = stored * width + out.indices  # increasing: row-major, sorted within rows
    wanted = rows * width + cols
    at = np.minimum(np.searchsorted(stored, wanted), len(stored) - 1)
    if len(stored) and np.array_equal(stored[at], wanted):
        out.data[at] = value
        return out
    coo = matrix.tocoo()
    col_of_row = np.full(matrix.shape[0], -1, dtype=np.int64)
    col_of_row[rows] = cols
    drop = col_of_row[coo.row] == coo.col
    return sp.csr_matrix(
        (
            np.concatenate([coo.data[~drop], np.full(len(rows), value)]),
            (np.concatenate([coo.row[~drop], rows]), np.concatenate([coo.col[~drop], cols])),
        ),
        shape=matrix.shape,
    )


def _lp_prices(
    result: Result,
    derived: _Derived,
    support_on: set[int] | None,
    earlier: Pricing | None,
) -> _Prices:
    """Solve the pricing LP and spread its prices. Unused plots outside ``support_on`` get no
    support homes (their care assignment columns are left out; None keeps them all): that LP
    solves several times faster, and the caller prices the left-out columns afterwards and adds
    those that would pay (column generation). With ``earlier`` (a re-run), its solution is
    taken as it is when it is still optimal here (certificate.still_optimal)."""
    started = time.perf_counter()
    arrays, target, name, cols = derived.arrays, derived.target, derived.name, derived.cols
    off = np.zeros(len(result.homes), dtype=bool)
    keep = np.ones(len(arrays.var_ids), dtype=bool)
    ux = arrays.ux.copy()
    if support_on is not None:
        off = (result.homes == 0) & ~np.isin(np.arange(len(result.homes)), list(support_on))
        ux[cols.support[off & (cols.support >= 0)]] = 0.0
        keep[cols.assign[off[cols.assign_plot]]] = False
    lr, ur = arrays.lr.copy(), arrays.ur.copy()
    if target is not None and lr[target] == ur[target]:
        lr[target] = ur[target] = ur[target] - TARGET_EPS
    else:
        target = None
    lp = dataclasses.replace(arrays, ux=ux, lr=lr, ur=ur)
    params = mathopt.SolveParameters(
        time_limit=dt.timedelta(seconds=LP_TIME_LIMIT_S),
        lp_algorithm=mathopt.LPAlgorithm.DUAL_SIMPLEX,
    )
    prepared = time.perf_counter()
    matched = _matched(lp, earlier)
    solution = _kept_solution(lp, keep, matched)
    how = "kept from the earlier run" if solution is not None else "solved"
    if solution is None and matched is not None:
        allocated = _plot_columns(cols, result.homes > 0, len(lp.var_ids))
        solution = _from_earlier_prices(name, lp, keep, allocated, matched, params)
        how = "solved from the earlier run's prices" if solution is not None else how
    if solution is None:
        solution = solve_lp(proto_of(name, lp, keep), lp, params)
        if solution.infeasible and target is not None:
            # No home can give way (every one is an agreed project): price the target as it is.
            lr[target] = ur[target] = ur[target] + TARGET_EPS
            lp = dataclasses.replace(lp, lr=lr, ur=ur)
            solution = solve_lp(proto_of(name, lp, keep), lp, params)
        if not solution.optimal:
            raise SolverError("the pricing LP did not end OPTIMAL")
        if solution.y is None:
            raise SolverError("the pricing LP returned no prices")
    solved = time.perf_counter()
    prices = _spread(lp, derived, solution.x, solution.y, off)
    log.info(
        "plot reasons: pricing LP prepared in %.2f s, %s, %.2f s, prices spread in %.2f s",
        prepared - started,
        how,
        solved - prepared,
        time.perf_counter() - solved,
    )
    return prices


def _matched(lp: Arrays, earlier: Pricing | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The earlier run's pricing LP values and prices in this LP's columns and rows (by name)."""
    if earlier is None:
        return None
    return by_name(lp.var_names, earlier.values), prices_by_row(lp, earlier.rows)


def _kept_solution(
    lp: Arrays, keep: np.ndarray, matched: tuple[np.ndarray, np.ndarray] | None
) -> LpSolution | None:
    """The earlier run's pricing LP solution (``_matched``), if it is still optimal here."""
    if matched is None:
        return None
    x, y = matched
    if not still_optimal(lp, keep, x, y):
        log.info("plot reasons: the earlier pricing LP is not optimal here; solving it")
        return None
    return LpSolution(optimal=True, infeasible=False, x=x, y=y)


def _plot_columns(cols: _Columns, plots: np.ndarray, width: int) -> np.ndarray:
    """A mask of the LP's columns that belong to the plots marked in ``plots`` (every column
    of the model is one plot's: its modules, used, support, care assignment or flow)."""
    mask = np.zeros(width, dtype=bool)
    on = plots[cols.plots]
    mask[cols.used[on]] = mask[cols.modules[on]] = True
    mask[cols.support[plots & (cols.support >= 0)]] = True
    mask[cols.assign[plots[cols.assign_plot]]] = True
    mask[cols.flow[plots[cols.flow_plot]]] = True
    return mask


def _from_earlier_prices(
    name: str,
    lp: Arrays,
    keep: np.ndarray,
    allocated: np.ndarray,
    earlier: tuple[np.ndarray, np.ndarray],
    params: Any,
) -> LpSolution | None:
    """The LP solved over the columns the earlier run's prices leave in play, or None.
    ``earlier`` is that run's values and prices in this LP's columns and rows (``_matched``).

    A small change leaves most columns priced out by the earlier prices (reduced cost well
    below zero at their lower bound 0); the LP over the others, with those fixed at 0, is
    smaller and quicker (at 5,000 plots 0.05 s against 0.11 s). The columns of the plots the
    allocation uses (``allocated``) stay in, so the allocation is feasible for it. Columns that
    would pay at its prices are added and it is solved again (column generation), until none
    would: then its solution is optimal for the whole LP, which still_optimal checks before it
    is taken. None (the caller solves the whole LP) when it does not end optimal or needs more
    than RESTRICTED_ROUNDS solves.
    """
    sense = 1.0 if lp.maximize else -1.0
    tol = 1e-6 * (1.0 + np.abs(lp.objective))

    def reduced(y: np.ndarray) -> np.ndarray:  # in the maximising form: > 0 would pay
        return sense * lp.objective - lp.matrix.T @ (sense * y)

    x, y = earlier
    # in play: in the earlier solution, not at 0 by their bounds, or (nearly) paying
    inside = keep & (allocated | (x != 0) | (lp.lx != 0) | (reduced(y) > -tol))
    for _ in range(RESTRICTED_ROUNDS):
        solution = solve_lp(proto_of(name, lp, inside), lp, params)
        if not solution.optimal or solution.y is None:
            return None
        more = keep & ~inside & (reduced(solution.y) > tol)
        if not more.any():
            return solution if still_optimal(lp, keep, solution.x, solution.y) else None
        inside |= more
    return None


def _spread(
    lp: Arrays, derived: _Derived, x: np.ndarray, y: np.ndarray, off: np.ndarray
) -> _Prices:
    """Spread the prices y over the columns by rule family (see _Prices)."""
    code = derived.codes
    keep = code >= 0
    by_family = sp.csr_matrix(
        (y[keep], (np.flatnonzero(keep), code[keep])), shape=(len(lp.row_ids), len(PRICED))
    )
    sense = 1.0 if lp.maximize else -1.0
    unit = sense * np.asarray((lp.matrix.T @ by_family).T.todense())
    margin = derived.margin
    named = (y != 0.0) & (lp.row_names != "")
    return _Prices(
        unit=unit,
        obj=-sense * lp.objective,
        values=x,
        margin=float(y[margin]) if margin is not None else None,
        sense=sense,
        off=off,
        rows=dict(zip(lp.row_names[named].tolist(), y[named].tolist(), strict=True)),
    )


def why_unused(inst: Instance, result: Result) -> list[Why | None]:
    """The main reason per plot (None for used plots), from one LP solve (a few more when
    support homes on unused plots would pay at the first LP's prices); raises SolverError when
    the LP cannot be solved (callers fall back to rule checks)."""
    return why_unused_priced(inst, result)[0]


def why_unused_priced(
    inst: Instance,
    result: Result,
    main: Built | None = None,
    earlier: Pricing | None = None,
) -> tuple[list[Why | None], Pricing]:
    """``why_unused`` and the final pricing LP, kept for a re-run: its prices bound the
    changed model too (planner.model.certificate), and its solution may still be optimal.

    ``main`` is the model the allocation was solved with: the LP is derived from it rather than
    built again. ``earlier`` is a previous run's final LP: where it is still optimal here, it
    stands and no LP is solved.
    """
    built = _pricing_model(inst, result, main)
    derived = _derived_lp(inst, result, built)
    ids = inst.plots["plot_id"].astype(str).to_numpy()
    index = {pid: p for p, pid in enumerate(ids)}
    support_on: set[int] | None = set()
    if earlier is not None:
        support_on = (
            None
            if earlier.support_on is None
            else {index[pid] for pid in earlier.support_on if pid in index}
        )
    for round_ in range(MAX_ROUNDS + 1):
        prices = _lp_prices(result, derived, support_on, earlier)
        parts, extra, context = _price_plots(inst, result, prices, derived.cols)
        if support_on is None or not extra:
            break
        log.info(
            "plot reasons: support homes would pay on %d more unused plot(s); pricing again",
            len(extra),
        )
        support_on |= set(extra)
        earlier = None
        if len(support_on) > MAX_SUPPORT_COLUMNS or round_ == MAX_ROUNDS - 1:
            support_on = None
    reasons = _reasons(inst, result, derived.cols, parts, context)
    names = derived.arrays.var_names
    x = prices.values
    valued = (x != 0.0) & (names != "")
    values = dict(zip(names[valued].tolist(), x[valued].tolist(), strict=True))
    kept_on = None if support_on is None else sorted(str(ids[p]) for p in support_on)
    return reasons, Pricing(rows=prices.rows, values=values, support_on=kept_on)


def _reasons(
    inst: Instance, result: Result, cols: _Columns, parts: np.ndarray, context: _Context
) -> list[Why | None]:
    """The reason per plot: none for used plots, the rule for ineligible ones, else priced."""
    plots = inst.plots
    reasons: list[Why | None] = [None] * len(plots)
    unused = ~(result.homes > 0)
    eligible = plots["eligible"].to_numpy(dtype=bool)
    why_not = plots["reason"].to_numpy()
    for p in np.flatnonzero(unused & ~eligible).tolist():
        reasons[p] = Why("not_eligible", f"not eligible: {why_not[p]}")
    priced = cols.plots[unused[cols.plots] & eligible[cols.plots]]
    for p, why in zip(priced.tolist(), context.reasons(priced, parts[priced]), strict=True):
        reasons[p] = why
    return reasons


def _price_plots(
    inst: Instance, result: Result, prices: _Prices, cols: _Columns
) -> tuple[np.ndarray, list[int], _Context]:
    """Per unused plot the LP price of a minimum project by family (rows of ``parts``), and the
    plots whose support homes were left out of the LP but would make a full plot pay. Each
    plot's figures are rows of arrays, computed for all plots at once."""
    plots = inst.plots
    module = inst.module
    unused_at = result.homes[cols.plots] == 0
    unused = cols.plots[unused_at]
    parts = np.zeros((len(plots), len(PRICED)))
    lp_homes = np.zeros(len(plots))
    min_homes = np.maximum(plots["min_homes"].to_numpy(dtype=float), module)
    capacity = plots["capacity"].to_numpy(dtype=float)
    share_cap = inst.scenario.support.max_share_per_plot
    modules = cols.modules[unused_at]
    per_module = _per_unit(prices, modules)
    per_use = _per_unit(prices, cols.used[unused_at])
    parts[unused] = per_module * (min_homes[unused] / module)[:, None] + per_use
    lp_homes[unused] = prices.values[modules] * module
    hosts = np.flatnonzero(cols.support[unused] >= 0)  # the unused plots that can host support
    cost = _support(prices, cols, unused[hosts])
    pays = cost.sum(axis=1) < 0  # then the project takes as many as the share allows
    pay = hosts[pays]
    plot = unused[pay]
    per_home = cost[pays]
    top = cols.support_ub[plot]
    parts[plot] += per_home * np.minimum(share_cap * min_homes[plot], top)[:, None]
    # The full plot with as many support homes as allowed: if that pays while the LP had no
    # support homes here, the LP was too narrow (its prices are not final).
    full = (
        per_module[pay] * (capacity[plot] / module)[:, None]
        + per_use[pay]
        + per_home * np.minimum(share_cap * capacity[plot], top)[:, None]
    )
    wider = prices.off[plot] & (full.sum(axis=1) < -1e-6 * np.fmax(1.0, capacity[plot]))
    extra = plot[wider].tolist()
    for p, gain in _flows(inst, prices, cols, unused, min_homes, capacity).items():
        parts[p] += gain
    support_cost = dict(zip(unused[hosts].tolist(), cost, strict=True))
    context = _Context(inst, result, prices, support_cost, lp_homes, min_homes)
    return parts, extra, context


def _per_unit(prices: _Prices, columns: np.ndarray) -> np.ndarray:
    """What one unit of each column costs by family, objective included: a C-ordered row per
    column, so that a row sums as the column's own vector did."""
    unit = np.ascontiguousarray(prices.unit[:, columns].T) + 0.0
    unit[:, 0] += prices.obj[columns]
    return unit


def _support(prices: _Prices, cols: _Columns, candidates: np.ndarray) -> np.ndarray:
    """Per unused plot that can host support homes (a row per candidate): what one support
    home costs by family, its own column plus the cheapest service in reach of each required
    type."""
    cost = _per_unit(prices, cols.support[candidates])
    if len(cols.assign) and len(candidates):
        row_of = np.full(len(cols.support), -1, dtype=np.int64)
        row_of[candidates] = np.arange(len(candidates))
        mine = row_of[cols.assign_plot] >= 0
        columns = cols.assign[mine]
        unit = prices.unit[:, columns] + 0.0
        unit[0] += prices.obj[columns]
        frame = pd.DataFrame(
            {
                "plot": cols.assign_plot[mine],
                "type": cols.assign_type[mine],
                "total": unit.sum(axis=0),
                "pos": np.arange(len(columns)),
            }
        )
        best = frame.loc[frame.groupby(["plot", "type"])["total"].idxmin()]
        for plot, pos in _by_plot(best):
            cost[row_of[plot]] = cost[row_of[plot]] + unit[:, pos].sum(axis=2).T
    return cost


def _by_plot(best: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """The best columns per plot, sorted by plot and type, as (plots, positions) blocks of
    plots with the same number of types: positions[i] are plot i's columns, in type order."""
    plot = best["plot"].to_numpy()
    pos = best["pos"].to_numpy()
    starts = np.flatnonzero(np.r_[True, plot[1:] != plot[:-1]])
    sizes = np.diff(np.r_[starts, len(plot)])
    out = []
    for size in np.unique(sizes).tolist():
        first = starts[sizes == size]
        out.append((plot[first], pos[first[:, None] + np.arange(size)]))
    return out


def _flows(
    inst: Instance,
    prices: _Prices,
    cols: _Columns,
    unused: np.ndarray,
    min_homes: np.ndarray,
    capacity: np.ndarray,
) -> dict[int, np.ndarray]:
    """Region demand the project would serve where that pays: cheapest flows first, each at
    most the region's demand and the plot's capacity, together at most the project's homes."""
    if not len(cols.flow):
        return {}
    demand = dict(zip(inst.regions["region_id"], inst.regions["demand"].fillna(0), strict=True))
    open_ = set(unused.tolist())
    keep = [i for i, p in enumerate(cols.flow_plot.tolist()) if p in open_]
    if not keep:
        return {}
    frame = pd.DataFrame(
        {
            "plot": cols.flow_plot[keep],
            "bound": [
                min(float(demand[cols.flow_region[i]]), capacity[cols.flow_plot[i]]) for i in keep
            ],
            "col": cols.flow[keep],
        }
    )
    unit = prices.unit[:, frame["col"].to_numpy()] + 0.0
    unit[0] += prices.obj[frame["col"].to_numpy()]
    frame["total"] = unit.sum(axis=0)
    frame["pos"] = np.arange(len(frame))
    frame = frame[frame["total"] < 0].sort_values(["plot", "total"])
    gains: dict[int, np.ndarray] = {}
    for p, sub in frame.groupby("plot"):
        room = float(min_homes[int(p)])
        total = np.zeros(len(PRICED))
        for pos, bound in zip(sub["pos"], sub["bound"], strict=True):
            amount = min(room, bound)
            if amount <= 0:
                break
            total += unit[:, pos] * amount
            room -= amount
        gains[int(p)] = total
    return gains


class _Context:
    """What the sentences need: loads from the allocation and prices from the LP."""

    def __init__(
        self,
        inst: Instance,
        result: Result,
        prices: _Prices,
        support_cost: dict[int, np.ndarray],
        lp_homes: np.ndarray,
        min_homes: np.ndarray,
    ) -> None:
        self.inst = inst
        self.result = result
        self.prices = prices
        self.support_cost = support_cost
        self.lp_homes = lp_homes
        self.min_homes = min_homes
        plots = inst.plots
        homes = result.homes
        columns = ["group", "buurt_id", "region_id", "suitability", "fixed_cost", "cost_per_home"]
        values = [_objects(plots[c]) for c in columns]
        self.rows = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
        used = np.flatnonzero(homes > 0).tolist()
        ids = plots["plot_id"].to_numpy(dtype=object)
        self.used_in_group = {
            values[0][p]: ids[p] for p in used if isinstance(values[0][p], str) and values[0][p]
        }
        buurt, region = _Keyed(values[1]), _Keyed(values[2])
        self.buurt_homes = buurt.sum(homes)
        self.buurt_cap = dict(
            zip(_objects(inst.buurten["buurt_id"]), _objects(inst.buurten["cap"]), strict=True)
        )
        self.region_homes = region.sum(homes)
        self.region_max = dict(
            zip(
                _objects(inst.regions["region_id"]),
                _objects(inst.regions["max_homes"]),
                strict=True,
            )
        )
        self.scale = max(1.0, float(np.abs(prices.obj).max(initial=0.0)))
        self.total = result.total_homes
        fixed = plots["fixed_homes"].fillna(0).to_numpy(dtype=float)
        self.fixed_total = int(fixed[plots["eligible"].to_numpy(dtype=bool)].sum())
        self.fixed_in_buurt = buurt.sum(fixed)
        self.fixed_in_region = region.sum(fixed)
        self.fixed_cost = float(
            (
                (fixed > 0) * plots["fixed_cost"].to_numpy(dtype=float)
                + fixed * plots["cost_per_home"].to_numpy(dtype=float)
            ).sum()
        )
        self.service_load = result.assignments.groupby("service")["residents"].sum().to_dict()
        self.may_block = self._may_block(values[1], values[2])

    def _may_block(self, buurts: list[Any], regions: list[Any]) -> np.ndarray:
        """The plots where _blocked may find a rule no project here can meet: a superset, from
        array arithmetic, so that the other plots (nearly all) skip it."""
        size = self.min_homes
        caps = [self.buurt_cap.get(b) if isinstance(b, str) else None for b in buurts]
        tops = [self.region_max.get(r) if isinstance(r, str) else None for r in regions]
        with np.errstate(invalid="ignore"):
            out = ~(size <= self.total - self.fixed_total)
            out |= _short(size, caps, [self.fixed_in_buurt.get(b, 0) for b in buurts])
            out |= _short(size, tops, [self.fixed_in_region.get(r, 0) for r in regions])
            budget = self.inst.scenario.budget_eur
            if budget is not None:
                plots = self.inst.plots
                cost = plots["fixed_cost"].to_numpy(dtype=float) + (
                    plots["cost_per_home"].to_numpy(dtype=float) * size
                )
                out |= ~(cost <= budget - self.fixed_cost + 1e-9)
        return out

    def reasons(self, plots: np.ndarray, parts: np.ndarray) -> list[Why]:
        """Why each of ``plots`` is unused, from its LP price by family (a row of ``parts``)."""
        losses = parts.sum(axis=1)  # each row sums as parts[p].sum() would
        family, top, partners = self._rank(plots, parts, losses)
        tol = 1e-6 * self.scale * _py_max(1.0, self.min_homes[plots])
        columns = (
            plots.tolist(),
            parts.tolist(),
            losses.tolist(),
            self.lp_homes[plots].tolist(),
            self.min_homes[plots].tolist(),
            self.may_block[plots].tolist(),
            (top <= tol).tolist(),
            family.tolist(),
            partners,
        )
        out = []
        for p, figures, loss, lp_homes, size, may_block, tie, best, partner in zip(
            *columns, strict=True
        ):
            figures = dict(zip(PRICED, figures, strict=True))
            row = self.rows[p]
            blocked = self._blocked(p, row, size) if may_block else None
            if blocked is not None:
                out.append(Why(blocked[0], blocked[1], loss, lp_homes, figures, hard=True))
            elif lp_homes > 1e-6:
                text = self._min_homes_text(row, lp_homes, size)
                out.append(Why("min_homes", text, loss, lp_homes, figures))
            elif tie:
                out.append(Why("tie", self._tie_text(row), loss, lp_homes, figures))
            else:
                kind = PRICED[best]
                if kind == "support_share":
                    kind = self._care_family(p)
                text = self._text(kind, p, row, size)
                if partner is not None and kind != "groups":
                    text += f"; also an {self._text('groups', p, row, size)}"
                out.append(Why(kind, text, loss, lp_homes, figures))
        return out

    def _rank(
        self, plots: np.ndarray, parts: np.ndarray, losses: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        """Per plot the family with the largest part (the first such in PRICED), that part,
        and the used group partner (or None). Comparisons as Python's max and min make them,
        so that a NaN counts as they count it."""
        groups = [self.rows[p]["group"] for p in plots.tolist()]
        partners = [self.used_in_group.get(g) if isinstance(g, str) and g else None for g in groups]
        ranked = parts.copy()
        g = PRICED.index("groups")
        # Once a partner is open the group row's price is not unique: count only the part
        # needed to keep this plot out (what it would gain without the group).
        needed = _py_max(0.0, ranked[:, g] - losses)
        has = np.array([q is not None for q in partners], dtype=bool)
        ranked[has, g] = _py_min(ranked[has, g], needed[has])
        # Support share and service capacity act together: a project without support homes
        # leans on the share; with them, on the services in reach.
        share, service = PRICED.index("support_share"), PRICED.index("service_capacity")
        ranked[:, share] = ranked[:, share] + ranked[:, service]
        ranked[:, service] = 0.0
        family = np.zeros(len(plots), dtype=np.int64)
        top = ranked[:, 0].copy()
        for f in range(1, len(PRICED)):
            larger = ranked[:, f] > top
            family[larger], top[larger] = f, ranked[larger, f]
        return family, top, partners

    def _blocked(self, p: int, row: dict, size: float) -> tuple[str, str] | None:
        """A rule no project of the minimum size here can meet, whatever else is used: more
        homes than are placed, than the buurt cap or the region maximum leave next to agreed
        projects, or a price above the budget left next to them."""
        project = _homes(int(size))
        if size > self.total - self.fixed_total:
            if self.fixed_total:
                return "min_homes", (
                    f"agreed projects take {self.fixed_total} of the {self.total} homes placed, "
                    f"leaving no room for a project of {project} here"
                )
            return "min_homes", (
                f"a project here needs at least {project}, more than the {self.total} homes "
                "placed in all"
            )
        buurt = row["buurt_id"]
        if isinstance(buurt, str) and buurt in self.buurt_cap:
            fixed = self.fixed_in_buurt.get(buurt, 0)
            room = int(max(self.buurt_cap[buurt] - fixed, 0))
            if size > room:
                where = " next to its agreed projects" if fixed else ""
                return "neighbourhood", (
                    f"buurt {buurt} has room for at most {room} flex homes{where}, fewer than "
                    f"a project here needs ({int(size)})"
                )
        region = row["region_id"]
        top = self.region_max.get(region, np.nan) if isinstance(region, str) else np.nan
        if top == top:
            fixed = self.fixed_in_region.get(region, 0)
            room = int(max(top - fixed, 0))
            if size > room:
                where = " next to its agreed projects" if fixed else ""
                return "region_bounds", (
                    f"region {region} has room for at most {room} homes{where}, fewer than a "
                    f"project here needs ({int(size)})"
                )
        budget = self.inst.scenario.budget_eur
        cost = float(row["fixed_cost"]) + float(row["cost_per_home"]) * size
        if budget is not None and cost > budget - self.fixed_cost + 1e-9:
            return "budget", (
                f"even the smallest project here costs {cost:,.0f} EUR, more than the budget "
                f"of {budget:,.0f} EUR leaves"
            )
        return None

    def _care_family(self, p: int) -> str:
        if p not in self.support_cost:
            return "care_reach" if self.inst.support_types else "support_share"
        service = self.support_cost[p][PRICED.index("service_capacity")]
        return "service_capacity" if service > 0 else "support_share"

    def _min_homes_text(self, row: dict, lp_homes: float, size: float) -> str:
        inst = self.inst
        placed = _homes(round(lp_homes)) if lp_homes >= 0.5 else "a fraction of a home"
        if size > inst.module:
            need = f"a project needs at least {_homes(int(size))}"
            if inst.module > 1:
                need += f" in whole modules of {inst.module}"
        else:
            need = "homes come whole" if inst.module == 1 else f"in modules of {inst.module}"
        room = []
        buurt = row["buurt_id"]
        if isinstance(buurt, str) and buurt in self.buurt_cap:
            left = int(self.buurt_cap[buurt] - self.buurt_homes.get(buurt, 0))
            if left < size:
                room.append(f"buurt {buurt} has room for {max(left, 0)} more flex homes")
        region = row["region_id"]
        top = self.region_max.get(region, np.nan) if isinstance(region, str) else np.nan
        if top == top:
            left = int(top - self.region_homes.get(region, 0))
            if left < size:
                room.append(f"region {region} has room for {max(left, 0)} more homes")
        text = (
            "kept out only by the project size: without a minimum the optimum would place "
            f"{placed} here, but {need}"
        )
        if room:
            text += f" ({'; '.join(room)})"
        gap = self.result.gap
        if gap is not None and gap > 1e-9:
            text += f", or left out within the solver's optimality gap ({gap:.2%})"
        return text

    def _tie_text(self, row: dict) -> str:
        if self.inst.scenario.objective == "min_cost":
            return "not needed: as cheap as the plots at the margin, which were chosen instead"
        return (
            f"not needed: as suitable ({row['suitability']:.2f}) as the plots at the margin, "
            "which were chosen instead"
        )

    def _text(self, family: str, p: int, row: dict, size: float) -> str:
        inst = self.inst
        margin = self.prices.margin
        if family == "objective":
            if inst.scenario.objective == "min_cost":
                cost = float(row["fixed_cost"]) + float(row["cost_per_home"]) * size
                text = (
                    f"costlier than the plots used: a project of {_homes(int(size))} here costs "
                    f"{cost:,.0f} EUR"
                )
                if margin is not None:
                    text += f", the same homes at the margin {abs(margin) * size:,.0f} EUR"
                return text
            text = f"lower suitability ({row['suitability']:.2f}) than the plots used"
            if margin is not None and self.prices.sense > 0:
                text += f" (a home at the margin is worth {margin:.2f})"
            return text
        if family == "neighbourhood":
            buurt = row["buurt_id"]
            used = int(self.buurt_homes.get(buurt, 0))
            cap = int(self.buurt_cap.get(buurt, 0))
            if used >= cap:
                return (
                    f"buurt {buurt} is at its cap: {used} of {cap} flex homes allowed are used "
                    "by plots that serve the objective better"
                )
            return (
                f"buurt {buurt} has no room for a project of {_homes(int(size))}: {used} of "
                f"{cap} flex homes allowed are used"
            )
        if family == "region_bounds":
            region = row["region_id"]
            top = self.region_max.get(region, np.nan)
            used = int(self.region_homes.get(region, 0))
            if top == top:
                return f"region {region} is at its maximum of homes ({used} of {int(top)})"
            return f"region {region}: its minimum of homes is met better elsewhere"
        if family == "groups":
            group = row["group"]
            return (
                f"alternative to plot {self.used_in_group.get(group)} (group {group}), "
                "which is used"
            )
        if family == "budget":
            return (
                f"the budget is spent: a project here (fixed cost {float(row['fixed_cost']):,.0f} "
                f"EUR + {float(row['cost_per_home']):,.0f} EUR per home) would take money that "
                "buys more elsewhere"
            )
        if family == "service_capacity":
            full = self._full_services(p)
            where = f": {', '.join(full[:3])}" if full else ""
            if len(full) > 3:
                where += f" and {len(full) - 3} more"
            return (
                "the care services in reach are at capacity, so its homes could not take "
                f"support residents{where}"
            )
        if family == "care_reach":
            have = set(inst.pairs.loc[inst.pairs["plot"] == p, "type"])
            missing = [t for t in inst.support_types if t not in have]
            share = inst.scenario.support.min_share
            return (
                f"no support homes possible here ({', '.join(missing)} not in reach), while "
                f"{share:.0%} of all homes must be support homes"
            )
        if family == "support_share":
            share = inst.scenario.support.min_share
            return (
                "its homes would need support homes elsewhere: at least "
                f"{share:.0%} of all homes must be support homes"
            )
        if family == "demand":
            return "region demand is served better by the plots used (travel costs)"
        return "not needed: the target is met with better combinations"

    def _full_services(self, p: int) -> list[str]:
        inst = self.inst
        pairs = inst.pairs[inst.pairs["plot"] == p]
        cap = inst.services["capacity"].to_numpy(dtype=float)
        out = []
        for j in dict.fromkeys(pairs["service"].astype(int).tolist()):
            if not math.isnan(cap[j]) and self.service_load.get(j, 0) >= cap[j]:
                out.append(f"{inst.services.at[j, 'service_id']} ({inst.services.at[j, 'type']})")
        return out


def _homes(n: int) -> str:
    return f"{n} home" if n == 1 else f"{n} homes"


def _py_max(a: Any, b: Any) -> np.ndarray:
    """Python's max(a, b) elementwise: a unless b is larger (so NaN never wins)."""
    return np.where(b > a, b, a)


def _py_min(a: Any, b: Any) -> np.ndarray:
    """Python's min(a, b) elementwise: a unless b is smaller."""
    return np.where(b < a, b, a)


def _short(size: np.ndarray, caps: list[Any], fixed: list[Any]) -> np.ndarray:
    """Where a project of ``size`` may not fit in what a cap leaves next to agreed projects
    (no cap: None or NaN, it fits)."""
    cap = np.array(caps, dtype=float)
    room = np.trunc(np.maximum(cap - np.array(fixed, dtype=float), 0))
    return ~np.isnan(cap) & ~(size <= room)


def _objects(column: pd.Series) -> list[Any]:
    """A column's values as Python objects (missing strings as NaN), as iterating it gives
    them, without iterating a string column value by value (slow for pandas' string dtype)."""
    return column.to_numpy(dtype=object).tolist()


class _Keyed:
    """Sums per id of one plot column, skipping missing ids (not a string, or empty): the ids
    are numbered once, and each sum groups by number (the same groups, summed in the same
    order, as grouping by the ids themselves)."""

    def __init__(self, keys: list[Any]) -> None:
        self.mask = np.fromiter(
            (isinstance(k, str) and k != "" for k in keys), dtype=bool, count=len(keys)
        )
        self.codes, self.ids = pd.factorize(np.asarray(keys, dtype=object)[self.mask])

    def sum(self, values: np.ndarray) -> dict[str, float]:
        sums = pd.Series(values[self.mask]).groupby(self.codes).sum()
        return dict(zip(self.ids[sums.index].tolist(), sums.tolist(), strict=True))
