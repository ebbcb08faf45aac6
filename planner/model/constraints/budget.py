"""Budget: total cost (site preparation, homes, travel) within budget_eur."""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.objective import cost_expression
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """cost <= budget_eur when the scenario sets a budget."""
    budget = inst.scenario.budget_eur
    if budget is None or "budget" in relax:
        return
    model.add_linear_constraint(cost_expression(inst, v) <= budget, name="budget")
