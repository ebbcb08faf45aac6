"""Care reach and capacity: every support home is assigned a service of each required type."""

from __future__ import annotations

import numpy as np
import pandas as pd
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_rows, bracketed
from planner.model.variables import PlotVars


def build(model: mathopt.Model, inst: Instance, v: PlotVars, *, relax: frozenset[str]) -> None:
    """sum of assignments of plot p to services of type t in reach == support_p, for every t;
    sum of assignments to service j <= capacity_j (unless relaxed)."""
    if "care_reach" in relax or not inst.support_types:
        return
    pairs = inst.pairs
    rows, assign = v.assign_rows, v.assign_ids
    plot_of = pairs["plot"].to_numpy(dtype=np.int64)[rows]
    service_of = pairs["service"].to_numpy(dtype=np.int64)[rows]
    # One row per (required type, support plot): assignments - support_p == 0, type by type.
    kinds = list(inst.support_types)
    support_plots = v.support_plots
    position = np.full(len(inst.plots), -1, dtype=np.int64)
    position[support_plots] = np.arange(len(support_plots))
    kind_index = {kind: i for i, kind in enumerate(kinds)}
    # the kind of each assignment's type (-1: not required), looked up once per distinct type
    # (of the model's pairs only: all 218,503 pairs' types as objects took 6 ms at 5,000 plots)
    codes, found = pd.factorize(pairs["type"].iloc[rows])
    lookup = [kind_index.get(str(t), -1) for t in found.tolist()] + [-1]  # [-1]: missing
    kind_of = np.array(lookup, dtype=np.int64)[codes]
    ok = kind_of >= 0
    n_rows = len(support_plots) * len(kinds)
    plot_ids = inst.plots["plot_id"].to_numpy()
    support_rows = np.arange(n_rows)
    add_rows(
        model,
        np.zeros(n_rows),
        np.zeros(n_rows),
        np.concatenate([kind_of[ok] * len(support_plots) + position[plot_of[ok]], support_rows]),
        np.concatenate([assign[ok], np.tile(v.support_ids, len(kinds))]),
        np.concatenate([np.ones(int(ok.sum())), -np.ones(n_rows)]),
        names=bracketed(
            "care",
            (plot_ids, np.tile(support_plots, len(kinds))),
            (np.array(kinds, dtype=object), np.repeat(np.arange(len(kinds)), len(support_plots))),
        ),
    )
    if "service_capacity" in relax:
        return
    # One row per limited service: its assignments <= capacity_j, in order of first appearance.
    capacity = inst.services["capacity"].to_numpy(dtype=float)
    order = pd.unique(service_of)  # by hashing: a stable np.unique took 2 ms at 5,000 plots
    limited = order[~np.isnan(capacity[order])]
    row_of = np.full(len(inst.services), -1, dtype=np.int64)
    row_of[limited] = np.arange(len(limited))
    hit = row_of[service_of] >= 0
    add_rows(
        model,
        np.full(len(limited), -np.inf),
        capacity[limited],
        row_of[service_of[hit]],
        assign[hit],
        np.ones(int(hit.sum())),
        names=bracketed("service", (inst.services["service_id"].to_numpy(), limited)),
    )
