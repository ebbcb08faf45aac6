"""Budget: total cost (site preparation, homes, travel) within budget_eur."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_rows
from planner.model.objective import cost_terms
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """cost <= budget_eur when the scenario sets a budget."""
    budget = inst.scenario.budget_eur
    if budget is None or "budget" in relax:
        return
    ids, coef = cost_terms(inst, v)  # in one piece: one term per column is slow (bulk.py)
    add_rows(
        model,
        np.full(1, -np.inf),
        np.full(1, float(budget)),
        np.zeros(len(ids), dtype=np.int64),
        ids,
        coef,
        names=["budget"],
    )
