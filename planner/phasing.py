"""Phasing: the homes planned per year over a horizon, with temporary permits and relocation.

Used when the scenario has a ``horizon``; the single-year model (planner.model) is untouched.

Formulation (Y = start..end, P = eligible plots with a window, L = permit_years, m = module):

    window      W_p = [lo_p, hi_p] = [max(start, available_from), min(end, available_until)]
    projects    z_ps in {0,1} for s in W_p: a project starts on p in year s; sum_s z_ps <= 1
                (== 1 for fixed_homes). ONE project per plot over the horizon: a temporary
                permit is not granted twice for one site. The project stands in years
                s..e(s), e(s) = min(s + L - 1, hi_p): until its permit or the window ends.
                y_pt = sum_{s <= t <= e(s)} z_ps (stands), x_pt = sum_{e(s) = t-1 < end} z_ps
                (its homes move out at the start of year t)
    homes       k_pt in Z+ modules standing, b_pt built, i_pt moved in, o_pt moved out:
                k_pt = k_p,t-1 + b_pt + i_pt - o_pt                (k = 0 outside W_p)
                min_p y_pt <= m k_pt <= cap_p y_pt;  b_pt, i_pt <= cap_p y_pt;  o_pt <= cap_p x_pt
                so homes only leave when the project ends, and then all of them leave: a home
                once placed stands until the horizon ends (the guaranteed follow-on location).
    relocation  pooled per zone Z (the plot's region; plots without one share a zone):
                sum_{p in Z} o_pt = sum_{q in Z} i_qt  for every t  (any pairing of the pool is
                a valid relocations.csv, so no pair variables are needed; moves stay in the
                region, where residents keep their ties, care and fair share)
    production  sum_p m b_pt <= delivery_per_year
    support     s_pt, sb_pt, si_pt, so_pt in Z+ homes; s_pt = s_p,t-1 + sb_pt + si_pt - so_pt,
                sb_pt <= m b_pt, si_pt <= m i_pt, pooled per zone like the homes: a support
                home keeps its residents, who keep their needs at the new site
                s_pt <= max_share_per_plot m k_pt;  sum_p s_pt >= min_share sum_p m k_pt
    care        per year, over services open that year (open_from..open_until):
                sum_{j in R(p,type)} a_pjt = s_pt for every type;  sum_p a_pjt <= capacity_j
    areas       per year: buurt cap, region max, at most one standing plot per group;
                region min in the last year only (earlier years are still ramping up), and
                softly: homes_r,end + rshort_r >= min_r, rshort penalised like short_t (a
                region whose plots all close cannot keep its homes: relocation stays inside it)
    targets     standing_t = sum_p m k_pt;  standing_t + short_t == T_t in a year with a target
                (never above it, as target_homes is exact in the single-year model);
                standing_t <= target_homes in every year
    budget      sum fixed_p z + cost_per_home m b + relocation_cost m o <= budget_eur
    objective   max sum_pt suit_p m k_pt - relocation_weight m o - penalty (short + rshort)
                or min fixed + per-home + relocation costs + penalty (short + rshort)

a is continuous in the solve; the result makes it integral per year with the integral
assignment of planner.model (homes fixed, nearest open services with room first) and splits each
zone's pooled moves into plot-to-plot relocations. Region demand (travel flows) has no yearly
meaning here and is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ortools.math_opt.python import mathopt

from planner.errors import ScenarioError, SolverError
from planner.instance import Instance
from planner.model import (
    BACKENDS,
    FEASIBLE,
    INFEASIBLE,
    Built,
    SolveOptions,
    _assignment_problem,
    solve_built,
)
from planner.scenario import Horizon

log = logging.getLogger(__name__)

NO_ZONE = ""


# --- time windows --------------------------------------------------------------------------------


def _year_or(value: float, default: int) -> int:
    return default if value is None or np.isnan(value) else int(value)


def plot_windows(inst: Instance, horizon: Horizon) -> list[tuple[int, int] | None]:
    """Per plot the years it may hold a project, clipped to the horizon (None: never)."""
    plots = inst.plots
    out: list[tuple[int, int] | None] = []
    for eligible, a, u in zip(
        plots["eligible"], plots["available_from"], plots["available_until"], strict=True
    ):
        lo = max(horizon.start, _year_or(a, horizon.start))
        hi = min(horizon.end, _year_or(u, horizon.end))
        out.append((lo, hi) if eligible and lo <= hi else None)
    return out


def service_open(inst: Instance, year: int) -> np.ndarray:
    """Which services are open in a year (optional ``open_from``/``open_until`` columns)."""
    services = inst.services
    n = len(services)
    lo = services.get("open_from", pd.Series(np.nan, index=services.index)).to_numpy(dtype=float)
    hi = services.get("open_until", pd.Series(np.nan, index=services.index)).to_numpy(dtype=float)
    lo, hi = np.nan_to_num(lo, nan=-np.inf), np.nan_to_num(hi, nan=np.inf)
    return ((lo <= year) & (year <= hi)).reshape(n)


def project_end(start: int, window: tuple[int, int], permit_years: int) -> int:
    """Last year a project started in ``start`` stands: its permit or the window ends it."""
    return min(start + permit_years - 1, window[1])


def targets_of(inst: Instance) -> dict[int, int]:
    """The per-year targets; without any, target_homes in the last year."""
    horizon = _horizon(inst)
    return dict(horizon.targets) or {horizon.end: inst.scenario.target_homes}


def zones(inst: Instance) -> np.ndarray:
    """Relocation zone per plot: its region, or one shared zone for plots outside every region."""
    return np.array(
        [r if isinstance(r, str) and r else NO_ZONE for r in inst.plots["region_id"]], dtype=object
    )


def default_penalty(inst: Instance) -> float:
    """More than one home can add to (or save on) the objective over the whole horizon."""
    horizon = _horizon(inst)
    if horizon.shortfall_penalty_per_home_year is not None:
        return float(horizon.shortfall_penalty_per_home_year)
    n = len(horizon.years)
    plots = inst.plots
    if inst.scenario.objective == "min_cost":
        per_project = plots["fixed_cost"] / np.maximum(plots["min_homes"], inst.module)
        per_home = float((per_project + plots["cost_per_home"]).max())
        return 1.0 + per_home + n * horizon.relocation_cost_per_home
    return 1.0 + n * (float(plots["suitability"].max()) + horizon.relocation_weight)


def _horizon(inst: Instance) -> Horizon:
    if inst.scenario.horizon is None:
        raise ScenarioError("the scenario has no horizon; phasing needs one")
    return inst.scenario.horizon


def _year_pairs(inst: Instance, open_mask: np.ndarray) -> pd.DataFrame:
    """Reach pairs to open services, pruned like Instance.model_pairs (nearest open unlimited)."""
    pairs = inst.pairs
    pairs = pairs[open_mask[pairs["service"].to_numpy(dtype=int)]]
    unlimited = np.isnan(inst.services["capacity"].to_numpy(dtype=float))[
        pairs["service"].to_numpy(dtype=int)
    ]
    flag = pd.Series(unlimited, index=pairs.index)
    groups = [pairs["plot"], pairs["type"]]
    covered = flag.groupby(groups).transform("any")
    nearest = flag & (flag.astype(int).groupby(groups).cumsum() == 1)
    return pairs[(~covered | nearest).to_numpy()]


# --- the result ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhasedResult:
    """The plan per year. Arrays are (plots x years), aligned with ``Instance.plots``; homes.

    relocations: year (the first year at the new site), from_plot, to_plot (positions), homes,
    support_homes. assignments: year, plot, service, type, residents, distance_m.
    """

    status: str
    years: list[int]
    homes: np.ndarray
    support: np.ndarray
    built: np.ndarray
    moved_in: np.ndarray
    moved_out: np.ndarray
    start_year: np.ndarray
    relocations: pd.DataFrame
    assignments: pd.DataFrame
    targets: dict[int, int]
    penalty: float
    objective: float | None
    best_bound: float | None
    gap: float | None
    solve_seconds: float
    solver: str
    model_size: dict[str, int] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)

    def standing(self) -> dict[int, int]:
        return {t: int(self.homes[:, i].sum()) for i, t in enumerate(self.years)}

    def short(self) -> dict[int, int]:
        standing = self.standing()
        return {t: max(0, target - standing[t]) for t, target in sorted(self.targets.items())}

    @property
    def peak_homes(self) -> np.ndarray:
        return self.homes.max(axis=1) if self.homes.size else np.zeros(len(self.homes), int)

    @property
    def peak_support(self) -> np.ndarray:
        return self.support.max(axis=1) if self.support.size else np.zeros(len(self.homes), int)

    @property
    def homes_moved(self) -> int:
        return int(self.moved_out.sum())


# --- the model -----------------------------------------------------------------------------------


@dataclass
class _Vars:
    """Variables keyed by (plot, year); see the module docstring for their meaning."""

    years: list[int]
    windows: dict[int, tuple[int, int]]
    starts: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    modules: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    built: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    moved_in: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    moved_out: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    support: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    support_built: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    support_in: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    support_out: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    assign: dict[tuple[int, int], mathopt.Variable] = field(default_factory=dict)
    short: dict[int, mathopt.Variable] = field(default_factory=dict)
    region_short: dict[str, mathopt.Variable] = field(default_factory=dict)
    stands: dict[tuple[int, int], mathopt.LinearSum] = field(default_factory=dict)
    year_pairs: dict[int, pd.DataFrame] = field(default_factory=dict)


class PhasingModel:
    """Plan the homes per year; see the module docstring for the formulation."""

    def __init__(
        self,
        instance: Instance,
        options: SolveOptions | None = None,
        *,
        plots: Collection[int] | None = None,
    ) -> None:
        self.inst = instance
        self.horizon = _horizon(instance)
        self.options = options or SolveOptions.from_scenario(instance)
        # Only these plots may hold a project (the restricted model of the staged solve): the
        # others are fixed at zero, so every plan of this model is a plan of the full one.
        self.plots = None if plots is None else frozenset(int(p) for p in plots)
        self.targets = targets_of(instance)
        if instance.regions["demand"].fillna(0).gt(0).any():
            raise ScenarioError(
                "regions have `demand`, which the horizon (phasing) model does not support; "
                "remove the demand column or the horizon section"
            )

    # -- build --

    def build(self) -> tuple[Built, _Vars]:
        inst, h = self.inst, self.horizon
        model = mathopt.Model(name=f"{inst.scenario.name}-phasing")
        windows = {
            p: w
            for p, w in enumerate(plot_windows(inst, h))
            if w is not None and (self.plots is None or p in self.plots)
        }
        v = _Vars(years=h.years, windows=windows)
        self._year_pairs(v)
        self._projects(model, v)
        self._homes(model, v)
        self._support(model, v)
        self._care(model, v)
        self._areas(model, v)
        self._targets(model, v)
        self._budget(model, v)
        self._objective(model, v)
        return Built(model=model, vars=None, mode="phasing"), v  # type: ignore[arg-type]

    def _year_pairs(self, v: _Vars) -> None:
        by_mask: dict[bytes, pd.DataFrame] = {}
        for t in v.years:
            mask = service_open(self.inst, t)
            key = mask.tobytes()
            if key not in by_mask:
                by_mask[key] = _year_pairs(self.inst, mask)
            v.year_pairs[t] = by_mask[key]

    def _projects(self, model: mathopt.Model, v: _Vars) -> None:
        L = self.horizon.permit_years
        fixed = self.inst.plots["fixed_homes"].to_numpy(dtype=float)
        ids = self.inst.plots["plot_id"].to_numpy()
        stands: dict[tuple[int, int], list[mathopt.Variable]] = defaultdict(list)
        for p, w in v.windows.items():
            for s in range(w[0], w[1] + 1):
                z = model.add_binary_variable(name=f"start[{ids[p]},{s}]")
                v.starts[(p, s)] = z
                for t in range(s, project_end(s, w, L) + 1):
                    stands[(p, t)].append(z)
            terms = [v.starts[(p, s)] for s in range(w[0], w[1] + 1)]
            once = mathopt.fast_sum(terms)
            model.add_linear_constraint(once == 1 if not np.isnan(fixed[p]) else once <= 1)
        v.stands = {key: mathopt.fast_sum(zs) for key, zs in stands.items()}
        unplaceable = [str(ids[p]) for p in np.flatnonzero(~np.isnan(fixed)) if p not in v.windows]
        if unplaceable:
            raise ScenarioError(
                f"plots {', '.join(unplaceable)} have fixed_homes but are not available within "
                f"{self.horizon.start}..{self.horizon.end}"
            )

    def _leaving(self, p: int, w: tuple[int, int]) -> dict[int, list[int]]:
        """Year t -> starts s whose project ends in t - 1 (< horizon end): homes leave in t."""
        out: dict[int, list[int]] = defaultdict(list)
        for s in range(w[0], w[1] + 1):
            e = project_end(s, w, self.horizon.permit_years)
            if e < self.horizon.end:
                out[e + 1].append(s)
        return out

    def _homes(self, model: mathopt.Model, v: _Vars) -> None:
        inst, m = self.inst, self.inst.module
        plots = inst.plots
        cap = plots["capacity"].to_numpy()
        low = plots["min_homes"].to_numpy()
        fixed = plots["fixed_homes"].to_numpy(dtype=float)
        ids = plots["plot_id"].to_numpy()
        start = self.horizon.start
        for p, w in v.windows.items():
            units = int(cap[p]) // m if np.isnan(fixed[p]) else int(fixed[p]) // m
            leaving = self._leaving(p, w)
            for t in range(w[0], w[1] + 1):
                y = v.stands.get((p, t), mathopt.LinearSum(()))
                k = model.add_integer_variable(lb=0, ub=units, name=f"k[{ids[p]},{t}]")
                b = model.add_integer_variable(lb=0, ub=units, name=f"b[{ids[p]},{t}]")
                v.modules[(p, t)], v.built[(p, t)] = k, b
                if np.isnan(fixed[p]):
                    model.add_linear_constraint(m * k <= int(cap[p]) * y)
                    model.add_linear_constraint(m * k >= int(low[p]) * y)
                else:
                    model.add_linear_constraint(k == units * y)
                model.add_linear_constraint(b <= units * y)
                if t > start:
                    i = model.add_integer_variable(lb=0, ub=units, name=f"i[{ids[p]},{t}]")
                    v.moved_in[(p, t)] = i
                    model.add_linear_constraint(i <= units * y)
            for t, starts in leaving.items():
                o = model.add_integer_variable(lb=0, ub=units, name=f"o[{ids[p]},{t}]")
                v.moved_out[(p, t)] = o
                model.add_linear_constraint(
                    o <= units * mathopt.fast_sum(v.starts[(p, s)] for s in starts)
                )
            self._conserve(model, v, p, w, v.modules, v.built, v.moved_in, v.moved_out)
        self._pool(model, v, v.moved_out, v.moved_in, "homes")
        for t in v.years:
            built = [v.built[(p, t)] for p in v.windows if (p, t) in v.built]
            if built:
                model.add_linear_constraint(
                    m * mathopt.fast_sum(built) <= self.horizon.delivery_per_year,
                    name=f"delivery[{t}]",
                )

    def _conserve(
        self,
        model: mathopt.Model,
        v: _Vars,
        p: int,
        w: tuple[int, int],
        level: dict,
        built: dict,
        into: dict,
        out: dict,
    ) -> None:
        """level_t = level_t-1 + built_t + in_t - out_t over the window and the year after it."""
        zero = mathopt.LinearSum(())
        for t in range(w[0], min(w[1] + 1, self.horizon.end) + 1):
            lhs = level.get((p, t), zero)
            rhs = (
                level.get((p, t - 1), zero)
                + built.get((p, t), zero)
                + into.get((p, t), zero)
                - out.get((p, t), zero)
            )
            model.add_linear_constraint(lhs == rhs)

    def _pool(self, model: mathopt.Model, v: _Vars, out: dict, into: dict, what: str) -> None:
        """Per zone and year: what leaves plots equals what arrives on plots."""
        zone = zones(self.inst)
        balance: dict[tuple[str, int], list[mathopt.LinearBase]] = defaultdict(list)
        for (p, t), var in out.items():
            balance[(zone[p], t)].append(var)
        for (q, t), var in into.items():
            balance[(zone[q], t)].append(-var)
        for (z, t), terms in sorted(balance.items()):
            model.add_linear_constraint(
                mathopt.fast_sum(terms) == 0, name=f"pool_{what}[{z or '-'},{t}]"
            )

    def _support_years(self, v: _Vars) -> dict[int, set[int]]:
        """Plot -> years in which it reaches an open service of every required type."""
        types = self.inst.support_types
        out: dict[int, set[int]] = defaultdict(set)
        for t in v.years:
            if not types:
                for p in v.windows:
                    out[p].add(t)
                continue
            counts = v.year_pairs[t].groupby("plot")["type"].nunique()
            for p in counts[counts == len(types)].index:
                if int(p) in v.windows:
                    out[int(p)].add(t)
        return out

    def _support(self, model: mathopt.Model, v: _Vars) -> None:
        inst, m = self.inst, self.inst.module
        share = inst.scenario.support.max_share_per_plot
        ids = inst.plots["plot_id"].to_numpy()
        capable = self._support_years(v)
        for p, w in v.windows.items():
            if not capable.get(p):
                continue
            for t in range(w[0], w[1] + 1):
                ub = (
                    math.floor(share * m * v.modules[(p, t)].upper_bound + 1e-9)
                    if t in capable[p]
                    else 0
                )
                s = model.add_integer_variable(lb=0, ub=ub, name=f"s[{ids[p]},{t}]")
                v.support[(p, t)] = s
                model.add_linear_constraint(s <= share * m * v.modules[(p, t)])
                sb = model.add_integer_variable(lb=0, name=f"sb[{ids[p]},{t}]")
                v.support_built[(p, t)] = sb
                model.add_linear_constraint(sb <= m * v.built[(p, t)])
                if (p, t) in v.moved_in:
                    si = model.add_integer_variable(lb=0, name=f"si[{ids[p]},{t}]")
                    v.support_in[(p, t)] = si
                    model.add_linear_constraint(si <= m * v.moved_in[(p, t)])
            for t in self._leaving(p, w):
                so = model.add_integer_variable(lb=0, name=f"so[{ids[p]},{t}]")
                v.support_out[(p, t)] = so
                model.add_linear_constraint(so <= m * v.moved_out[(p, t)])
            self._conserve(model, v, p, w, v.support, v.support_built, v.support_in, v.support_out)
        self._pool(model, v, v.support_out, v.support_in, "support")
        min_share = inst.scenario.support.min_share
        if min_share <= 0:
            return
        for t in v.years:
            homes = [v.modules[(p, t)] for p in v.windows if (p, t) in v.modules]
            support = [v.support[(p, t)] for p in v.windows if (p, t) in v.support]
            model.add_linear_constraint(
                mathopt.fast_sum(support) >= min_share * m * mathopt.fast_sum(homes),
                name=f"support_share[{t}]",
            )

    def _care(self, model: mathopt.Model, v: _Vars) -> None:
        inst = self.inst
        if not inst.support_types:
            return
        capacity = inst.services["capacity"].to_numpy(dtype=float)
        for t in v.years:
            pairs = v.year_pairs[t]
            by_plot_type: dict[tuple[int, str], list[mathopt.Variable]] = defaultdict(list)
            by_service: dict[int, list[mathopt.Variable]] = defaultdict(list)
            for r, p, j, kind in zip(
                pairs.index, pairs["plot"], pairs["service"], pairs["type"], strict=True
            ):
                s = v.support.get((int(p), t))
                if s is None or s.upper_bound == 0:
                    continue
                a = model.add_variable(lb=0)
                v.assign[(int(r), t)] = a
                by_plot_type[(int(p), str(kind))].append(a)
                by_service[int(j)].append(a)
            for (p, tt), s in v.support.items():
                if tt != t or s.upper_bound == 0:
                    continue
                for kind in inst.support_types:
                    model.add_linear_constraint(mathopt.fast_sum(by_plot_type[(p, kind)]) == s)
            for j, terms in by_service.items():
                if not np.isnan(capacity[j]):
                    model.add_linear_constraint(mathopt.fast_sum(terms) <= float(capacity[j]))

    def _areas(self, model: mathopt.Model, v: _Vars) -> None:
        inst, m = self.inst, self.inst.module
        plots = inst.plots
        members: dict[str, dict[str, list[int]]] = {"buurt": {}, "region": {}, "group": {}}
        for key, column in (("buurt", "buurt_id"), ("region", "region_id"), ("group", "group")):
            for p in v.windows:
                value = plots.at[p, column]
                if isinstance(value, str) and value:
                    members[key].setdefault(value, []).append(p)
        cap = dict(zip(inst.buurten["buurt_id"], inst.buurten["cap"], strict=True))
        capacity = plots["capacity"].to_numpy()
        regions = inst.regions.set_index("region_id") if not inst.regions.empty else None
        for t in v.years:
            for buurt, ps in members["buurt"].items():
                if buurt in cap and sum(int(capacity[p]) for p in ps) > cap[buurt]:
                    model.add_linear_constraint(self._standing(v, ps, t) <= int(cap[buurt]))
            for ps in members["group"].values():
                terms = [v.stands[(p, t)] for p in ps if (p, t) in v.stands]
                if len(terms) > 1:
                    model.add_linear_constraint(mathopt.fast_sum(terms) <= 1)
            if regions is None:
                continue
            for region_id, row in regions.iterrows():
                expr = self._standing(v, members["region"].get(region_id, []), t)
                if not np.isnan(row["max_homes"]):
                    model.add_linear_constraint(expr <= float(row["max_homes"]))
                if t == self.horizon.end and not np.isnan(row["min_homes"]):
                    short = model.add_variable(lb=0, name=f"region_short[{region_id}]")
                    v.region_short[str(region_id)] = short
                    model.add_linear_constraint(expr + short >= float(row["min_homes"]))
        del m

    def _standing(self, v: _Vars, plots: list[int], t: int) -> mathopt.LinearSum:
        m = self.inst.module
        return mathopt.fast_sum(m * v.modules[(p, t)] for p in plots if (p, t) in v.modules)

    def _targets(self, model: mathopt.Model, v: _Vars) -> None:
        targets = self.targets
        cap = self.inst.scenario.target_homes
        for t in v.years:
            standing = self._standing(v, list(v.windows), t)
            if t in targets:
                short = model.add_variable(lb=0, ub=targets[t], name=f"short[{t}]")
                v.short[t] = short
                model.add_linear_constraint(standing + short == targets[t], name=f"target[{t}]")
            else:
                model.add_linear_constraint(standing <= cap, name=f"programme[{t}]")

    def _cost(self, v: _Vars) -> mathopt.LinearSum:
        plots, m = self.inst.plots, self.inst.module
        fixed = plots["fixed_cost"].to_numpy()
        per_home = plots["cost_per_home"].to_numpy()
        move = self.horizon.relocation_cost_per_home
        terms: list[mathopt.LinearBase] = []
        terms += [float(fixed[p]) * z for (p, _s), z in v.starts.items() if fixed[p]]
        terms += [float(per_home[p]) * m * b for (p, _t), b in v.built.items() if per_home[p]]
        if move:
            terms += [move * m * o for o in v.moved_out.values()]
        return mathopt.fast_sum(terms)

    def _budget(self, model: mathopt.Model, v: _Vars) -> None:
        budget = self.inst.scenario.budget_eur
        if budget is not None:
            model.add_linear_constraint(self._cost(v) <= budget, name="budget")

    def _objective(self, model: mathopt.Model, v: _Vars) -> None:
        missing = mathopt.fast_sum([*v.short.values(), *v.region_short.values()])
        penalty = default_penalty(self.inst) * missing
        if self.inst.scenario.objective == "min_cost":
            model.minimize(self._cost(v) + penalty)
            return
        m = self.inst.module
        suit = self.inst.plots["suitability"].to_numpy()
        value = mathopt.fast_sum(
            float(suit[p]) * m * k for (p, _t), k in v.modules.items() if suit[p]
        )
        moves = self.horizon.relocation_weight * m * mathopt.fast_sum(v.moved_out.values())
        model.maximize(value - moves - penalty)

    # -- solve --

    def solve(self) -> PhasedResult:
        """Build, solve and turn the solution into an integral, verified plan."""
        started = time.perf_counter()
        built, v = self.build()
        size = model_size(built.model)
        log.info(
            "phasing: %d years, %d plots, %d variables (%d integer), %d constraints, %d non-zeros",
            len(v.years),
            len(v.windows),
            size["variables"],
            size["integer"],
            size["constraints"],
            size["nonzeros"],
        )
        phases = [{"phase": "build", "seconds": round(time.perf_counter() - started, 3)}]
        if self._staged(v):
            return self._solve_staged(built, v, size, phases, started)
        res = solve_built(built, self.options)
        reason = res.termination.reason
        phases.append(_phase("phasing", res))
        if reason in INFEASIBLE:
            return self._empty("INFEASIBLE", v, size, phases, time.perf_counter() - started)
        if reason not in FEASIBLE:
            raise SolverError(
                f"no phasing plan found within solver.time_limit_s={self.options.time_limit_s} s "
                f"({reason.name}); raise the time limit"
            )
        return self._result(res, v, size, phases, time.perf_counter() - started)

    def _staged(self, v: _Vars) -> bool:
        """Large full models go through the staged solve (see ``_solve_staged``)."""
        plot_years = sum(w[1] - w[0] + 1 for w in v.windows.values())
        return (
            self.plots is None
            and self.options.warm_start != "none"
            and self.options.backend == "highs"
            and plot_years > STAGED_ABOVE_PLOT_YEARS
        )

    def _solve_staged(
        self,
        built: Built,
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        started: float,
    ) -> PhasedResult:
        """Years alone, then a restricted MIP, then the full MIP from its plan (large models,
        on which HiGHS alone finds no useful plan in time).

        1. Each year alone (``_year_model``) is a relaxation of its slice of the plan; the sum of
           their bounds bounds the full model (``year_bounds``). Their plans name the plots
           worth a project in some year; ``_widen`` adds as many again, best first.
        2. Those plots make a restricted model: the same formulation with every other plot at
           zero, so each of its plans is a plan of the full model (and is verified as one).
           Its MIP gets RESTRICTED_SHARE of the time left.
        3. The full MIP starts from that plan (a hint) for the rest of the time; its bound, where
           it gets one, tightens that of step 1, and its plan is kept when better. Above
           FULL_UP_TO_PLOT_YEARS this step is left out and step 2 gets all the time: the gap is
           then to the bound of step 1 only, which is loose (it ignores permits and moves).

        Before step 2 a constructive plan (planner.phasing_start, verified like any plan) adds
        its plots to the restriction and is the hint of steps 2 and 3 (or of the full MIP when
        the restricted one has no plan); it is the result when no solve finds a better plan.

        The model is the full one throughout: the steps only choose where HiGHS starts. The gap
        is to the best valid bound (OPTIMAL when within solver.relative_gap).
        """
        opts = self.options
        limit = opts.time_limit_s
        bound, chosen, year_phases = self.year_bounds(limit * YEARS_SHARE)
        phases += year_phases
        fixed = self.inst.plots["fixed_homes"].to_numpy(dtype=float)
        chosen |= {p for p in v.windows if not np.isnan(fixed[p])}
        start, start_plan = self._constructive(v, size, phases, started, bound)
        if start is not None:
            chosen |= {int(p) for p in np.flatnonzero(start["homes"].any(axis=1))}
        chosen = self._widen(chosen, v)
        clock = time.perf_counter()
        sub, sv = PhasingModel(self.inst, opts, plots=chosen).build()
        sub_size = model_size(sub.model)
        phases.append(
            {
                "phase": "restricted build",
                "seconds": round(time.perf_counter() - clock, 3),
                "plots": len(sv.windows),
                **{f"restricted_{k}": n for k, n in sub_size.items()},
            }
        )
        log.info(
            "phasing: bound %s from the years alone; restricted to %d plots, %d variables "
            "(%d integer), %d constraints",
            "none" if bound is None else f"{bound:.4f}",
            len(sv.windows),
            sub_size["variables"],
            sub_size["integer"],
            sub_size["constraints"],
        )
        left = max(limit - (time.perf_counter() - started), MIN_MIP_SHARE * limit)
        plot_years = sum(w[1] - w[0] + 1 for w in v.windows.values())
        then_full = plot_years <= FULL_UP_TO_PLOT_YEARS
        res = solve_built(
            sub,
            opts,
            time_limit_s=left * (RESTRICTED_SHARE if then_full else 1.0),
            hint=None if start is None else _hint_of(start, sv, self.inst.module),
        )
        phases.append(_phase("restricted", res))
        if res.termination.reason not in FEASIBLE:
            # The restriction proves nothing about the full model (a fixed project's homes may
            # need a plot outside it): solve the full MIP as without stages.
            left = max(limit - (time.perf_counter() - started), MIN_MIP_SHARE * limit)
            res = solve_built(
                built,
                opts,
                time_limit_s=left,
                hint=None if start is None else _hint_of(start, v, self.inst.module),
            )
            phases.append(_phase("full", res))
            reason = res.termination.reason
            if reason in INFEASIBLE and start_plan is None:
                return self._empty("INFEASIBLE", v, size, phases, time.perf_counter() - started)
            if reason not in FEASIBLE:
                if start_plan is not None:
                    return self._from_start(start, v, size, phases, started, bound)
                raise SolverError(
                    f"no phasing plan found within solver.time_limit_s={limit} s "
                    f"({reason.name}); raise the time limit"
                )
            found = self._result(res, v, size, phases, time.perf_counter() - started)
            return self._best(found, start, start_plan, v, size, phases, started, bound)
        best, best_v = res, sv
        left = limit - (time.perf_counter() - started)
        full: mathopt.SolveResult | None = None
        if len(sv.windows) == len(v.windows):
            full = res  # every plot is in: the restricted model is the full one
        elif then_full and left >= MIN_FULL_SECONDS:
            hint = _hint(res, sv, v)
            sign = 1.0 if self.inst.scenario.objective == "max_suitability" else -1.0
            ahead = (
                start_plan is not None
                and start_plan.objective is not None
                and (sign * (start_plan.objective - res.objective_value()) > 1e-6)
            )
            if start is not None and ahead:
                hint = _hint_of(start, v, self.inst.module)  # the better start
            full = solve_built(built, opts, time_limit_s=left, hint=hint)
            phases.append(_phase("full", full))
        if full is not None and full.termination.reason in FEASIBLE:
            full_bound = float(full.termination.objective_bounds.dual_bound)
            if math.isfinite(full_bound):
                tighter = min if self.inst.scenario.objective == "max_suitability" else max
                bound = full_bound if bound is None else tighter(bound, full_bound)
            if _better(full, res, self.inst.scenario.objective):
                best, best_v = full, v
        found = self._result(
            best,
            best_v,
            size,
            phases,
            time.perf_counter() - started,
            full_bound=math.nan if bound is None else bound,
        )
        return self._best(found, start, start_plan, v, size, phases, started, bound)

    def _constructive(
        self,
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        started: float,
        bound: float | None,
    ) -> tuple[dict[str, np.ndarray] | None, PhasedResult | None]:
        """The constructive plan (planner.phasing_start) as arrays and as a verified result;
        (None, None) when it finds none or its plan breaks a rule."""
        from planner.phasing_start import STARTS, phased_start

        clock = time.perf_counter()
        start, plan = None, None
        sign = 1.0 if self.inst.scenario.objective == "max_suitability" else -1.0
        for slack, regions in STARTS:  # early or late, regions first or not: the best is kept
            arrays = phased_start(self.inst, slack, regions)
            if arrays is None:
                continue
            candidate = self._from_start(arrays, v, size, [], started, bound)
            problems = verify_phased(self.inst, candidate)
            if problems:
                log.warning("phasing: the constructive plan breaks %s", problems[0])
                continue
            assert candidate.objective is not None
            if plan is None or sign * (candidate.objective - (plan.objective or 0.0)) > 1e-9:
                start, plan = arrays, candidate
        phases.append(
            {
                "phase": "constructive",
                "seconds": round(time.perf_counter() - clock, 3),
                "objective": None if plan is None else plan.objective,
                "homes_short": None if plan is None else sum(plan.short().values()),
            }
        )
        log.info(
            "phasing: constructive plan %s",
            "none" if plan is None else f"objective {plan.objective:.4f}, status {plan.status}",
        )
        return start, plan

    def _from_start(
        self,
        start: dict[str, np.ndarray],
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        started: float,
        bound: float | None,
    ) -> PhasedResult:
        """The constructive plan as the result (its gap to the valid bound)."""
        a = {k: start[k] for k in start if k != "support_built"}
        return self._plan(
            a,
            v,
            size,
            phases,
            time.perf_counter() - started,
            bound=math.nan if bound is None else bound,
            solver_optimal=False,
            staged=True,
        )

    def _best(
        self,
        found: PhasedResult,
        start: dict[str, np.ndarray] | None,
        plan: PhasedResult | None,
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        started: float,
        bound: float | None,
    ) -> PhasedResult:
        """The solver's plan, or the constructive one where it is better."""
        if start is None or plan is None or found.objective is None or plan.objective is None:
            return found
        sign = 1.0 if self.inst.scenario.objective == "max_suitability" else -1.0
        if sign * (plan.objective - found.objective) <= 1e-9:
            return found
        log.info(
            "phasing: the constructive plan (%.4f) beats the solver's (%.4f); kept",
            plan.objective,
            found.objective,
        )
        if bound is None and found.best_bound is not None:
            bound = found.best_bound
        return self._from_start(start, v, size, phases, started, bound)

    def _widen(self, chosen: set[int], v: _Vars) -> set[int]:
        """The chosen plots and, best suitability first, others with a window, until there are
        WIDEN times as many: room for the plan to differ from the years alone."""
        want = int(WIDEN * len(chosen))
        suit = self.inst.plots["suitability"].to_numpy()
        if self.inst.scenario.objective == "min_cost":
            suit = -self.inst.plots["cost_per_home"].to_numpy()
        out = set(chosen)
        for p in sorted(v.windows, key=lambda q: -suit[q]):
            if len(out) >= want:
                break
            out.add(p)
        return out

    def year_bounds(
        self, time_limit_s: float
    ) -> tuple[float | None, set[int], list[dict[str, Any]]]:
        """Solve every year alone: (bound on the full objective or None, plots used, phases).

        Valid for max_suitability, where a plan's value is the sum of its years' values minus
        relocation (>= 0) and penalties, and each year of a plan is a plan of that year's model
        (``_year_model``). For min_cost no bound is given (None), only plots.
        """
        h = self.horizon
        penalty = default_penalty(self.inst)
        valid = self.inst.scenario.objective == "max_suitability"
        total: float | None = 0.0
        chosen: set[int] = set()
        phases: list[dict[str, Any]] = []
        each = time_limit_s / len(h.years)
        year_options = dataclasses.replace(
            self.options, relative_gap=self.options.relative_gap * YEAR_GAP_SHARE
        )
        for t in h.years:
            clock = time.perf_counter()
            built, yv = self._year_model(t, penalty).build()
            res = solve_built(built, year_options, time_limit_s=each)
            phase = _phase(f"year {t}", res)
            phase["build_seconds"] = round(time.perf_counter() - clock - phase["seconds"], 3)
            phases.append(phase)
            if res.termination.reason not in FEASIBLE:
                total = None
                continue
            values = res.variable_values()
            chosen |= {p for (p, _t), k in yv.modules.items() if values[k] > 0.5}
            dual = float(res.termination.objective_bounds.dual_bound)
            total = total + dual if total is not None and math.isfinite(dual) else None
        return (total if valid else None), chosen, phases

    def _year_model(self, t: int, penalty: float) -> PhasingModel:
        """Year t alone, a relaxation of year t of the plan.

        Dropped: the other years (no project length, relocation or production history), the
        budget, region minimums before the last year. Kept: every rule of year t, its target (or
        at most target_homes, the next target and what production can have built by t), the
        penalty, and in the last year the region minimums.
        """
        inst, h = self.inst, self.horizon
        later = [n for year, n in sorted(self.targets.items()) if year >= t]
        made = h.delivery_per_year * (t - h.start + 1)
        cap = min([inst.scenario.target_homes, made, *later[:1]])
        horizon = h.model_copy(
            update={
                "start": t,
                "end": t,
                "delivery_per_year": made,
                "targets": {},
                "shortfall_penalty_per_home_year": penalty,
            }
        )
        scenario = inst.scenario.model_copy(
            update={"horizon": horizon, "target_homes": cap, "budget_eur": None}
        )
        regions = inst.regions
        if t != h.end and not regions.empty:
            regions = regions.assign(min_homes=np.nan)
        plots = inst.plots
        fixed = plots["fixed_homes"].to_numpy(dtype=float)
        if not np.isnan(fixed).all():
            # An agreed project need not stand in year t, but has its homes when it does.
            plots = plots.copy()
            agreed = ~np.isnan(fixed)
            for column in ("min_homes", "capacity"):
                values = plots[column].to_numpy(dtype=float)
                plots[column] = np.where(agreed, fixed, values).astype(int)
            plots["fixed_homes"] = np.nan
        year_inst = dataclasses.replace(inst, scenario=scenario, regions=regions, plots=plots)
        model = PhasingModel(year_inst, self.options, plots=self.plots)
        model.targets = {t: self.targets[t]} if t in self.targets else {}
        return model

    def _arrays(self, res: mathopt.SolveResult, v: _Vars) -> dict[str, np.ndarray]:
        values = res.variable_values()
        n, years = len(self.inst.plots), v.years
        col = {t: i for i, t in enumerate(years)}
        m = self.inst.module
        out: dict[str, np.ndarray] = {}
        for name, table, unit in (
            ("homes", v.modules, m),
            ("built", v.built, m),
            ("moved_in", v.moved_in, m),
            ("moved_out", v.moved_out, m),
            ("support", v.support, 1),
            ("support_in", v.support_in, 1),
            ("support_out", v.support_out, 1),
        ):
            arr = np.zeros((n, len(years)), dtype=int)
            for (p, t), var in table.items():
                arr[p, col[t]] = round(values[var]) * unit
            out[name] = arr
        start = np.full(n, np.nan)
        for (p, s), z in v.starts.items():
            if values[z] > 0.5:
                start[p] = s
        out["start_year"] = start
        return out

    def _result(
        self,
        res: mathopt.SolveResult,
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        seconds: float,
        *,
        full_bound: float | None = None,
    ) -> PhasedResult:
        """The plan of a solve; ``full_bound`` is the full model's bound when ``res`` is the
        restricted model's (its own bound holds only for its plots)."""
        bound = float(res.termination.objective_bounds.dual_bound)
        if full_bound is not None:
            bound = full_bound
        return self._plan(
            self._arrays(res, v),
            v,
            size,
            phases,
            seconds,
            bound=bound,
            solver_optimal=res.termination.reason == mathopt.TerminationReason.OPTIMAL,
            staged=full_bound is not None,
        )

    def _plan(
        self,
        a: dict[str, np.ndarray],
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        seconds: float,
        *,
        bound: float,
        solver_optimal: bool,
        staged: bool,
    ) -> PhasedResult:
        """A plan from its arrays, with its objective, status and gap to ``bound``."""
        assignments = self._assignments(a["support"], v.years)
        relocations = split_relocations(self.inst, v.years, a)
        targets = targets_of(self.inst)
        draft = PhasedResult(
            status="OPTIMAL",
            years=v.years,
            homes=a["homes"],
            support=a["support"],
            built=a["built"],
            moved_in=a["moved_in"],
            moved_out=a["moved_out"],
            start_year=a["start_year"],
            relocations=relocations,
            assignments=assignments,
            targets=targets,
            penalty=default_penalty(self.inst),
            objective=None,
            best_bound=None,
            gap=None,
            solve_seconds=seconds,
            solver=self.options.backend,
            model_size=size,
            phases=phases,
        )
        objective = evaluate_phased(self.inst, draft)
        bound = bound if math.isfinite(bound) else None
        gap = None
        if bound is not None:
            gap = (
                0.0
                if abs(bound - objective) <= 1e-9
                else abs(bound - objective) / max(abs(objective), 1e-9)
            )
        short = draft.short()
        if any(short.values()) or any(region_shortfall(self.inst, draft).values()):
            status = "SHORTFALL"
        elif staged:
            within = gap is not None and gap <= self.options.relative_gap + 1e-9
            status = "OPTIMAL" if within else "FEASIBLE"
        elif solver_optimal:
            status = "OPTIMAL"
        else:
            status = "FEASIBLE"
        result = dataclasses.replace(
            draft,
            status=status,
            objective=objective,
            best_bound=bound,
            gap=gap,
            explanation=explain_phased(self.inst, draft) if status == "SHORTFALL" else [],
        )
        log.info(
            "phasing: %s, %d relocated homes, objective %.4f, %.1f s",
            status,
            result.homes_moved,
            objective,
            seconds,
        )
        return result

    def _empty(
        self,
        status: str,
        v: _Vars,
        size: dict[str, int],
        phases: list[dict[str, Any]],
        seconds: float,
    ) -> PhasedResult:
        zeros = np.zeros((len(self.inst.plots), len(v.years)), dtype=int)
        return PhasedResult(
            status=status,
            years=v.years,
            homes=zeros,
            support=zeros.copy(),
            built=zeros.copy(),
            moved_in=zeros.copy(),
            moved_out=zeros.copy(),
            start_year=np.full(len(self.inst.plots), np.nan),
            relocations=pd.DataFrame(columns=RELOCATION_COLUMNS),
            assignments=pd.DataFrame(columns=ASSIGNMENT_COLUMNS),
            targets=targets_of(self.inst),
            penalty=default_penalty(self.inst),
            objective=None,
            best_bound=None,
            gap=None,
            solve_seconds=seconds,
            solver=self.options.backend,
            model_size=size,
            phases=phases,
            explanation=[
                "No plan meets the hard rules (fixed projects, region maxima, groups and the "
                "budget) within the horizon."
            ],
        )

    def _assignments(self, support: np.ndarray, years: list[int]) -> pd.DataFrame:
        """Integral care assignments per year, over the services open in that year."""
        frames = []
        for i, t in enumerate(years):
            per_plot = {int(p): int(support[p, i]) for p in np.flatnonzero(support[:, i])}
            if not per_plot:
                continue
            mask = service_open(self.inst, t)
            pairs = self.inst.pairs[mask[self.inst.pairs["service"].to_numpy(dtype=int)]]
            year_inst = dataclasses.replace(self.inst, pairs=pairs, _model_pairs=None)
            frame = _assignment_problem(year_inst, per_plot)
            frames.append(frame.assign(year=t))
        if not frames:
            return pd.DataFrame(columns=ASSIGNMENT_COLUMNS)
        return pd.concat(frames, ignore_index=True)[ASSIGNMENT_COLUMNS]


