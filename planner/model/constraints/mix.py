"""Resident mix: support share overall and per project, and flex homes per buurt."""

from __future__ import annotations

from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """support_p <= max_share x homes_p; sum support >= min_share x sum homes (integrality of the
    support total makes this the ceiling); homes per buurt <= floor(share x dwellings)."""
    support = inst.scenario.support
    if "plot_mix" not in relax:
        for p, s in v.support.items():
            model.add_linear_constraint(s <= support.max_share_per_plot * v.homes[p])
    if "support_share" not in relax and support.min_share > 0:
        model.add_linear_constraint(
            v.total_support() >= support.min_share * v.total_homes(), name="support_share"
        )
    if "neighbourhood" in relax or inst.buurten.empty:
        return
    cap = dict(zip(inst.buurten["buurt_id"], inst.buurten["cap"], strict=True))
    capacity = inst.plots["capacity"].to_numpy()
    members: dict[str, list[int]] = {}
    for p, buurt in zip(v.plots.tolist(), inst.plots["buurt_id"].to_numpy()[v.plots], strict=True):
        if isinstance(buurt, str):
            members.setdefault(buurt, []).append(p)
    for buurt, plots in sorted(members.items()):
        if sum(int(capacity[p]) for p in plots) <= cap[buurt]:
            continue  # cannot bind: leave it out of the model
        model.add_linear_constraint(
            mathopt.fast_sum(v.homes[p] for p in plots) <= int(cap[buurt]), name=f"buurt[{buurt}]"
        )
