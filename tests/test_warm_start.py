"""Re-runs from an earlier allocation (``--hint-from``): a start the change broke is repaired by
the greedy placing the earlier plan first, so the re-run starts from, and stays close to, it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import national
from planner.check import verify
from planner.greedy import greedy_allocation
from planner.instance import Instance, build_instance
from planner.model import AllocationModel, SolveOptions
from planner.pipeline import load_layers
from planner.result import Result
from planner.scenario import load_scenario


@pytest.fixture()
def inst(tmp_path: Path) -> Instance:
    # 200 plots, seed 3: after its most-used plot goes, the plain greedy finds no allocation
    # that keeps every rule, while the earlier plan placed first can be completed (measured).
    scenario = load_scenario(national.generate(200, tmp_path / "n", seed=3))
    return build_instance(load_layers(scenario), scenario)


def _optimum(inst: Instance) -> Result:
    return AllocationModel(inst, SolveOptions.from_scenario(inst, relative_gap=0.0)).solve()


def _by_id(inst: Instance, result: Result) -> dict[str, tuple[int, int]]:
    ids = inst.plots["plot_id"].astype(str).to_numpy()
    return {
        ids[p]: (int(result.homes[p]), int(result.support[p])) for p in np.flatnonzero(result.homes)
    }


def test_a_feasible_seed_is_kept_exactly(inst: Instance) -> None:
    optimum = _optimum(inst)
    seed = {int(p): int(h) for p, h in enumerate(optimum.homes) if h > 0}
    greedy = greedy_allocation(inst, seed=seed)
    assert greedy.status == "FEASIBLE"
    assert (greedy.homes == optimum.homes).all()
    assert verify(inst, greedy) == []


def test_a_removed_plot_is_repaired_from_the_earlier_plan(inst: Instance) -> None:
    optimum = _optimum(inst)
    earlier = _by_id(inst, optimum)
    top = int(np.argmax(optimum.homes))
    inst.plots.loc[top, "eligible"] = False  # the plot is withdrawn
    assert greedy_allocation(inst).status == "INFEASIBLE"  # no start without the earlier plan

    model = AllocationModel(inst, SolveOptions.from_scenario(inst, hint=earlier))
    start = model._usable_hint(earlier)
    assert start is not None
    removed = str(inst.plots["plot_id"].iloc[top])
    assert removed not in start
    assert sum(h for h, _ in start.values()) == inst.scenario.target_homes
    kept = [pid for pid in earlier if pid != removed]
    assert all(start.get(pid, (0, 0))[0] > 0 for pid in kept)  # every other plot stays

    result = model.solve()
    assert result.status == "OPTIMAL"
    assert verify(inst, result) == []
    assert result.homes[top] == 0


def test_an_intact_earlier_plan_is_used_as_it_is(inst: Instance) -> None:
    earlier = _by_id(inst, _optimum(inst))
    model = AllocationModel(inst, SolveOptions.from_scenario(inst, hint=earlier))
    assert model._usable_hint(earlier) is earlier