ASSIGNMENT_COLUMNS = ["year", "plot", "service", "type", "residents", "distance_m"]
RELOCATION_COLUMNS = ["year", "from_plot", "to_plot", "homes", "support_homes"]


def model_size(model: mathopt.Model) -> dict[str, int]:
    """Variables, integer variables, constraints and non-zeros of a MathOpt model."""
    proto = model.export_model()
    return {
        "variables": len(proto.variables.ids),
        "integer": sum(proto.variables.integers),
        "constraints": len(proto.linear_constraints.ids),
        "nonzeros": len(proto.linear_constraint_matrix.row_ids),
    }


# The staged solve (years alone for the bound, restricted MIP) is used above this many
# plot-years: below it HiGHS solves the full MIP well within the default time limit.
STAGED_ABOVE_PLOT_YEARS = 5_000
YEARS_SHARE = 0.4  # of solver.time_limit_s for solving the years alone
YEAR_GAP_SHARE = 0.2  # each year alone is solved to this share of solver.relative_gap
MIN_MIP_SHARE = 0.25  # of solver.time_limit_s at least for the restricted MIP
RESTRICTED_SHARE = 0.5  # of the time left after the years alone, for the restricted MIP
MIN_FULL_SECONDS = 1.0  # the full MIP (from the restricted plan) only with this much left
# ... and only up to this many plot-years: at 5,000 plots x 15 years (59,502) HiGHS's root LP of
# the full model alone takes over 7 minutes on 2 cores and does not stop at the time limit.
FULL_UP_TO_PLOT_YEARS = 30_000
WIDEN = 2.0  # the restricted model has this many times the plots the years alone use


