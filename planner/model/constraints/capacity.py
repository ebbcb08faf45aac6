"""Plot capacity, project size and the total number of homes."""

from __future__ import annotations

import numpy as np
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_rows
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
    is_free = np.isnan(fixed[v.plots])
    free = v.plots[is_free]
    low = inst.module if "min_homes" in relax else min_homes[free].astype(int)
    # Two blocks of rows, one per free plot each: homes - capacity x used <= 0, then
    # homes - low x used >= 0 (in blocks, names of one length come in long runs: bulk.py).
    n = len(free)
    lb = np.concatenate([np.full(n, -np.inf), np.zeros(n)])
    ub = np.concatenate([np.zeros(n), np.full(n, np.inf)])
    row = np.repeat(np.arange(2 * n), 2)
    var = np.tile(np.column_stack([v.module_ids[is_free], v.used_ids[is_free]]).ravel(), 2)
    coef = np.concatenate(
        [
            np.column_stack([np.full(n, inst.module), -capacity[free].astype(int)]).ravel(),
            np.column_stack([np.full(n, inst.module), -np.broadcast_to(low, (n,))]).ravel(),
        ]
    )
    pid = inst.plots["plot_id"].to_numpy()[free].astype(str)
    # Named, so a re-run can map the LP prices of an earlier run onto these rows (planner.rerun)
    names = np.concatenate(
        [
            np.char.add(np.char.add("capacity[", pid), "]"),
            np.char.add(np.char.add("min_homes[", pid), "]"),
        ]
    )
    add_rows(model, lb, ub, row, var, coef, names=names)
    target = inst.scenario.target_homes
    if mode == "target":
        low, high = target, target
    elif mode == "max_homes":
        low, high = -np.inf, target
    elif mode == "fixed_total":
        if total is None:
            raise ValueError("fixed_total mode needs a total")
        low, high = total, total
    else:
        raise ValueError(f"unknown mode {mode!r}")
    add_rows(
        model,
        np.full(1, float(low)),
        np.full(1, float(high)),
        np.zeros(len(v.module_ids), dtype=np.int64),
        v.module_ids,
        np.full(len(v.module_ids), float(inst.module)),
        names=["target"],
    )
