"""Objective terms: suitability of placed homes, or total cost."""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.variables import PlotVars


def cost_expression(inst: Instance, v: PlotVars) -> mathopt.LinearSum:
    """fixed_cost x used + cost_per_home x homes + travel cost_per_home x flow."""
    fixed = inst.plots["fixed_cost"].to_numpy()
    per_home = inst.plots["cost_per_home"].to_numpy()
    terms: list[mathopt.LinearBase] = []
    for p, homes in v.homes.items():
        if fixed[p]:
            terms.append(float(fixed[p]) * v.used[p])
        if per_home[p]:
            terms.append(float(per_home[p]) * homes)
    if v.flow:
        cost = {
            (r, int(p)): float(c)
            for r, p, c in zip(
                inst.travel["region_id"],
                inst.travel["plot"],
                inst.travel["cost_per_home"],
                strict=True,
            )
        }
        terms.extend(cost[key] * var for key, var in v.flow.items() if cost[key])
    return mathopt.fast_sum(terms)


def suitability_expression(inst: Instance, v: PlotVars) -> mathopt.LinearSum:
    """sum of suitability_p x homes_p."""
    score = inst.plots["suitability"].to_numpy()
    return mathopt.fast_sum(float(score[p]) * homes for p, homes in v.homes.items() if score[p])


def set_objective(model: mathopt.Model, inst: Instance, v: PlotVars, *, mode: str) -> None:
    """max_homes mode maximises homes; otherwise the scenario's objective."""
    if mode == "max_homes":
        model.maximize(v.total_homes())
    elif inst.scenario.objective == "min_cost":
        model.minimize(cost_expression(inst, v))
    else:
        model.maximize(suitability_expression(inst, v))
