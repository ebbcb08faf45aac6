"""Verify a Result against its Instance, rule by rule, without trusting the solver.

The solver works with tolerances and continuous flows; this check recomputes every rule on the
integral result before anything is written, so a run folder never holds an allocation that breaks
a rule. (The test-suite has a second, fully independent checker that works from the files.)
"""

from __future__ import annotations

import math

import numpy as np

from planner.instance import Instance, sum_by
from planner.result import Result

EPS = 1e-6


def _plot_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    plots = inst.plots
    share = inst.scenario.support.max_share_per_plot
    for p, row in enumerate(plots.itertuples(index=False)):
        h, s = int(r.homes[p]), int(r.support[p])
        if h and not row.eligible:
            out.append(f"plot {row.plot_id}: {h} homes on an ineligible plot")
        if not np.isnan(row.fixed_homes) and h != int(row.fixed_homes):
            out.append(f"plot {row.plot_id}: {h} homes, fixed_homes is {int(row.fixed_homes)}")
        elif h and not (row.min_homes <= h <= row.capacity) and np.isnan(row.fixed_homes):
            out.append(f"plot {row.plot_id}: {h} homes outside {row.min_homes}..{row.capacity}")
        if h % inst.module:
            out.append(f"plot {row.plot_id}: {h} homes is not a multiple of the module")
        if s < 0 or s > math.floor(share * h + 1e-9):
            out.append(f"plot {row.plot_id}: {s} support homes exceed {share} of {h}")
    return out


def _care_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    a = r.assignments
    if not inst.support_types:
        return out
    got = a.groupby(["plot", "type"])["residents"].sum()
    valid = set(zip(inst.pairs["plot"], inst.pairs["service"], strict=True))
    for p in np.flatnonzero(r.support):
        for kind in inst.support_types:
            if int(got.get((p, kind), 0)) != int(r.support[p]):
                out.append(
                    f"plot {inst.plots.at[p, 'plot_id']}: {kind} assignments do not cover "
                    f"its {int(r.support[p])} support homes"
                )
    for row in a.itertuples(index=False):
        if (row.plot, row.service) not in valid:
            out.append(f"assignment plot {row.plot} -> service {row.service} is not in reach")
    load = a.groupby("service")["residents"].sum()
    cap = inst.services["capacity"].to_numpy(dtype=float)
    for j, value in load.items():
        if not np.isnan(cap[j]) and value > cap[j] + EPS:
            out.append(f"service {inst.services.at[j, 'service_id']}: {value} > capacity {cap[j]}")
    return out


def _area_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    if not inst.buurten.empty:
        load = sum_by(inst.plots["buurt_id"], r.homes)
        for row in inst.buurten.itertuples(index=False):
            if load.get(row.buurt_id, 0) > row.cap:
                out.append(f"buurt {row.buurt_id}: {load[row.buurt_id]} homes > cap {row.cap}")
    if not inst.regions.empty:
        load = sum_by(inst.plots["region_id"], r.homes)
        for row in inst.regions.itertuples(index=False):
            h = load.get(row.region_id, 0)
            if not np.isnan(row.min_homes) and h < row.min_homes - EPS:
                out.append(f"region {row.region_id}: {h} homes < min {row.min_homes}")
            if not np.isnan(row.max_homes) and h > row.max_homes + EPS:
                out.append(f"region {row.region_id}: {h} homes > max {row.max_homes}")
    groups = sum_by(inst.plots["group"], r.homes > 0)
    out += [f"group {g}: {n} plots used" for g, n in groups.items() if g and n > 1]
    return out


def _demand_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    if r.flows.empty:
        return out
    pairs = set(zip(inst.travel["region_id"], inst.travel["plot"], strict=True))
    for row in r.flows.itertuples(index=False):
        if (row.region_id, row.plot) not in pairs:
            out.append(f"flow {row.region_id} -> plot {row.plot} is not a listed travel pair")
    served = r.flows.groupby("region_id")["homes"].sum()
    for row in inst.regions.itertuples(index=False):
        demand = 0 if np.isnan(row.demand) else row.demand
        got = served.get(row.region_id, 0)
        short = r.status == "SHORTFALL"
        if got > demand + EPS or (not short and abs(got - demand) > EPS):
            out.append(f"region {row.region_id}: {got} homes of demand served, demand {demand}")
    into = r.flows.groupby("plot")["homes"].sum()
    for p, value in into.items():
        if value > r.homes[p]:
            out.append(f"plot {inst.plots.at[p, 'plot_id']}: flows {value} > homes {r.homes[p]}")
    return out


def verify(inst: Instance, r: Result) -> list[str]:
    """Every rule broken by the result, as sentences (empty when the result is valid)."""
    if r.status == "INFEASIBLE":
        return [] if r.total_homes == 0 else ["INFEASIBLE result with homes placed"]
    out = _plot_rules(inst, r) + _care_rules(inst, r) + _area_rules(inst, r)
    out += _demand_rules(inst, r)
    target = inst.scenario.target_homes
    if r.status in ("OPTIMAL", "FEASIBLE") and r.total_homes != target:
        out.append(f"{r.total_homes} homes placed, target is {target}")
    if r.status == "SHORTFALL" and r.total_homes >= target:
        out.append("SHORTFALL status with the target met")
    need = math.ceil(inst.scenario.support.min_share * r.total_homes - 1e-9)
    if r.total_support < need:
        out.append(f"{r.total_support} support homes, at least {need} required")
    budget = inst.scenario.budget_eur
    if budget is not None:
        from planner.model import total_cost

        cost = total_cost(inst, r.homes, r.flows)
        if cost > budget * (1 + EPS):
            out.append(f"total cost {cost:.0f} exceeds the budget {budget:.0f}")
    return out
