"""Exclusive groups: plots that are alternatives for one another, at most one used."""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """sum of used_p over a group <= 1."""
    if "groups" in relax:
        return
    groups: dict[str, list[int]] = {}
    for p, group in zip(v.plots.tolist(), inst.plots["group"].to_numpy()[v.plots], strict=True):
        if isinstance(group, str) and group:
            groups.setdefault(group, []).append(p)
    for group, plots in sorted(groups.items()):
        if len(plots) > 1:
            model.add_linear_constraint(
                mathopt.fast_sum(v.used[p] for p in plots) <= 1, name=f"group[{group}]"
            )
