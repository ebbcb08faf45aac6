"""One allocation model, solved side by side: Flexplan's default path against its peers.

For each instance (OR-Library CFLP files through ``geodata.importers.orlib``, and national
instances from ``benchmarks/national.py``) the layers are loaded and turned into one
``Instance``; then the same formulation (the docstring of ``planner.model``) is solved by

- ``mathopt-highs``: Flexplan's path (``AllocationModel``, MathOpt + HiGHS, the default);
  ``mathopt-highs-no-polish`` the same with ``solver.polish`` off (planner/model/polish.py);
  ``mathopt-scip`` and ``mathopt-cpsat`` with ``--all-backends``;
- ``highspy``: the MathOpt model exported (``Model.export_model()``) and handed to highspy;
- ``pulp-cbc``: the formulation written again from the Instance in PuLP and solved by CBC (the
  spopt stack), with both of the machine's cores;
- ``greedy``: ``planner.greedy.greedy_allocation`` (no bound).

Every allocation that comes back is made integral the way Flexplan does it (care assignments and
region flows re-solved with the homes fixed) and checked with ``planner.check.verify``. Seconds
include building the model. The gap of the greedy is measured against the best bound any solver
proved.

    .venv/bin/python benchmarks/peers.py           # CFLP subset, national 1,000 and 5,000
    .venv/bin/python benchmarks/peers.py --cflp all --national 1000,5000 --all-backends
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# OR-Tools before PuLP: pulp imports highspy, and once highspy's HiGHS library is loaded first a
# MathOpt HiGHS solve segfaults (ortools 9.15.6755, highspy 1.16.0, measured).
import ortools.math_opt.python.mathopt  # noqa: F401
import pulp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.national import cached_instance, print_table  # noqa: E402
from planner.check import verify  # noqa: E402
from planner.instance import Instance, build_instance  # noqa: E402
from planner.model import (  # noqa: E402
    AllocationModel,
    SolveOptions,
    _assignment_problem,
    _flow_problem,
    build,
    evaluate_objective,
)
from planner.pipeline import load_layers  # noqa: E402
from planner.result import Result  # noqa: E402
from planner.scenario import Scenario, load_scenario  # noqa: E402

CFLP_DATA = ROOT.parent / "shared" / "data" / "cflp"
CFLP_DEFAULT = "cap41,cap71,cap101,cap131"
EPS = 1e-9
SAME = 1e-6  # objectives this close (relative) are equal: solver tolerances are about 1e-6


@dataclass
class Outcome:
    """One solver on one instance."""

    instance: str
    solver: str
    status: str
    objective: float | None
    bound: float | None
    seconds: float
    build_seconds: float | None
    problems: int | None  # rules broken by the allocation (verify); None when there is none

    def gap(self, bound: float | None = None) -> float | None:
        """Relative gap to its own bound, or to ``bound`` when given."""
        bound = self.bound if bound is None else bound
        if self.objective is None or bound is None:
            return None
        return abs(bound - self.objective) / max(abs(self.objective), EPS)


@dataclass
class Case:
    """An instance: its label, the Instance and, for CFLP, Beasley's published optimum."""

    label: str
    inst: Instance
    optimum: float | None = None


# --------------------------------------------------------------------------- instances


def _instance(scenario: Scenario, gap: float, time_limit: float) -> Instance:
    scenario = scenario.model_copy(
        update={
            "solver": scenario.solver.model_copy(
                update={"relative_gap": gap, "time_limit_s": time_limit}
            )
        }
    )
    return build_instance(load_layers(scenario), scenario)


def _optima() -> dict[str, float]:
    path = CFLP_DATA / "optima.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    key = next(k for k in rows[0] if "opt" in k.lower())
    name = next(k for k in rows[0] if k != key)
    return {row[name]: float(row[key]) for row in rows if row[key]}


def cflp_cases(names: str, gap: float, time_limit: float, work: Path) -> list[Case]:
    """CFLP files converted by the OR-Library importer (capa/b/c need a capacity: skipped)."""
    from geodata.importers.orlib import read_orlib_cflp, write_instance

    if names == "all":
        files = sorted(CFLP_DATA.glob("cap[0-9]*.txt"), key=lambda p: int(p.stem[3:]))
    else:
        files = [CFLP_DATA / f"{n}.txt" for n in names.split(",") if n]
    optima = _optima()
    cases = []
    for path in files:
        if not path.is_file():
            print(f"skipped {path}: not found")
            continue
        folder = work / path.stem
        write_instance(read_orlib_cflp(path), folder)
        scenario = load_scenario(folder / "scenario.yaml")
        cases.append(Case(path.stem, _instance(scenario, gap, time_limit), optima.get(path.stem)))
    return cases


