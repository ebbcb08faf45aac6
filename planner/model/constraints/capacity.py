"""Plot capacity, project size and the total number of homes."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.variables import PlotVars


def build(
    model: mathopt.Model,
    inst: Instance,
    v: PlotVars,
    *,
    relax: frozenset[str],
    mode: str,
    total: int | None = None,
) -> None:
    """homes_p in {0} U [min_homes_p, capacity_p] via the used_p switch; the total per mode.

    mode "target": total homes == target_homes; "max_homes": total <= target (maximised by the
    objective); "fixed_total": total == ``total`` (after a shortfall).
    """
    capacity = inst.plots["capacity"].to_numpy()
    min_homes = inst.plots["min_homes"].to_numpy()
    fixed = inst.plots["fixed_homes"].to_numpy(dtype=float)
    for p, homes in v.homes.items():
        used = v.used[p]
        if not np.isnan(fixed[p]):
            continue
        model.add_linear_constraint(homes <= int(capacity[p]) * used)
        low = inst.module if "min_homes" in relax else int(min_homes[p])
        model.add_linear_constraint(homes >= low * used)
    target = inst.scenario.target_homes
    total_expr = v.total_homes()
    if mode == "target":
        model.add_linear_constraint(total_expr == target, name="target")
    elif mode == "max_homes":
        model.add_linear_constraint(total_expr <= target, name="target")
    elif mode == "fixed_total":
        if total is None:
            raise ValueError("fixed_total mode needs a total")
        model.add_linear_constraint(total_expr == total, name="target")
    else:
        raise ValueError(f"unknown mode {mode!r}")
