"""Verify a Result against its Instance, rule by rule, without trusting the solver.

The solver works with tolerances and continuous flows; this check recomputes every rule on the
integral result before anything is written, so a run folder never holds an allocation that breaks
a rule. (The test-suite has a second, fully independent checker that works from the files.)

Rows (plots, buurten, regions) are first screened with array arithmetic; only the suspects, a
superset of the rows that break a rule, are then worded row by row, so the sentences and their
order are those of a loop over every row, at a fraction of its cost (5,000 plots: 0.17 s ->
0.02 s).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from planner.instance import Instance, sum_by
from planner.result import Result

EPS = 1e-6


def _plot_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    plots = inst.plots
    share = inst.scenario.support.max_share_per_plot
    suspects = _suspect_plots(inst, r)
    for p, row in zip(suspects, plots.iloc[suspects].itertuples(index=False), strict=True):
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


def _suspect_plots(inst: Instance, r: Result) -> np.ndarray:
    """The plots that may break a plot rule, found with array arithmetic: a per-row loop over
    every plot costs a fifth of the check at 5,000 plots. A superset (anything missing or not
    a number is a suspect), so _plot_rules words exactly what it did when it read every row."""
    plots = inst.plots
    share = inst.scenario.support.max_share_per_plot
    with np.errstate(invalid="ignore"):
        h = np.trunc(np.asarray(r.homes, dtype=float))
        s = np.trunc(np.asarray(r.support, dtype=float))
        fixed = _floats(plots["fixed_homes"])
        free = np.isnan(fixed)
        eligible = plots["eligible"]
        ok = (h == 0) | (eligible.to_numpy() if eligible.dtype == bool else False)
        ok &= free | (h == fixed)
        in_range = (_floats(plots["min_homes"]) <= h) & (h <= _floats(plots["capacity"]))
        ok &= ~free | (h == 0) | in_range
        ok &= np.fmod(h, inst.module) == 0
        ok &= (s >= 0) & (s <= np.floor(share * h + 1e-9))
    return np.flatnonzero(~ok)


def _floats(column: pd.Series) -> np.ndarray:
    """A column as floats, NaN for anything missing or not a number."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _care_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    a = r.assignments
    if not inst.support_types:
        return out
    got = a.groupby(["plot", "type"])["residents"].sum().to_dict()
    valid = _reach_pairs(inst, a)
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


def _reach_pairs(inst: Instance, a: pd.DataFrame) -> set[tuple[Any, Any]]:
    """The reach pairs (plot, service) of the plots the assignments name: every pair an
    assignment can match, without a tuple for each of the 218,503 pairs at 5,000 plots."""
    pairs = inst.pairs
    named = pairs[pairs["plot"].isin(a["plot"])]
    return set(zip(named["plot"], named["service"], strict=True))


def _area_rules(inst: Instance, r: Result) -> list[str]:
    out = []
    if not inst.buurten.empty:
        load = sum_by(inst.plots["buurt_id"], r.homes)
        for row in _suspect_buurten(inst.buurten, load).itertuples(index=False):
            if load.get(row.buurt_id, 0) > row.cap:
                out.append(f"buurt {row.buurt_id}: {load[row.buurt_id]} homes > cap {row.cap}")
    if not inst.regions.empty:
        load = sum_by(inst.plots["region_id"], r.homes)
        for row in _suspect_regions(inst.regions, load).itertuples(index=False):
            h = load.get(row.region_id, 0)
            if not np.isnan(row.min_homes) and h < row.min_homes - EPS:
                out.append(f"region {row.region_id}: {h} homes < min {row.min_homes}")
            if not np.isnan(row.max_homes) and h > row.max_homes + EPS:
                out.append(f"region {row.region_id}: {h} homes > max {row.max_homes}")
    groups = sum_by(inst.plots["group"], r.homes > 0)
    out += [f"group {g}: {n} plots used" for g, n in groups.items() if g and n > 1]
    return out


def _suspect_buurten(buurten: pd.DataFrame, load: pd.Series) -> pd.DataFrame:
    """The buurten that may be over their cap (a superset: a missing cap is a suspect), so
    _area_rules words each as before without a row loop over all 13,000 at 5,000 plots."""
    homes = _per_row(load, buurten["buurt_id"])
    return buurten[~(homes <= _floats(buurten["cap"]))]


def _suspect_regions(regions: pd.DataFrame, load: pd.Series) -> pd.DataFrame:
    """The regions that may be outside their bounds (a superset, as _suspect_buurten)."""
    homes = _per_row(load, regions["region_id"])
    low, high = _floats(regions["min_homes"]), _floats(regions["max_homes"])
    with np.errstate(invalid="ignore"):
        ok = (np.isnan(low) | (homes >= low - EPS)) & (np.isnan(high) | (homes <= high + EPS))
    return regions[~ok]


def _per_row(load: pd.Series, ids: pd.Series) -> np.ndarray:
    """The load of each id in ``ids`` (0 where it has none), as floats."""
    return load.reindex(ids).fillna(0).to_numpy(dtype=float)


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
