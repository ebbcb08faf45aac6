"""planner.check.verify on broken results: the same sentences, in the same order, as the
row-by-row implementation it replaced (kept below as ``_reference``), whatever rule breaks.

verify screens rows with array arithmetic and words only the suspects; these cases break each
rule family, several at once, with string columns both as plain objects (tests.factories) and
as pandas' string dtype (what the layer readers give).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from planner.check import verify
from planner.instance import Instance, sum_by
from planner.model import AllocationModel, SolveOptions, total_cost
from planner.result import Result
from tests.factories import make_instance

EPS = 1e-6


# --- the row-by-row implementation, as it was before the screens (the reference) -------------


def _reference(inst: Instance, r: Result) -> list[str]:
    if r.status == "INFEASIBLE":
        return [] if r.total_homes == 0 else ["INFEASIBLE result with homes placed"]
    out = _ref_plots(inst, r) + _ref_care(inst, r) + _ref_areas(inst, r) + _ref_demand(inst, r)
    target = inst.scenario.target_homes
    if r.status in ("OPTIMAL", "FEASIBLE") and r.total_homes != target:
        out.append(f"{r.total_homes} homes placed, target is {target}")
    if r.status == "SHORTFALL" and r.total_homes >= target:
        out.append("SHORTFALL status with the target met")
    need = math.ceil(inst.scenario.support.min_share * r.total_homes - 1e-9)
    if r.total_support < need:
        out.append(f"{r.total_support} support homes, at least {need} required")
    budget = inst.scenario.budget_eur
    if budget is not None:
        cost = total_cost(inst, r.homes, r.flows)
        if cost > budget * (1 + EPS):
            out.append(f"total cost {cost:.0f} exceeds the budget {budget:.0f}")
    return out


def _ref_plots(inst: Instance, r: Result) -> list[str]:
    out = []
    share = inst.scenario.support.max_share_per_plot
    for p, row in enumerate(inst.plots.itertuples(index=False)):
        h, s = int(r.homes[p]), int(r.support[p])
        if h and not row.eligible:
            out.append(f"plot {row.plot_id}: {h} homes on an ineligible plot")
        if not np.isnan(row.fixed_homes) and h != int(row.fixed_homes):
            out.append(f"plot {row.plot_id}: {h} homes, fixed_homes is {int(row.fixed_homes)}")
        elif h and not (row.min_homes <= h <= row.capacity) and np.isnan(row.fixed_homes):
            out.append(f"plot {row.plot_id}: {h} homes outside {row.min_homes}..{row.capacity}")
        if h % inst.module:
            out.append(f"plot {row.plot_id}: {h} homes is not a multiple of the module")
        if s < 0 or s > math.floor(share * h + 1e-9):
            out.append(f"plot {row.plot_id}: {s} support homes exceed {share} of {h}")
    return out


def _ref_care(inst: Instance, r: Result) -> list[str]:
    out = []
    a = r.assignments
    if not inst.support_types:
        return out
    got = a.groupby(["plot", "type"])["residents"].sum()
    valid = set(zip(inst.pairs["plot"], inst.pairs["service"], strict=True))
    for p in np.flatnonzero(r.support):
        for kind in inst.support_types:
            if int(got.get((p, kind), 0)) != int(r.support[p]):
                out.append(
                    f"plot {inst.plots.at[p, 'plot_id']}: {kind} assignments do not cover "
                    f"its {int(r.support[p])} support homes"
                )
    for row in a.itertuples(index=False):
        if (row.plot, row.service) not in valid:
            out.append(f"assignment plot {row.plot} -> service {row.service} is not in reach")
    load = a.groupby("service")["residents"].sum()
    cap = inst.services["capacity"].to_numpy(dtype=float)
    for j, value in load.items():
        if not np.isnan(cap[j]) and value > cap[j] + EPS:
            out.append(f"service {inst.services.at[j, 'service_id']}: {value} > capacity {cap[j]}")
    return out


def _ref_areas(inst: Instance, r: Result) -> list[str]:
    out = []
    if not inst.buurten.empty:
        load = sum_by(inst.plots["buurt_id"], r.homes)
        for row in inst.buurten.itertuples(index=False):
            if load.get(row.buurt_id, 0) > row.cap:
                out.append(f"buurt {row.buurt_id}: {load[row.buurt_id]} homes > cap {row.cap}")
    if not inst.regions.empty:
        load = sum_by(inst.plots["region_id"], r.homes)
        for row in inst.regions.itertuples(index=False):
            h = load.get(row.region_id, 0)
            if not np.isnan(row.min_homes) and h < row.min_homes - EPS:
                out.append(f"region {row.region_id}: {h} homes < min {row.min_homes}")
            if not np.isnan(row.max_homes) and h > row.max_homes + EPS:
                out.append(f"region {row.region_id}: {h} homes > max {row.max_homes}")
    groups = sum_by(inst.plots["group"], r.homes > 0)
    out += [f"group {g}: {n} plots used" for g, n in groups.items() if g and n > 1]
    return out


def _ref_demand(inst: Instance, r: Result) -> list[str]:
    out = []
    if r.flows.empty:
        return out
    pairs = set(zip(inst.travel["region_id"], inst.travel["plot"], strict=True))
    for row in r.flows.itertuples(index=False):
        if (row.region_id, row.plot) not in pairs:
            out.append(f"flow {row.region_id} -> plot {row.plot} is not a listed travel pair")
    served = r.flows.groupby("region_id")["homes"].sum()
    for row in inst.regions.itertuples(index=False):
        demand = 0 if np.isnan(row.demand) else row.demand
        got = served.get(row.region_id, 0)
        short = r.status == "SHORTFALL"
        if got > demand + EPS or (not short and abs(got - demand) > EPS):
            out.append(f"region {row.region_id}: {got} homes of demand served, demand {demand}")
    into = r.flows.groupby("plot")["homes"].sum()
    for p, value in into.items():
        if value > r.homes[p]:
            out.append(f"plot {inst.plots.at[p, 'plot_id']}: flows {value} > homes {r.homes[p]}")
    return out


# --- a small world with every rule family, solved, then broken ---------------------------------

CARE = {"min_share": 0.2, "max_share_per_plot": 0.5, "reach_m": {"huisarts": 1000, "ggz": 1000}}


def _world(strings: bool) -> Instance:
    plots = [
        {"capacity": 10, "suitability": 0.9, "buurt_id": "B1", "region_id": "R1", "group": "G"},
        {"capacity": 10, "suitability": 0.8, "buurt_id": "B1", "region_id": "R1", "group": "G"},
        {"capacity": 12, "suitability": 0.7, "buurt_id": "B2", "region_id": "R2", "min_homes": 4},
        {"capacity": 8, "suitability": 0.6, "region_id": "R2", "fixed_homes": 6.0},
        {"capacity": 9, "suitability": 0.95, "eligible": False, "reason": "excluded"},
        {"capacity": 10, "suitability": 0.5, "buurt_id": "B3"},
    ]
    inst = make_instance(
        plots,
        services=[
            {"type": "huisarts", "capacity": 6.0},
            {"type": "huisarts"},
            {"type": "ggz", "capacity": 20.0},
        ],
        pairs=[
            (0, 0, "huisarts", 100.0),
            (0, 2, "ggz", 100.0),
            (1, 1, "huisarts", 100.0),
            (1, 2, "ggz", 100.0),
            (2, 0, "huisarts", 100.0),
            (2, 1, "huisarts", 300.0),
            (2, 2, "ggz", 100.0),
            (5, 1, "huisarts", 100.0),
        ],
        buurten=[
            {"buurt_id": "B1", "cap": 10},
            {"buurt_id": "B2", "cap": 12},
            {"buurt_id": "B3", "cap": 3},
        ],
        regions=[
            {"region_id": "R1", "min_homes": 4, "max_homes": 15, "demand": 5},
            {"region_id": "R2", "max_homes": 30, "demand": 4},
            {"region_id": "R3", "min_homes": 0},
        ],
        travel=[("R1", 0, 1.0), ("R1", 1, 2.0), ("R2", 2, 1.0), ("R2", 3, 3.0)],
        target_homes=22,
        support=CARE,
        budget_eur=1e9,
    )
    if strings:
        for frame in (inst.plots, inst.buurten, inst.regions, inst.services):
            for column in frame.columns:
                if frame[column].dtype == object and column != "group":
                    frame[column] = frame[column].astype("str")
    return inst


def _solved(inst: Instance) -> Result:
    result = AllocationModel(inst, SolveOptions.from_scenario(inst)).solve()
    assert result.status == "OPTIMAL"
    assert verify(inst, result) == _reference(inst, result) == []
    return result


def _with(r: Result, **arrays: dict[int, int]) -> Result:
    """``r`` with some plots' homes or support set."""
    changed = {}
    for name, values in arrays.items():
        array = getattr(r, name).copy()
        for p, value in values.items():
            array[p] = value
        changed[name] = array
    return dataclasses.replace(r, **changed)