def national_cases(sizes: str, gap: float, time_limit: float) -> list[Case]:
    cases = []
    for plots in (int(s) for s in sizes.split(",") if s and s != "none"):
        scenario = load_scenario(cached_instance(plots))
        cases.append(Case(f"national-{plots}", _instance(scenario, gap, time_limit)))
    return cases


# --------------------------------------------------------------------------- results


def allocation_result(
    inst: Instance, homes: np.ndarray, support: np.ndarray, *, solver: str, seconds: float
) -> Result:
    """A Result from homes and support per plot: assignments and flows made integral as
    ``AllocationModel`` does, the objective recomputed from the allocation."""
    assignments = _assignment_problem(
        inst, {int(p): int(support[p]) for p in np.flatnonzero(support)}
    )
    flows = _flow_problem(inst, {int(p): int(homes[p]) for p in np.flatnonzero(homes)})
    return Result(
        status="FEASIBLE",
        homes=homes,
        support=support,
        assignments=assignments,
        flows=flows,
        objective=evaluate_objective(inst, homes, flows),
        best_bound=None,
        gap=None,
        solve_seconds=seconds,
        solver=solver,
    )


NO_POLISH = "-no-polish"  # the default path with solver.polish off (not a peer)
UNPOLISHED = "mathopt-highs" + NO_POLISH


def _arrays(inst: Instance) -> tuple[np.ndarray, np.ndarray]:
    n = len(inst.plots)
    return np.zeros(n, dtype=int), np.zeros(n, dtype=int)


# --------------------------------------------------------------------------- solvers


def solve_mathopt(
    case: Case, backend: str, gap: float, time_limit: float, *, polish: bool = True
) -> Outcome:
    """Flexplan's own path: AllocationModel with the given backend (and solver.polish)."""
    inst = case.inst
    started = time.perf_counter()
    options = SolveOptions.from_scenario(
        inst,
        backend=backend,
        relative_gap=gap,
        time_limit_s=time_limit,
        explain=False,
        polish=polish,
    )
    result = AllocationModel(inst, options).solve()
    seconds = time.perf_counter() - started
    feasible = result.status in ("OPTIMAL", "FEASIBLE")
    return Outcome(
        case.label,
        f"mathopt-{backend}" + ("" if polish or backend != "highs" else NO_POLISH),
        result.status,
        result.objective,
        result.best_bound,
        seconds,
        None,
        len(verify(inst, result)) if feasible else None,
    )


