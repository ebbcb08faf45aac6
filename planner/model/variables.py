"""Decision variables of the allocation model, one container so constraint families share them."""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from ortools.math_opt.python import mathopt

from planner.instance import Instance
from planner.model.bulk import add_variable_ids, bracketed, variables_of


def _no_ids() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


class LazyVariables(Mapping[Any, mathopt.Variable]):
    """A read-only dict of key -> Variable whose Variables are made only when read.

    The care assignments are three in four of the columns (40,387 of 54,676 at 5,000 plots),
    the flows nearly all of a facility-location model's; the builders add their rows by id and
    the readers (planner.model.polish, why_unused) want only ids, so making a Variable for each
    in the build (with the collections they set off) was a quarter of it for nothing. Made
    once, on the first read of them all, then kept.
    """

    __slots__ = ("_ids", "_index", "_keys", "_made_once", "_model")

    def __init__(self, model: mathopt.Model, keys: np.ndarray | list[Any], ids: np.ndarray) -> None:
        self._model = model
        self._keys = keys.tolist() if isinstance(keys, np.ndarray) else keys
        self._ids = ids
        self._index: dict[int, int] | None = None
        self._made_once: list[mathopt.Variable] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def __getitem__(self, key: Any) -> mathopt.Variable:
        if self._index is None:
            self._index = dict(zip(self._keys, self._ids.tolist(), strict=True))
        return self._model.get_variable(self._index[key], validate=False)

    def values(self) -> ValuesView[mathopt.Variable]:
        return _Values(self)

    def items(self) -> ItemsView[Any, mathopt.Variable]:
        return _Items(self)

    def _made(self) -> list[mathopt.Variable]:
        if self._made_once is None:
            self._made_once = variables_of(self._model, self._ids)
        return self._made_once


class _Values(ValuesView):
    def __iter__(self) -> Iterator[mathopt.Variable]:
        return iter(self._mapping._made())


class _Items(ItemsView):
    def __iter__(self) -> Iterator[tuple[Any, mathopt.Variable]]:
        return zip(self._mapping, self._mapping._made(), strict=True)


class Homes(Mapping[int, mathopt.LinearTerm]):
    """A read-only dict of plot -> ``module x modules[p]``, made when read: the builders use the
    modules' ids, so 5,000 expressions made up front were for nothing (1 ms at 5,000 plots)."""

    __slots__ = ("_module", "_modules")

    def __init__(self, module: int, modules: dict[int, mathopt.Variable]) -> None:
        self._module = module
        self._modules = modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[int]:
        return iter(self._modules)

    def __contains__(self, p: object) -> bool:
        return p in self._modules

    def __getitem__(self, p: int) -> mathopt.LinearTerm:
        return self._module * self._modules[p]


@dataclass
class PlotVars:
    """Variables per eligible plot, per reach pair and per region-plot flow.

    homes[p] is an expression ``module_homes x modules[p]``; support[p] exists only for plots that
    can reach a service of every required type; assign[r] is the number of support residents of
    reach pair row r; flow[(region_id, p)] the homes of a region's demand placed on plot p.

    The ``*_ids`` arrays hold the same columns' ids for the builders, which add rows in bulk
    by id (planner.model.bulk): modules and used per plot of ``plots``, support per plot of
    ``support_plots``, assign per reach-pair row of ``assign_rows`` (as ``assign``'s keys),
    flow per key of ``flow`` (its plot in ``flow_plots``, its row of inst.travel in
    ``flow_travel``).
    """

    plots: np.ndarray
    modules: dict[int, mathopt.Variable] = field(default_factory=dict)
    homes: Mapping[int, mathopt.LinearBase] = field(default_factory=dict)
    used: dict[int, mathopt.Variable] = field(default_factory=dict)
    support: dict[int, mathopt.Variable] = field(default_factory=dict)
    assign: Mapping[int, mathopt.Variable] = field(default_factory=dict)
    flow: Mapping[tuple[str, int], mathopt.Variable] = field(default_factory=dict)
    module_ids: np.ndarray = field(default_factory=_no_ids)
    used_ids: np.ndarray = field(default_factory=_no_ids)
    support_plots: np.ndarray = field(default_factory=_no_ids)
    support_ids: np.ndarray = field(default_factory=_no_ids)
    assign_rows: np.ndarray = field(default_factory=_no_ids)
    assign_ids: np.ndarray = field(default_factory=_no_ids)
    flow_ids: np.ndarray = field(default_factory=_no_ids)
    flow_plots: np.ndarray = field(default_factory=_no_ids)
    flow_travel: np.ndarray = field(default_factory=_no_ids)

    def total_homes(self) -> mathopt.LinearSum:
        return mathopt.fast_sum(self.homes.values())

    def total_support(self) -> mathopt.LinearSum:
        return mathopt.fast_sum(self.support.values())