def _more_assignments(r: Result, *rows: tuple[int, int, str, int]) -> Result:
    extra = pd.DataFrame(
        [(p, j, kind, n, 100.0) for p, j, kind, n in rows], columns=r.assignments.columns
    )
    return dataclasses.replace(r, assignments=pd.concat([r.assignments, extra], ignore_index=True))


BREAKS: dict[str, Callable[[Instance, Result], Result]] = {
    "ineligible plot used": lambda i, r: _with(r, homes={4: 5}),
    "fixed homes changed": lambda i, r: _with(r, homes={3: 4}),
    "fixed homes dropped": lambda i, r: _with(r, homes={3: 0}),
    "below the minimum": lambda i, r: _with(r, homes={2: 2}),
    "above the capacity": lambda i, r: _with(r, homes={5: 11}),
    "support share per plot": lambda i, r: _with(r, homes={5: 4}, support={5: 3}),
    "negative support": lambda i, r: _with(r, support={5: -1}),
    "support not covered": lambda i, r: _with(r, homes={0: 10}, support={0: 5}),
    "assignment out of reach": lambda i, r: _more_assignments(r, (5, 2, "ggz", 1)),
    "service over capacity": lambda i, r: _more_assignments(
        r, (0, 0, "huisarts", 7), (2, 0, "huisarts", 2)
    ),
    "buurt over its cap": lambda i, r: _with(r, homes={0: 10, 1: 10, 5: 5}),
    "region above its maximum and group used twice": lambda i, r: _with(
        r, homes={0: 10, 1: 10, 2: 12}
    ),
    "region below its minimum": lambda i, r: _with(r, homes={0: 0, 1: 0}),
    "target and support share": lambda i, r: _with(r, homes={2: 12}, support={2: 0}),
    "flows off the travel pairs": lambda i, r: dataclasses.replace(
        r,
        flows=pd.DataFrame(
            {"region_id": ["R1", "R3"], "plot": [2, 0], "homes": [9, 1], "cost_per_home": 1.0}
        ),
    ),
    "everything at once": lambda i, r: _more_assignments(
        _with(r, homes={0: 10, 1: 10, 2: 2, 3: 1, 4: 5, 5: 7}, support={0: 5, 4: 3, 5: -2}),
        (5, 2, "ggz", 9),
        (3, 0, "huisarts", 7),
    ),
    "shortfall with the target met": lambda i, r: dataclasses.replace(r, status="SHORTFALL"),
    "homes as floats": lambda i, r: _with(
        dataclasses.replace(r, homes=r.homes.astype(float)), homes={2: 4.5, 5: 2.0}
    ),
}