def solve_highspy(case: Case, gap: float, time_limit: float) -> Outcome:
    """The MathOpt model exported as a ModelProto and passed to highspy as one HighsLp."""
    import highspy
    import scipy.sparse as sp

    inst = case.inst
    started = time.perf_counter()
    built = build(inst, mode="target")
    proto = built.model.export_model()
    var_ids = np.asarray(proto.variables.ids)
    row_ids = np.asarray(proto.linear_constraints.ids)
    n, m = len(var_ids), len(row_ids)
    matrix = proto.linear_constraint_matrix
    a = sp.csc_matrix(
        (
            np.asarray(matrix.coefficients),
            (
                np.searchsorted(row_ids, np.asarray(matrix.row_ids)),
                np.searchsorted(var_ids, np.asarray(matrix.column_ids)),
            ),
        ),
        shape=(m, n),
    )
    cost = np.zeros(n)
    obj = proto.objective.linear_coefficients
    cost[np.searchsorted(var_ids, np.asarray(obj.ids))] = np.asarray(obj.values)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = cost
    lp.offset_ = proto.objective.offset
    lp.sense_ = (
        highspy.ObjSense.kMaximize if proto.objective.maximize else highspy.ObjSense.kMinimize
    )
    lp.col_lower_ = np.asarray(proto.variables.lower_bounds)
    lp.col_upper_ = np.asarray(proto.variables.upper_bounds)
    lp.row_lower_ = np.asarray(proto.linear_constraints.lower_bounds)
    lp.row_upper_ = np.asarray(proto.linear_constraints.upper_bounds)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
    lp.integrality_ = [integer if i else continuous for i in proto.variables.integers]
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("mip_rel_gap", gap)
    highs.setOptionValue("time_limit", float(time_limit))
    highs.setOptionValue("random_seed", inst.scenario.solver.seed)
    highs.passModel(lp)
    build_seconds = time.perf_counter() - started
    highs.run()
    info = highs.getInfo()
    status = highs.modelStatusToString(highs.getModelStatus())
    values = np.asarray(highs.getSolution().col_value)
    if info.primal_solution_status != 2:  # kSolutionStatusFeasible
        seconds = time.perf_counter() - started
        return Outcome(case.label, "highspy", status, None, None, seconds, build_seconds, None)
    position = {int(v): i for i, v in enumerate(var_ids)}
    homes, support = _arrays(inst)
    for p, k in built.vars.modules.items():
        homes[p] = round(values[position[k.id]]) * inst.module
    for p, s in built.vars.support.items():
        support[p] = round(values[position[s.id]])
    result = allocation_result(inst, homes, support, solver="highspy", seconds=0.0)
    seconds = time.perf_counter() - started  # with the integral allocation, as AllocationModel
    return Outcome(
        case.label,
        "highspy",
        status,
        result.objective,
        float(info.mip_dual_bound),
        seconds,
        build_seconds,
        len(verify(inst, result)),
    )


