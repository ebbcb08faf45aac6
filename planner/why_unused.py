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
solved then. planner.explain.plot_reasons calls this and falls back to rule checks if the LP
fails.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field
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
    col: dict[int, int]
    values: np.ndarray
    margin: float | None
    sense: float
    support_ub: dict[int, float]
    support_off: set[int]
    rows: dict[str, float] = field(default_factory=dict)  # price per named row, for a re-run
    names: list[str] = field(default_factory=list)  # column names, in the order of ``values``


@dataclass
class Pricing:
    """The final pricing LP, kept for a re-run (planner.rerun): nonzero row prices and column
    values by name, and the unused plots (plot_id) whose support homes it had (None: all)."""

    rows: dict[str, float]
    values: dict[str, float]
    support_on: list[str] | None


def _family(name: str) -> str | None:
    for prefix, family in _PREFIXES:
        if name == prefix or (prefix.endswith("[") and name.startswith(prefix)):
            return family
    return None


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
class _Derived:
    """The pricing LP over all columns, before a round leaves support columns out."""

    arrays: Arrays
    target: int | None  # the homes-total row
    proto: Any  # the model proto it came from


def _derived_lp(inst: Instance, result: Result, main: Built) -> _Derived:
    """The pricing LP (module docstring) as arrays, derived from a built model: continuous,
    every used plot open, each minimum-homes row at one module (the LP cannot price project
    sizes)."""
    proto = main.model.export_model()
    arrays = Arrays.of(proto)
    v = main.vars
    col = np.searchsorted(arrays.var_ids, [v.used[p].id for p in v.used])
    used_col = dict(zip(v.used, col.tolist(), strict=True))
    ids = inst.plots["plot_id"].astype(str).to_numpy()
    plot_of = {pid: p for p, pid in enumerate(ids)}
    names = arrays.row_names
    used_col_of_row = np.full(len(names), -1, dtype=np.int64)
    target = None
    for i, name in enumerate(names):
        if name.startswith("min_homes["):
            used_col_of_row[i] = used_col[plot_of[name[len("min_homes[") : -1]]]
        elif name == "target":
            target = i
    coo = arrays.matrix.tocoo()
    drop = used_col_of_row[coo.row] == coo.col
    rows = np.flatnonzero(used_col_of_row >= 0)
    matrix = sp.csr_matrix(
        (
            np.concatenate([coo.data[~drop], np.full(len(rows), -float(inst.module))]),
            (
                np.concatenate([coo.row[~drop], rows]),
                np.concatenate([coo.col[~drop], used_col_of_row[rows]]),
            ),
        ),
        shape=arrays.matrix.shape,
    )
    lx = arrays.lx.copy()
    lx[[used_col[p] for p in v.used if result.homes[p] > 0]] = 1.0
    return _Derived(dataclasses.replace(arrays, matrix=matrix, lx=lx), target, proto)