@pytest.fixture(scope="module", params=[False, True], ids=["object", "str"])
def solved(request: pytest.FixtureRequest) -> tuple[Instance, Result]:
    inst = _world(request.param)
    return inst, _solved(inst)


@pytest.mark.parametrize("case", list(BREAKS))
def test_verify_words_broken_results_as_before(solved: tuple[Instance, Result], case: str):
    inst, result = solved
    broken = BREAKS[case](inst, result)
    problems = verify(inst, broken)
    assert problems, case
    assert problems == _reference(inst, broken)


def test_verify_names_each_broken_rule_exactly(solved: tuple[Instance, Result]):
    inst, result = solved
    broken = BREAKS["everything at once"](inst, result)
    problems = verify(inst, broken)
    for sentence in (
        "plot P4: 5 homes on an ineligible plot",
        "plot P3: 1 homes, fixed_homes is 6",
        "plot P2: 2 homes outside 4..12",
        "plot P5: -2 support homes exceed 0.5 of 7",
        "plot P0: ggz assignments do not cover its 5 support homes",
        "assignment plot 5 -> service 2 is not in reach",
        "assignment plot 3 -> service 0 is not in reach",
        "buurt B1: 20 homes > cap 10",
        "buurt B3: 7 homes > cap 3",
        "group G: 2 plots used",
    ):
        assert sentence in problems
    # plot rules come plot by plot, then care, then areas (as the row loops gave them)
    assert problems.index("plot P3: 1 homes, fixed_homes is 6") < problems.index(
        "plot P4: 5 homes on an ineligible plot"
    )
    assert problems.index("plot P5: -2 support homes exceed 0.5 of 7") < problems.index(
        "plot P0: ggz assignments do not cover its 5 support homes"
    )


def test_verify_names_homes_outside_whole_modules(solved: tuple[Instance, Result]):
    inst, result = solved
    scenario = inst.scenario.model_copy(deep=True)
    scenario.defaults.module_homes = 2
    inst = dataclasses.replace(inst, scenario=scenario)
    broken = _with(result, homes={0: 7, 2: 7})
    problems = verify(inst, broken)
    assert problems == _reference(inst, broken)
    assert problems[:2] == [
        "plot P0: 7 homes is not a multiple of the module",
        "plot P0: 4 support homes exceed 0.5 of 7",
    ]
    assert "plot P2: 7 homes is not a multiple of the module" in problems


def test_verify_of_an_infeasible_result(solved: tuple[Instance, Result]):
    inst, result = solved
    assert verify(inst, dataclasses.replace(result, status="INFEASIBLE")) == [
        "INFEASIBLE result with homes placed"
    ]
