"""Care reach and capacity: every support home is assigned a service of each required type."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """sum of assignments of plot p to services of type t in reach == support_p, for every t;
    sum of assignments to service j <= capacity_j (unless relaxed)."""
    if "care_reach" in relax or not inst.support_types:
        return
    pairs = inst.pairs
    by_plot_type: dict[tuple[int, str], list[mathopt.Variable]] = {}
    by_service: dict[int, list[mathopt.Variable]] = {}
    plots = pairs["plot"].to_numpy()
    types = pairs["type"].to_numpy()
    services = pairs["service"].to_numpy()
    for r, var in v.assign.items():
        by_plot_type.setdefault((int(plots[r]), str(types[r])), []).append(var)
        by_service.setdefault(int(services[r]), []).append(var)
    for p, support in v.support.items():
        for kind in inst.support_types:
            terms = by_plot_type.get((p, kind), [])
            model.add_linear_constraint(mathopt.fast_sum(terms) == support)
    if "service_capacity" in relax:
        return
    capacity = inst.services["capacity"].to_numpy(dtype=float)
    for j, terms in by_service.items():
        if not np.isnan(capacity[j]):
            model.add_linear_constraint(mathopt.fast_sum(terms) <= float(capacity[j]))
