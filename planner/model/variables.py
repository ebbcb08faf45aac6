"""Decision variables of the allocation model, one container so constraint families share them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_variables


@dataclass
class PlotVars:
    """Variables per eligible plot, per reach pair and per region-plot flow.

    homes[p] is an expression ``module_homes x modules[p]``; support[p] exists only for plots that
    can reach a service of every required type; assign[r] is the number of support residents of
    reach pair row r; flow[(region_id, p)] the homes of a region's demand placed on plot p.
    """

    plots: np.ndarray
    modules: dict[int, mathopt.Variable] = field(default_factory=dict)
    homes: dict[int, mathopt.LinearExpression] = field(default_factory=dict)
    used: dict[int, mathopt.Variable] = field(default_factory=dict)
    support: dict[int, mathopt.Variable] = field(default_factory=dict)
    assign: dict[int, mathopt.Variable] = field(default_factory=dict)
    flow: dict[tuple[str, int], mathopt.Variable] = field(default_factory=dict)

    def total_homes(self) -> mathopt.LinearSum:
        return mathopt.fast_sum(self.homes.values())

    def total_support(self) -> mathopt.LinearSum:
        return mathopt.fast_sum(self.support.values())


def _support_plots(inst: Instance, care_relaxed: bool) -> set[int]:
    """Plots that can host support homes: every required type in reach (or care relaxed)."""
    eligible = set(np.flatnonzero(inst.plots["eligible"].to_numpy()).tolist())
    if care_relaxed or not inst.support_types:
        return eligible
    types_per_plot = inst.pairs.groupby("plot")["type"].nunique()
    full = types_per_plot[types_per_plot == len(inst.support_types)].index
    return eligible & set(full.tolist())


def create_variables(
    model: mathopt.Model, inst: Instance, *, relax: frozenset[str], integer_flows: bool
) -> PlotVars:
    """Add all variables; bounds already encode plot capacity and fixed projects."""
    plots = inst.plots
    module = inst.module
    eligible = np.flatnonzero(plots["eligible"].to_numpy())
    v = PlotVars(plots=eligible)
    max_share = inst.scenario.support.max_share_per_plot
    support_ok = _support_plots(inst, "care_reach" in relax)
    share_cap = 1.0 if "plot_mix" in relax else max_share
    ids = plots["plot_id"].to_numpy()
    capacity = plots["capacity"].to_numpy()
    fixed_homes = plots["fixed_homes"].to_numpy(dtype=float)
    fixed = ~np.isnan(fixed_homes[eligible])
    cap = np.where(fixed, np.nan_to_num(fixed_homes[eligible]), capacity[eligible]).astype(int)
    has_support = np.isin(eligible, np.fromiter(support_ok, dtype=int, count=len(support_ok)))
    # In blocks: modules of every plot, then used, then support (where care allows), so that
    # names of one length come in long runs (planner.model.bulk adds a run in one call).
    pid = ids[eligible].astype(str)
    n, k = len(eligible), int(has_support.sum())
    lb = np.concatenate([np.where(fixed, cap // module, 0), fixed.astype(float), np.zeros(k)])
    ub = np.concatenate([cap // module, np.ones(n), np.floor(share_cap * cap[has_support] + 1e-9)])
    names = (
        [f"modules[{x}]" for x in pid]
        + [f"used[{x}]" for x in pid]
        + [f"support[{x}]" for x in pid[has_support]]
    )
    made = add_variables(model, lb, ub, np.ones(2 * n + k, dtype=bool), names)
    plots = eligible.tolist()
    v.modules = dict(zip(plots, made[:n], strict=True))
    v.homes = {p: module * x for p, x in v.modules.items()}
    v.used = dict(zip(plots, made[n : 2 * n], strict=True))
    v.support = dict(zip(eligible[has_support].tolist(), made[2 * n :], strict=True))
    if "care_reach" not in relax:
        service_ids = inst.services["service_id"].to_numpy()
        pairs = inst.model_pairs()
        plot_of = pairs["plot"].to_numpy()
        keep = np.isin(plot_of, np.fromiter(v.support, dtype=int, count=len(v.support)))
        rows = pairs.index.to_numpy()[keep]
        names = [
            f"assign[{ids[p]},{service_ids[s]}]"
            for p, s in zip(plot_of[keep], pairs["service"].to_numpy()[keep], strict=True)
        ]
        m = len(names)
        made = add_variables(
            model, np.zeros(m), np.full(m, np.inf), np.full(m, integer_flows), names
        )
        v.assign = dict(zip(rows.tolist(), made, strict=True))
    if "demand" not in relax:
        demand_regions = set(
            inst.regions.loc[inst.regions["demand"].fillna(0) > 0, "region_id"].tolist()
        )
        for region_id, p in zip(inst.travel["region_id"], inst.travel["plot"], strict=True):
            if region_id in demand_regions and p in v.homes:
                name = f"flow[{region_id},{ids[p]}]"
                v.flow[(region_id, int(p))] = (
                    model.add_integer_variable(lb=0, name=name)
                    if integer_flows
                    else model.add_variable(lb=0, name=name)
                )
    return v
