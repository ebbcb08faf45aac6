"""The allocation model: one MathOpt formulation, the solver a parameter (HiGHS by default).

Formulation (P = eligible plots, J = services, R(p,t) = services of type t in reach of p):

    variables   k_p in Z+ (modules), h_p = module x k_p (homes), y_p in {0,1} (plot used),
                s_p in Z+ (support homes; only where every required type is in reach),
                x_pj >= 0 (support residents of p served by j, for (p,j) in reach),
                f_rp >= 0 (homes of region r's demand on plot p, for listed travel pairs)
    capacity    min_p y_p <= h_p <= cap_p y_p;  h_p = fixed_p where a project is agreed
    total       sum_p h_p = target_homes
    care        sum_{j in R(p,t)} x_pj = s_p  for every p and every type t in reach_m
                sum_p x_pj <= capacity_j
    mix         s_p <= max_share_per_plot h_p;  sum_p s_p >= min_share sum_p h_p
    buurt       sum_{p in b} h_p <= floor(max_share_of_dwellings x dwellings_b)
    regions     min_r <= sum_{p in r} h_p <= max_r;  sum_p f_rp = demand_r;  sum_r f_rp <= h_p
    groups      sum_{p in g} y_p <= 1
    budget      sum_p (fixed_p y_p + cph_p h_p) + sum_rp c_rp f_rp <= budget
    objective   max sum_p suit_p h_p   or   min the budget expression

x and f are continuous in the solve (a transportation problem with integer data has an integral
optimum); the result makes them integral by re-solving each transportation problem with the homes
fixed, which also assigns residents to the nearest services with room. When the target cannot be
met the model is solved in two more phases: maximise homes, then optimise the objective with that
total fixed (status SHORTFALL).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ortools.math_opt.python import mathopt

from planner.errors import SolverError
from planner.instance import Instance
from planner.model import objective
from planner.model.certificate import relaxation_prices
from planner.model.constraints import budget, capacity, care, groups, mix, regions
from planner.model.polish import Polished, polish_allocation
from planner.model.variables import PlotVars, create_variables
from planner.result import Result

log = logging.getLogger(__name__)

BACKENDS = {
    "highs": mathopt.SolverType.HIGHS,
    "cpsat": mathopt.SolverType.CP_SAT,
    "scip": mathopt.SolverType.GSCIP,
}


@dataclass
class SolveOptions:
    """How to solve: backend, limits and seed (from the scenario's ``solver`` section)."""

    backend: str = "highs"
    time_limit_s: float = 120.0
    relative_gap: float = 0.0
    workers: int = 2
    seed: int = 1
    verbose: bool = False
    explain: bool = True
    # A previous allocation (plot_id -> (homes, support homes)) to start from: a re-run after a
    # small change finds a good incumbent at once. Plots it does not mention start at 0.
    hint: dict[str, tuple[int, int]] | None = None
    warm_start: str = "greedy"
    polish: bool = True
    # The earlier run's LP prices per named row, one or more sets (planner.rerun): with them a
    # re-run may prove the hint good enough without a solve (planner.model.certificate).
    prices: list[dict[str, float]] | None = None

    @classmethod
    def from_scenario(cls, inst: Instance, **overrides: Any) -> SolveOptions:
        s = inst.scenario.solver
        base = cls(
            backend=s.backend,
            time_limit_s=s.time_limit_s,
            relative_gap=s.relative_gap,
            workers=s.workers,
            seed=s.seed,
            warm_start=s.warm_start,
            polish=s.polish,
        )
        for key, value in overrides.items():
            setattr(base, key, value)
        return base


@dataclass
class Built:
    """A built model with its variables, ready to solve.

    ``proto()`` and ``arrays()`` are each read from the model once and kept: a built model is
    never changed afterwards (solves, the polish and the explanations only read it), so both
    stay the model's. Code that changes a built model must build a new ``Built`` instead.
    """

    model: mathopt.Model
    vars: PlotVars
    mode: str
    relax: frozenset[str] = field(default_factory=frozenset)
    _proto: Any = field(default=None, repr=False)
    _arrays: Any = field(default=None, repr=False)

    def proto(self) -> Any:
        """The model's ModelProto, exported once: the polish and the LP relaxation's prices
        read it."""
        if self._proto is None:
            self._proto = self.model.export_model()
        return self._proto

    def arrays(self) -> Any:
        """The model as NumPy arrays (planner.model.certificate.Arrays), made once: exactly
        ``Arrays.of(proto())``, but read straight from MathOpt's storage where it is there
        (planner.model.bulk), so a re-run certified without a solve exports no proto at all
        (5,000 plots: 0.02 s against 0.055 s)."""
        from planner.model import bulk
        from planner.model.certificate import Arrays

        if self._arrays is None:
            store = bulk.readable_storage(self.model)
            self._arrays = Arrays.of(self.proto()) if store is None else Arrays.of_storage(store)
        return self._arrays


def build(
    inst: Instance,
    *,
    mode: str = "target",
    relax: frozenset[str] = frozenset(),
    total: int | None = None,
    integer_flows: bool = False,
) -> Built:
    """Build the model; ``relax`` leaves constraint families out (for explanations)."""
    model = mathopt.Model(name=inst.scenario.name)
    v = create_variables(model, inst, relax=relax, integer_flows=integer_flows)
    capacity.build(model, inst, v, relax=relax, mode=mode, total=total)
    care.build(model, inst, v, relax=relax)
    mix.build(model, inst, v, relax=relax)
    regions.build(model, inst, v, relax=relax)
    groups.build(model, inst, v, relax=relax)
    budget.build(model, inst, v, relax=relax)
    objective.set_objective(model, inst, v, mode=mode)
    return Built(model=model, vars=v, mode=mode, relax=relax)


def solve_built(
    built: Built,
    options: SolveOptions,
    *,
    time_limit_s: float | None = None,
    hint: dict[mathopt.Variable, float] | None = None,
    root_only: bool = False,
) -> mathopt.SolveResult:
    """Solve with the chosen backend; threads only where the backend accepts them.

    ``root_only`` solves the root node without presolve: with a good hint that is the quickest
    way to a proof that the hint is within the gap (see ``AllocationModel._solve_target``).
    """
    solver = BACKENDS[options.backend]
    params = mathopt.SolveParameters(
        time_limit=dt.timedelta(seconds=time_limit_s or options.time_limit_s),
        relative_gap_tolerance=options.relative_gap,
        random_seed=options.seed,
        enable_output=options.verbose,
        threads=None if solver == mathopt.SolverType.HIGHS else options.workers,
    )
    if root_only:
        params.presolve = mathopt.Emphasis.OFF
        params.node_limit = 1
    # Only the plot decisions of an allocation model are read back (care assignments and flows
    # are made integral afterwards): parsing all values cost a third of a second at national
    # scale. Other models (phasing) get every value.
    model_params = mathopt.ModelSolveParameters()
    v = built.vars
    if isinstance(v, PlotVars):
        model_params.variable_values_filter = mathopt.SparseVectorFilter(
            filtered_items={*v.modules.values(), *v.used.values(), *v.support.values()}
        )
    if hint:
        model_params.solution_hints = [mathopt.SolutionHint(variable_values=hint)]
    try:
        # names (every row has one, for re-runs) are of no use to the solver: left out
        return mathopt.solve(
            built.model, solver, params=params, model_params=model_params, remove_names=True
        )
    except (ValueError, RuntimeError) as exc:
        raise SolverError(f"solver {options.backend} failed: {exc}") from None


FEASIBLE = {mathopt.TerminationReason.OPTIMAL, mathopt.TerminationReason.FEASIBLE}
INFEASIBLE = {
    mathopt.TerminationReason.INFEASIBLE,
    mathopt.TerminationReason.INFEASIBLE_OR_UNBOUNDED,
}


def _values(result: mathopt.SolveResult, v: PlotVars) -> tuple[dict[int, int], dict[int, int]]:
    values = result.variable_values()
    homes = {p: round(values[k]) for p, k in v.modules.items()}
    support = {p: round(values[s]) for p, s in v.support.items()}
    return homes, support


def hint_for(
    inst: Instance, v: PlotVars, allocation: dict[str, tuple[int, int]]
) -> dict[mathopt.Variable, float]:
    """MathOpt hint values from a previous allocation keyed by plot_id."""
    ids = inst.plots["plot_id"].to_numpy()
    hint: dict[mathopt.Variable, float] = {}
    for p, k in v.modules.items():
        homes, support = allocation.get(str(ids[p]), (0, 0))
        modules = min(max(homes // inst.module, k.lower_bound), k.upper_bound)
        hint[k] = float(modules)
        hint[v.used[p]] = 1.0 if modules > 0 else 0.0
        if p in v.support:
            s = v.support[p]
            hint[s] = float(min(max(support, 0), s.upper_bound))
    return hint


def _hint_from(result: mathopt.SolveResult, v: PlotVars) -> dict[mathopt.Variable, float]:
    values = result.variable_values()
    variables = [*v.modules.values(), *v.used.values(), *v.support.values()]
    return {var: values[var] for var in variables}


def _assignment_problem(inst: Instance, support: dict[int, int]) -> pd.DataFrame:
    """Integral care assignments: per type, the least total distance within capacity.

    A transportation problem per type (plots supply their support residents, services take them
    up to capacity), solved as a min-cost flow: integral by construction and a hundred times faster
    than a MIP at national scale. Distances are costed in whole millimetres.
    """
    columns = ["plot", "service", "type", "residents", "distance_m"]
    pairs = inst.pairs
    hosting = np.zeros(len(inst.plots), dtype=bool)
    hosting[[p for p, s in support.items() if s]] = True
    pairs = pairs[hosting[pairs["plot"].to_numpy(dtype=np.int64)]]
    kind_of = pairs["type"].to_numpy(dtype=object)
    capacity = inst.services["capacity"].to_numpy(dtype=float)
    parts = []
    for kind in inst.support_types:
        sub = pairs[kind_of == kind]
        if sub.empty:
            continue
        flows = _transport(
            sub["plot"].to_numpy(dtype=np.int64),
            sub["service"].to_numpy(dtype=np.int64),
            sub["distance_m"].to_numpy(dtype=float),
            support,
            capacity,
        )
        if flows is None:
            raise SolverError(f"could not make the {kind} assignments integral: no feasible flow")
        keep = flows > 0
        parts.append(
            pd.DataFrame(
                {
                    "plot": sub["plot"].to_numpy(dtype=int)[keep],
                    "service": sub["service"].to_numpy(dtype=int)[keep],
                    "type": kind,
                    "residents": flows[keep].astype(int),
                    "distance_m": sub["distance_m"].to_numpy(dtype=float)[keep],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _transport(
    plots: np.ndarray,
    services: np.ndarray,
    distance: np.ndarray,
    support: dict[int, int],
    capacity: np.ndarray,
) -> np.ndarray | None:
    """Residents per (plot, service) arc at least total distance, or None if infeasible."""
    from ortools.graph.python import min_cost_flow

    plot_nodes, plot_of = np.unique(plots, return_inverse=True)
    service_nodes, service_of = np.unique(services, return_inverse=True)
    n_plots, n_services = len(plot_nodes), len(service_nodes)
    sink = n_plots + n_services
    supply = np.array([support[int(p)] for p in plot_nodes], dtype=np.int64)
    total = int(supply.sum())
    limit = capacity[service_nodes]
    limit = np.where(np.isnan(limit), total, np.minimum(np.floor(limit + 1e-9), total))
    flow = min_cost_flow.SimpleMinCostFlow()
    pair_arcs = flow.add_arcs_with_capacity_and_unit_cost(
        plot_of.astype(np.int32),
        (n_plots + service_of).astype(np.int32),
        supply[plot_of],
        np.rint(distance * 1000).astype(np.int64),
    )
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(n_plots, sink, dtype=np.int32),
        np.full(n_services, sink, dtype=np.int32),
        limit.astype(np.int64),
        np.zeros(n_services, dtype=np.int64),
    )
    flow.set_nodes_supplies(
        np.arange(sink + 1, dtype=np.int32),
        np.concatenate([supply, np.zeros(n_services, np.int64), [-total]]),
    )
    if flow.solve() != flow.OPTIMAL:
        return None
    return flow.flows(pair_arcs)


def _flow_problem(inst: Instance, homes: dict[int, int]) -> pd.DataFrame:
    """Integral region flows with the homes fixed, at least travel cost."""
    columns = ["region_id", "plot", "homes", "cost_per_home"]
    demand = inst.regions.set_index("region_id")["demand"].fillna(0)
    demand = demand[demand > 0]
    if demand.empty:
        return pd.DataFrame(columns=columns)
    travel = inst.travel[inst.travel["region_id"].isin(demand.index)]
    used = [p for p, h in homes.items() if h > 0]
    travel = travel[travel["plot"].astype(int).isin(used)]
    model = mathopt.Model(name="flows")
    f = [model.add_integer_variable(lb=0) for _ in range(len(travel))]
    by_region: dict[str, list[mathopt.Variable]] = {}
    by_plot: dict[int, list[mathopt.Variable]] = {}
    for var, r, p in zip(f, travel["region_id"], travel["plot"], strict=True):
        by_region.setdefault(r, []).append(var)
        by_plot.setdefault(int(p), []).append(var)
    for r, amount in demand.items():
        model.add_linear_constraint(mathopt.fast_sum(by_region.get(r, [])) <= float(amount))
    for p, terms in by_plot.items():
        model.add_linear_constraint(mathopt.fast_sum(terms) <= homes[p])
    # Serve as much demand as possible, then at least cost (demand is met in full unless SHORTFALL).
    cost = travel["cost_per_home"].to_numpy()
    big = 1.0 + float(cost.max(initial=0.0)) * 2
    model.minimize(mathopt.fast_sum((float(c) - big) * var for c, var in zip(cost, f, strict=True)))
    res = mathopt.solve(model, mathopt.SolverType.HIGHS)
    if res.termination.reason not in FEASIBLE:
        raise SolverError(f"could not make the region flows integral: {res.termination}")
    values = res.variable_values()
    rows = [
        {
            "region_id": r,
            "plot": int(p),
            "homes": round(values[var]),
            "cost_per_home": float(c),
        }
        for var, r, p, c in zip(f, travel["region_id"], travel["plot"], cost, strict=True)
        if round(values[var]) > 0
    ]
    return pd.DataFrame(rows, columns=columns)


def evaluate_objective(inst: Instance, homes: np.ndarray, flows: pd.DataFrame) -> float:
    """The scenario's objective recomputed from an allocation (what kpis.json reports)."""
    if inst.scenario.objective == "min_cost":
        return total_cost(inst, homes, flows)
    return float(np.dot(inst.plots["suitability"].to_numpy(), homes))


def total_cost(inst: Instance, homes: np.ndarray, flows: pd.DataFrame) -> float:
    """Fixed costs of used plots + cost per home + travel costs."""
    used = homes > 0
    plots = inst.plots
    cost = float(plots["fixed_cost"].to_numpy()[used].sum())
    cost += float(np.dot(plots["cost_per_home"].to_numpy(), homes))
    if not flows.empty:
        cost += float((flows["homes"] * flows["cost_per_home"]).sum())
    return cost


def _status_name(reason: mathopt.TerminationReason) -> str:
    return "OPTIMAL" if reason == mathopt.TerminationReason.OPTIMAL else "FEASIBLE"


class AllocationModel:
    """Allocate the homes of one instance; see the module docstring for the formulation."""

    def __init__(self, instance: Instance, options: SolveOptions | None = None) -> None:
        self.inst = instance
        self.options = options or SolveOptions.from_scenario(instance)

    def solve(self) -> Result:
        """Solve, falling back to the most homes possible (SHORTFALL) when the target is out of
        reach; never raises for an infeasible target, only for solver failures."""
        inst, opts = self.inst, self.options
        integer_flows = opts.backend == "cpsat"
        started = time.perf_counter()
        phases: list[dict[str, Any]] = []
        eligible_cap = self._max_possible_homes()
        status = None
        main = None
        res = None
        self._polished: Polished | None = None
        self.lp_prices: dict[str, float] | None = None  # the guiding LP's, for a re-run
        self.main: Built | None = None  # the target model (explanations derive from it)
        self.verified: Result | None = None  # a result planner.check.verify passed already
        if eligible_cap >= inst.scenario.target_homes:
            main = build(inst, mode="target", integer_flows=integer_flows)
            self.main = main
            start = self._usable_hint(opts.hint) or self._greedy_start()
            certified = self._certified(main, start, started) if opts.hint else None
            if certified is not None:
                return certified
            hint = hint_for(inst, main.vars, start) if start else None
            res = self._solve_target(main, hint, phases)
            if res.termination.reason in FEASIBLE:
                status = _status_name(res.termination.reason)
            elif res.termination.reason not in INFEASIBLE:
                raise SolverError(
                    f"no allocation found within solver.time_limit_s={opts.time_limit_s} s "
                    f"({res.termination.reason.name}); raise the time limit"
                )
        if status is None:
            status, main, res = self._shortfall(phases, integer_flows)
        assert main is not None and res is not None
        if self.lp_prices is None and status in ("OPTIMAL", "FEASIBLE") and self._polishes:
            # prices for a later re-run, for at most a quarter of the time the solve took
            spent = time.perf_counter() - started
            self.lp_prices = relaxation_prices(main.model.name, main.arrays(), max(0.5, spent / 4))
        result = self._result(main, res, status, phases, time.perf_counter() - started)
        log.info(
            "model: %s, %d homes, objective %.4f, gap %s, %.1f s",
            result.status,
            int(result.homes.sum()),
            result.objective or 0.0,
            f"{result.gap:.2e}" if result.gap is not None else "-",
            result.solve_seconds,
        )
        return result

    def _certified(
        self, main: Built, start: dict[str, tuple[int, int]] | None, started: float
    ) -> Result | None:
        """The start itself, proven within the gap by the earlier run's prices, or None.

        A re-run (``hint``) with the earlier run's LP prices: their Lagrangian bound holds for
        this model too (planner.model.certificate). When the start (the earlier allocation,
        repaired by the greedy if the change broke it) is within ``relative_gap`` of it and
        passes every rule (planner.check), no solve is needed; otherwise the solver runs as
        usual, from the same start.
        """
        from planner.check import verify
        from planner.model.certificate import best_bound

        inst, opts = self.inst, self.options
        if not (start and opts.prices and opts.relative_gap > 0):
            return None
        clock = time.perf_counter()
        bound, maximize, best = best_bound(main.arrays(), opts.prices)
        self.lp_prices = best  # still valid for this model: a later re-run starts from them
        index = {pid: p for p, pid in enumerate(inst.plots["plot_id"].astype(str).tolist())}
        homes = np.zeros(len(inst.plots), dtype=int)
        support = np.zeros(len(inst.plots), dtype=int)
        for pid, (h, s) in start.items():
            if pid in index:
                homes[index[pid]], support[index[pid]] = h, s
        try:  # no region flows could be made for the start: not certified
            flows = _flow_problem(inst, {int(p): int(homes[p]) for p in np.flatnonzero(homes)})
        except SolverError:
            return None
        obj = evaluate_objective(inst, homes, flows)
        sense = 1.0 if maximize else -1.0
        gap = sense * (bound - obj) / max(abs(obj), 1e-9)
        log.info("re-run: the start's objective %.4f, bound from earlier prices %.4f", obj, bound)
        if not (math.isfinite(bound) and -1e-9 <= gap <= opts.relative_gap):
            return None
        phase = {
            "phase": "certificate",
            "termination": "OPTIMAL",
            "seconds": round(time.perf_counter() - clock, 3),
            "primal_bound": obj,
            "dual_bound": bound,
        }
        try:  # no integral care assignment: not certified
            result = self._allocation(
                homes, support, "OPTIMAL", bound, [phase], time.perf_counter() - started, flows
            )
        except SolverError:
            return None
        problems = verify(inst, result)
        if problems:
            log.info("re-run: the start breaks a rule here (%s); solving", problems[0])
            return None
        log.info("re-run: the start is within %.3f%% of the earlier prices' bound", 100 * gap)
        self.verified = result
        return result

    def _solve_target(
        self,
        main: Built,
        hint: dict[mathopt.Variable, float] | None,
        phases: list[dict[str, Any]],
    ) -> mathopt.SolveResult:
        """Solve for the target; with a hint and a gap to meet, first check the root alone.

        HiGHS's presolve took two thirds of the solve at national scale, while the root LP
        alone, with the greedy or earlier allocation as incumbent, mostly proves the gap already
        (5,000 plots: 1.0 s against 2.8 s). Meanwhile the second core polishes the start
        (planner.model.polish); the better allocation of the two is kept. Only when the root
        does not prove the gap is the full search run, from that allocation and within the
        time left.
        """
        opts = self.options
        limit = opts.time_limit_s
        if hint and opts.relative_gap > 0 and opts.backend == "highs":
            started = time.perf_counter()
            quick, polished = self._root_check(main, hint)
            phases.append(self._phase("root_check", quick))
            if polished is not None:
                phases.append(polished.phase)
                self.lp_prices = polished.prices
            reason = quick.termination.reason
            if reason in INFEASIBLE:
                return quick
            better = self._better(main, quick, polished)
            if reason == mathopt.TerminationReason.OPTIMAL:
                self._polished = better
                return quick
            # the full search starts from the best allocation so far
            if better is not None:
                hint = hint_for(self.inst, main.vars, self._by_plot_id(better))
            elif reason in FEASIBLE and quick.has_primal_feasible_solution():
                hint = _hint_from(quick, main.vars)
            limit = max(limit - (time.perf_counter() - started), 1.0)
        res = solve_built(main, opts, hint=hint, time_limit_s=limit)
        phases.append(self._phase("target", res))
        if self._polishes and self._short_of_proven(res):
            # no start to polish beside the root check (no greedy allocation): polish afterwards
            values = res.variable_values()
            start = {p for p, used in main.vars.used.items() if values[used] > 0.5}
            _, polished = polish_allocation(
                self.inst, main, _hint_from(res, main.vars), start, limit
            )
            if polished is not None:
                phases.append(polished.phase)
                self.lp_prices = polished.prices
            self._polished = self._better(main, res, polished)
        return res

    @property
    def _polishes(self) -> bool:
        opts = self.options
        return opts.polish and opts.relative_gap > 0 and opts.backend == "highs"

    @staticmethod
    def _short_of_proven(res: mathopt.SolveResult) -> bool:
        """An allocation found, but stopped at the gap rather than proven optimal."""
        if res.termination.reason not in FEASIBLE or not res.has_primal_feasible_solution():
            return False
        bounds = res.termination.objective_bounds
        return abs(bounds.primal_bound - bounds.dual_bound) > 1e-9 * max(
            1.0, abs(bounds.dual_bound)
        )

    def _root_check(
        self, main: Built, hint: dict[mathopt.Variable, float]
    ) -> tuple[mathopt.SolveResult, Polished | None]:
        """The root check, with the polish beside it on the other core (or after it, with one
        worker) when it is on."""
        opts = self.options

        def check() -> mathopt.SolveResult:
            return solve_built(main, opts, hint=hint, root_only=True)

        if not self._polishes:
            return check(), None
        start = {p for p, used in main.vars.used.items() if hint.get(used, 0.0) > 0.5}
        if opts.workers <= 1:
            quick = check()
            return quick, polish_allocation(self.inst, main, hint, start, opts.time_limit_s)[1]
        quick, polished = polish_allocation(
            self.inst, main, hint, start, opts.time_limit_s, beside=check
        )
        assert quick is not None
        return quick, polished

    @staticmethod
    def _better(
        main: Built, res: mathopt.SolveResult, polished: Polished | None
    ) -> Polished | None:
        """The polished allocation if it beats the solver's, else None."""
        if polished is None or not res.has_primal_feasible_solution():
            return polished
        sense = 1.0 if main.model.objective.is_maximize else -1.0
        return polished if sense * (polished.objective - res.objective_value()) > 1e-9 else None

    def _by_plot_id(self, polished: Polished) -> dict[str, tuple[int, int]]:
        ids = self.inst.plots["plot_id"].astype(str).to_numpy()
        return {
            ids[p]: (k * self.inst.module, polished.support.get(p, 0))
            for p, k in polished.modules.items()
            if k > 0
        }

    def _usable_hint(
        self, hint: dict[str, tuple[int, int]] | None
    ) -> dict[str, tuple[int, int]] | None:
        """A previous allocation as the start, repaired where the change broke it.

        If it still places exactly the target on eligible plots here it is used as it is (the
        solver checks the rest). Otherwise (a plot removed or made ineligible, a rule
        tightened) the greedy places it first, as far as the rules allow, and completes it, so
        a re-run still starts from, and stays close to, the earlier plan.
        """
        if not hint:
            return None
        plots = self.inst.plots
        ids = plots["plot_id"].astype(str).tolist()  # a list: iterating the column is slower
        eligible = dict(zip(ids, plots["eligible"].tolist(), strict=True))
        placed = sum(h for pid, (h, _) in hint.items() if eligible.get(pid, False))
        if placed == self.inst.scenario.target_homes:
            return hint
        index = {pid: p for p, pid in enumerate(ids)}
        seed = {index[pid]: h for pid, (h, _) in hint.items() if pid in index and h > 0}
        repaired = self._greedy(seed)
        log.info(
            "warm start: the earlier allocation places %d of %d homes here; %s",
            placed,
            self.inst.scenario.target_homes,
            "completed by the greedy" if repaired else "the greedy could not complete it",
        )
        return repaired

    def _greedy_start(self) -> dict[str, tuple[int, int]] | None:
        """The greedy heuristic's allocation as a starting point (when warm_start is greedy)."""
        return self._greedy() if self.options.warm_start == "greedy" else None

    def _greedy(self, seed: dict[int, int] | None = None) -> dict[str, tuple[int, int]] | None:
        """The greedy's allocation (placing ``seed`` first, if given) by plot_id, or None."""
        from planner.greedy import greedy_allocation

        greedy = greedy_allocation(self.inst, seed=seed)
        if greedy.status not in ("FEASIBLE", "OPTIMAL"):
            return None
        ids = self.inst.plots["plot_id"].to_numpy()
        return {
            str(pid): (int(h), int(s))
            for pid, h, s in zip(ids, greedy.homes, greedy.support, strict=True)
            if h > 0
        }

    def _max_possible_homes(self) -> int:
        plots = self.inst.plots
        eligible = plots["eligible"].to_numpy()
        fixed = plots["fixed_homes"].to_numpy(dtype=float)
        cap = np.where(np.isnan(fixed), plots["capacity"].to_numpy(), fixed)
        return int(cap[eligible].sum())

    def _phase(self, name: str, res: mathopt.SolveResult) -> dict[str, Any]:
        bounds = res.termination.objective_bounds
        return {
            "phase": name,
            "termination": res.termination.reason.name,
            "seconds": res.solve_time().total_seconds(),
            "primal_bound": bounds.primal_bound,
            "dual_bound": bounds.dual_bound,
        }

    def _shortfall(
        self, phases: list[dict[str, Any]], integer_flows: bool
    ) -> tuple[str, Built, mathopt.SolveResult]:
        """Most homes possible, then the objective with that total fixed."""
        inst, opts = self.inst, self.options
        most = build(inst, mode="max_homes", integer_flows=integer_flows)
        res = solve_built(most, opts)
        phases.append(self._phase("max_homes", res))
        if res.termination.reason in INFEASIBLE:
            return "INFEASIBLE", most, res
        if res.termination.reason not in FEASIBLE:
            raise SolverError(
                f"no allocation found within solver.time_limit_s={opts.time_limit_s} s "
                f"({res.termination.reason.name}); raise the time limit"
            )
        homes, _ = _values(res, most.vars)
        total = sum(homes.values()) * inst.module
        fixed = build(inst, mode="fixed_total", total=total, integer_flows=integer_flows)
        hint_values = _hint_from(res, most.vars)
        mapping = {
            **dict(zip(most.vars.modules.values(), fixed.vars.modules.values(), strict=True)),
            **dict(zip(most.vars.used.values(), fixed.vars.used.values(), strict=True)),
            **dict(zip(most.vars.support.values(), fixed.vars.support.values(), strict=True)),
        }
        hint = {mapping[var]: value for var, value in hint_values.items()}
        res2 = solve_built(fixed, opts, hint=hint)
        phases.append(self._phase("fixed_total", res2))
        if res2.termination.reason not in FEASIBLE:
            return "SHORTFALL", most, res
        return "SHORTFALL", fixed, res2

    def _result(
        self,
        built: Built,
        res: mathopt.SolveResult,
        status: str,
        phases: list[dict[str, Any]],
        seconds: float,
    ) -> Result:
        inst = self.inst
        n = len(inst.plots)
        homes = np.zeros(n, dtype=int)
        support = np.zeros(n, dtype=int)
        polished = self._polished if built.mode == "target" else None
        if status != "INFEASIBLE":
            h, s = (polished.modules, polished.support) if polished else _values(res, built.vars)
            for p, k in h.items():
                homes[p] = k * inst.module
            for p, value in s.items():
                support[p] = value
        bound = None
        if status in ("OPTIMAL", "FEASIBLE") or (
            status == "SHORTFALL" and built.mode == "fixed_total"
        ):
            bound = float(res.termination.objective_bounds.dual_bound)
            if not math.isfinite(bound):
                bound = None
        return self._allocation(homes, support, status, bound, phases, seconds)

    def _allocation(
        self,
        homes: np.ndarray,
        support: np.ndarray,
        status: str,
        bound: float | None,
        phases: list[dict[str, Any]],
        seconds: float,
        flows: pd.DataFrame | None = None,
    ) -> Result:
        """The Result of homes and support homes per plot: integral care assignments and
        region flows (``flows`` if already made), the objective and its gap to ``bound``."""
        inst = self.inst
        assignments = _assignment_problem(
            inst, {int(p): int(support[p]) for p in np.flatnonzero(support)}
        )
        if flows is None:
            flows = _flow_problem(inst, {int(p): int(homes[p]) for p in np.flatnonzero(homes)})
        obj = evaluate_objective(inst, homes, flows) if status != "INFEASIBLE" else None
        gap = None
        if obj is not None and bound is not None:
            gap = abs(bound - obj) / max(abs(obj), 1e-9)
            if abs(bound - obj) <= 1e-9:
                gap = 0.0
        return Result(
            status=status,
            homes=homes,
            support=support,
            assignments=assignments,
            flows=flows,
            objective=obj,
            best_bound=bound,
            gap=gap,
            solve_seconds=seconds,
            solver=self.options.backend,
            phases=phases,
        )
