"""Polish: improve an allocation already proven within the gap, guided by the LP relaxation.

With a gap above 0 the solver stops at the first allocation it proves close enough, often the
greedy start (within 0.04 to 0.07% of the optimum on the national benchmark). Polishing spends a
little more time to find a better one inside that tolerance:

1. solve the LP relaxation of the same model (integrality dropped in place, then restored);
2. keep the plots the LP opens, the plots the allocation uses, and the unused plots closest to
   entering (the best LP reduced cost of a full project there), up to ``FACTOR`` times as many;
3. close every other plot and solve that much smaller MIP to optimality from the allocation.

Every allocation of the restricted MIP is an allocation of the full model, so the result stays
feasible; the proven bound is the one of the full solve (or the LP's, if tighter). It is a
heuristic: the restricted MIP need not contain the optimum. Off by default (``solver.polish``):
on the 5,000-plot national benchmark it found the optimum but took the solve from 1.3 to about
2.5 s, which costs the default its 5x lead over PuLP + CBC (benchmarks/README.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from ortools.math_opt.python import mathopt

log = logging.getLogger(__name__)

FACTOR = 3.5  # plots kept, as a multiple of those the LP or the allocation uses
MIN_SECONDS = 1.0  # never start a polish with less time left than this


@dataclass
class Polished:
    """The restricted MIP's result, and the LP bound found on the way."""

    result: mathopt.SolveResult
    lp_bound: float | None
    kept: int
    seconds: float


def _lp(built: Any, time_limit: float) -> mathopt.SolveResult:
    """The LP relaxation with plot values and reduced costs read back (nothing else)."""
    v = built.vars
    integer = [var for var in built.model.variables() if var.integer]
    for var in integer:
        var.integer = False
    watch = {*v.modules.values(), *v.used.values()}
    params = mathopt.ModelSolveParameters(
        variable_values_filter=mathopt.SparseVectorFilter(filtered_items=watch),
        reduced_costs_filter=mathopt.SparseVectorFilter(filtered_items=watch),
        dual_values_filter=mathopt.SparseVectorFilter(filtered_items=set()),
    )
    try:
        return mathopt.solve(
            built.model,
            mathopt.SolverType.HIGHS,
            params=mathopt.SolveParameters(
                time_limit=dt.timedelta(seconds=time_limit),
                lp_algorithm=mathopt.LPAlgorithm.PRIMAL_SIMPLEX,
            ),
            model_params=params,
        )
    finally:
        for var in integer:
            var.integer = True


def keep_plots(
    built: Any, lp: mathopt.SolveResult, incumbent: set[int], maximize: bool
) -> set[int]:
    """Plots the LP opens or the allocation uses, then the nearest to entering (by LP reduced
    cost of a full project), up to FACTOR times as many."""
    v = built.vars
    values = lp.variable_values()
    reduced = lp.reduced_costs()
    sense = 1.0 if maximize else -1.0
    keep = {p for p, used in v.used.items() if values[used] > 1e-6 or used.lower_bound > 0}
    keep |= incumbent
    score = {
        p: sense * (reduced[v.modules[p]] * v.modules[p].upper_bound + reduced[used])
        for p, used in v.used.items()
        if p not in keep
    }
    budget = int(FACTOR * len(keep)) - len(keep)
    ranked = sorted(score, key=lambda p: (-score[p], p))
    return keep | set(ranked[: max(budget, 0)])


def polish(
    built: Any,
    options: Any,
    hint: dict[mathopt.Variable, float],
    incumbent: set[int],
    time_left: float,
) -> Polished | None:
    """Solve the restricted MIP from ``hint``; None when there is no time or the LP fails."""
    from planner.model import solve_built

    if time_left < MIN_SECONDS:
        return None
    started = time.perf_counter()
    lp = _lp(built, time_left)
    if lp.termination.reason != mathopt.TerminationReason.OPTIMAL:
        log.info("polish: LP ended %s; skipped", lp.termination.reason.name)
        return None
    maximize = built.model.objective.is_maximize
    keep = keep_plots(built, lp, incumbent, maximize)
    closed = {p: used for p, used in built.vars.used.items() if p not in keep}
    saved = {p: used.upper_bound for p, used in closed.items()}
    exact = dataclasses.replace(options, relative_gap=0.0)
    left = max(time_left - (time.perf_counter() - started), MIN_SECONDS)
    try:
        for used in closed.values():
            used.upper_bound = 0.0
        res = solve_built(built, exact, hint=hint, time_limit_s=left)
    finally:
        for p, used in closed.items():
            used.upper_bound = saved[p]
    seconds = time.perf_counter() - started
    log.info("polish: %d of %d plots kept, %.2f s", len(keep), len(built.vars.used), seconds)
    return Polished(res, lp.objective_value(), len(keep), seconds)