def _lp_prices(
    inst: Instance,
    result: Result,
    main: Built,
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
    arrays, target, proto = derived.arrays, derived.target, derived.proto
    v = main.vars
    col = {int(i): c for c, i in enumerate(arrays.var_ids)}
    off = np.zeros(len(result.homes), dtype=bool)
    keep = np.ones(len(arrays.var_ids), dtype=bool)
    ux = arrays.ux.copy()
    if support_on is not None:
        off = (result.homes == 0) & ~np.isin(np.arange(len(result.homes)), list(support_on))
        for p, support in v.support.items():
            if off[p]:
                ux[col[support.id]] = 0.0
        if v.assign:
            keys = np.fromiter(v.assign, dtype=np.int64, count=len(v.assign))
            plot_of = inst.model_pairs().loc[keys, "plot"].to_numpy(dtype=np.int64)
            gone = [
                col[var.id] for var, p in zip(v.assign.values(), plot_of, strict=True) if off[p]
            ]
            keep[gone] = False
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
    solution = _kept_solution(lp, keep, earlier)
    reused = solution is not None
    if solution is None:
        solution = solve_lp(proto_of(proto, lp, keep), lp, params)
        if solution.infeasible and target is not None:
            # No home can give way (every one is an agreed project): price the target as it is.
            lr[target] = ur[target] = ur[target] + TARGET_EPS
            lp = dataclasses.replace(lp, lr=lr, ur=ur)
            solution = solve_lp(proto_of(proto, lp, keep), lp, params)
        if not solution.optimal:
            raise SolverError("the pricing LP did not end OPTIMAL")
        if solution.y is None:
            raise SolverError("the pricing LP returned no prices")
    solved = time.perf_counter()
    prices = _spread(inst, lp, solution.x, solution.y, v, off, col)
    log.info(
        "plot reasons: pricing LP prepared in %.2f s, %s, %.2f s, prices spread in %.2f s",
        prepared - started,
        "kept from the earlier run" if reused else "solved",
        solved - prepared,
        time.perf_counter() - solved,
    )
    return prices


def _kept_solution(lp: Arrays, keep: np.ndarray, earlier: Pricing | None) -> LpSolution | None:
    """The earlier run's pricing LP solution (matched by name), if it is still optimal here."""
    if earlier is None:
        return None
    x = np.fromiter(
        (earlier.values.get(str(n), 0.0) for n in lp.var_names),
        dtype=float,
        count=len(lp.var_names),
    )
    y = prices_by_row(lp, earlier.rows)
    if not still_optimal(lp, keep, x, y):
        log.info("plot reasons: the earlier pricing LP is not optimal here; solving it")
        return None
    return LpSolution(optimal=True, infeasible=False, x=x, y=y)


def _spread(
    inst: Instance,
    lp: Arrays,
    x: np.ndarray,
    y: np.ndarray,
    v: Any,
    off: np.ndarray,
    col: dict[int, int],
) -> _Prices:
    """Spread the prices y over the columns by rule family (see _Prices)."""
    families = [_family(str(n)) for n in lp.row_names]
    code = np.array([PRICED.index(f) if f else -1 for f in families], dtype=np.int64)
    keep = code >= 0
    by_family = sp.csr_matrix(
        (y[keep], (np.flatnonzero(keep), code[keep])), shape=(len(lp.row_ids), len(PRICED))
    )
    sense = 1.0 if lp.maximize else -1.0
    unit = sense * np.asarray((lp.matrix.T @ by_family).T.todense())
    target = [y[i] for i, n in enumerate(lp.row_names) if n == "target"]
    support_ub = {p: float(s.upper_bound) for p, s in v.support.items()}
    return _Prices(
        unit=unit,
        obj=-sense * lp.objective,
        col=col,
        values=x,
        margin=float(target[0]) if target else None,
        sense=sense,
        support_ub=support_ub,
        support_off={p for p in support_ub if off[p]},
        rows={
            str(n): float(price) for n, price in zip(lp.row_names, y, strict=True) if n and price
        },
        names=[str(n) for n in lp.var_names],
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
        prices = _lp_prices(inst, result, built, derived, support_on, earlier)
        parts, extra, context = _price_plots(inst, result, prices, built)
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
    plots = inst.plots
    reasons: list[Why | None] = [None] * len(plots)
    eligible = plots["eligible"].to_numpy()
    why_not = plots["reason"].to_numpy()
    v = built.vars
    for p in range(len(plots)):
        if result.homes[p] > 0:
            continue
        if not eligible[p]:
            reasons[p] = Why("not_eligible", f"not eligible: {why_not[p]}")
        elif p in v.used:
            reasons[p] = context.reason(p, parts[p])
    names = prices.names
    values = {names[c]: float(x) for c, x in enumerate(prices.values) if x != 0.0 and names[c]}
    kept_on = None if support_on is None else sorted(str(ids[p]) for p in support_on)
    return reasons, Pricing(rows=prices.rows, values=values, support_on=kept_on)


def _price_plots(
    inst: Instance, result: Result, prices: _Prices, built: Built
) -> tuple[np.ndarray, list[int], _Context]:
    """Per unused plot the LP price of a minimum project by family (rows of ``parts``), and the
    plots whose support homes were left out of the LP but would make a full plot pay."""
    v = built.vars
    plots = inst.plots
    module = inst.module
    unused = [p for p in v.used if result.homes[p] == 0]
    col = prices.col
    parts = np.zeros((len(plots), len(PRICED)))
    lp_homes = np.zeros(len(plots))
    min_homes = np.maximum(plots["min_homes"].to_numpy(dtype=float), module)
    capacity = plots["capacity"].to_numpy(dtype=float)
    share_cap = inst.scenario.support.max_share_per_plot
    per_module = {}
    per_use = {}
    for p in unused:
        k, u = col[v.modules[p].id], col[v.used[p].id]
        per_module[p] = prices.unit[:, k] + 0.0
        per_module[p][0] += prices.obj[k]
        per_use[p] = prices.unit[:, u] + 0.0
        per_use[p][0] += prices.obj[u]
        parts[p] = per_module[p] * (min_homes[p] / module) + per_use[p]
        lp_homes[p] = prices.values[k] * module
    support_cost, support_pays = _support(inst, v, prices, unused)
    extra = []
    for p, per_home in support_cost.items():
        if not support_pays[p]:
            continue
        top = prices.support_ub[p]
        parts[p] += per_home * min(share_cap * min_homes[p], top)
        # The full plot with as many support homes as allowed: if that pays while the LP had no
        # support homes here, the LP was too narrow (its prices are not final).
        full = (
            per_module[p] * (capacity[p] / module)
            + per_use[p]
            + per_home * min(share_cap * capacity[p], top)
        )
        if p in prices.support_off and full.sum() < -1e-6 * max(1.0, capacity[p]):
            extra.append(p)
    for p, gain in _flows(inst, v, prices, unused, min_homes, capacity).items():
        parts[p] += gain
    context = _Context(inst, result, prices, support_cost, lp_homes, min_homes)
    return parts, extra, context


def _support(
    inst: Instance,
    v,
    prices: _Prices,
    unused: list[int],
) -> tuple[dict[int, np.ndarray], dict[int, bool]]:
    """Per unused plot that can host support homes: what one support home costs by family
    (its own column plus the cheapest service in reach of each required type), and whether
    support homes pay at all (then the project takes as many as the per-plot share allows)."""
    col = prices.col
    cost: dict[int, np.ndarray] = {}
    candidates = [p for p in unused if p in v.support]
    for p in candidates:
        s = col[v.support[p].id]
        cost[p] = prices.unit[:, s] + 0.0
        cost[p][0] += prices.obj[s]
    if v.assign and candidates:
        pairs = inst.model_pairs()
        keys = list(v.assign)
        frame = pd.DataFrame(
            {
                "plot": pairs.loc[keys, "plot"].to_numpy(dtype=int),
                "type": pairs.loc[keys, "type"].to_numpy(),
                "col": [col[v.assign[r].id] for r in keys],
            }
        )
        frame = frame[frame["plot"].isin(candidates)]
        unit = prices.unit[:, frame["col"].to_numpy()] + 0.0
        unit[0] += prices.obj[frame["col"].to_numpy()]
        frame["total"] = unit.sum(axis=0)
        frame["pos"] = np.arange(len(frame))
        best = frame.loc[frame.groupby(["plot", "type"])["total"].idxmin()]
        for p, pos in best.groupby("plot")["pos"]:
            cost[int(p)] = cost[int(p)] + unit[:, pos.to_numpy()].sum(axis=1)
    pays = {p: bool(c.sum() < 0) for p, c in cost.items()}
    return cost, pays


def _flows(
    inst: Instance,
    v,
    prices: _Prices,
    unused: list[int],
    min_homes: np.ndarray,
    capacity: np.ndarray,
) -> dict[int, np.ndarray]:
    """Region demand the project would serve where that pays: cheapest flows first, each at
    most the region's demand and the plot's capacity, together at most the project's homes."""
    if not v.flow:
        return {}
    col = prices.col
    demand = dict(zip(inst.regions["region_id"], inst.regions["demand"].fillna(0), strict=True))
    open_ = set(unused)
    keep = [(key, var) for key, var in v.flow.items() if key[1] in open_]
    if not keep:
        return {}
    frame = pd.DataFrame(
        {
            "plot": [key[1] for key, _ in keep],
            "bound": [min(float(demand[key[0]]), capacity[key[1]]) for key, _ in keep],
            "col": [col[var.id] for _, var in keep],
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
        self.rows = plots[columns].to_dict("records")
        self.used_in_group = {
            g: pid
            for g, pid, h in zip(plots["group"], plots["plot_id"], homes, strict=True)
            if isinstance(g, str) and g and h > 0
        }
        self.buurt_homes = _sum_by(plots["buurt_id"], homes)
        self.buurt_cap = dict(zip(inst.buurten["buurt_id"], inst.buurten["cap"], strict=True))
        self.region_homes = _sum_by(plots["region_id"], homes)
        self.region_max = dict(
            zip(inst.regions["region_id"], inst.regions["max_homes"], strict=True)
        )
        self.scale = max(1.0, float(np.abs(prices.obj).max(initial=0.0)))
        self.total = result.total_homes
        fixed = plots["fixed_homes"].fillna(0).to_numpy(dtype=float)
        self.fixed_total = int(fixed[plots["eligible"].to_numpy(dtype=bool)].sum())
        self.fixed_in_buurt = _sum_by(plots["buurt_id"], fixed)
        self.fixed_in_region = _sum_by(plots["region_id"], fixed)
        self.fixed_cost = float(
            (
                (fixed > 0) * plots["fixed_cost"].to_numpy(dtype=float)
                + fixed * plots["cost_per_home"].to_numpy(dtype=float)
            ).sum()
        )
        self.service_load = result.assignments.groupby("service")["residents"].sum().to_dict()

    def reason(self, p: int, parts: np.ndarray) -> Why:
        figures = {f: float(x) for f, x in zip(PRICED, parts, strict=True)}
        loss = float(parts.sum())
        lp_homes = float(self.lp_homes[p])
        size = float(self.min_homes[p])
        row = self.rows[p]
        blocked = self._blocked(p, row, size)
        if blocked is not None:
            family, text = blocked
            return Why(family, text, loss, lp_homes, figures, hard=True)
        if lp_homes > 1e-6:
            text = self._min_homes_text(row, lp_homes, size)
            return Why("min_homes", text, loss, lp_homes, figures)
        tol = 1e-6 * self.scale * max(1.0, size)
        group = row["group"]
        partner = self.used_in_group.get(group) if isinstance(group, str) and group else None
        figures_ng = figures
        if partner is not None:
            # Once a partner is open the group row's price is not unique: count only the part
            # needed to keep this plot out (what it would gain without the group).
            needed = max(0.0, figures["groups"] - loss)
            figures_ng = {**figures, "groups": min(figures["groups"], needed)}
        # Support share and service capacity act together: a project without support homes
        # leans on the share; with them, on the services in reach.
        care = figures_ng["support_share"] + figures_ng["service_capacity"]
        ranked = {**figures_ng, "support_share": care, "service_capacity": 0.0}
        family = max(ranked, key=lambda f: ranked[f])
        if ranked[family] <= tol:
            return Why("tie", self._tie_text(row), loss, lp_homes, figures)
        if family == "support_share":
            family = self._care_family(p)
        text = self._text(family, p, row, size)
        if partner is not None and family != "groups":
            text += f"; also an {self._text('groups', p, row, size)}"
        return Why(family, text, loss, lp_homes, figures)

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


def _sum_by(keys: pd.Series, values: np.ndarray) -> dict[str, float]:
    mask = keys.map(lambda k: isinstance(k, str) and k != "").to_numpy(dtype=bool)
    if not mask.any():
        return {}
    return pd.Series(values[mask]).groupby(keys.to_numpy()[mask]).sum().to_dict()