def _hint(res: mathopt.SolveResult, sub: _Vars, full: _Vars) -> dict[mathopt.Variable, float]:
    """The restricted model's plan as values of the full model's integer variables (plots
    outside the restricted model at zero)."""
    values = res.variable_values()
    hint: dict[mathopt.Variable, float] = {}
    for name in TABLES:
        table, small = getattr(full, name), getattr(sub, name)
        for key, x in table.items():
            hint[x] = float(round(values[small[key]])) if key in small else 0.0
    return hint


def _hint_of(a: dict[str, np.ndarray], v: _Vars, module: int) -> dict[mathopt.Variable, float]:
    """A plan's arrays (homes) as values of a model's integer variables (modules)."""
    col = {t: i for i, t in enumerate(v.years)}
    hint: dict[mathopt.Variable, float] = {}
    for (p, s), z in v.starts.items():
        hint[z] = 1.0 if a["start_year"][p] == s else 0.0
    for name, key, unit in (
        ("modules", "homes", module),
        ("built", "built", module),
        ("moved_in", "moved_in", module),
        ("moved_out", "moved_out", module),
        ("support", "support", 1),
        ("support_built", "support_built", 1),
        ("support_in", "support_in", 1),
        ("support_out", "support_out", 1),
    ):
        for (p, t), x in getattr(v, name).items():
            hint[x] = float(a[key][p, col[t]] // unit)
    return hint


def _better(a: mathopt.SolveResult, b: mathopt.SolveResult, objective: str) -> bool:
    """Whether solve a found a better plan than solve b."""
    if a.termination.reason not in FEASIBLE:
        return False
    if objective == "max_suitability":
        return a.objective_value() > b.objective_value() + 1e-9
    return a.objective_value() < b.objective_value() - 1e-9


TABLES = (
    "starts",
    "modules",
    "built",
    "moved_in",
    "moved_out",
    "support",
    "support_built",
    "support_in",
    "support_out",
)


def _phase(name: str, res: mathopt.SolveResult) -> dict[str, Any]:
    return {
        "phase": name,
        "termination": res.termination.reason.name,
        "seconds": res.solve_time().total_seconds(),
        "primal_bound": res.termination.objective_bounds.primal_bound,
        "dual_bound": res.termination.objective_bounds.dual_bound,
    }


def _pair_up(out: list[tuple[int, int]], into: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Match (plot, amount) supplies to demands of the same total, in order."""
    pairs, i, j = [], 0, 0
    out, into = [list(x) for x in out], [list(x) for x in into]
    while i < len(out) and j < len(into):
        amount = min(out[i][1], into[j][1])
        if amount:
            pairs.append((out[i][0], into[j][0], amount))
        out[i][1] -= amount
        into[j][1] -= amount
        i += out[i][1] == 0
        j += into[j][1] == 0
    return pairs


def split_relocations(inst: Instance, years: list[int], a: dict[str, np.ndarray]) -> pd.DataFrame:
    """Pooled moves per zone and year as plot-to-plot rows; support and other homes paired
    separately, so each row's support homes are among its homes."""
    zone = zones(inst)
    rows: dict[tuple[int, int, int], list[int]] = {}
    for i, t in enumerate(years):
        movers = np.flatnonzero(a["moved_out"][:, i])
        for z in sorted({zone[p] for p in movers}):
            members = np.flatnonzero(zone == z)
            for key, out_col, in_col in (
                (1, "support_out", "support_in"),
                (0, None, None),
            ):
                if key:
                    out = [(p, int(a[out_col][p, i])) for p in members]
                    into = [(q, int(a[in_col][q, i])) for q in members]
                else:
                    out = [(p, int(a["moved_out"][p, i] - a["support_out"][p, i])) for p in members]
                    into = [(q, int(a["moved_in"][q, i] - a["support_in"][q, i])) for q in members]
                for p, q, amount in _pair_up(
                    [x for x in out if x[1] > 0], [x for x in into if x[1] > 0]
                ):
                    entry = rows.setdefault((t, p, q), [0, 0])
                    entry[0] += amount
                    if key:
                        entry[1] += amount
    records = [
        {"year": t, "from_plot": p, "to_plot": q, "homes": h, "support_homes": s}
        for (t, p, q), (h, s) in sorted(rows.items())
    ]
    return pd.DataFrame(records, columns=RELOCATION_COLUMNS)


def region_shortfall(inst: Instance, r: PhasedResult) -> dict[str, int]:
    """Homes missing against each region's min_homes in the last year (a soft rule)."""
    if inst.regions.empty or not r.homes.size:
        return {}
    last = pd.Series(r.homes[:, -1]).groupby(inst.plots["region_id"].to_numpy()).sum()
    return {
        str(row.region_id): max(
            0, math.ceil(row.min_homes - 1e-9) - int(last.get(row.region_id, 0))
        )
        for row in inst.regions.itertuples(index=False)
        if not np.isnan(row.min_homes)
    }


def relocation_cost(inst: Instance, r: PhasedResult) -> float:
    return _horizon(inst).relocation_cost_per_home * r.homes_moved


def total_cost_phased(inst: Instance, r: PhasedResult) -> float:
    """Fixed costs of plots with a project + cost per new home + relocation costs."""
    plots = inst.plots
    used = ~np.isnan(r.start_year)
    cost = float(plots["fixed_cost"].to_numpy()[used].sum())
    cost += float(np.dot(plots["cost_per_home"].to_numpy(), r.built.sum(axis=1)))
    return cost + relocation_cost(inst, r)


def evaluate_phased(inst: Instance, r: PhasedResult) -> float:
    """The objective recomputed from the plan (what kpis.json reports)."""
    missing = sum(r.short().values()) + sum(region_shortfall(inst, r).values())
    if inst.scenario.objective == "min_cost":
        return total_cost_phased(inst, r) + r.penalty * missing
    suit = inst.plots["suitability"].to_numpy()
    value = float(np.dot(suit, r.homes.sum(axis=1)))
    return value - _horizon(inst).relocation_weight * r.homes_moved - r.penalty * missing


def explain_phased(inst: Instance, r: PhasedResult) -> list[str]:
    """Which target years fall short, and whether production or plot windows explain it."""
    h = _horizon(inst)
    standing = r.standing()
    windows = plot_windows(inst, h)
    cap = inst.plots["capacity"].to_numpy()
    lines = []
    for t, missing in r.short().items():
        if not missing:
            continue
        line = f"{t}: {standing[t]} homes stand, target {r.targets[t]} ({missing} short)"
        made = h.delivery_per_year * (t - h.start + 1)
        room = sum(int(cap[p]) for p, w in enumerate(windows) if w and w[0] <= t <= w[1])
        if made < r.targets[t]:
            line += f"; production allows at most {made} new homes by {t}"
        elif room < r.targets[t]:
            line += f"; plots available in {t} hold at most {room} homes"
        else:
            line += "; care reach and capacity, mix, buurt, region or permit rules bind"
        lines.append(line + ".")
    for region_id, missing in region_shortfall(inst, r).items():
        if missing:
            lines.append(
                f"Region {region_id}: {missing} homes short of its minimum in {h.end}; its plots "
                "close or are full, and relocated homes stay in their region."
            )
    return lines


def phased_reasons(inst: Instance, r: PhasedResult) -> list[str | None]:
    """Why each plot without a project has none (None for plots with one)."""
    h = _horizon(inst)
    windows = plot_windows(inst, h)
    reasons: list[str | None] = []
    for p, row in enumerate(inst.plots.itertuples(index=False)):
        if r.peak_homes[p] > 0:
            reasons.append(None)
        elif not row.eligible:
            reasons.append(f"not eligible: {row.reason}")
        elif windows[p] is None:
            reasons.append(f"not available within {h.start}..{h.end}")
        else:
            reasons.append("not needed: other plots serve the targets better")
    return reasons


# --- verification --------------------------------------------------------------------------------


def verify_phased(inst: Instance, r: PhasedResult) -> list[str]:
    """Every rule of every year broken by the plan, as sentences (empty when valid)."""
    if r.status == "INFEASIBLE":
        return [] if not r.homes.any() else ["INFEASIBLE plan with homes placed"]
    return (
        _verify_projects(inst, r)
        + _verify_flows(inst, r)
        + _verify_care(inst, r)
        + _verify_areas(inst, r)
        + _verify_targets(inst, r)
    )


def _verify_projects(inst: Instance, r: PhasedResult) -> list[str]:
    h = _horizon(inst)
    windows = plot_windows(inst, h)
    plots = inst.plots
    share = inst.scenario.support.max_share_per_plot
    out = []
    for p, row in enumerate(plots.itertuples(index=False)):
        years = [t for i, t in enumerate(r.years) if r.homes[p, i] > 0]
        if not years:
            continue
        w = windows[p]
        first, last = years[0], years[-1]
        if w is None or first < w[0] or last > w[1]:
            out.append(f"plot {row.plot_id}: homes in {first}..{last} outside its window {w}")
            continue
        if r.start_year[p] != first or last != project_end(first, w, h.permit_years):
            out.append(f"plot {row.plot_id}: project {first}..{last} is not one permit-long run")
        if len(years) != last - first + 1:
            out.append(f"plot {row.plot_id}: more than one project")
        for i, t in enumerate(r.years):
            homes, support = int(r.homes[p, i]), int(r.support[p, i])
            if homes and not np.isnan(row.fixed_homes) and homes != int(row.fixed_homes):
                out.append(f"plot {row.plot_id} {t}: {homes} homes, fixed_homes {row.fixed_homes}")
            if homes and not (row.min_homes <= homes <= row.capacity):
                out.append(f"plot {row.plot_id} {t}: {homes} outside {row.min_homes}..cap")
            if homes % inst.module:
                out.append(f"plot {row.plot_id} {t}: {homes} is not whole modules")
            if support > math.floor(share * homes + 1e-9):
                out.append(f"plot {row.plot_id} {t}: {support} support homes > {share} x {homes}")
    return out


def _verify_flows(inst: Instance, r: PhasedResult) -> list[str]:
    h = _horizon(inst)
    out = []
    prev = np.zeros(len(inst.plots), dtype=int)
    for i, t in enumerate(r.years):
        expected = prev + r.built[:, i] + r.moved_in[:, i] - r.moved_out[:, i]
        for p in np.flatnonzero(expected != r.homes[:, i]):
            out.append(f"plot {inst.plots.at[p, 'plot_id']} {t}: homes do not add up")
        for p in np.flatnonzero(r.moved_out[:, i]):
            if r.homes[p, i] or r.moved_out[p, i] != prev[p]:
                out.append(f"plot {inst.plots.at[p, 'plot_id']} {t}: a move-out before the end")
        if int(r.built[:, i].sum()) > h.delivery_per_year:
            out.append(f"{t}: {int(r.built[:, i].sum())} new homes > {h.delivery_per_year}")
        prev = r.homes[:, i]
    zone = zones(inst)
    moves = r.relocations
    for row in moves.itertuples(index=False):
        if zone[row.from_plot] != zone[row.to_plot]:
            out.append(f"relocation {row.from_plot}->{row.to_plot} in {row.year} leaves its zone")
        if row.support_homes > row.homes:
            out.append(f"relocation {row.from_plot}->{row.to_plot}: support above homes")
    col = {t: i for i, t in enumerate(r.years)}
    for key, arr in (("from_plot", r.moved_out), ("to_plot", r.moved_in)):
        sums = moves.groupby(["year", key])["homes"].sum() if len(moves) else pd.Series(dtype=int)
        listed = np.zeros_like(arr)
        for (t, p), value in sums.items():
            listed[int(p), col[int(t)]] = int(value)
        if not np.array_equal(listed, arr):
            out.append(f"relocations do not match the homes moved ({key})")
    return out


def _verify_care(inst: Instance, r: PhasedResult) -> list[str]:
    out = []
    a = r.assignments
    capacity = inst.services["capacity"].to_numpy(dtype=float)
    valid = set(zip(inst.pairs["plot"], inst.pairs["service"], strict=True))
    got = a.groupby(["year", "plot", "type"])["residents"].sum() if len(a) else pd.Series()
    load = a.groupby(["year", "service"])["residents"].sum() if len(a) else pd.Series()
    for i, t in enumerate(r.years):
        for p in np.flatnonzero(r.support[:, i]):
            for kind in inst.support_types:
                if int(got.get((t, p, kind), 0)) != int(r.support[p, i]):
                    out.append(f"plot {inst.plots.at[p, 'plot_id']} {t}: {kind} not covered")
        open_now = service_open(inst, t)
        for (year, j), value in load.items():
            if year != t:
                continue
            if not open_now[j]:
                out.append(f"service {inst.services.at[j, 'service_id']} closed in {t}")
            if not np.isnan(capacity[j]) and value > capacity[j] + 1e-6:
                out.append(f"service {inst.services.at[j, 'service_id']} over capacity in {t}")
    for row in a.itertuples(index=False):
        if (row.plot, row.service) not in valid:
            out.append(f"assignment {row.plot}->{row.service} in {row.year} is not in reach")
    min_share = inst.scenario.support.min_share
    for i, t in enumerate(r.years):
        need = math.ceil(min_share * int(r.homes[:, i].sum()) - 1e-9)
        if int(r.support[:, i].sum()) < need:
            out.append(f"{t}: {int(r.support[:, i].sum())} support homes, {need} required")
    return out


def _verify_areas(inst: Instance, r: PhasedResult) -> list[str]:
    out = []
    plots = inst.plots
    for i, t in enumerate(r.years):
        homes = pd.Series(r.homes[:, i])
        if not inst.buurten.empty:
            load = homes.groupby(plots["buurt_id"]).sum()
            for row in inst.buurten.itertuples(index=False):
                if load.get(row.buurt_id, 0) > row.cap:
                    out.append(f"buurt {row.buurt_id} {t}: above its cap {row.cap}")
        if not inst.regions.empty:
            load = homes.groupby(plots["region_id"]).sum()
            for row in inst.regions.itertuples(index=False):
                value = load.get(row.region_id, 0)
                if not np.isnan(row.max_homes) and value > row.max_homes:
                    out.append(f"region {row.region_id} {t}: {value} > max {row.max_homes}")
        groups = (homes > 0).groupby(plots["group"]).sum()
        out += [f"group {g} {t}: {n} plots stand" for g, n in groups.items() if n > 1]
    budget = inst.scenario.budget_eur
    if budget is not None and total_cost_phased(inst, r) > budget * (1 + 1e-6):
        out.append("total cost exceeds the budget")
    return out


def _verify_targets(inst: Instance, r: PhasedResult) -> list[str]:
    out = []
    standing = r.standing()
    for t, value in standing.items():
        if value > inst.scenario.target_homes:
            out.append(f"{t}: {value} homes stand, above target_homes")
        if t in r.targets and value > r.targets[t]:
            out.append(f"{t}: {value} homes stand, above the target {r.targets[t]}")
    missing = any(r.short().values()) or any(region_shortfall(inst, r).values())
    if r.status in ("OPTIMAL", "FEASIBLE") and missing:
        out.append(f"status {r.status} with targets missed")
    return out


def solve_phasing(inst: Instance, options: SolveOptions | None = None) -> PhasedResult:
    """Solve and verify; a plan that breaks a rule is a solver error, never a result."""
    result = PhasingModel(inst, options).solve()
    problems = verify_phased(inst, result)
    if problems:
        raise SolverError(f"the phasing plan breaks {len(problems)} rule(s), first: {problems[0]}")
    return result


__all__ = [
    "BACKENDS",
    "PhasedResult",
    "PhasingModel",
    "evaluate_phased",
    "plot_windows",
    "service_open",
    "solve_phasing",
    "total_cost_phased",
    "verify_phased",
]