def _can_support(inst: Instance, eligible: np.ndarray, care_relaxed: bool) -> np.ndarray:
    """Per eligible plot, whether it can host support homes: every required type in reach (or
    care relaxed). The distinct types per plot are counted on a plot x type grid of the reach
    pairs' type codes (a groupby nunique was 6 ms of the build at 5,000 plots), of the model's
    pairs: they keep at least one pair of every plot and type (Instance.model_pairs), and are a
    fifth of all pairs (42,870 of 218,503)."""
    if care_relaxed or not inst.support_types:
        return np.ones(len(eligible), dtype=bool)
    pairs = inst.model_pairs()
    codes, types = pd.factorize(pairs["type"])  # missing types: -1, not counted
    known = codes >= 0
    seen = np.zeros((len(inst.plots), len(types)), dtype=bool)
    seen[pairs["plot"].to_numpy(dtype=np.int64)[known], codes[known]] = True
    return seen.sum(axis=1)[eligible] == len(inst.support_types)


def create_variables(
    model: mathopt.Model, inst: Instance, *, relax: frozenset[str], integer_flows: bool
) -> PlotVars:
    """Add all variables; bounds already encode plot capacity and fixed projects."""
    plots = inst.plots
    module = inst.module
    eligible = np.flatnonzero(plots["eligible"].to_numpy())
    v = PlotVars(plots=eligible)
    max_share = inst.scenario.support.max_share_per_plot
    share_cap = 1.0 if "plot_mix" in relax else max_share
    ids = plots["plot_id"].to_numpy()
    capacity = plots["capacity"].to_numpy()
    fixed_homes = plots["fixed_homes"].to_numpy(dtype=float)
    fixed = ~np.isnan(fixed_homes[eligible])
    cap = np.where(fixed, np.nan_to_num(fixed_homes[eligible]), capacity[eligible]).astype(int)
    has_support = _can_support(inst, eligible, "care_reach" in relax)
    # In blocks: modules of every plot, then used, then support (where care allows), so that
    # names of one length come in long runs (planner.model.bulk adds a run in one call).
    n, k = len(eligible), int(has_support.sum())
    lb = np.concatenate([np.where(fixed, cap // module, 0), fixed.astype(float), np.zeros(k)])
    ub = np.concatenate([cap // module, np.ones(n), np.floor(share_cap * cap[has_support] + 1e-9)])
    everyone = np.arange(n)
    names = np.concatenate(
        [
            bracketed("modules", (ids[eligible], everyone)),
            bracketed("used", (ids[eligible], everyone)),
            bracketed("support", (ids[eligible], everyone[has_support])),
        ]
    )
    col = add_variable_ids(model, lb, ub, np.ones(2 * n + k, dtype=bool), names)
    made = variables_of(model, col)
    plots = eligible.tolist()
    v.module_ids, v.used_ids, v.support_ids = col[:n], col[n : 2 * n], col[2 * n :]
    v.support_plots = eligible[has_support]
    v.modules = dict(zip(plots, made[:n], strict=True))
    v.homes = Homes(module, v.modules)
    v.used = dict(zip(plots, made[n : 2 * n], strict=True))
    v.support = dict(zip(v.support_plots.tolist(), made[2 * n :], strict=True))
    if "care_reach" not in relax:
        service_ids = inst.services["service_id"].to_numpy()
        pairs = inst.model_pairs()
        plot_of = pairs["plot"].to_numpy(dtype=np.int64)
        keep = np.isin(plot_of, v.support_plots)
        rows = pairs.index.to_numpy()[keep]
        names = bracketed(
            "assign",
            (ids, plot_of[keep]),
            (service_ids, pairs["service"].to_numpy(dtype=np.int64)[keep]),
        )
        m = len(names)
        v.assign_rows = rows.astype(np.int64)
        v.assign_ids = add_variable_ids(
            model, np.zeros(m), np.full(m, np.inf), np.full(m, integer_flows), names
        )
        v.assign = LazyVariables(model, v.assign_rows, v.assign_ids)
    if "demand" not in relax:
        _create_flows(model, inst, v, ids, integer_flows)
    return v


def _create_flows(
    model: mathopt.Model, inst: Instance, v: PlotVars, ids: np.ndarray, integer_flows: bool
) -> None:
    """A flow per travel row from a region with demand to an eligible plot, in travel order,
    in one call (one call per flow was 0.8 s of OR-Library capa's 2.2 s build, 100,000 flows).
    Keyed (region_id, plot) as a dict would keep them: a key listed twice keeps its first place
    and its last column."""
    if inst.travel.empty:  # (np.isin of an empty object column still took 4 ms)
        return
    demand_regions = set(
        inst.regions.loc[inst.regions["demand"].fillna(0) > 0, "region_id"].tolist()
    )
    region = inst.travel["region_id"].to_numpy()
    plot = inst.travel["plot"].to_numpy()
    listed = np.flatnonzero(
        inst.travel["region_id"].isin(demand_regions).to_numpy() & np.isin(plot, v.plots)
    )
    plot = plot[listed].astype(np.int64)
    m = len(listed)
    names = bracketed("flow", (region[listed], np.arange(m)), (ids, plot))
    made = add_variable_ids(
        model, np.zeros(m), np.full(m, np.inf), np.full(m, integer_flows), names
    )
    keys = list(zip(region[listed].tolist(), plot.tolist(), strict=True))
    last = dict(zip(keys, range(m), strict=True))
    if len(last) < m:
        keys, kept = list(last), np.fromiter(last.values(), dtype=np.int64, count=len(last))
        made, plot, listed = made[kept], plot[kept], listed[kept]
    v.flow_ids, v.flow_plots, v.flow_travel = made, plot, listed
    v.flow = LazyVariables(model, keys, made)
