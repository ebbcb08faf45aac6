"""Regional fair share (min/max homes per region) and region demand served over travel costs."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """min_r <= homes in region r <= max_r; demand_r == sum of flows; flows into p <= homes_p."""
    if inst.regions.empty:
        return
    if "region_bounds" not in relax:
        members: dict[str, list[int]] = {}
        region_of = inst.plots["region_id"].to_numpy()
        for p in v.plots.tolist():
            if isinstance(region_of[p], str):
                members.setdefault(region_of[p], []).append(p)
        for row in inst.regions.itertuples(index=False):
            expr = mathopt.fast_sum(v.homes[p] for p in members.get(row.region_id, []))
            if not np.isnan(row.min_homes):
                model.add_linear_constraint(
                    expr >= row.min_homes, name=f"region_min[{row.region_id}]"
                )
            if not np.isnan(row.max_homes):
                model.add_linear_constraint(
                    expr <= row.max_homes, name=f"region_max[{row.region_id}]"
                )
    if "demand" in relax:
        return
    into_plot: dict[int, list[mathopt.Variable]] = {}
    from_region: dict[str, list[mathopt.Variable]] = {}
    for (region_id, p), var in v.flow.items():
        into_plot.setdefault(p, []).append(var)
        from_region.setdefault(region_id, []).append(var)
    for row in inst.regions.itertuples(index=False):
        demand = 0.0 if np.isnan(row.demand) else float(row.demand)
        if demand > 0:
            model.add_linear_constraint(
                mathopt.fast_sum(from_region.get(row.region_id, [])) == demand,
                name=f"demand[{row.region_id}]",
            )
    for p, terms in into_plot.items():
        model.add_linear_constraint(mathopt.fast_sum(terms) <= v.homes[p])
    # Strong linking (the classic facility-location cut): a closed plot takes no demand. It is
    # implied by the rows above for integer solutions but tightens the LP bound a great deal.
    demand = dict(zip(inst.regions["region_id"], inst.regions["demand"].fillna(0), strict=True))
    capacity = inst.plots["capacity"].to_numpy()
    for (region_id, p), var in v.flow.items():
        model.add_linear_constraint(
            var <= min(float(demand[region_id]), float(capacity[p])) * v.used[p]
        )