class PulpModel:
    """The formulation of ``planner.model`` written again in PuLP, from the Instance alone."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        sc = inst.scenario
        self.min_cost = sc.objective == "min_cost"
        sense = pulp.LpMinimize if self.min_cost else pulp.LpMaximize
        self.prob = pulp.LpProblem("flexplan", sense)
        self.k: dict[int, pulp.LpVariable] = {}
        self.y: dict[int, pulp.LpVariable] = {}
        self.s: dict[int, pulp.LpVariable] = {}
        self.x: dict[int, pulp.LpVariable] = {}
        self.f: dict[tuple[str, int], pulp.LpVariable] = {}
        self._variables()
        self._plot_rules()
        self._care()
        self._mix()
        self._regions()
        self._groups_and_budget()
        self.prob += self._objective()

    def homes(self, p: int) -> pulp.LpAffineExpression:
        return self.inst.module * self.k[p]

    def _variables(self) -> None:
        inst, plots = self.inst, self.inst.plots
        module = inst.module
        max_share = inst.scenario.support.max_share_per_plot
        eligible = np.flatnonzero(plots["eligible"].to_numpy())
        fixed = plots["fixed_homes"].to_numpy(dtype=float)
        capacity = plots["capacity"].to_numpy()
        types = inst.support_types
        reach = inst.pairs.groupby("plot")["type"].nunique()
        full = set(reach[reach == len(types)].index.tolist()) if types else set(eligible.tolist())
        for p in eligible.tolist():
            cap = int(capacity[p]) if np.isnan(fixed[p]) else int(fixed[p])
            lo = 0 if np.isnan(fixed[p]) else cap // module
            self.k[p] = self.prob.add_variable(f"k{p}", lo, cap // module, cat=pulp.LpInteger)
            self.y[p] = self.prob.add_variable(f"y{p}", 0 if lo == 0 else 1, 1, cat=pulp.LpInteger)
            if p in full:
                upper = math.floor(max_share * cap + EPS)
                self.s[p] = self.prob.add_variable(f"s{p}", 0, upper, cat=pulp.LpInteger)
        if types:
            for r, p in enumerate(inst.pairs["plot"].to_numpy().tolist()):
                if p in self.s:
                    self.x[r] = self.prob.add_variable(f"x{r}", 0)
        regions = inst.regions
        demand = set(regions.loc[regions["demand"].fillna(0) > 0, "region_id"])
        for region_id, p in zip(inst.travel["region_id"], inst.travel["plot"], strict=True):
            if region_id in demand and int(p) in self.k:
                self.f[(region_id, int(p))] = self.prob.add_variable(f"f{len(self.f)}", 0)

    def _plot_rules(self) -> None:
        plots = self.inst.plots
        fixed = plots["fixed_homes"].to_numpy(dtype=float)
        for p in self.k:
            if np.isnan(fixed[p]):
                cap, low = int(plots["capacity"].iat[p]), int(plots["min_homes"].iat[p])
                self.prob += self.homes(p) <= cap * self.y[p]
                self.prob += self.homes(p) >= low * self.y[p]
        total = pulp.lpSum(self.inst.module * k for k in self.k.values())
        self.prob += total == self.inst.scenario.target_homes

    def _care(self) -> None:
        pairs = self.inst.pairs
        plots, types, services = (pairs[c].to_numpy() for c in ("plot", "type", "service"))
        by_plot_type: dict[tuple[int, str], list[pulp.LpVariable]] = {}
        by_service: dict[int, list[pulp.LpVariable]] = {}
        for r, var in self.x.items():
            by_plot_type.setdefault((int(plots[r]), str(types[r])), []).append(var)
            by_service.setdefault(int(services[r]), []).append(var)
        for p, s in self.s.items():
            for kind in self.inst.support_types:
                terms = [(v, 1.0) for v in by_plot_type.get((p, kind), [])]
                self.prob += pulp.LpAffineExpression([*terms, (s, -1.0)]) == 0
        capacity = self.inst.services["capacity"].to_numpy(dtype=float)
        for j, terms in by_service.items():
            if not np.isnan(capacity[j]):
                self.prob += pulp.LpAffineExpression([(v, 1.0) for v in terms]) <= capacity[j]

    def _mix(self) -> None:
        support = self.inst.scenario.support
        for p, s in self.s.items():
            self.prob += s <= support.max_share_per_plot * self.homes(p)
        if support.min_share > 0:
            total = pulp.lpSum(self.homes(p) for p in self.k)
            self.prob += pulp.lpSum(self.s.values()) >= support.min_share * total
        cap = dict(zip(self.inst.buurten["buurt_id"], self.inst.buurten["cap"], strict=True))
        members: dict[str, list[int]] = {}
        for p in self.k:
            buurt = self.inst.plots["buurt_id"].iat[p]
            if isinstance(buurt, str):
                members.setdefault(buurt, []).append(p)
        for buurt, plots in sorted(members.items()):
            self.prob += pulp.lpSum(self.homes(p) for p in plots) <= int(cap[buurt])

    def _regions(self) -> None:
        members: dict[str, list[int]] = {}
        for p in self.k:
            region = self.inst.plots["region_id"].iat[p]
            if isinstance(region, str):
                members.setdefault(region, []).append(p)
        into: dict[int, list[pulp.LpVariable]] = {}
        out_of: dict[str, list[pulp.LpVariable]] = {}
        for (r, p), var in self.f.items():
            into.setdefault(p, []).append(var)
            out_of.setdefault(r, []).append(var)
        for row in self.inst.regions.itertuples(index=False):
            homes = pulp.lpSum(self.homes(p) for p in members.get(row.region_id, []))
            if not np.isnan(row.min_homes):
                self.prob += homes >= row.min_homes
            if not np.isnan(row.max_homes):
                self.prob += homes <= row.max_homes
            if not np.isnan(row.demand) and row.demand > 0:
                self.prob += pulp.lpSum(out_of.get(row.region_id, [])) == float(row.demand)
        for p, terms in into.items():
            self.prob += pulp.lpSum(terms) <= self.homes(p)

    def _cost(self) -> pulp.LpAffineExpression:
        plots = self.inst.plots
        terms = [(self.y[p], float(plots["fixed_cost"].iat[p])) for p in self.k]
        terms += [
            (self.k[p], self.inst.module * float(plots["cost_per_home"].iat[p])) for p in self.k
        ]
        travel = self.inst.travel
        cost = {
            (r, int(p)): float(c)
            for r, p, c in zip(
                travel["region_id"], travel["plot"], travel["cost_per_home"], strict=True
            )
        }
        terms += [(var, cost[key]) for key, var in self.f.items()]
        return pulp.LpAffineExpression([(v, c) for v, c in terms if c])

    def _groups_and_budget(self) -> None:
        groups: dict[str, list[int]] = {}
        for p in self.k:
            group = self.inst.plots["group"].iat[p]
            if isinstance(group, str) and group:
                groups.setdefault(group, []).append(p)
        for plots in groups.values():
            if len(plots) > 1:
                self.prob += pulp.lpSum(self.y[p] for p in plots) <= 1
        budget = self.inst.scenario.budget_eur
        if budget is not None:
            self.prob += self._cost() <= budget

    def _objective(self) -> pulp.LpAffineExpression:
        if self.min_cost:
            return self._cost()
        score = self.inst.plots["suitability"].to_numpy()
        terms = [(k, self.inst.module * float(score[p])) for p, k in self.k.items() if score[p]]
        return pulp.LpAffineExpression(terms)

    def allocation(self) -> tuple[np.ndarray, np.ndarray]:
        homes, support = _arrays(self.inst)
        for p, k in self.k.items():
            homes[p] = round(k.value() or 0) * self.inst.module
        for p, s in self.s.items():
            support[p] = round(s.value() or 0)
        return homes, support


def _cbc_bound(log_path: Path) -> float | None:
    """CBC's best bound from its log: 'Upper bound' when maximising, 'Lower bound' when
    minimising (in the problem's own sense); the objective itself when it proved optimality."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    found = re.findall(r"(?:Lower|Upper) bound:\s*(-?[\d.eE+-]+)", text)
    if found:
        return float(found[-1])
    if "Optimal solution found" in text and "within gap tolerance" not in text:
        value = re.findall(r"Objective value:\s*(-?[\d.eE+-]+)", text)
        return float(value[-1]) if value else None
    return None


def solve_pulp(case: Case, gap: float, time_limit: float, threads: int) -> Outcome:
    """PuLP model from the Instance, CBC (bundled with PuLP) with a relative gap and time limit."""
    inst = case.inst
    started = time.perf_counter()
    model = PulpModel(inst)
    build_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "cbc.log"
        with warnings.catch_warnings():
            # PuLP 3.3 deprecates PULP_CBC_CMD for 4.0 (COIN_CMD + `pulp[cbc]`); it is still the
            # way to the CBC binary inside the pulp wheel that spopt users have.
            warnings.simplefilter("ignore", DeprecationWarning)
            solver = pulp.PULP_CBC_CMD(
                msg=False,
                gapRel=gap,
                timeLimit=time_limit,
                threads=threads,
                logPath=str(log_path),
            )
        model.prob.solve(solver)
        bound = _cbc_bound(log_path) if log_path.is_file() else None
    status = pulp.LpStatus[model.prob.status]
    if model.prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        seconds = time.perf_counter() - started
        return Outcome(case.label, "pulp-cbc", status, None, None, seconds, build_seconds, None)
    homes, support = model.allocation()
    result = allocation_result(inst, homes, support, solver="pulp-cbc", seconds=0.0)
    seconds = time.perf_counter() - started  # with the integral allocation, as AllocationModel
    return Outcome(
        case.label,
        "pulp-cbc",
        status,
        result.objective,
        bound,
        seconds,
        build_seconds,
        len(verify(inst, result)),
    )


def solve_greedy(case: Case) -> Outcome:
    from planner.greedy import greedy_allocation

    started = time.perf_counter()
    result = greedy_allocation(case.inst)
    seconds = time.perf_counter() - started
    ok = result.status in ("FEASIBLE", "OPTIMAL")
    return Outcome(
        case.label,
        "greedy",
        result.status,
        result.objective if ok else None,
        None,
        seconds,
        None,
        len(verify(case.inst, result)) if ok else None,
    )


# --------------------------------------------------------------------------- table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.3f}%"


def _best_bound(case: Case, outcomes: Sequence[Outcome]) -> float | None:
    """The tightest bound proven on the case (or the published optimum)."""
    if case.optimum is not None:
        return case.optimum
    bounds = [o.bound for o in outcomes if o.bound is not None and math.isfinite(o.bound)]
    if not bounds:
        return None
    return min(bounds) if case.inst.scenario.objective != "min_cost" else max(bounds)


def rows_for(case: Case, outcomes: Sequence[Outcome]) -> list[list[object]]:
    best = _best_bound(case, outcomes)
    return [
        [
            o.instance,
            o.solver,
            o.status,
            "-" if o.objective is None else f"{o.objective:,.3f}",
            "-" if o.bound is None else f"{o.bound:,.3f}",
            _pct(o.gap()),
            _pct(o.gap(best)),
            f"{o.seconds:.2f}",
            "-" if o.build_seconds is None else f"{o.build_seconds:.2f}",
            "-" if o.problems is None else ("ok" if o.problems == 0 else f"{o.problems} broken"),
        ]
        for o in outcomes
    ]


def _versus(outcome: Outcome, best: Outcome, sign: float) -> str:
    """'at least as good as' or 'WORSE than' the best peer, with the relative difference."""
    assert outcome.objective is not None and best.objective is not None
    delta = sign * (outcome.objective - best.objective) / max(abs(best.objective), EPS)
    word = "at least as good as" if delta >= -SAME else "WORSE than"
    return f"{word} the best peer ({best.solver}, {delta:+.4%})"


def verdict(case: Case, outcomes: Sequence[Outcome]) -> str:
    """Is the default at least as good as every peer, and how much faster than PuLP+CBC?"""
    by = {o.solver: o for o in outcomes}
    default = by["mathopt-highs"]
    if default.objective is None:
        return f"{case.label}: the default path found no allocation"
    sign = -1.0 if case.inst.scenario.objective == "min_cost" else 1.0
    plain = by.get(UNPOLISHED)
    peers = [o for o in outcomes if o not in (default, plain) and o.objective is not None]
    best = max(peers, key=lambda o: sign * o.objective, default=None)  # type: ignore[operator]
    pulp_run = by.get("pulp-cbc")
    if pulp_run is not None and pulp_run.objective is None:
        pulp_run = None
    text = f"{case.label}: default {default.objective:,.3f}"
    if best is not None:
        text += f", {_versus(default, best, sign)}"
    if pulp_run is not None:
        text += f"; {pulp_run.seconds / default.seconds:.1f}x faster than PuLP+CBC"
    if plain is not None and plain.objective is not None and best is not None:
        text += f". Without polish {plain.objective:,.3f} in {plain.seconds:.2f} s, "
        text += _versus(plain, best, sign)
        if pulp_run is not None:
            text += f", {pulp_run.seconds / plain.seconds:.1f}x faster than PuLP+CBC"
    return text


def run(args: argparse.Namespace) -> int:
    backends = ["highs", "scip", "cpsat"] if args.all_backends else ["highs"]
    solvers: list[tuple[str, Callable[[Case], Outcome]]] = [
        *(
            (f"mathopt-{b}", lambda c, b=b: solve_mathopt(c, b, args.gap, args.time_limit))
            for b in backends
        ),
        (UNPOLISHED, lambda c: solve_mathopt(c, "highs", args.gap, args.time_limit, polish=False)),
        ("highspy", lambda c: solve_highspy(c, args.gap, args.time_limit)),
        ("pulp-cbc", lambda c: solve_pulp(c, args.gap, args.time_limit, args.cbc_threads)),
        ("greedy", solve_greedy),
    ]
    rows: list[list[object]] = []
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="flexplan-peers-") as tmp:
        cases = []
        if args.cflp != "none":
            if CFLP_DATA.is_dir():
                cases += cflp_cases(args.cflp, args.gap, args.time_limit, Path(tmp))
            else:
                print(f"CFLP skipped: {CFLP_DATA} not found")
        cases += national_cases(args.national, args.gap, args.time_limit)
        for case in cases:
            outcomes = []
            for name, solve in solvers:
                outcome = solve(case)
                print(f"  {case.label:<16} {name:<14} {outcome.seconds:8.2f} s", flush=True)
                outcomes.append(outcome)
            rows += rows_for(case, outcomes)
            verdicts.append(verdict(case, outcomes))
    print(f"\nrelative gap asked: {args.gap:.3%}, time limit {args.time_limit:.0f} s")
    print_table(
        [
            "instance",
            "solver",
            "status",
            "objective",
            "best bound",
            "own gap",
            "gap to best bound",
            "seconds",
            "build s",
            "verify",
        ],
        rows,
    )
    print(
        "\n'gap to best bound': to Beasley's optimum for CFLP, else to the tightest bound proven."
    )
    for line in verdicts:
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/peers.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cflp", default=CFLP_DEFAULT, help="cap names, 'all' or 'none'")
    parser.add_argument("--national", default="1000,5000", help="plots per national instance")
    parser.add_argument("--gap", type=float, default=0.005, help="relative gap for every solver")
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--cbc-threads", type=int, default=2)
    parser.add_argument("--all-backends", action="store_true", help="also MathOpt SCIP, CP-SAT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
