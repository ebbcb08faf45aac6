"""Resident mix: support share overall and per project, and flex homes per buurt."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_rows
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """support_p <= max_share x homes_p; sum support >= min_share x sum homes (integrality of the
    support total makes this the ceiling); homes per buurt <= floor(share x dwellings)."""
    support = inst.scenario.support
    if "plot_mix" not in relax:
        # support_p - max_share x module x modules_p <= 0, one row per support plot.
        n = len(v.support)
        add_rows(
            model,
            np.full(n, -np.inf),
            np.zeros(n),
            np.repeat(np.arange(n), 2),
            [x for p, s in v.support.items() for x in (s, v.modules[p])],
            np.tile([1.0, -(inst.module * support.max_share_per_plot)], n),
            names=[f"plot_mix[{pid}]" for pid in inst.plots["plot_id"].to_numpy()[list(v.support)]],
        )
    if "support_share" not in relax and support.min_share > 0:
        # sum support - min_share x module x sum modules >= 0, added in one piece: at national
        # scale the expression form of this single long row took a quarter of the build.
        add_rows(
            model,
            np.zeros(1),
            np.full(1, np.inf),
            np.zeros(len(v.support) + len(v.modules), dtype=np.int64),
            [*v.support.values(), *v.modules.values()],
            np.concatenate(
                [
                    np.ones(len(v.support)),
                    np.full(len(v.modules), -(support.min_share * inst.module)),
                ]
            ),
            names=["support_share"],
        )
    if "neighbourhood" in relax or inst.buurten.empty:
        return
    cap = dict(zip(inst.buurten["buurt_id"], inst.buurten["cap"], strict=True))
    capacity = inst.plots["capacity"].to_numpy()
    members: dict[str, list[int]] = {}
    for p, buurt in zip(v.plots.tolist(), inst.plots["buurt_id"].to_numpy()[v.plots], strict=True):
        if isinstance(buurt, str):
            members.setdefault(buurt, []).append(p)
    binding = [
        (buurt, plots)
        for buurt, plots in sorted(members.items())
        if sum(int(capacity[p]) for p in plots) > cap[buurt]  # else it cannot bind: left out
    ]
    add_rows(
        model,
        np.full(len(binding), -np.inf),
        np.array([int(cap[buurt]) for buurt, _ in binding], dtype=float),
        np.repeat(np.arange(len(binding)), [len(plots) for _, plots in binding]),
        [v.modules[p] for _, plots in binding for p in plots],
        np.full(sum(len(plots) for _, plots in binding), float(inst.module)),
        names=[f"buurt[{buurt}]" for buurt, _ in binding],
    )
