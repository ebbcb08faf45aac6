"""A synthetic national instance's first run, and the small changes re-runs are tested on."""

from __future__ import annotations

from pathlib import Path

from benchmarks import national
from planner.pipeline import apply_overrides, run_scenario
from planner.scenario import Scenario, load_scenario

CHANGES = ("plot added", "plot removed", "parameter")


def first_national_run(base: Path, seed: int) -> tuple[Path, Path]:
    """A 200-plot synthetic national instance under ``base`` and its first run folder."""
    scenario = national.generate(200, base / "instance", seed=seed)
    run_scenario(load_scenario(scenario), base / "first")
    return scenario, base / "first"


def changed(first_run: tuple[Path, Path], change: str, folder: Path) -> Scenario:
    """The scenario after one of ``CHANGES``: a copy of the most-used plot added, that plot
    removed, or the huisarts reach 1,500 -> 1,300 m (the instance's layers written to
    ``folder`` where they change)."""
    scenario_path, first = first_run
    if change == "plot added":
        path, _ = national._with_plot(scenario_path, national._removed_plot(first), folder)
        return load_scenario(path)
    if change == "plot removed":
        return load_scenario(
            national._without_plot(scenario_path, national._removed_plot(first), folder)
        )
    assert change == "parameter", change
    return apply_overrides(load_scenario(scenario_path), {"support.reach_m.huisarts": 1300})
