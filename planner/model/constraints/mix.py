"""Resident mix: support share overall and per project, and flex homes per buurt."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_rows, bracketed
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """support_p <= max_share x homes_p; sum support >= min_share x sum homes (integrality of the
    support total makes this the ceiling); homes per buurt <= floor(share x dwellings)."""
    support = inst.scenario.support
    if "plot_mix" not in relax:
        # support_p - max_share x module x modules_p <= 0, one row per support plot.
        n = len(v.support_plots)
        modules = v.module_ids[np.searchsorted(v.plots, v.support_plots)]
        add_rows(
            model,
            np.full(n, -np.inf),
            np.zeros(n),
            np.repeat(np.arange(n), 2),
            np.column_stack([v.support_ids, modules]).ravel(),
            np.tile([1.0, -(inst.module * support.max_share_per_plot)], n),
            names=bracketed("plot_mix", (inst.plots["plot_id"].to_numpy(), v.support_plots)),
        )
    if "support_share" not in relax and support.min_share > 0:
        # sum support - min_share x module x sum modules >= 0, added in one piece: at national
        # scale the expression form of this single long row took a quarter of the build.
        add_rows(
            model,
            np.zeros(1),
            np.full(1, np.inf),
            np.zeros(len(v.support) + len(v.modules), dtype=np.int64),
            np.concatenate([v.support_ids, v.module_ids]),
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
    _buurt_rows(model, inst, v)


def _buurt_rows(model: mathopt.Model, inst: Instance, v: PlotVars) -> None:
    """homes in buurt b <= cap_b, one row per buurt in buurt id order, its plots in plot order;
    left out where the buurt's plots cannot exceed the cap. Grouped in NumPy: a loop per plot
    and a dict of all 13,000 buurten took 10 ms at 5,000 plots."""
    cap = dict(
        zip(
            inst.buurten["buurt_id"].to_numpy().tolist(),
            inst.buurten["cap"].to_numpy().tolist(),
            strict=True,
        )
    )
    buurt = inst.plots["buurt_id"].to_numpy()[v.plots].tolist()
    at = np.flatnonzero(np.fromiter((isinstance(b, str) for b in buurt), bool, len(buurt)))
    keys = np.array([buurt[i] for i in at.tolist()], dtype=str)
    order = np.argsort(keys, kind="stable")  # by buurt id (as sorted() orders str), stable
    at, keys = at[order], keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else at[:0]
    names = keys[starts].tolist()
    capacity = inst.plots["capacity"].to_numpy()[v.plots[at]].astype(np.int64)
    total = np.add.reduceat(capacity, starts) if len(starts) else capacity[:0]
    binds = np.array([t > cap[b] for t, b in zip(total.tolist(), names, strict=True)], bool)
    group = np.cumsum(np.isin(np.arange(len(at)), starts)) - 1  # each plot's buurt
    kept = binds[group] if len(at) else np.zeros(0, dtype=bool)
    add_rows(
        model,
        np.full(int(binds.sum()), -np.inf),
        np.array([int(cap[b]) for b, keep in zip(names, binds, strict=True) if keep], dtype=float),
        (np.cumsum(binds) - 1)[group[kept]],
        v.module_ids[at[kept]],
        np.full(int(kept.sum()), float(inst.module)),
        names=[f"buurt[{b}]" for b, keep in zip(names, binds, strict=True) if keep],
    )
